/**
 * The release variants, zk-3.8 (tag release-3.8.0-1) and zk-current (master): Learner.syncWithLeader step by step,
 * the asynchronous log, and the leader's side, each test naming the method and the JIRA issue it shows; then
 * model-checking tests that pin the distinct-state counts of small models exercising those steps.
 */
import { describe, expect, it } from "vitest"
import { check } from "../../checker/search.ts"
import { Instance } from "../../checker/world.ts"
import { makeContext, nodeId, nodeIds, type Effect } from "../../spec/kernel/protocol.ts"
import type { AnyProtocol } from "../../spec/kernel/protocol.ts"
import { zab } from "../../spec/zab/index.ts"
import {
  enabledInternal,
  FLUSH,
  handle,
  LEAKED_FLUSH,
  leaderOnAck,
  recover,
  startFollowing,
  SYNC_STEP,
  type Ctx,
  type Following,
  type Leading,
  type ZabNode,
  type ZabStep,
} from "../../spec/zab/rules.ts"
import type { Message, Txn } from "../../spec/zab/schema.ts"
import { makeZxid } from "../../spec/zab/zxid.ts"

const [n1, n2] = [nodeId("n1"), nodeId("n2")]
const config = zab.models["releases"]!.config
const ctxOf = (variant: string, self = "n2"): Ctx => makeContext(nodeId(self), nodeIds(3), config, zab.variants[variant]!.flags)
const x = (e: number, c: number): Txn => ({ zxid: makeZxid(e, c), value: "x" })
const sends = (effects: ReadonlyArray<Effect<Message, unknown>>) =>
  effects.flatMap((e) => (e._tag === "Send" ? [{ to: e.to, msg: e.msg }] : []))
const tags = (r: ZabStep) => sends(r.effects).map((s) => (s.msg._tag === "ACK" ? `ACK ${s.msg.zxid === makeZxid(2, 0) ? "NEWLEADER" : "proposal"}` : s.msg._tag))

/** n2 follows n1 in epoch 2, has logged (1,1), and is waiting for the sync packets. */
const syncing = (variant: string): ZabNode => {
  const booted = { ...recover(ctxOf(variant), { acceptedEpoch: 2, currentEpoch: 1, log: [x(1, 1)], snapshot: null }).state, resetting: [] }
  const s = startFollowing(booted, n1).state
  return { ...s, role: { ...(s.role as Following), phase: "SYNC", epoch: 2 } }
}
const deliver = (variant: string, s: ZabNode, msg: Message) => handle(ctxOf(variant), s, { _tag: "Deliver", from: n1, msg })
const internal = (variant: string, s: ZabNode, name: string, arg?: string) =>
  handle(ctxOf(variant), s, { _tag: "Internal", action: arg === undefined ? { name } : { name, arg } })
const enabled = (variant: string, s: ZabNode) => enabledInternal(ctxOf(variant), s).map((a) => a.name)

/** A DIFF carrying the committed (1,2), then NEWLEADER. */
const diff = (variant: string): ZabNode =>
  deliver(variant, syncing(variant), { _tag: "SYNC", epoch: 2, mode: "DIFF", zxid: makeZxid(1, 1), proposals: [x(1, 2)], snapshot: [], outstanding: [] }).state
const newLeader: Message = { _tag: "NEWLEADER", epoch: 2, zxid: makeZxid(2, 0) }

