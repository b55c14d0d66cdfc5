/**
 * Fuzz test with real processes: fast-check throws random bytes and malformed frames at a Raft cluster's peer
 * ports (garbage, bad kinds, oversized length headers, Hellos from strangers, and real-looking Hellos followed by
 * undecodable frames) and random etcd v2 requests at its client ports. Every node stays up, bad peer
 * connections are closed with a logged error, no request is answered with a 5xx other than etcd's "no leader /
 * outcome unknown" (errorCode 300), no request hits an internal error, and the cluster keeps serving
 * linearizable writes and reads on every node. SIGTERM then stops it cleanly.
 */
import { spawn } from "node:child_process"
import fc from "fast-check"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { nodeId } from "../../spec/kernel/protocol.ts"
import { MAX_FRAME_BYTES } from "../../src/runtime/frame.ts"
import { clusterName } from "../../src/runtime/raft/server.ts"
import { bin, call, freeBase, rawFrame as frame, rawSend, retry } from "./cluster-helpers.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-raft-fuzz-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

interface Status {
  id: string
  role: string
  leader: string | null
  pid: number
}

const ids = ["n1", "n2", "n3"] as const

// ---- peer input ---------------------------------------------------------------------------------------------

const header = (length: number, kind: number): Buffer => {
  const b = Buffer.alloc(5)
  b.writeUInt32BE(length, 0)
  b.writeUInt8(kind, 4)
  return b
}

/** Frames that pass the frame decoder but not the Message (kind 1) or Control (kind 2) Schema. */
const undecodable = fc.oneof(
  fc.uint8Array({ maxLength: 80 }).map((b) => frame(1, b)),
  fc.json().map((j) => frame(1, j)),
  fc.json().map((j) => frame(2, j)),
  // Real tags with fields out of range or of the wrong type.
  fc
    .tuple(
      fc.constantFrom("RequestVote", "RequestVoteResponse", "AppendEntries", "AppendEntriesResponse"),
      fc.constantFrom(-1, 1.5, "1", null, 2 ** 60),
    )
    .map(([tag, bad]) =>
      frame(1, JSON.stringify({ _tag: tag, term: bad, lastLogIndex: 0, lastLogTerm: 0, prevLogIndex: 0, prevLogTerm: 0, entries: [], leaderCommit: 0, success: true, voteGranted: true, matchIndex: 0 })),
    ),
  fc.constant(frame(1, JSON.stringify({ _tag: "AppendEntries", term: 1, prevLogIndex: 0, prevLogTerm: 0, entries: [{ term: "x" }], leaderCommit: 0 }))),
  fc.constant(frame(2, JSON.stringify({ _tag: "Probe", seq: "1", term: 1 }))),
  fc.integer({ min: 3, max: 255 }).map((k) => frame(k, "{}")),
  fc.integer({ min: MAX_FRAME_BYTES + 1, max: 0xffffffff }).map((n) => header(n, 1)),
)

/** Malformed peer input for a cluster named `cluster`. */
const peerInput = (cluster: string) =>
  fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 300 }),
    fc.tuple(fc.integer({ min: 3, max: 255 }), fc.uint8Array({ maxLength: 50 })).map(([k, b]) => frame(k, b)),
    fc.tuple(fc.integer({ min: MAX_FRAME_BYTES + 1, max: 0xffffffff }), fc.integer({ min: 0, max: 255 })).map(([n, k]) => header(n, k)),
    // Not a Hello first, or a Hello that does not decode.
    fc.json().map((j) => frame(0, j)),
    fc.json().map((j) => frame(1, j)),
    // Hellos from strangers: another cluster, or an unknown node of this one.
    fc.tuple(fc.string(), fc.constantFrom(...ids)).map(([c, from]) => frame(0, JSON.stringify({ cluster: c, from, clientUrl: null }))),
    fc.string({ maxLength: 70 }).map((from) => frame(0, JSON.stringify({ cluster, from, clientUrl: "http://127.0.0.1:1" }))),
    // A Hello that passes, then frames that do not decode (or a second Hello).
    fc.tuple(fc.constantFrom(...ids), fc.array(undecodable, { minLength: 1, maxLength: 3 }), fc.boolean()).map(([from, bad, second]) =>
      Buffer.concat([
        frame(0, JSON.stringify({ cluster, from, clientUrl: null })),
        ...(second ? [frame(0, JSON.stringify({ cluster, from, clientUrl: null }))] : []),
        ...bad,
      ]),
    ),
    // The same, with the bad frames sent only once the node has answered the Hello.
    fc.tuple(fc.constantFrom(...ids), fc.array(undecodable, { minLength: 1, maxLength: 3 })).map(([from, bad]) => ({
      hello: frame(0, JSON.stringify({ cluster, from, clientUrl: null })),
      rest: Buffer.concat(bad),
    })),
  )

