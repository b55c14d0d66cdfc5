/**
 * Crash test with real processes: a write load on `quorum cluster zab --restart` while the leader and then a
 * follower are killed with SIGKILL (and restarted by the cluster from their dataDirs). Afterwards every
 * acknowledged write is read back linearizably, and every step the three processes logged — across both kills
 * and restarts — is a legal transition of the spec (`quorum trace validate --events`).
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { bin, call, retry, sleep, startCluster } from "./zab-cluster.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-zab-crash-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe("quorum cluster zab under kill -9", () => {
  it("loses no acknowledged write, and its event logs conform to the spec", async () => {
    const c = await startCluster(dir, 2, ["--restart"])
    try {
      await retry("an established leader", () => c.leader())
      const acked = new Map<string, string>()
      let attempts = 0
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; i < 40; i++) {
          const key = `/w${w}-${i}`
          const value = `${w}.${i}`
          let unknown = false
          for (let t = 0; t < 400; t++) {
            attempts++
            const r = await call("POST", `${c.urls[(w + t) % 3]}/znodes${key}`, { data: value })
            // NodeExists after an attempt whose outcome was unknown: that attempt committed.
            if (r?.status === 201 || (r?.status === 409 && unknown)) {
              acked.set(key, value)
              break
            }
            if (r === undefined || r.status >= 500) unknown = true
            await sleep(50)
          }
        }
      }
      const killer = async (): Promise<void> => {
        for (const victim of ["leader", "follower"] as const) {
          await retry("progress before a kill", async () => (acked.size >= (victim === "leader" ? 40 : 160) ? true : undefined), 2400, 50)
          const all = (await Promise.all(c.urls.map(c.status))).filter((s) => s !== undefined)
          const target = all.find((s) => (victim === "leader" ? s.role === "LEADING" : s.role === "FOLLOWING"))
          if (target !== undefined) process.kill(target.pid, "SIGKILL")
        }
      }
      await Promise.all([...Array.from({ length: 8 }, (_, w) => worker(w)), killer()])
      expect(acked.size).toBe(320)
      await retry("all three nodes serving under one leader", async () => {
        const all = await Promise.all(c.urls.map(c.status))
        return all.every((s) => s?.serving === true) && (await c.leader()) !== undefined ? true : undefined
      })
      for (const [key, value] of acked) {
        const r = await retry(`a linearizable read of ${key}`, async () => {
          const g = await call("GET", `${c.urls[0]}/znodes${key}`)
          return g?.status === 200 || g?.status === 404 ? g : undefined
        })
        expect(r.json.data, key).toBe(value)
      }
      expect(c.output()).toMatch(/exited \(SIGKILL\)/)
      process.stdout.write(`zab crash test: ${acked.size} acknowledged writes (${attempts} attempts) all readable after 2 kills\n`)
      c.child.kill("SIGTERM")
      expect(await c.exited).toBe(0)
      // The protocol is read from the event logs; naming another one is a usage error.
      const validate = (...extra: string[]) =>
        spawnSync(process.execPath, [bin, "trace", "validate", "--events", dir, ...extra], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } })
      const validated = validate()
      expect(validated.status, validated.stdout + validated.stderr).toBe(0)
      expect(validated.stdout).toContain("is a legal transition of zab")
      expect(validated.stdout).toMatch(/\(2 starts\)/)
      const mismatched = validate("--protocol", "raft")
      expect(mismatched.status).toBe(2)
      expect(mismatched.stderr).toContain("ran zab")
    } catch (e) {
      process.stderr.write(`cluster output:\n${c.output().slice(-8000)}\n`)
      throw e
    } finally {
      if (c.child.exitCode === null) {
        c.child.kill("SIGKILL")
        await c.exited
      }
    }
  })
})