describe("Learner.syncWithLeader, NEWLEADER after a DIFF with a committed proposal", () => {
  it("3.8.0: currentEpoch first; the proposal only handed to the async log; the NEWLEADER ACK its own step (ZOOKEEPER-4643/4646)", () => {
    const r = deliver("zk-3.8", diff("zk-3.8"), newLeader)
    expect(r.persist).toMatchObject({ currentEpoch: 2, log: [x(1, 1)] })
    expect(r.state.toFlush).toEqual([x(1, 2)])
    expect(tags(r)).toEqual([])
    // The ACK may leave while (1,2) is not yet durable: a crash then loses a transaction the leader counts on.
    const ack = internal("zk-3.8", r.state, SYNC_STEP)
    expect(tags(ack)).toEqual(["ACK NEWLEADER"])
    expect(ack.persist).toBeUndefined()
    expect(ack.state.log).toEqual([x(1, 1)])
  })
  it("3.8.0: the SyncRequestProcessor may flush first and ACK the proposal before the NEWLEADER ACK (ZOOKEEPER-4685)", () => {
    const r = deliver("zk-3.8", diff("zk-3.8"), newLeader)
    expect(enabled("zk-3.8", r.state)).toEqual([FLUSH, SYNC_STEP])
    const f = internal("zk-3.8", r.state, FLUSH)
    expect(f.persist?.log).toEqual([x(1, 1), x(1, 2)])
    expect(tags(f)).toEqual(["ACK proposal"])
  })
  it("master: the committed proposal is logged and flushed, then currentEpoch is written and the ACK sent", () => {
    const r = deliver("zk-current", diff("zk-current"), newLeader)
    expect(r.persist).toMatchObject({ currentEpoch: 1, log: [x(1, 1), x(1, 2)] })
    expect(r.state.tree).toEqual([x(1, 1), x(1, 2)])
    expect(r.state.committedLog).toEqual([x(1, 1), x(1, 2)])
    expect(tags(r)).toEqual([])
    const e = internal("zk-current", r.state, SYNC_STEP)
    expect(e.persist?.currentEpoch).toBe(2)
    expect(tags(e)).toEqual(["ACK NEWLEADER"])
    expect((e.state.role as Following).phase).toBe("UPTODATE")
  })
  it("packets that arrive while the learner thread is busy wait, and are read in order afterwards", () => {
    const r = deliver("zk-current", diff("zk-current"), newLeader)
    const waiting = deliver("zk-current", r.state, { _tag: "UPTODATE", epoch: 2 })
    expect((waiting.state.role as Following).inbox).toEqual([{ _tag: "UPTODATE", epoch: 2 }])
    const e = internal("zk-current", waiting.state, SYNC_STEP)
    const u = internal("zk-current", e.state, SYNC_STEP)
    expect((u.state.role as Following).phase).toBe("BROADCAST")
  })
})

describe("Learner.syncWithLeader, a COMMIT between the NEWLEADER ACK and UPTODATE", () => {
  /** A DIFF with the outstanding (2,1) (no COMMIT yet), NEWLEADER handled to the end. */
  const acked = (variant: string): ZabNode => {
    let s = deliver(variant, syncing(variant), { _tag: "SYNC", epoch: 2, mode: "DIFF", zxid: makeZxid(1, 1), proposals: [], snapshot: [], outstanding: [x(2, 1)] }).state
    s = deliver(variant, s, newLeader).state
    while ((s.role as Following).newLeaderStep !== null) s = internal(variant, s, SYNC_STEP).state
    return s
  }
  const commit: Message = { _tag: "COMMIT", epoch: 2, zxid: makeZxid(2, 1) }
  it("3.8.0: NEWLEADER emptied packetsNotCommitted, so the COMMIT meets a null proposal: the learner drops out (ZOOKEEPER-4394)", () => {
    const r = deliver("zk-3.8", acked("zk-3.8"), commit)
    expect(r.state.role._tag).toBe("LOOKING")
    expect(tags(r)).toEqual(["CLOSE"])
  })
  it("master: the outstanding proposal is still held; the COMMIT is queued for UPTODATE", () => {
    const r = deliver("zk-current", acked("zk-current"), commit)
    expect((r.state.role as Following).committedEarly).toEqual([makeZxid(2, 1)])
    const u = deliver("zk-current", r.state, { _tag: "UPTODATE", epoch: 2 })
    expect(u.state.tree).toEqual([x(1, 1), x(2, 1)])
    expect(u.state.toFlush).toEqual([x(2, 1)])
  })
})

describe("Learner.shutdown with transactions queued for the log", () => {
  const serving = (variant: string): ZabNode => {
    const s = syncing(variant)
    return { ...s, toFlush: [x(2, 1)], role: { ...(s.role as Following), phase: "BROADCAST", pending: [x(2, 1)] } }
  }
  const timeout = (variant: string) => handle(ctxOf(variant), serving(variant), { _tag: "Timeout", timer: "timeout" })
  it("3.8.0: the SyncRequestProcessor is not shut down; its queue is written later, whatever the server does (ZOOKEEPER-4712)", () => {
    const r = timeout("zk-3.8")
    expect(r.state.role._tag).toBe("LOOKING")
    expect(r.state.leaked).toEqual([[x(2, 1)]])
    expect(r.state.log).toEqual([x(1, 1)])
    expect(enabled("zk-3.8", r.state)).toContain(LEAKED_FLUSH)
    expect(internal("zk-3.8", r.state, LEAKED_FLUSH, "0").persist?.log).toEqual([x(1, 1), x(2, 1)])
  })
  it("master: shutdown flushes the queue, then fast-forwards the data tree over the log", () => {
    const r = timeout("zk-current")
    expect(r.persist?.log).toEqual([x(1, 1), x(2, 1)])
    expect(r.state.tree).toEqual([x(1, 1), x(2, 1)])
    expect(r.state.leaked).toEqual([])
  })
})

