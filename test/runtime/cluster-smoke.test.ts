/**
 * Smoke test with real processes on loopback: `quorum cluster raft --nodes 3` elects a leader, a write to a
 * follower (proxied to the leader) is readable from another node, the leader is killed with SIGKILL, a new
 * leader accepts writes and still has the old key, and SIGTERM stops the cluster cleanly (exit code 0). The
 * crash test under load then validates every node's event log against the spec (conformance).
 * No wall-clock limits: every wait polls with a generous retry count.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { freeBase } from "../../src/runtime/ports.ts"
import { afterAll, describe, expect, it } from "vitest"

const repo = path.resolve(import.meta.dirname, "../..")
const bin = path.join(repo, "src/cli/quorum.mjs")
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Status {
  id: string
  role: string
  term: number
  leader: string | null
  pid: number
}

const http = async (method: string, url: string, body?: string): Promise<{ status: number; json: Record<string, unknown> } | undefined> => {
  try {
    const res = await fetch(url, {
      method,
      ...(body === undefined ? {} : { body, headers: { "content-type": "application/x-www-form-urlencoded" } }),
    })
    return { status: res.status, json: (await res.json()) as Record<string, unknown> }
  } catch {
    return undefined
  }
}

const retry = async <T>(what: string, attempt: () => Promise<T | undefined>, tries = 600, pauseMs = 100): Promise<T> => {
  for (let i = 0; i < tries; i++) {
    const r = await attempt()
    if (r !== undefined) return r
    await sleep(pauseMs)
  }
  throw new Error(`gave up waiting for ${what}`)
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-smoke-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe("quorum cluster raft (real processes on loopback)", () => {
  it("elects, replicates through a follower, survives kill -9 of the leader, and stops cleanly", async () => {
    const base = await freeBase()
    const urls = [1, 2, 3].map((i) => `http://127.0.0.1:${base + 1000 + i}`)
    const cluster = spawn(process.execPath, [bin, "cluster", "raft", "--nodes", "3", "--dir", dir, "--base-port", String(base), "--seed", "1"], {
      stdio: ["ignore", "pipe", "pipe"],
    })
    let output = ""
    cluster.stdout.on("data", (c: Buffer) => (output += c.toString()))
    cluster.stderr.on("data", (c: Buffer) => (output += c.toString()))
    const exited = new Promise<number | null>((resolve) => cluster.on("exit", (code) => resolve(code)))
    try {
      const statuses = async (): Promise<Array<Status | undefined>> =>
        Promise.all(urls.map(async (u) => (await http("GET", `${u}/quorum/status`))?.json as Status | undefined))
      const leaderOf = async (exclude?: string): Promise<Status | undefined> => {
        const all = await statuses()
        const leaders = all.filter((s): s is Status => s?.role === "Leader" && s.id !== exclude)
        const top = leaders.sort((a, b) => b.term - a.term)[0]
        // Every live node agrees on it.
        if (top === undefined || !all.every((s) => s === undefined || s.id === exclude || s.leader === top.id)) return undefined
        return top
      }
      const leader = await retry("a leader", () => leaderOf())
      const followers = urls.filter((_, i) => `n${i + 1}` !== leader.id)
      const put = await retry("a write through a follower", async () => {
        const r = await http("PUT", `${followers[0]}/v2/keys/a`, "value=1")
        // 200 too: a retry after an attempt whose outcome was unknown finds the key already set.
        return r?.status === 201 || r?.status === 200 ? r : undefined
      })
      expect(put.json).toMatchObject({ action: "set", node: { key: "/a", value: "1" } })
      // A linearizable read can time out on a loaded machine (the read index needs a heartbeat round): retry.
      const readKey = (url: string, key: string) =>
        retry(`a read of ${key}`, async () => {
          const r = await http("GET", `${url}/v2/keys/${key}`)
          return r?.status === 200 ? r : undefined
        })
      const got = await readKey(followers[1]!, "a")
      expect(got.json).toMatchObject({ action: "get", node: { key: "/a", value: "1" } })

      process.kill(leader.pid, "SIGKILL")
      const t0 = Date.now()
      const survivor = followers[1]!
      const again = await retry("a write after failover", async () => {
        const r = await http("PUT", `${survivor}/v2/keys/b`, "value=2")
        return r?.status === 201 || r?.status === 200 ? r : undefined
      })
      const failoverMs = Date.now() - t0
      expect(again.json).toMatchObject({ action: "set", node: { key: "/b", value: "2" } })
      const next = await retry("the new leader", () => leaderOf(leader.id))
      expect(next.id).not.toBe(leader.id)
      expect(next.term).toBeGreaterThan(leader.term)
      expect((await readKey(followers[0]!, "a")).json).toMatchObject({ node: { value: "1" } })
      process.stdout.write(`smoke: leader ${leader.id} killed; next acknowledged write after ${failoverMs} ms (new leader ${next.id})\n`)

      cluster.kill("SIGTERM")
      expect(await exited).toBe(0)
      expect(output).toContain("cluster stopped")
      for (const id of ["n1", "n2", "n3"]) {
        expect(fs.existsSync(path.join(dir, id, "events.ndjson"))).toBe(true)
      }
    } catch (e) {
      process.stderr.write(`cluster output:\n${output}\n`)
      throw e
    } finally {
      if (cluster.exitCode === null) {
        cluster.kill("SIGKILL")
        await exited
      }
    }
  })

  it("crash test: kill -9 of the leader and of a follower during a write load (snapshots every 25 entries) loses no acknowledged write", async () => {
    const base = await freeBase()
    const crashDir = path.join(dir, "crash")
    const urls = [1, 2, 3].map((i) => `http://127.0.0.1:${base + 1000 + i}`)
    const cluster = spawn(
      process.execPath,
      // Snapshots every 25 entries: the restarted nodes recover from a snapshot, and may need the leader's.
      [bin, "cluster", "raft", "--nodes", "3", "--dir", crashDir, "--base-port", String(base), "--seed", "2", "--restart", "--snapshot-every", "25"],
      { stdio: ["ignore", "pipe", "pipe"] },
    )
    let output = ""
    cluster.stdout.on("data", (c: Buffer) => (output += c.toString()))
    cluster.stderr.on("data", (c: Buffer) => (output += c.toString()))
    const exited = new Promise<number | null>((resolve) => cluster.on("exit", (code) => resolve(code)))
    const status = async (u: string) => (await http("GET", `${u}/quorum/status`))?.json as Status | undefined
    try {
      await retry("a leader", async () => ((await Promise.all(urls.map(status))).some((s) => s?.role === "Leader") ? true : undefined))
      const acked = new Map<string, string>()
      let attempts = 0
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; i < 40; i++) {
          const key = `crash/w${w}-${i}`
          for (let t = 0; t < 200; t++) {
            attempts++
            const r = await http("PUT", `${urls[(w + t) % 3]}/v2/keys/${key}`, `value=${w}.${i}`)
            if (r?.status === 200 || r?.status === 201) {
              acked.set(key, `${w}.${i}`)
              break
            }
            await sleep(50)
          }
        }
      }
      const killer = async (): Promise<void> => {
        for (const victim of ["leader", "follower"] as const) {
          await retry("progress before a kill", async () => (acked.size >= (victim === "leader" ? 40 : 160) ? true : undefined), 1200, 50)
          const all = (await Promise.all(urls.map(status))).filter((s): s is Status => s !== undefined)
          const target = all.find((s) => (victim === "leader" ? s.role === "Leader" : s.role === "Follower"))
          if (target !== undefined) process.kill(target.pid, "SIGKILL")
        }
      }
      await Promise.all([...Array.from({ length: 8 }, (_, w) => worker(w)), killer()])
      expect(acked.size).toBe(320)
      // Every node is back (restarted by the cluster) and agrees on a leader.
      await retry("all three nodes up with a leader", async () => {
        const all = await Promise.all(urls.map(status))
        return all.every((s) => s !== undefined) && all.some((s) => s?.role === "Leader") ? true : undefined
      })
      for (const [key, value] of acked) {
        const r = await retry(`a linearizable read of ${key}`, async () => {
          const g = await http("GET", `${urls[0]}/v2/keys/${key}`)
          return g?.status === 200 ? g : undefined
        })
        expect((r.json.node as { value: string }).value).toBe(value)
      }
      expect(output).toMatch(/exited \(SIGKILL\)/)
      expect(output).toMatch(/key space restored from the snapshot at index \d+/)
      expect(output).toMatch(/snapshot at index \d+ durable in snap-\d{16}\.snap \(\d+ bytes, \d+ ms\); compacting the log/)
      process.stdout.write(`crash test: ${acked.size} acknowledged writes (${attempts} attempts) all readable after 2 kills\n`)
      cluster.kill("SIGTERM")
      expect(await exited).toBe(0)
      // Each node's snapshot is in a file of its own (raft-store.ts), and only the one its log names is left.
      for (const id of ["n1", "n2", "n3"]) expect(fs.readdirSync(path.join(crashDir, id)).filter((n) => n.endsWith(".snap"))).toHaveLength(1)
      // Conformance: every step the three processes logged, across both kills and restarts, is a legal
      // transition of the spec.
      const validated = spawnSync(process.execPath, [bin, "trace", "validate", "--events", crashDir], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } })
      expect(validated.status, validated.stdout + validated.stderr).toBe(0)
      expect(validated.stdout).toContain("is a legal transition of raft")
    } catch (e) {
      process.stderr.write(`cluster output:\n${output.slice(-5000)}\n`)
      throw e
    } finally {
      if (cluster.exitCode === null) {
        cluster.kill("SIGKILL")
        await exited
      }
    }
  })
})
