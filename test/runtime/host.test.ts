/**
 * The node host on a simulated clock and network (deterministic): three Raft hosts elect a leader and commit
 * client writes; persist-before-send holds a vote until it is durable; group commit batches concurrent
 * persists; a crashed leader is replaced and a restarted node catches up from what it made durable.
 */
import { describe, expect, it } from "vitest"
import { nodeId } from "../../spec/kernel/protocol.ts"
import { ELECTION } from "../../spec/raft/rules.ts"
import { stateDigest } from "../../src/runtime/digest.ts"
import type { Result } from "../../src/runtime/raft/kv.ts"
import { NotLeaderError } from "../../src/runtime/raft/raft-node.ts"
import { SimCluster } from "./sim-cluster.ts"

const okValue = (r: Result | undefined): string | undefined => (r !== undefined && r.ok ? r.event.node.value : undefined)

describe("NodeHost on a simulated network", () => {
  it("three hosts elect exactly one leader and commit a client write on every node", async () => {
    const c = new SimCluster({ seed: 42 })
    await c.startAll()
    await c.until(() => c.leaders().length === 1, "a leader")
    const leader = c.leaders()[0]!
    const r = await c.drive(leader.propose({ _tag: "set", key: "/a", value: "1" }))
    expect(r).toMatchObject({ ok: true, event: { action: "set", node: { key: "/a", value: "1" } } })
    await c.until(() => [...c.nodes.values()].every((n) => n.kv.get("/a").ok), "the write applied everywhere")
    for (const n of c.nodes.values()) expect(okValue(n.kv.get("/a"))).toBe("1")
    // Followers refuse proposals with the leader's name.
    const follower = [...c.nodes.values()].find((n) => !n.isLeader)!
    await expect(c.drive(follower.propose({ _tag: "set", key: "/b", value: "2" }))).rejects.toBeInstanceOf(NotLeaderError)
    expect(follower.leader).toBe(leader.id)
  })

  it("is deterministic: the same seed gives the same event logs", async () => {
    const run = async (): Promise<string[]> => {
      const c = new SimCluster({ seed: 7 })
      await c.startAll()
      await c.until(() => c.leaders().length === 1, "a leader")
      await c.drive(c.leaders()[0]!.propose({ _tag: "set", key: "/x", value: "y" }))
      await c.clock.advance(200)
      return c.ids.flatMap((id) => c.events.get(id)!.lines)
    }
    const a = await run()
    const b = await run()
    expect(a.length).toBeGreaterThan(20)
    expect(a).toEqual(b)
  })

  it("persist-before-send: a granted vote does not leave until it is durable", async () => {
    const c = new SimCluster({ seed: 3 })
    await c.startAll()
    // Hold every append of n2 and n3.
    const n2 = nodeId("n2")
    const n3 = nodeId("n3")
    c.gates.set(n2, [])
    c.gates.set(n3, [])
    await c.until(() => c.node(n2).state.votedFor !== null || c.node(n3).state.votedFor !== null, "a vote in memory")
    await c.clock.advance(50)
    // Votes are granted in memory, but no RequestVoteResponse has left n2 or n3, so nobody can be leader
    // unless it is a candidate that voted for itself and... still needs one granted response.
    expect(c.leaders()).toHaveLength(0)
    const sentBy = (id: typeof n2) =>
      c.events.get(id)!.parsed().filter((e) => e.ev === "send" && (e.msg as { _tag: string })._tag === "RequestVoteResponse")
    expect(sentBy(n2).filter((e) => (e.msg as { voteGranted: boolean }).voteGranted)).toHaveLength(0)
    expect(sentBy(n3).filter((e) => (e.msg as { voteGranted: boolean }).voteGranted)).toHaveLength(0)
    // Release the disks: the votes become durable, then leave, and a leader is elected.
    for (const id of [n2, n3]) {
      const gate = c.gates.get(id)!
      c.gates.delete(id)
      for (const open of gate) open()
    }
    await c.until(() => c.leaders().length === 1, "a leader once votes are durable")
    // In every event log, each granted vote is sent only after a persist event.
    for (const id of [n2, n3]) {
      const evs = c.events.get(id)!.parsed()
      const firstGrant = evs.findIndex((e) => e.ev === "send" && (e.msg as { voteGranted?: boolean }).voteGranted === true)
      if (firstGrant >= 0) expect(evs.slice(0, firstGrant).some((e) => e.ev === "persist")).toBe(true)
    }
  })

  it("parallel append: entries leave before the leader's write is durable, and are answered only after it", async () => {
    const run = async (variant: string) => {
      const c = new SimCluster({ seed: 3, variant })
      await c.startAll()
      await c.until(() => c.leaders().length === 1 && c.leaders()[0]!.kv.index >= 1, "a leader with its no-op applied")
      const leader = c.leaders()[0]!
      const followers = c.ids.filter((id) => id !== leader.id)
      c.gates.set(leader.id, [])
      let answered = false
      const write = leader.propose({ _tag: "set", key: "/a", value: "1" }).then((r) => {
        answered = true
        return r
      })
      await c.clock.advance(20)
      const replicated = followers.filter((id) => c.node(id).state.log.length === leader.state.log.length).length
      const wasAnswered = answered
      const gate = c.gates.get(leader.id)!
      c.gates.delete(leader.id)
      for (const open of gate) open()
      await c.drive(write)
      return { replicated, wasAnswered, answeredAfter: answered }
    }
    // Both followers hold the entry while the leader's own append is still held, yet the write is not
    // answered: the leader's commit counted its flushLog step, which is not durable yet.
    expect(await run("parallel-append")).toEqual({ replicated: 2, wasAnswered: false, answeredAfter: true })
    // Figure 2 as is: nothing leaves before the leader's append is durable.
    expect(await run("faithful")).toEqual({ replicated: 0, wasAnswered: false, answeredAfter: true })
  })

  it("parallel append: a leader that crashes before its write is durable loses no acknowledged write", async () => {
    const c = new SimCluster({ seed: 4, variant: "parallel-append" })
    await c.startAll()
    await c.until(() => c.leaders().length === 1 && c.leaders()[0]!.kv.index >= 1, "a leader with its no-op applied")
    const leader = c.leaders()[0]!
    await c.drive(leader.propose({ _tag: "set", key: "/before", value: "1" }))
    c.gates.set(leader.id, [])
    const lost = leader.propose({ _tag: "set", key: "/held", value: "2" }).then(
      () => "answered",
      (e: Error) => e.name,
    )
    await c.clock.advance(20)
    const disk = c.crash(leader.id)
    expect(await lost).toBe("RequestFailed")
    // The crashed leader's disk lacks the held entry; the followers have it, and a new leader commits it.
    expect(disk!.log.some((e) => e.value.includes("/held"))).toBe(false)
    await c.until(() => c.leaders().length === 1, "a new leader")
    const next = c.leaders()[0]!
    await c.drive(next.propose({ _tag: "set", key: "/after", value: "3" }))
    expect(okValue(next.kv.get("/before"))).toBe("1")
    c.gates.delete(leader.id)
    await c.restart(leader.id, disk)
    await c.until(() => c.node(leader.id).kv.index === next.kv.index, "the old leader catching up")
    expect(okValue(c.node(leader.id).kv.get("/held"))).toBe("2")
  })

  it("group commit: 64 concurrent steps that persist share a few fsyncs", async () => {
    const c = new SimCluster({ seed: 11, fsyncMs: 5 })
    await c.startAll()
    await c.until(() => c.leaders().length === 1 && c.leaders()[0]!.kv.index >= 1, "a leader with its no-op applied")
    const leader = c.leaders()[0]!
    const store = c.stores.get(leader.id)!
    const before = store.appends
    // One Put step each, straight to the host (RaftNode.propose would batch them into one step).
    const puts = Array.from({ length: 64 }, (_, i) => leader.host.request({ _tag: "Put", value: `{"_tag":"noop","id":"g${i}"}` }))
    const replies = await c.drive(Promise.all(puts))
    expect(replies.every((r) => r?._tag === "Accepted")).toBe(true)
    const appends = store.appends - before
    expect(appends).toBeLessThanOrEqual(4)
    expect(leader.host.stats.persists - appends).toBeGreaterThan(50)
  })

  it("batching: 64 concurrent writes go to the spec as one or two PutBatch steps, and all commit", async () => {
    const c = new SimCluster({ seed: 11, fsyncMs: 5 })
    await c.startAll()
    await c.until(() => c.leaders().length === 1 && c.leaders()[0]!.kv.index >= 1, "a leader with its no-op applied")
    const leader = c.leaders()[0]!
    const store = c.stores.get(leader.id)!
    const before = store.appends
    const events = c.events.get(leader.id)!
    const linesBefore = events.lines.length
    const writes = Array.from({ length: 64 }, (_, i) => leader.propose({ _tag: "set", key: `/k${i}`, value: `v${i}` }))
    const results = await c.drive(Promise.all(writes))
    expect(results.every((r) => r?.ok === true)).toBe(true)
    expect(store.appends - before).toBeLessThanOrEqual(4)
    const clientSteps = events.parsed().slice(linesBefore).filter((l) => l.ev === "client")
    expect(clientSteps.length).toBeLessThanOrEqual(2)
    expect(clientSteps.map((l) => (l.request as { values?: unknown[] }).values?.length ?? 1).reduce((a, b) => a + b, 0)).toBe(64)
    for (let i = 0; i < 64; i++) expect(okValue(leader.kv.get(`/k${i}`))).toBe(`v${i}`)
  })

  it("coalescing: under many writers AppendEntries leave fuller and fewer; a lone writer never waits", async () => {
    // 32 writers, each writing again shortly after its write is acknowledged (the benchmark's closed loop; a real
    // client takes its time to answer each reply, so requests come back spread out: 0-3 ms here).
    const run = async (coalesceMs: number, writers: number, rounds: number) => {
      const c = new SimCluster({ seed: 21, timings: { electionMs: 300, heartbeatMs: 50, coalesceMs } })
      await c.startAll()
      await c.until(() => c.leaders().length === 1 && c.leaders()[0]!.kv.index >= 1, "a leader with its no-op applied")
      const leader = c.leaders()[0]!
      const events = c.events.get(leader.id)!
      const linesBefore = events.lines.length
      const started = c.clock.now()
      const writer = async (w: number) => {
        for (let i = 0; i < rounds; i++) {
          expect((await leader.propose({ _tag: "set", key: `/w${w}`, value: `${i}` }))?.ok).toBe(true)
          await new Promise<void>((resolve) => c.clock.setTimeout(resolve, (w + i) % 4))
        }
      }
      await c.drive(Promise.all(Array.from({ length: writers }, (_, w) => writer(w))))
      const carrying = events
        .parsed()
        .slice(linesBefore)
        .flatMap((l) => (l.ev === "send" && (l.msg as { _tag: string })._tag === "AppendEntries" ? [(l.msg as { entries: unknown[] }).entries.length] : []))
        .filter((n) => n > 0)
      return { messages: carrying.length, perMessage: carrying.reduce((a, b) => a + b, 0) / carrying.length, ms: c.clock.now() - started }
    }
    const eager = await run(0, 32, 8)
    const coalesced = await run(3, 32, 8)
    expect(coalesced.messages).toBeLessThan(eager.messages)
    expect(coalesced.perMessage).toBeGreaterThan(eager.perMessage)
    // A wait ends when the message is full enough, not when its timer runs out: with a 1 s timer, only the last
    // wait (the writers stop, so the message never fills) takes the whole second.
    const longTimer = await run(1000, 32, 8)
    expect(longTimer.ms).toBeLessThan(1000 + 3 * eager.ms)
    // One writer at a time: the same simulated time with or without coalescing (its entry never waits).
    expect((await run(3, 1, 20)).ms).toBe((await run(0, 1, 20)).ms)
  })

  it("proposeThen answers each write as its entry is applied, before the rest of its batch", async () => {
    const c = new SimCluster({ seed: 8 })
    await c.startAll()
    await c.until(() => c.leaders().length === 1 && c.leaders()[0]!.kv.index >= 1, "a leader with its no-op applied")
    const leader = c.leaders()[0]!
    const seen: Array<{ index: number | undefined; applied: number }> = []
    const done = Promise.all(
      Array.from(
        { length: 5 },
        (_, i) =>
          new Promise<void>((resolve, reject) =>
            leader.proposeThen(
              { _tag: "set", key: `/p${i}`, value: String(i) },
              (r) => {
                seen.push({ index: r?.ok === true ? r.index : undefined, applied: leader.kv.index })
                resolve()
              },
              reject,
            ),
          ),
      ),
    )
    // The same five writes through promises: their awaiters resume only after the whole batch is applied.
    const viaPromise = Promise.all(Array.from({ length: 5 }, (_, i) => leader.propose({ _tag: "set", key: `/q${i}`, value: String(i) }).then(() => leader.kv.index)))
    await c.drive(Promise.all([done, viaPromise]))
    expect(seen.map((x) => x.applied)).toEqual(seen.map((x) => x.index))
    expect(new Set(seen.map((x) => x.applied)).size).toBe(5)
    const resumedAt = await viaPromise
    expect(new Set(resumedAt).size).toBe(1)
  })

  it("coalescing: a lone writer right after a burst waits out the coalescing timer once, not on every write", async () => {
    const sequentialAfterBurst = async (coalesceMs: number) => {
      const c = new SimCluster({ seed: 21, timings: { electionMs: 300, heartbeatMs: 50, coalesceMs } })
      await c.startAll()
      await c.until(() => c.leaders().length === 1 && c.leaders()[0]!.kv.index >= 1, "a leader with its no-op applied")
      const leader = c.leaders()[0]!
      await c.drive(Promise.all(Array.from({ length: 32 }, (_, w) => leader.propose({ _tag: "set", key: `/burst${w}`, value: "x" }))))
      const started = c.clock.now()
      await c.drive(
        (async () => {
          for (let i = 0; i < 20; i++) expect((await leader.propose({ _tag: "set", key: "/lone", value: `${i}` }))?.ok).toBe(true)
        })(),
      )
      return c.clock.now() - started
    }
    const eager = await sequentialAfterBurst(0)
    // The burst's peak (32 writers) is remembered for 100 ms; 20 writes of a few ms each fall inside it.
    expect(await sequentialAfterBurst(5)).toBeLessThanOrEqual(eager + 5 + 1)
  })

  it("a crashed leader is replaced, acknowledged writes survive, and the restarted node catches up", async () => {
    const c = new SimCluster({ seed: 5 })
    await c.startAll()
    await c.until(() => c.leaders().length === 1, "a leader")
    const old = c.leaders()[0]!
    expect(await c.drive(old.propose({ _tag: "set", key: "/a", value: "1" }))).toMatchObject({ ok: true })
    const disk = c.crash(old.id)
    expect(disk?.log.some((e) => e.value.includes('"/a"'))).toBe(true)
    await c.until(() => c.leaders().length === 1, "a new leader")
    const next = c.leaders()[0]!
    expect(next.id).not.toBe(old.id)
    expect(await c.drive(next.propose({ _tag: "set", key: "/b", value: "2" }))).toMatchObject({ ok: true })
    const back = await c.restart(old.id, disk)
    await c.until(() => back.kv.get("/b").ok, "the restarted node applying /b")
    expect(okValue(back.kv.get("/a"))).toBe("1")
    expect(back.state.currentTerm).toBe(next.state.currentTerm)
  })

  it("a follower that refuses a candidate with a shorter log stands at once, not a whole timeout later", async () => {
    const c = new SimCluster({ seed: 5 })
    await c.startAll()
    await c.until(() => c.leaders().length === 1, "a leader")
    const leader = c.leaders()[0]!
    const [behind, ahead] = c.ids.filter((id) => id !== leader.id).map((id) => c.node(id))
    // `behind` misses the last write; then the leader dies.
    c.net.partition(leader.id, behind!.id)
    expect(await c.drive(leader.propose({ _tag: "set", key: "/x", value: "1" }))).toMatchObject({ ok: true })
    c.crash(leader.id)
    const from = c.clock.now()
    behind!.host.fireTimerNow(ELECTION)
    await c.until(() => ahead!.isLeader, "the follower with the longer log leading")
    // Far sooner than any election timeout of its own (300-600 ms after the last heartbeat).
    expect(c.clock.now() - from).toBeLessThan(50)
    await c.until(() => ahead!.kv.get("/x").ok, "the acknowledged write applied under the new leader")
    expect(okValue(ahead!.kv.get("/x"))).toBe("1")
  })

  it("linearizable reads: the leader confirms leadership with a probe round; followers refuse", async () => {
    const c = new SimCluster({ seed: 9 })
    await c.startAll()
    await c.until(() => c.leaders().length === 1, "a leader")
    const leader = c.leaders()[0]!
    await c.drive(leader.propose({ _tag: "set", key: "/r", value: "x" }))
    await c.drive(leader.readBarrier())
    expect(okValue(leader.kv.get("/r"))).toBe("x")
    const follower = [...c.nodes.values()].find((n) => !n.isLeader)!
    await expect(c.drive(follower.readBarrier())).rejects.toBeInstanceOf(NotLeaderError)
    // A leader cut off from both peers cannot confirm: the read times out instead of returning stale data.
    c.net.isolate(leader.id)
    await expect(c.drive(leader.readBarrier(), 30_000, 10)).rejects.toThrow()
  })

  it("watches fire on the next change of a key", async () => {
    const c = new SimCluster({ seed: 13 })
    await c.startAll()
    await c.until(() => c.leaders().length === 1, "a leader")
    const leader = c.leaders()[0]!
    const follower = [...c.nodes.values()].find((n) => !n.isLeader)!
    const seen: string[] = []
    follower.kv.watch("/w", {}, (e) => seen.push(`${e.event.action}:${e.event.node.value}`))
    await c.drive(leader.propose({ _tag: "set", key: "/w", value: "1" }))
    await c.until(() => seen.length === 1, "the watch firing on the follower")
    expect(seen).toEqual(["set:1"])
  })

  it("digests of equal states are equal and long logs are summarised by a chain", () => {
    const log = Array.from({ length: 100 }, (_, i) => ({ term: 1, value: `v${i}` }))
    const s = { role: "Follower", currentTerm: 1, log }
    const copy = { role: "Follower", currentTerm: 1, log: log.map((e) => ({ ...e })) }
    expect(stateDigest(s)).toBe(stateDigest(copy))
    const longer = { ...s, log: [...log, { term: 1, value: "x" }] }
    expect(stateDigest(longer)).not.toBe(stateDigest(s))
    expect(stateDigest(longer)).toBe(stateDigest({ ...copy, log: [...copy.log, { term: 1, value: "x" }] }))
    expect(stateDigest(s)).toMatch(/^[0-9a-f]{16}$/)
  })
})