describe("LearnerHandler after NEWLEADER, Leader.waitForNewLeaderAck", () => {
  /** n1 leads epoch 2, synchronizing n2; it has not ACKed NEWLEADER itself yet (release variants). */
  const leading = (variant: string): ZabNode => {
    const s = recover(ctxOf(variant, "n1"), { acceptedEpoch: 2, currentEpoch: 1, log: [x(1, 1)], snapshot: null }).state
    const role: Leading = {
      _tag: "LEADING",
      phase: "SYNCHRONIZATION",
      summary: { epoch: 1, zxid: makeZxid(1, 1) },
      epoch: 2,
      epochFixed: true,
      connecting: [],
      electing: [],
      electionFinished: true,
      newLeaderAcks: [],
      learners: { n2: { stage: "SYNCED", peerLastZxid: 0, forwarding: true } },
      outstanding: [],
      lastCommitted: 0,
      lastProposed: 0,
    }
    return { ...s, resetting: [], role }
  }
  for (const variant of ["zk-3.8", "zk-current"]) {
    it(`${variant}: the first packet read is taken as the NEWLEADER ACK; a proposal ACK is not counted, yet the handler goes on`, () => {
      const r = leaderOnAck(ctxOf(variant, "n1"), leading(variant), n2, { _tag: "ACK", epoch: 2, zxid: makeZxid(1, 2) })
      const l = r.state.role as Leading
      expect(l.learners[n2]!.stage).toBe("WAIT_ACKS")
      expect(l.newLeaderAcks).toEqual([])
    })
    it(`${variant}: Leader.lead writes currentEpoch and ACKs NEWLEADER itself in a step of its own`, () => {
      const a = leaderOnAck(ctxOf(variant, "n1"), leading(variant), n2, { _tag: "ACK", epoch: 2, zxid: makeZxid(2, 0) })
      expect((a.state.role as Leading).phase).toBe("SYNCHRONIZATION")
      const own = handle(ctxOf(variant, "n1"), a.state, { _tag: "Internal", action: { name: "leaderEpoch" } })
      expect(own.persist?.currentEpoch).toBe(2)
      expect((own.state.role as Leading).phase).toBe("BROADCAST")
      expect(sends(own.effects)).toEqual([{ to: n2, msg: { _tag: "UPTODATE", epoch: 2 } }])
    })
  }
})

const p = zab as unknown as AnyProtocol
const run = (model: string, variant: string) => check(new Instance(p, model, p.models[model]!, variant))

describe("release variants explored exhaustively on small models", () => {
  // recovery: restart after epoch 1 with divergent disks, so DIFF with committed proposals, TRUNC and SNAP all
  // happen, and so do the flush, NEWLEADER's steps and the leader's own epoch step.
  const cases = [
    { variant: "zk-3.8", states: 7280 },
    { variant: "zk-current", states: 2945 },
  ] as const
  for (const c of cases) {
    it(`${c.variant}, recovery: ${c.states} distinct states; DIFF, TRUNC, SNAP, the flush and NEWLEADER's steps exercised`, () => {
      const r = run("recovery", c.variant)
      expect(r.result).toBe("ok")
      expect(r.distinctStates).toBe(c.states)
      expect(r.unreachedWitnesses).toEqual([])
      for (const mode of ["DIFF", "TRUNC", "SNAP"]) expect(r.coverage[`deliver SYNC ${mode}`]).toBeGreaterThan(0)
      for (const a of ["flush", "syncStep", "leaderEpoch"]) expect(r.coverage[`internal ${a}`]).toBeGreaterThan(0)
    })
  }
})

describe("release 3.8.0 loses a committed transaction (ZOOKEEPER-4643)", () => {
  it("lagging: committedLogDurability in 17 steps — currentEpoch written before the DIFF's committed proposal is applied or durable", () => {
    const r = run("lagging", "zk-3.8")
    expect(r.result).toBe("violation")
    expect(r.violation!.property).toBe("committedLogDurability")
    expect(r.violation!.trace.length - 1).toBe(17)
    expect(r.distinctStates).toBe(107920)
  })
})
