/**
 * Rule tests for spec/zab/rules.ts: one `describe` per rule, each naming the ZooKeeper method it follows.
 */
import { describe, expect, it } from "vitest"
import { makeContext, nodeId, nodeIds, type Effect } from "../../spec/kernel/protocol.ts"
import { zab } from "../../spec/zab/index.ts"
import {
  handle,
  leaderOnAckEpoch,
  leaderOnFollowerInfo,
  loadDatabase,
  recover,
  startFollowing,
  startLeading,
  truncateLog,
  type Ctx,
  type Following,
  type Leading,
  type ZabNode,
} from "../../spec/zab/rules.ts"
import type { Message, Txn, ZabFlags } from "../../spec/zab/schema.ts"
import { makeZxid } from "../../spec/zab/zxid.ts"

const [n1, n2, n3] = [nodeId("n1"), nodeId("n2"), nodeId("n3")]
const config = zab.models["small"]!.config
const flags: ZabFlags = zab.variants["zab"]!.flags
const ctxOf = (self: string): Ctx => makeContext(nodeId(self), nodeIds(3), config, flags)
const x = (e: number, c: number): Txn => ({ zxid: makeZxid(e, c), value: "x" })
const sends = (effects: ReadonlyArray<Effect<Message, unknown>>) =>
  effects.flatMap((e) => (e._tag === "Send" ? [{ to: e.to, msg: e.msg }] : []))
/** A server booted from `disk`, its peers' RESETs already received. */
const boot = (self: string, disk?: Parameters<typeof recover>[1]): ZabNode => ({ ...recover(ctxOf(self), disk).state, resetting: [] })

describe("ZKDatabase.loadDataBase", () => {
  it("loads the newest snapshot, replays the log after it, and the replay is the committed log", () => {
    const db = loadDatabase({ acceptedEpoch: 1, currentEpoch: 1, log: [x(1, 1), x(1, 2), x(1, 3)], snapshot: { zxid: makeZxid(1, 1), tree: [x(1, 1)] } })
    expect(db.tree).toEqual([x(1, 1), x(1, 2), x(1, 3)])
    expect(db.lastProcessed).toBe(makeZxid(1, 3))
    expect(db.committedLog).toEqual([x(1, 2), x(1, 3)])
  })
})

describe("FileTxnLog.truncate (variant zk-storage)", () => {
  const log = [x(1, 1), x(2, 1), x(2, 2)]
  it("keeps exactly the records up to a zxid that is in the log", () => {
    expect(truncateLog(log, makeZxid(2, 1))).toEqual([x(1, 1), x(2, 1)])
  })
  it("keeps the first record above a zxid that is not in the log", () => {
    expect(truncateLog(log, makeZxid(1, 2))).toEqual([x(1, 1), x(2, 1)])
  })
  it("fails when no record is at or above the zxid (the learner exits)", () => {
    expect(truncateLog(log, makeZxid(3, 0))).toBeUndefined()
    expect(truncateLog([], makeZxid(1, 1))).toBeUndefined()
  })
})

describe("Leader.lead and getEpochToPropose", () => {
  it("a prospective leader snapshots its data tree and proposes acceptedEpoch + 1 once a quorum connected", () => {
    const s0 = boot("n1", { acceptedEpoch: 2, currentEpoch: 1, log: [x(1, 1)], snapshot: null })
    const led = startLeading(ctxOf("n1"), s0, [])
    expect(led.persist?.snapshot).toEqual({ zxid: makeZxid(1, 1), tree: [x(1, 1)] })
    // A follower that accepted epoch 4 raises the proposal to 5.
    const r = leaderOnFollowerInfo(ctxOf("n1"), led.state, n2, { _tag: "FOLLOWERINFO", acceptedEpoch: 4 })
    const l = r.state.role as Leading
    expect(l.epoch).toBe(5)
    expect(l.epochFixed).toBe(true)
    expect(r.persist?.acceptedEpoch).toBe(5)
    expect(sends(r.effects)).toEqual([{ to: n2, msg: { _tag: "LEADERINFO", epoch: 5 } }])
  })
})

