/**
 * Fast Leader Election's pure pieces (spec/zab/election.ts): the vote order, property-tested, and one test per
 * rule of FastLeaderElection.lookForLeader quoted from the source's comments.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { nodeId, nodeIds } from "../../spec/kernel/protocol.ts"
import {
  ballotsEqual,
  broadcast,
  checkLeader,
  decide,
  receiveNotification,
  startRound,
  totalOrderPredicate,
  type Election,
  type ElectionContext,
  type Notification,
  type Vote,
} from "../../spec/zab/election.ts"
import { makeZxid } from "../../spec/zab/zxid.ts"

const voterSids = (max: number) => (sid: number) => sid >= 1 && sid <= max

const voteArb = (sids: fc.Arbitrary<number>) =>
  fc.record({ leader: sids, zxid: fc.nat({ max: 6 }), epoch: fc.nat({ max: 3 }) })

describe("totalOrderPredicate: a strict total order on votes of voting servers", () => {
  const isVoter = voterSids(5)
  const voter = voteArb(fc.integer({ min: 1, max: 5 }))
  for (const withoutEpoch of [false, true]) {
    const beats = (a: Vote, b: Vote) => totalOrderPredicate(isVoter, a, b, withoutEpoch)
    const label = withoutEpoch ? "(pre-3.4.0 order)" : "(3.4.0 and later)"
    it(`is irreflexive ${label}`, () => {
      fc.assert(fc.property(voter, (a) => !beats(a, a)))
    })
    it(`is asymmetric ${label}`, () => {
      fc.assert(fc.property(voter, voter, (a, b) => !(beats(a, b) && beats(b, a))))
    })
    it(`is transitive ${label}`, () => {
      fc.assert(fc.property(voter, voter, voter, (a, b, c) => !(beats(a, b) && beats(b, c)) || beats(a, c)))
    })
    it(`is total on votes for distinct servers ${label}`, () => {
      fc.assert(
        fc.property(voter, voter, (a, b) => {
          fc.pre(a.leader !== b.leader)
          return beats(a, b) !== beats(b, a)
        }),
      )
    })
  }
  it("observers never win: a vote for a server of weight 0 beats nothing", () => {
    const observer = voteArb(fc.integer({ min: 6, max: 9 }))
    fc.assert(fc.property(observer, voteArb(fc.integer({ min: -1, max: 9 })), (a, b) => !totalOrderPredicate(isVoter, a, b)))
  })
  it("epoch first, then zxid, then sid; without the epoch term, zxid first", () => {
    const older = { leader: 1, zxid: makeZxid(1, 2), epoch: 1 }
    const newerEpoch = { leader: 2, zxid: makeZxid(1, 1), epoch: 2 }
    expect(totalOrderPredicate(isVoter, newerEpoch, older)).toBe(true)
    expect(totalOrderPredicate(isVoter, older, newerEpoch, true)).toBe(true)
    expect(totalOrderPredicate(isVoter, { leader: 3, zxid: 5, epoch: 1 }, { leader: 2, zxid: 5, epoch: 1 })).toBe(true)
  })
})

// ---------------------------------------------------------------------------------------------------------

const [n1, n2, n3] = [nodeId("n1"), nodeId("n2"), nodeId("n3")]
const ctxOf = (self: string): ElectionContext => ({
  self: nodeId(self),
  nodes: nodeIds(3),
  voters: nodeIds(3),
  withoutEpoch: false,
})
const c1 = ctxOf("n1")
const summary1 = { epoch: 1, zxid: makeZxid(1, 1) }
const note = (leader: number, zxid: number, epoch: number, round: number, state: Notification["state"] = "LOOKING"): Notification => ({
  _tag: "Notification",
  leader,
  zxid,
  peerEpoch: epoch,
  electionEpoch: round,
  state,
})
const fresh = (): Election => startRound(c1, 0, summary1).election

describe("lookForLeader", () => {
  it("a new round: increment logicalclock, vote for self, send to all voters", () => {
    const { election, effects } = startRound(c1, 3, summary1)
    expect(election.logicalclock).toBe(4)
    expect(election.proposal).toEqual({ leader: 1, zxid: makeZxid(1, 1), epoch: 1 })
    expect(effects.map((e) => (e._tag === "Send" ? e.to : ""))).toEqual([n2, n3])
    expect(broadcast(c1, election)).toEqual(effects)
  })

  it('"If notification > current, replace and send messages out": a higher round clears recvset and re-decides against our own vote', () => {
    let e = fresh()
    e = receiveNotification(c1, e, summary1, n3, note(3, makeZxid(1, 0), 1, 1)).election
    expect(Object.keys(e.recvset)).toEqual([n3])
    expect(e.finalizing).toBe(false)
    const r = receiveNotification(c1, e, summary1, n2, note(2, makeZxid(1, 0), 1, 5))
    expect(r.election.logicalclock).toBe(5)
    expect(Object.keys(r.election.recvset)).toEqual([n2])
    // n2's vote (zxid (1,0)) does not beat our own (1,1): we re-propose ourselves, in the new round.
    expect(r.election.proposal.leader).toBe(1)
    expect(r.effects.filter((x) => x._tag === "Send")).toHaveLength(2)
  })

  it("a notification of an older round is ignored, and a LOOKING sender gets our vote back at once", () => {
    const e = { ...fresh(), logicalclock: 3 }
    const r = receiveNotification(c1, e, summary1, n2, note(2, makeZxid(9, 9), 9, 2))
    expect(r.election).toEqual(e)
    expect(r.effects).toEqual([{ _tag: "Send", to: n2, msg: note(1, makeZxid(1, 1), 1, 3) }])
  })

  it("same round: adopt a better vote and broadcast it; a quorum agreeing opens the finalize window", () => {
    const r = receiveNotification(c1, fresh(), summary1, n3, note(3, makeZxid(1, 1), 1, 1))
    expect(r.election.proposal.leader).toBe(3)
    // n1 (itself) and n3 agree on n3: a quorum of 3.
    expect(r.election.finalizing).toBe(true)
    expect(decide(c1, r.election)).toMatchObject({ state: "FOLLOWING", quorum: [n1, n3], lookingVoters: [n1, n3], joined: false })
  })

  it("during the finalize window a worse notification is dropped, a better one ends the window and is handled", () => {
    const opened = receiveNotification(c1, fresh(), summary1, n2, note(2, makeZxid(1, 1), 1, 1)).election
    expect(opened.finalizing).toBe(true)
    const worse = receiveNotification(c1, opened, summary1, n3, note(1, makeZxid(1, 1), 1, 1))
    expect(worse.election).toEqual(opened)
    const better = receiveNotification(c1, opened, summary1, n3, note(3, makeZxid(1, 1), 1, 1))
    expect(better.election.proposal.leader).toBe(3)
    expect(better.election.recvset[n3]?.vote.leader).toBe(3)
  })

  it("checkLeader: join an established leader only when a quorum follows it and it said it is LEADING", () => {
    let e = { ...fresh(), logicalclock: 7 }
    // n2 says it follows n3 (round 1): a quorum of one is not enough.
    let r = receiveNotification(c1, e, summary1, n2, note(3, makeZxid(1, 1), 1, 1, "FOLLOWING"))
    expect(r.decision).toBeUndefined()
    e = r.election
    // n3 says it is LEADING: two of three agree and the leader is heard LEADING.
    r = receiveNotification(c1, e, summary1, n3, note(3, makeZxid(1, 1), 1, 1, "LEADING"))
    expect(r.decision).toMatchObject({ state: "FOLLOWING", round: 1, quorum: [n2, n3], lookingVoters: [], joined: true })
    expect(r.election.logicalclock).toBe(1)
    expect(checkLeader(c1, { [n3]: { vote: { leader: 3, zxid: 0, epoch: 0 }, round: 1, state: "FOLLOWING" } }, 3, 1, 1)).toBe(false)
  })

  it("Vote.equals: LOOKING votes compare everything, out-of-election votes only leader and epoch", () => {
    const v = { leader: 3, zxid: 5, epoch: 1 }
    expect(ballotsEqual({ vote: v, round: 1, state: "LOOKING" }, { vote: v, round: 2, state: "FOLLOWING" })).toBe(false)
    expect(ballotsEqual({ vote: v, round: 1, state: "LEADING" }, { vote: { ...v, zxid: 9 }, round: 2, state: "FOLLOWING" })).toBe(true)
  })
})
