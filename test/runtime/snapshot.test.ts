/**
 * Log compaction on running nodes (Raft §7, variant parallel-append-compaction, the nodes' default): nodes
 * replace applied entries by a snapshot of the key space, a follower that missed them is sent the leader's
 * snapshot, a restart recovers from snapshot and log, and every step of such a run is a step of the spec.
 */
import { describe, expect, it } from "vitest"
import { nodeId, type NodeId } from "../../spec/kernel/protocol.ts"
import { raft } from "../../spec/raft/index.ts"
import { lastLogIndex, snapshotIndex } from "../../spec/raft/rules.ts"
import type { Durable } from "../../spec/raft/schema.ts"
import { loggedVariant, validateEvents } from "../../src/runtime/conformance.ts"
import { runtimeConfig, SNAPSHOT_CATCH_UP_MS, SNAPSHOT_RESEND_MS } from "../../src/runtime/raft/config.ts"
import type { RaftNode } from "../../src/runtime/raft/raft-node.ts"
import { SimCluster } from "./sim-cluster.ts"

const valueAt = (n: RaftNode, key: string): string | undefined => {
  const r = n.kv.get(key)
  return r.ok ? r.event.node.value : undefined
}

/** An event line of the spec's internal `compact` step. */
const isCompactStep = (line: string): boolean => line.includes('"action":{"name":"compact"')
/** How many `compact` steps node `id` of `c` has taken. */
const compactSteps = (c: SimCluster, id: NodeId): number => c.events.get(id)!.lines.filter(isCompactStep).length