describe("Leader.waitForEpochAck", () => {
  const leader = () => {
    const s0 = boot("n1", { acceptedEpoch: 1, currentEpoch: 1, log: [x(1, 1)], snapshot: null })
    const led = startLeading(ctxOf("n1"), s0, [])
    return leaderOnFollowerInfo(ctxOf("n1"), led.state, n2, { _tag: "FOLLOWERINFO", acceptedEpoch: 1 }).state
  }
  it('refuses a follower more recent than itself before the quorum ("Follower is ahead of the leader")', () => {
    const r = leaderOnAckEpoch(ctxOf("n1"), leader(), n2, { _tag: "ACKEPOCH", epoch: 2, currentEpoch: 1, lastZxid: makeZxid(1, 2) })
    expect(sends(r.effects)).toEqual([{ to: n2, msg: { _tag: "DISCONNECT" } }])
    expect((r.state.role as Leading).learners[n2]).toBeUndefined()
  })
  it("with a quorum of acks sets currentEpoch and synchronizes (here an empty DIFF), then NEWLEADER", () => {
    const r = leaderOnAckEpoch(ctxOf("n1"), leader(), n2, { _tag: "ACKEPOCH", epoch: 2, currentEpoch: 1, lastZxid: makeZxid(1, 1) })
    expect(r.persist?.currentEpoch).toBe(2)
    expect(sends(r.effects).map((s) => s.msg._tag)).toEqual(["SYNC", "NEWLEADER"])
    expect(sends(r.effects)[0]!.msg).toMatchObject({ mode: "DIFF", proposals: [] })
  })
})

describe("Learner.registerWithLeader (LEADERINFO)", () => {
  const following = (acceptedEpoch: number) =>
    startFollowing(boot("n2", { acceptedEpoch, currentEpoch: 1, log: [x(1, 1)], snapshot: null }), n1).state
  const leaderInfo = (s: ZabNode, epoch: number) =>
    handle(ctxOf("n2"), s, { _tag: "Deliver", from: n1, msg: { _tag: "LEADERINFO", epoch } })
  it("a newer epoch is accepted durably and acknowledged with currentEpoch and the last zxid", () => {
    const r = leaderInfo(following(1), 2)
    expect(r.persist?.acceptedEpoch).toBe(2)
    expect(sends(r.effects)).toEqual([{ to: n1, msg: { _tag: "ACKEPOCH", epoch: 2, currentEpoch: 1, lastZxid: makeZxid(1, 1) } }])
  })
  it("the epoch it already accepted is acknowledged with -1", () => {
    expect(sends(leaderInfo(following(2), 2).effects)[0]!.msg).toMatchObject({ currentEpoch: -1 })
  })
  it("an older epoch sends it back to LOOKING", () => {
    expect(leaderInfo(following(3), 2).state.role._tag).toBe("LOOKING")
  })
})

describe("Follower.processPacket and the impossible-message checks", () => {
  const broadcasting = (): ZabNode => {
    const s = startFollowing(boot("n2"), n1).state
    const f: Following = { ...(s.role as Following), phase: "BROADCAST", epoch: 1 }
    return { ...s, role: f, lastProcessed: makeZxid(1, 0) }
  }
  const deliver = (s: ZabNode, msg: Message) => handle(ctxOf("n2"), s, { _tag: "Deliver", from: n1, msg })
  it("logs a PROPOSAL, ACKs it, and applies it on its COMMIT", () => {
    const r = deliver(broadcasting(), { _tag: "PROPOSAL", epoch: 1, txn: x(1, 1) })
    expect(r.persist?.log).toEqual([x(1, 1)])
    expect(sends(r.effects)).toEqual([{ to: n1, msg: { _tag: "ACK", epoch: 1, zxid: makeZxid(1, 1) } }])
    const c = deliver(r.state, { _tag: "COMMIT", epoch: 1, zxid: makeZxid(1, 1) })
    expect(c.state.tree).toEqual([x(1, 1)])
    expect(c.state.anomaly).toBeNull()
  })
  it("flags a PROPOSAL that is not the next zxid, a COMMIT for an unknown zxid, and NEWLEADER outside sync", () => {
    expect(deliver(broadcasting(), { _tag: "PROPOSAL", epoch: 1, txn: x(1, 2) }).state.anomaly).toMatch(/not the next/)
    expect(deliver(broadcasting(), { _tag: "COMMIT", epoch: 1, zxid: makeZxid(1, 1) }).state.anomaly).toMatch(/COMMIT/)
    expect(deliver(broadcasting(), { _tag: "NEWLEADER", epoch: 1, zxid: makeZxid(1, 0) }).state.anomaly).toMatch(/NEWLEADER outside/)
  })
  it("ignores packets from a server it does not follow", () => {
    const s = broadcasting()
    expect(handle(ctxOf("n2"), s, { _tag: "Deliver", from: n3, msg: { _tag: "COMMIT", epoch: 1, zxid: 1 } }).state).toBe(s)
  })
})