/**
 * Sends a Hello, waits until the node answers it (it has taken this connection as that peer's), lets its event
 * loop turn, then sends `rest` and waits until the node closes the connection (or 2 s of silence).
 */
const afterHello = (port: number, hello: Buffer, rest: Buffer): Promise<void> =>
  new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => s.write(hello))
    s.once("data", () => setTimeout(() => s.end(rest), 100))
    s.setTimeout(2000, () => s.destroy())
    s.on("error", () => resolve())
    s.on("close", () => resolve())
  })

// ---- client requests ----------------------------------------------------------------------------------------

const methods = fc.constantFrom("GET", "GET", "PUT", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS")
const segment = fc.oneof(
  fc.constantFrom("fz", "fz", "a", "dir", "", ".", "..", "%2E%2E", "%2F", "%E0%A4%A", "%zz", "%", "a%00b", "_x", "~"),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
)
const paths = fc.oneof(
  { weight: 6, arbitrary: fc.array(segment, { maxLength: 4 }).map((s) => `/v2/keys/${s.join("/")}`) },
  { weight: 1, arbitrary: fc.constantFrom("/v2/keys", "/v2/keys/", "/v2/keys//", "/v2//keys/a", "//127.0.0.1:1/v2/keys/fz", "//x/v2/keys/fz") },
  { weight: 1, arbitrary: fc.constantFrom("/version", "/health", "/v2/members", "/v2/machines", "/v2/stats/self", "/quorum/status", "/v2", "/nope", "/") },
)
const paramNames = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom("value", "prevValue", "prevIndex", "prevExist", "dir", "recursive", "sorted", "quorum", "wait", "waitIndex", "ttl") },
  { weight: 1, arbitrary: fc.string({ maxLength: 8 }).map(encodeURIComponent) },
)
const paramValues = fc.oneof(
  fc.constantFrom("true", "false", "maybe", "x", "", "0", "1", "-1", "1.5", "1e3", "0x10", "99999999999999999999", "NaN", "%zz", "%E0%A4%A"),
  fc.string({ maxLength: 12 }).map(encodeURIComponent),
)
const form = fc.array(fc.tuple(paramNames, paramValues), { maxLength: 4 }).map((ps) => ps.map(([k, v]) => `${k}=${v}`).join("&"))
const queries = fc.oneof(
  fc.constant(""),
  form.map((q) => `?${q}`),
  fc.constantFrom("?wait=true&waitIndex=x", "?wait=maybe", "?prevExist=maybe", "?recursive=true&sorted=true", "?quorum=false", "?waitIndex=1&wait=true", "?&&=&", "?%"),
)
const bodies = fc.oneof(
  fc.constant(undefined),
  form,
  fc.string(),
  fc.json(),
  fc.uint8Array({ maxLength: 100 }),
  fc.constant(`value=${"v".repeat(20_000)}`), // over the largest entry a client may submit: 413
)
const contentTypes = fc.constantFrom("application/x-www-form-urlencoded", "application/json", "text/plain", "multipart/form-data; boundary=x")

/** Whether a request is a watch (a long poll that answers only when the key changes). */
const isWatch = (method: string, url: URL): boolean => (method === "GET" || method === "HEAD") && url.searchParams.get("wait") === "true"

// ---- the cluster --------------------------------------------------------------------------------------------