describe("snapshots on running nodes", () => {
  it("compact every N entries, catch a lagging follower up with InstallSnapshot, recover from disk, and conform to the spec", async () => {
    const c = new SimCluster({ seed: 11, snapshotEvery: 5 })
    const logs = new Map<string, string[]>(c.ids.map((id) => [id, []]))
    const collect = (id: NodeId) => logs.get(id)!.push(...c.events.get(id)!.lines)
    await c.startAll()
    await c.until(() => c.leaders().length === 1, "a leader")
    const leader = c.leaders()[0]!
    const [lagging, other] = c.ids.filter((id) => id !== leader.id) as [NodeId, NodeId]
    const laggingDisk = c.crash(lagging)
    collect(lagging)

    for (let i = 0; i < 20; i++) expect(await c.drive(leader.propose({ _tag: "set", key: `/k${i}`, value: String(i) }))).toMatchObject({ ok: true })
    // The leader holds back its compaction while a peer lacks the entries, then compacts anyway.
    await c.clock.advance(SNAPSHOT_CATCH_UP_MS + 100)
    expect(snapshotIndex(leader.state)).toBeGreaterThanOrEqual(15)
    expect(leader.state.log.length).toBeLessThan(10)
    expect(snapshotIndex(c.node(other).state)).toBeGreaterThanOrEqual(15)

    // The restarted follower needs entries the leader no longer has: it gets the snapshot, then the rest. Its
    // disk is held for 600 ms meanwhile, so it answers late; the leader does not resend the snapshot on every
    // heartbeat while it waits (it would 12 times).
    const back = await c.restart(lagging, laggingDisk)
    c.gates.set(lagging, [])
    await c.clock.advance(600)
    const held = c.gates.get(lagging)!
    c.gates.delete(lagging)
    for (const release of held) release()
    await c.until(() => back.kv.index >= leader.kv.index, "the lagging follower catching up")
    expect(c.events.get(lagging)!.lines.some((l) => l.includes('"_tag":"InstallSnapshot"'))).toBe(true)
    // (The held disk can also delay the follower's answers long enough for an election; a new term's leader may
    // send the snapshot again, but never the same one within SNAPSHOT_RESEND_MS.)
    const sent = c.events
      .get(leader.id)!
      .parsed()
      .filter((e) => e.ev === "send" && (e.msg as { _tag: string })._tag === "InstallSnapshot")
      .map((e) => ({ t: e.t as number, index: (e.msg as { lastIncludedIndex: number }).lastIncludedIndex }))
    expect(sent.length).toBeGreaterThan(0)
    for (let k = 1; k < sent.length; k++) if (sent[k]!.index === sent[k - 1]!.index) expect(sent[k]!.t - sent[k - 1]!.t).toBeGreaterThanOrEqual(SNAPSHOT_RESEND_MS)
    expect(leader.host.stats.dropped).toBeGreaterThan(0)
    for (let i = 0; i < 20; i++) expect(valueAt(back, `/k${i}`)).toBe(String(i))
    expect(snapshotIndex(back.state)).toBeGreaterThan(0)

    // Every node restarts from its own snapshot and log, with the whole key space.
    const disks = new Map<NodeId, Durable | undefined>()
    for (const id of c.ids) {
      disks.set(id, c.crash(id))
      collect(id)
    }
    for (const id of c.ids) expect(disks.get(id)?.snapshot).toBeDefined()
    for (const id of c.ids) await c.restart(id, disks.get(id))
    await c.until(() => c.leaders().length === 1, "a leader after the restarts")
    const next = c.leaders()[0]!
    expect(await c.drive(next.propose({ _tag: "set", key: "/after", value: "restart" }))).toMatchObject({ ok: true })
    await c.until(() => c.ids.every((id) => c.node(id).kv.index === next.kv.index), "every node applying the last write")
    for (const id of c.ids) {
      const n = c.node(id)
      for (let i = 0; i < 20; i++) expect(valueAt(n, `/k${i}`)).toBe(String(i))
      expect(valueAt(n, "/after")).toBe("restart")
      expect(lastLogIndex(n.state)).toBe(lastLogIndex(next.state))
    }

    for (const id of c.ids) collect(id)
    const variant = loggedVariant(raft, logs)
    expect(variant).toBe("parallel-append-compaction")
    const report = validateEvents({ protocol: raft, config: runtimeConfig(), variant: raft.variants[variant]!.flags, events: logs })
    expect(report.problems).toEqual([])
    expect([...logs.values()].flat().some(isCompactStep)).toBe(true)
    expect(nodeId(lagging)).toBe(lagging)
  })

  it("space snapshots out as the key space grows: a snapshot waits for as many bytes of new entries as it holds", async () => {
    const c = new SimCluster({ seed: 12, snapshotEvery: 5 })
    await c.startAll()
    await c.until(() => c.leaders().length === 1, "a leader")
    const leader = c.leaders()[0]!
    // A key space of 150 keys with 200-character values: snapshots of over 30,000 characters.
    for (let i = 0; i < 150; i++) expect(await c.drive(leader.propose({ _tag: "set", key: `/big${i}`, value: "x".repeat(200) }))).toMatchObject({ ok: true })
    await c.clock.advance(SNAPSHOT_CATCH_UP_MS + 100)
    const before = compactSteps(c, leader.id)
    const base = snapshotIndex(leader.state)
    expect(base).toBeGreaterThan(0)
    // 300 small writes to one key (~60 characters each, ~18,000 in all): 60 times `snapshotEvery`, yet at most
    // one snapshot (the bytes applied since the last one count too), not 60.
    for (let i = 0; i < 300; i++) expect(await c.drive(leader.propose({ _tag: "set", key: "/small", value: String(i) }))).toMatchObject({ ok: true })
    await c.clock.advance(SNAPSHOT_CATCH_UP_MS + 100)
    expect(compactSteps(c, leader.id) - before).toBeLessThanOrEqual(1)
    // Enough bytes of new entries and snapshots follow again.
    const mark = snapshotIndex(leader.state)
    for (let i = 0; i < 300; i++) expect(await c.drive(leader.propose({ _tag: "set", key: `/big${i % 150}`, value: "y".repeat(200) }))).toMatchObject({ ok: true })
    await c.clock.advance(SNAPSHOT_CATCH_UP_MS + 100)
    expect(snapshotIndex(leader.state)).toBeGreaterThan(mark)
  })

  it("snapshot sooner when one-entry steps keep copying a long log: those copies count against the snapshot's size", async () => {
    // The same writes on two clusters: 300 values of 1,000 characters (snapshots of up to ~300,000), then 1,500
    // small writes one at a time (~90,000 characters: short of the byte rule). Where every log counts as long
    // (largeLogSlots 1), each step's copy of it counts, and the copies reach 4 slots per byte of the snapshot.
    const snapshotsDuringSmallWrites = async (largeLogSlots: number | undefined): Promise<number> => {
      const c = new SimCluster({ seed: 12, snapshotEvery: 5, ...(largeLogSlots === undefined ? {} : { largeLogSlots }) })
      await c.startAll()
      await c.until(() => c.leaders().length === 1, "a leader")
      const leader = c.leaders()[0]!
      for (let i = 0; i < 300; i++) expect(await c.drive(leader.propose({ _tag: "set", key: `/big${i}`, value: "x".repeat(1000) }))).toMatchObject({ ok: true })
      await c.clock.advance(SNAPSHOT_CATCH_UP_MS + 100)
      expect(snapshotIndex(leader.state)).toBeGreaterThan(0)
      const before = compactSteps(c, leader.id)
      for (let i = 0; i < 1500; i++) expect(await c.drive(leader.propose({ _tag: "set", key: "/small", value: String(i) }))).toMatchObject({ ok: true })
      await c.clock.advance(SNAPSHOT_CATCH_UP_MS + 100)
      return compactSteps(c, leader.id) - before
    }
    const byBytes = await snapshotsDuringSmallWrites(undefined)
    const withCopies = await snapshotsDuringSmallWrites(1)
    expect(byBytes).toBe(0)
    expect(withCopies).toBeGreaterThanOrEqual(1)
  })
  it("take the compact step only once the snapshot is durable (prepareSnapshot); a failed one leaves the log whole until the next is due", async () => {
    // Every node's first snapshot file fails to write; the later ones are durable when the test says so.
    const prepared: Array<{ id: NodeId; index: number; durable?: () => void }> = []
    const c = new SimCluster({
      seed: 13,
      snapshotEvery: 5,
      prepareSnapshot: (id, snapshot) => {
        const first = !prepared.some((p) => p.id === id)
        if (first) {
          prepared.push({ id, index: snapshot.index })
          return Promise.reject(new Error("disk full"))
        }
        return new Promise((resolve) => prepared.push({ id, index: snapshot.index, durable: resolve }))
      },
    })
    await c.startAll()
    await c.until(() => c.leaders().length === 1, "a leader")
    const leader = c.leaders()[0]!
    const ofLeader = () => prepared.filter((p) => p.id === leader.id)
    const write = async (i: number) => expect(await c.drive(leader.propose({ _tag: "set", key: `/k${i}`, value: String(i) }))).toMatchObject({ ok: true })
    for (let i = 0; i < 8; i++) await write(i)
    await c.clock.advance(SNAPSHOT_CATCH_UP_MS + 100)
    expect(ofLeader()).toHaveLength(1)
    expect(compactSteps(c, leader.id)).toBe(0)
    expect(snapshotIndex(leader.state)).toBe(0)
    // The next snapshot is due `snapshotEvery` entries after the failed one; its compact step waits for the file.
    for (let i = 8; i < 16; i++) await write(i)
    await c.clock.advance(SNAPSHOT_CATCH_UP_MS + 100)
    const second = ofLeader()[1]!
    expect(ofLeader()).toHaveLength(2)
    expect(compactSteps(c, leader.id)).toBe(0)
    expect(snapshotIndex(leader.state)).toBe(0)
    second.durable!()
    await c.clock.advance(10)
    expect(c.events.get(leader.id)!.lines.filter(isCompactStep)[0]).toContain(`"arg":"${second.index}:`)
    expect(snapshotIndex(leader.state)).toBe(second.index)
    // The compact step's event line was encoded while the file was written; the step still replays.
    const logs = new Map(c.ids.map((id) => [id, c.events.get(id)!.lines]))
    const report = validateEvents({ protocol: raft, config: runtimeConfig(), variant: raft.variants[loggedVariant(raft, logs)]!.flags, events: logs })
    expect(report.problems).toEqual([])
  })
})
