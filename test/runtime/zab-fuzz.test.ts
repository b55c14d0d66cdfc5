/**
 * Fuzz test with real processes: fast-check throws random bytes and malformed frames at a ZAB cluster's peer ports
 * and random requests at its znode API. Every node stays up, bad peer connections are closed with a logged
 * error, and the cluster keeps serving linearizable writes and reads.
 */
import fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { rawFrame as frame, rawSend } from "./cluster-helpers.ts"
import { call, retry, startCluster } from "./zab-cluster.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-zab-fuzz-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

/** Malformed peer input: garbage, bad kinds, oversized headers, strangers' Hellos, undecodable messages. */
const peerInput = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 300 }),
  fc.tuple(fc.integer({ min: 3, max: 255 }), fc.uint8Array({ maxLength: 50 })).map(([k, b]) => frame(k, Buffer.from(b))),
  fc.integer({ min: 2 * 1024 * 1024, max: 0xffffffff }).map((n) => {
    const b = Buffer.alloc(5)
    b.writeUInt32BE(n, 0)
    return b
  }),
  fc.json().map((j) => frame(0, j)),
  fc.tuple(fc.string(), fc.json()).map(([cluster, j]) =>
    Buffer.concat([frame(0, JSON.stringify({ cluster, from: "n2", clientUrl: null })), frame(1, j), frame(1, '{"_tag":"M","seq":1,"m":{"_tag":"ACK"}}')]),
  ),
)

const methods = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH")
const paths = fc.oneof(
  fc.string().map((s) => `/znodes/${encodeURIComponent(s)}`),
  fc.constantFrom("/znodes", "/znodes/", "/znodes//a", "/znodes/a/../b", "/znodes/%E0%A4%A", "/quorum/status", "/health", "/nope"),
  fc.string({ maxLength: 20 }).map((s) => `/znodes/fz?watch=${encodeURIComponent(s)}&since=${encodeURIComponent(s)}`),
)
const bodies = fc.oneof(fc.string(), fc.json(), fc.constant('{"data": 5}'), fc.constant('{"data":"x","version":"7"}'), fc.constant(""))

describe("quorum cluster zab under malformed input", () => {
  it("keeps every node up and serving", async () => {
    const c = await startCluster(dir, 3)
    try {
      await retry("an established leader", () => c.leader())
      const peerPorts = c.urls.map((u) => Number(new URL(u).port) - 1000)
      await fc.assert(
        fc.asyncProperty(peerInput, fc.integer({ min: 0, max: 2 }), async (bytes, i) => {
          await rawSend(peerPorts[i]!, bytes)
        }),
        { numRuns: 60 },
      )
      await fc.assert(
        fc.asyncProperty(methods, paths, bodies, fc.integer({ min: 0, max: 2 }), async (method, p, body, i) => {
          const r = await fetch(`${c.urls[i]}${p}`, { method, ...(method === "GET" || method === "DELETE" ? {} : { body }), signal: AbortSignal.timeout(10_000) }).catch(() => undefined)
          if (r !== undefined) expect(r.status, `${method} ${p} ${body}`).toBeLessThan(600)
          await r?.text().catch(() => "")
        }),
        { numRuns: 150 },
      )
      for (const u of c.urls) await rawSend(Number(new URL(u).port), Buffer.from("PUT /znodes/a HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n{}"))
      // Still serving: every node answers, a write commits and reads back everywhere.
      const all = await Promise.all(c.urls.map(c.status))
      expect(all.every((s) => s !== undefined)).toBe(true)
      const w = await retry("a write after the fuzzing", async () => {
        const r = await call("POST", `${c.urls[1]}/znodes/after-fuzz`, { data: "ok" })
        return r?.status === 201 || r?.status === 409 ? r : undefined
      })
      expect(w.json).toMatchObject({ path: "/after-fuzz" })
      for (const u of c.urls) expect((await call("GET", `${u}/znodes/after-fuzz`))?.json).toMatchObject({ data: "ok" })
      expect(c.output()).toMatch(/closing peer connection/)
      c.child.kill("SIGTERM")
      expect(await c.exited).toBe(0)
    } catch (e) {
      process.stderr.write(`cluster output:\n${c.output().slice(-6000)}\n`)
      throw e
    } finally {
      if (c.child.exitCode === null) {
        c.child.kill("SIGKILL")
        await c.exited
      }
    }
  })
})