describe("quorum cluster raft under malformed input", () => {
  it("keeps every node up and serving, and stops cleanly", async () => {
    const base = await freeBase()
    const urls = [1, 2, 3].map((i) => `http://127.0.0.1:${base + 1000 + i}`)
    const peerPorts = [1, 2, 3].map((i) => base + i)
    const cluster = clusterName(new Map(ids.map((id, i) => [nodeId(id), { host: "127.0.0.1", port: peerPorts[i]! }])))
    const child = spawn(process.execPath, [bin, "cluster", "raft", "--nodes", "3", "--dir", dir, "--base-port", String(base), "--seed", "5"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    })
    let output = ""
    child.stdout.on("data", (c: Buffer) => (output += c.toString()))
    child.stderr.on("data", (c: Buffer) => (output += c.toString()))
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    const status = async (u: string) => (await call("GET", `${u}/quorum/status`))?.json as Status | undefined
    /** The leader every node agrees on. */
    const leader = async (): Promise<Status | undefined> => {
      const all = await Promise.all(urls.map(status))
      const l = all.find((s) => s?.role === "Leader")
      return l !== undefined && all.every((s) => s?.leader === l.id) ? l : undefined
    }
    try {
      await retry("a leader", leader)
      // After the fuzzing the same three processes must answer (no crash, no restart).
      const pids = (await Promise.all(urls.map(status))).map((s) => s!.pid)

      await fc.assert(
        fc.asyncProperty(peerInput(cluster), fc.integer({ min: 0, max: 2 }), async (input, i) => {
          await (Buffer.isBuffer(input) || input instanceof Uint8Array ? rawSend(peerPorts[i]!, input) : afterHello(peerPorts[i]!, input.hello, input.rest))
        }),
        { numRuns: 80 },
      )
      // One of each kind of bad peer input, so the log can be checked for each reason.
      const hello = (from: string) => frame(0, JSON.stringify({ cluster, from, clientUrl: null }))
      await rawSend(peerPorts[0]!, header(MAX_FRAME_BYTES + 1, 1))
      await rawSend(peerPorts[1]!, frame(9, "{}"))
      await rawSend(peerPorts[2]!, frame(0, "not json"))
      await rawSend(peerPorts[1]!, Buffer.concat([hello("n1"), frame(1, '{"_tag":"AppendEntries","term":-1}')]))
      await rawSend(peerPorts[2]!, Buffer.concat([hello("n2"), frame(2, '{"_tag":"Probe"}')]))
      // n3 never dials n1 or n2 (they dial it): an impostor claiming to be n3 must not take over their
      // connections to n3, or nobody would reconnect them and n3 would stay cut off.
      await afterHello(peerPorts[0]!, hello("n3"), frame(1, "{}"))
      await afterHello(peerPorts[1]!, hello("n3"), frame(1, "{}"))

      const answers: string[] = []
      await fc.assert(
        fc.asyncProperty(
          methods,
          paths,
          queries,
          bodies,
          contentTypes,
          fc.integer({ min: 0, max: 2 }),
          async (method, p, q, body, type, i) => {
            const url = new URL(`${urls[i]}${p}${q}`)
            const watch = isWatch(method, url)
            const what = `${method} ${p}${q} ${typeof body === "string" ? JSON.stringify(body.slice(0, 100)) : String(body)}`
            const hasBody = body !== undefined && method !== "GET" && method !== "HEAD"
            let res: Response
            try {
              res = await fetch(url, {
                method,
                ...(hasBody ? { body, headers: { "content-type": type } } : {}),
                // A watch waits for a change: give it a moment, then hang up. Anything else must answer (the
                // generous limit only turns a hang into a readable failure).
                signal: AbortSignal.timeout(watch ? 300 : 60_000),
              })
            } catch (e) {
              if (watch) return
              throw new Error(`${what}: no answer (${String(e)})`)
            }
            const text = await res.text().catch(() => "")
            answers.push(`${res.status} ${what}${res.status >= 500 ? ` → ${text.trim()}` : ""}`)
            // (A HEAD answer has no body to check.)
            if (res.status >= 500 && method !== "HEAD") {
              // etcd's only 5xx: 300 "Raft Internal Error" (no leader in time, outcome unknown) and 301.
              let json: { errorCode?: number; cause?: string } = {}
              try {
                json = JSON.parse(text) as typeof json
              } catch {}
              expect(json.errorCode, `${what} → ${res.status} ${text}`).toBe(300)
              expect(json.cause, `${what} → ${res.status} ${text}`).toMatch(/no leader could be reached|outcome is unknown|not the leader/)
            }
          },
        ),
        { numRuns: 200 },
      )
      // Oversized bodies: a Content-Length the client never sends, and one over the limit that it does send.
      await Promise.all(
        peerPorts.flatMap((p) => [
          rawSend(p + 1000, Buffer.from("PUT /v2/keys/fz HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 99999999999\r\n\r\nvalue=1")),
          rawSend(p + 1000, Buffer.from("GET /v2/keys/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n")),
        ]),
      )
      const big = await fetch(`${urls[2]}/v2/keys/fz`, {
        method: "PUT",
        body: `value=${"x".repeat(3 * 1024 * 1024)}`,
        headers: { "content-type": "application/x-www-form-urlencoded" },
      })
      expect(big.status).toBe(413)
      expect(await big.json()).toMatchObject({ errorCode: 209 })

      // Still serving: every node answers (the same process as before), a write through a follower commits and
      // a linearizable read returns it on every node.
      const after = await Promise.all(urls.map(status))
      expect(after.map((s) => s?.pid)).toEqual(pids)
      const l = await retry("a leader after the fuzzing", leader)
      const follower = urls[ids.findIndex((id) => id !== l.id)]!
      const put = await retry("a write through a follower", async () => {
        const r = await call("PUT", `${follower}/v2/keys/after-fuzz`, "value=ok")
        return r?.status === 201 || r?.status === 200 ? r : undefined
      })
      expect(put.json).toMatchObject({ action: "set", node: { key: "/after-fuzz", value: "ok" } })
      for (const u of urls) {
        const got = await retry(`a linearizable read on ${u}`, async () => {
          const r = await call("GET", `${u}/v2/keys/after-fuzz`)
          return r?.status === 200 ? r : undefined
        })
        expect(got.json).toMatchObject({ action: "get", node: { key: "/after-fuzz", value: "ok" } })
      }
      // A follower forwards a request's body too: a compare-and-delete with the wrong prevValue fails (412)
      // and leaves the key, on whichever node it is sent to.
      for (const u of urls) {
        const del = await retry(`a compare-and-delete through ${u}`, async () => {
          const r = await call("DELETE", `${u}/v2/keys/after-fuzz`, "prevValue=wrong")
          return r !== undefined && r.status < 500 ? r : undefined
        })
        expect(del.status, JSON.stringify(del.json)).toBe(412)
        expect(del.json).toMatchObject({ errorCode: 101 })
      }
      // Every node is connected to both others again: each one's applied index reaches the write's (a node
      // cut off from the leader would never learn it, though its linearizable reads are proxied).
      const index = (put.json.node as { modifiedIndex: number }).modifiedIndex
      for (const u of urls) {
        await retry(`${u} applying index ${index}`, async () => {
          const r = await call("GET", `${u}/v2/keys/after-fuzz?quorum=false`)
          return r?.status === 200 ? r : undefined
        })
      }

      // Bad peer input closed those connections with a logged reason.
      for (const why of [/oversized: frame of \d+ bytes/, /bad-kind: unknown frame kind 9/, /malformed Hello/, /undecodable message/, /undecodable control frame/, /Hello from n3 on an inbound connection/]) {
        expect(output).toMatch(new RegExp(`closing peer connection .*${why.source}`))
      }
      // No request reached the API's internal-error path, and nothing crashed.
      expect(output).not.toMatch(/ error HTTP [A-Z]+ /)
      expect(output).not.toMatch(/exited \(/)

      child.kill("SIGTERM")
      expect(await exited).toBe(0)
      expect(output).toContain("cluster stopped")
      const statuses = [...new Set(answers.map((a) => a.slice(0, 3)))].sort()
      const errors = answers.filter((a) => a.startsWith("5"))
      process.stdout.write(`raft fuzz: ${answers.length} answered requests; statuses ${statuses.join(", ")}${errors.length > 0 ? `\n  ${errors.join("\n  ")}` : ""}\n`)
    } catch (e) {
      process.stderr.write(`cluster output:\n${output.slice(-8000)}\n`)
      throw e
    } finally {
      if (child.exitCode === null) {
        child.kill("SIGKILL")
        await exited
      }
    }
  }, 180_000)
})
