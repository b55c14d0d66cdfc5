/**
 * Smoke test with real processes on loopback: `quorum cluster zab --nodes 3` elects a leader with
 * FastLeaderElection, a create through a follower (forwarded to the leader) is readable from another node, version
 * checks fail as ZooKeeper's do, a watch fires, the leader is killed with SIGKILL, a new leader accepts writes and
 * still has the old znodes, and SIGTERM stops the cluster cleanly (exit code 0).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { call, retry, startCluster } from "./zab-cluster.ts"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-zab-smoke-"))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe("quorum cluster zab (real processes on loopback)", () => {
  it("elects, replicates through a follower, survives kill -9 of the leader, and stops cleanly", async () => {
    const c = await startCluster(dir, 1)
    try {
      const leader = await retry("an established leader", () => c.leader())
      const followers = c.urls.filter((_, i) => `n${i + 1}` !== leader.id)
      const ok = (codes: number[]) => (r: Awaited<ReturnType<typeof call>>) => (r !== undefined && codes.includes(r.status) ? r : undefined)
      const created = await retry("a create through a follower", async () => ok([201, 409])(await call("POST", `${followers[0]}/znodes/app`, { data: "v1" })))
      expect(created.json).toMatchObject({ path: "/app" })
      const read = await retry("a linearizable read elsewhere", async () => ok([200])(await call("GET", `${followers[1]}/znodes/app`)))
      expect(read.json).toMatchObject({ path: "/app", data: "v1", stat: { version: 0 } })
      // ZooKeeper's version checks, decided at the transaction's position.
      const bad = await call("PUT", `${followers[1]}/znodes/app`, { data: "v2", version: 7 })
      expect(bad).toMatchObject({ status: 409, json: { error: "BadVersion", code: -103 } })
      const lastZxid = Number((read.json.stat as { mzxid: number }).mzxid)
      const watch = call("GET", `${followers[1]}/znodes/app?watch=data&since=${lastZxid + 1}`)
      const set = await call("PUT", `${followers[0]}/znodes/app`, { data: "v2", version: 0 })
      expect(set).toMatchObject({ status: 200, json: { stat: { version: 1 } } })
      expect((await watch)?.json).toMatchObject({ type: "NodeDataChanged", path: "/app" })
      expect(await call("POST", `${c.urls[0]}/znodes/app/q-`, { data: "", sequential: true })).toMatchObject({ status: 201, json: { path: "/app/q-0000000000" } })
      expect(await call("DELETE", `${c.urls[0]}/znodes/app`)).toMatchObject({ status: 409, json: { error: "NotEmpty" } })
      expect(await call("POST", `${c.urls[0]}/znodes/nope/x`, { data: "" })).toMatchObject({ status: 404, json: { error: "NoNode" } })
      const local = await retry("a local read", async () => ok([200])(await call("GET", `${followers[1]}/znodes/app?children=true&local=true`)))
      expect(local.json).toMatchObject({ children: ["q-0000000000"] })

      process.kill(leader.pid, "SIGKILL")
      const t0 = Date.now()
      const again = await retry("a write after failover", async () => ok([201, 409])(await call("POST", `${followers[1]}/znodes/after`, { data: "x" })), 600, 20)
      const failoverMs = Date.now() - t0
      expect(again.json).toMatchObject({ path: "/after" })
      const next = await retry("the new leader", () => c.leader(leader.id))
      expect(next.acceptedEpoch).toBeGreaterThan(leader.acceptedEpoch)
      expect((await retry("the old znode", async () => ok([200])(await call("GET", `${followers[0]}/znodes/app`)))).json).toMatchObject({ data: "v2" })
      process.stdout.write(`zab smoke: leader ${leader.id} killed; next acknowledged write after ${failoverMs} ms (new leader ${next.id})\n`)

      c.child.kill("SIGTERM")
      expect(await c.exited).toBe(0)
      expect(c.output()).toContain("cluster stopped")
      for (const id of ["n1", "n2", "n3"]) {
        expect(fs.existsSync(path.join(dir, id, "version-2", "acceptedEpoch"))).toBe(true)
        expect(fs.existsSync(path.join(dir, id, "events.ndjson"))).toBe(true)
      }
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
