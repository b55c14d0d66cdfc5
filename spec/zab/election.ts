/**
 * ZooKeeper's Fast Leader Election (FastLeaderElection.lookForLeader and its WorkerReceiver), as pure functions
 * over one server's election state. Used by the `fle` protocol on its own and by `zab` for its election phase.
 *
 * Map to the source (apache/zookeeper, server/quorum/FastLeaderElection.java, current master):
 *   totalOrderPredicate          → `totalOrderPredicate` (variant `withoutEpoch`: the order before 3.4.0)
 *   lookForLeader: new round     → `startRound` (logicalclock++, vote for self, sendNotifications)
 *   WorkerReceiver + lookForLeader's LOOKING / FOLLOWING / LEADING cases → `receiveNotification`
 *   the finalizeWait poll loop   → `finalizing` flag; a better notification ends it, a worse one is dropped;
 *                                  `decide` is the window expiring (an internal step of the host protocol)
 *   getVoteTracker / Vote.equals → `agreeing`, `sameVote`
 *   checkLeader                  → `checkLeader`
 *   receivedFollowingNotification / receivedLeadingNotification → `receivedOutOfLooking`
 *
 * Divergences, on purpose (see spec/zab/README.md): WorkerReceiver and the lookForLeader loop run as one atomic
 * step per delivered notification (the receive queue is the FIFO channel itself); a server's own notification is
 * counted at once rather than after a trip through its queue (as the published TLA+ spec of FLE does); the
 * quorum verifier is a plain majority of voters (no reconfiguration, no oracle); message versions and configs are
 * not modelled.
 */
import { Schema } from "effect"
import { send, type Effect, type NodeId } from "../kernel/protocol.ts"
import type { Zxid } from "./zxid.ts"

export const ServerState = Schema.Literals(["LOOKING", "FOLLOWING", "LEADING", "OBSERVING"])
export type ServerState = typeof ServerState.Type

const Sid = Schema.Int
const Num = Schema.Int.check(Schema.isGreaterThanOrEqualTo(-1))

/**
 * A notification: the sender's current vote (proposed leader, its zxid and epoch), the sender's logical clock
 * (`electionEpoch`) and state. `leader` is a server id (n1 → 1); observers propose `-1` (Long.MIN_VALUE in the
 * source: nobody) with zxid and epoch `-1` (below every real value).
 */
export const Notification = Schema.TaggedStruct("Notification", {
  leader: Sid,
  zxid: Num,
  peerEpoch: Num,
  electionEpoch: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  state: ServerState,
})
export type Notification = typeof Notification.Type

/** A vote: (proposed leader sid, its last zxid, its current epoch). */
export interface Vote {
  readonly leader: number
  readonly zxid: Zxid
  readonly epoch: number
}

/** A vote as kept in recvset / outofelection: with the sender's round and state (ZooKeeper's Vote object). */
export interface Ballot {
  readonly vote: Vote
  readonly round: number
  readonly state: ServerState
}

/** What a server votes with: its durable currentEpoch and its in-memory last processed zxid. */
export interface Summary {
  readonly epoch: number
  readonly zxid: Zxid
}

/** One server's election state (the fields of FastLeaderElection plus lookForLeader's locals). */
export interface Election {
  readonly logicalclock: number
  /** proposedLeader, proposedZxid, proposedEpoch. */
  readonly proposal: Vote
  /** Votes of this round, by sender (never this server: its own vote is counted from `proposal`). */
  readonly recvset: Readonly<Record<string, Ballot>>
  /** FOLLOWING/LEADING notifications of any round, by sender. */
  readonly outofelection: Readonly<Record<string, Ballot>>
  /** In the finalizeWait window: a quorum agrees with the proposal; waiting for anything better. */
  readonly finalizing: boolean
}

/** How lookForLeader ended. */
export interface Decision {
  readonly state: ServerState
  readonly vote: Vote
  /** The round of the end vote (logicalclock, or the joined leader's electionEpoch). */
  readonly round: number
  /** The servers whose votes formed the deciding quorum, this one included when counted, in id order. */
  readonly quorum: ReadonlyArray<NodeId>
  /**
   * Those of `quorum` counted through a LOOKING vote (a vote they cast while electing, this server's own
   * included), as opposed to a FOLLOWING/LEADING notification saying whom they already follow.
   */
  readonly lookingVoters: ReadonlyArray<NodeId>
  /** Decided by joining an established leader (checkLeader over FOLLOWING/LEADING notifications). */
  readonly joined: boolean
}

/** What the host protocol tells the election about the cluster and the variant. */
export interface ElectionContext {
  readonly self: NodeId
  readonly nodes: ReadonlyArray<NodeId>
  /** Servers with quorum weight > 0. */
  readonly voters: ReadonlyArray<NodeId>
  /** Pre-3.4.0 vote order: zxid, then sid (no epoch). */
  readonly withoutEpoch: boolean
}

export const NO_SID = -1
const noVote: Vote = { leader: NO_SID, zxid: -1, epoch: -1 }

/** n1 → 1. Server ids in votes are numbers, as in ZooKeeper's myid. */
export const sidOf = (id: NodeId): number => Number(id.slice(1))
export const nodeOfSid = (ctx: { readonly nodes: ReadonlyArray<NodeId> }, sid: number): NodeId | undefined =>
  ctx.nodes.find((n) => sidOf(n) === sid)

export const isVoter = (ctx: ElectionContext, id: NodeId): boolean => ctx.voters.includes(id)
const isVoterSid = (ctx: ElectionContext, sid: number): boolean => ctx.voters.some((v) => sidOf(v) === sid)
export const voterQuorum = (ctx: ElectionContext): number => Math.floor(ctx.voters.length / 2) + 1

/**
 * totalOrderPredicate(new, cur): does the new vote beat the current one? A server of weight 0 never wins;
 * otherwise higher epoch, then higher zxid, then higher sid. `withoutEpoch` drops the epoch term (before 3.4.0).
 */
export const totalOrderPredicate = (
  isVoterSid: (sid: number) => boolean,
  next: Vote,
  cur: Vote,
  withoutEpoch = false,
): boolean => {
  if (!isVoterSid(next.leader)) return false
  if (!withoutEpoch) {
    if (next.epoch !== cur.epoch) return next.epoch > cur.epoch
  }
  if (next.zxid !== cur.zxid) return next.zxid > cur.zxid
  return next.leader > cur.leader
}

const beats = (ctx: ElectionContext, next: Vote, cur: Vote): boolean =>
  totalOrderPredicate((sid) => isVoterSid(ctx, sid), next, cur, ctx.withoutEpoch)

/** This server's own vote: getInitId / getInitLastLoggedZxid / getPeerEpoch (observers vote for nobody). */
export const initialVote = (ctx: ElectionContext, summary: Summary): Vote =>
  isVoter(ctx, ctx.self) ? { leader: sidOf(ctx.self), zxid: summary.zxid, epoch: summary.epoch } : noVote

const sameVote = (a: Vote, b: Vote): boolean => a.leader === b.leader && a.zxid === b.zxid && a.epoch === b.epoch

/**
 * Vote.equals: if either side is LOOKING, leader, zxid, electionEpoch and peerEpoch must match; between two
 * out-of-election votes only the leader and its epoch (ZOOKEEPER-1805).
 */
export const ballotsEqual = (a: Ballot, b: Ballot): boolean =>
  a.state === "LOOKING" || b.state === "LOOKING"
    ? sameVote(a.vote, b.vote) && a.round === b.round
    : a.vote.leader === b.vote.leader && a.vote.epoch === b.vote.epoch

/**
 * getVoteTracker: the voters whose recorded ballot equals `target`, in id order. `own` is this server's own
 * ballot when it counts (its LOOKING vote of this round, standing in for its self-notification in recvset).
 */
const agreeing = (
  ctx: ElectionContext,
  votes: Readonly<Record<string, Ballot>>,
  target: Ballot,
  own?: Ballot,
): NodeId[] =>
  ctx.voters.filter((v) => {
    const b = v === ctx.self ? own : votes[v]
    return b !== undefined && ballotsEqual(b, target)
  })

/**
 * checkLeader: when I am not the proposed leader, I must have heard from it that it is LEADING; when I am, the
 * round must be mine.
 */
export const checkLeader = (
  ctx: ElectionContext,
  votes: Readonly<Record<string, Ballot>>,
  leader: number,
  round: number,
  logicalclock: number,
): boolean => {
  if (leader !== sidOf(ctx.self)) {
    const id = nodeOfSid(ctx, leader)
    const b = id === undefined ? undefined : votes[id]
    return b !== undefined && b.state === "LEADING"
  }
  return logicalclock === round
}

export type ElectionEffect = Effect<Notification, never>

/** sendNotifications: the proposal, to every voter but this server. */
export const broadcast = (ctx: ElectionContext, e: Election): ReadonlyArray<ElectionEffect> => {
  const n: Notification = {
    _tag: "Notification",
    leader: e.proposal.leader,
    zxid: e.proposal.zxid,
    peerEpoch: e.proposal.epoch,
    electionEpoch: e.logicalclock,
    state: "LOOKING",
  }
  return ctx.voters.filter((v) => v !== ctx.self).map((v) => send(v, n))
}

/** lookForLeader's start: logicalclock + 1, a vote for self, sent to every voter. `clock` is 0 after a boot. */
export const startRound = (
  ctx: ElectionContext,
  clock: number,
  summary: Summary,
): { readonly election: Election; readonly effects: ReadonlyArray<ElectionEffect> } => {
  const election: Election = {
    logicalclock: clock + 1,
    proposal: initialVote(ctx, summary),
    recvset: {},
    outofelection: {},
    finalizing: false,
  }
  return { election, effects: broadcast(ctx, election) }
}

/** The decision when the finalize window expires with nothing better: LEADING if the proposal is self. */
export const decide = (ctx: ElectionContext, e: Election): Decision => {
  const self = sidOf(ctx.self)
  const state: ServerState = e.proposal.leader === self ? "LEADING" : isVoter(ctx, ctx.self) ? "FOLLOWING" : "OBSERVING"
  const quorum = quorumOfProposal(ctx, e)
  return { state, vote: e.proposal, round: e.logicalclock, quorum, lookingVoters: looking(ctx, e.recvset, quorum), joined: false }
}

/** The members of `quorum` whose recorded ballot is a LOOKING one (this server's own always is). */
const looking = (ctx: ElectionContext, votes: Readonly<Record<string, Ballot>>, quorum: ReadonlyArray<NodeId>): NodeId[] =>
  quorum.filter((v) => v === ctx.self || votes[v]?.state === "LOOKING")

/** This server's own ballot: its proposal in its round (what its self-notification would record). */
const ownBallot = (e: Election): Ballot => ({ vote: e.proposal, round: e.logicalclock, state: "LOOKING" })

/** The voters agreeing with the proposal in this round, this server included if it votes. */
const quorumOfProposal = (ctx: ElectionContext, e: Election): NodeId[] => agreeing(ctx, e.recvset, ownBallot(e), ownBallot(e))

const hasQuorumForProposal = (ctx: ElectionContext, e: Election): boolean =>
  quorumOfProposal(ctx, e).length >= voterQuorum(ctx)

export interface Received {
  readonly election: Election
  readonly effects: ReadonlyArray<ElectionEffect>
  readonly decision?: Decision
}

/**
 * A LOOKING server receives notification `n` from `from` (WorkerReceiver, then one turn of lookForLeader).
 * `summary` is this server's own (currentEpoch, lastProcessedZxid), for its initial vote.
 */
export const receiveNotification = (
  ctx: ElectionContext,
  e: Election,
  summary: Summary,
  from: NodeId,
  n: Notification,
): Received => {
  const fromVoter = isVoter(ctx, from)
  const nVote: Vote = { leader: n.leader, zxid: n.zxid, epoch: n.peerEpoch }
  // WorkerReceiver: a LOOKING sender with an older round gets our proposal back at once.
  const replies: ElectionEffect[] = []
  if (fromVoter && n.state === "LOOKING" && n.electionEpoch < e.logicalclock) {
    replies.push(
      send(from, {
        _tag: "Notification",
        leader: e.proposal.leader,
        zxid: e.proposal.zxid,
        peerEpoch: e.proposal.epoch,
        electionEpoch: e.logicalclock,
        state: "LOOKING",
      }),
    )
  }
  if (e.finalizing) {
    // The finalizeWait poll: something better ends the window and is handled as usual; anything else is dropped.
    if (!beats(ctx, nVote, e.proposal)) return { election: e, effects: replies }
    e = { ...e, finalizing: false }
  }
  if (!fromVoter || !isVoterSid(ctx, n.leader)) return { election: e, effects: replies }
  switch (n.state) {
    case "LOOKING": {
      const effects = [...replies]
      if (n.electionEpoch > e.logicalclock) {
        const own = initialVote(ctx, summary)
        e = {
          ...e,
          logicalclock: n.electionEpoch,
          recvset: {},
          proposal: beats(ctx, nVote, own) ? nVote : own,
        }
        effects.push(...broadcast(ctx, e))
      } else if (n.electionEpoch < e.logicalclock) {
        return { election: e, effects }
      } else if (beats(ctx, nVote, e.proposal)) {
        e = { ...e, proposal: nVote }
        effects.push(...broadcast(ctx, e))
      }
      e = { ...e, recvset: { ...e.recvset, [from]: { vote: nVote, round: n.electionEpoch, state: "LOOKING" } } }
      if (hasQuorumForProposal(ctx, e)) e = { ...e, finalizing: true }
      return { election: e, effects }
    }
    case "OBSERVING":
      return { election: e, effects: replies }
    case "FOLLOWING":
    case "LEADING":
      return receivedOutOfLooking(ctx, e, from, n, nVote, replies)
  }
}

/** receivedFollowingNotification (and receivedLeadingNotification without the oracle). */
const receivedOutOfLooking = (
  ctx: ElectionContext,
  e: Election,
  from: NodeId,
  n: Notification,
  nVote: Vote,
  replies: ReadonlyArray<ElectionEffect>,
): Received => {
  const ballot: Ballot = { vote: nVote, round: n.electionEpoch, state: n.state }
  const learnerState: ServerState = isVoter(ctx, ctx.self) ? "FOLLOWING" : "OBSERVING"
  const stateFor = (leader: number): ServerState => (leader === sidOf(ctx.self) ? "LEADING" : learnerState)
  // Consider all notifications from the same round together.
  if (n.electionEpoch === e.logicalclock) {
    const recvset = { ...e.recvset, [from]: ballot }
    e = { ...e, recvset }
    const q = agreeing(ctx, recvset, ballot, ownBallot(e))
    if (q.length >= voterQuorum(ctx) && checkLeader(ctx, recvset, n.leader, n.electionEpoch, e.logicalclock)) {
      return {
        election: e,
        effects: replies,
        decision: {
          state: stateFor(n.leader),
          vote: nVote,
          round: n.electionEpoch,
          quorum: q,
          lookingVoters: looking(ctx, recvset, q),
          joined: true,
        },
      }
    }
  }
  // Before joining an established ensemble, verify that a majority follows the same leader.
  const outofelection = { ...e.outofelection, [from]: ballot }
  e = { ...e, outofelection }
  const q = agreeing(ctx, outofelection, ballot)
  if (q.length >= voterQuorum(ctx) && checkLeader(ctx, outofelection, n.leader, n.electionEpoch, e.logicalclock)) {
    e = { ...e, logicalclock: n.electionEpoch }
    return {
      election: e,
      effects: replies,
      decision: {
        state: stateFor(n.leader),
        vote: nVote,
        round: n.electionEpoch,
        quorum: q,
        lookingVoters: looking(ctx, outofelection, q),
        joined: true,
      },
    }
  }
  return { election: e, effects: replies }
}

/**
 * WorkerReceiver when this server is not LOOKING: a LOOKING voter gets back what this server believes is the
 * leader (its current vote, the round it was decided in, and its state). A non-voter always gets the current
 * vote with the logical clock; other notifications are dropped.
 */
export const replyOutOfElection = (
  ctx: ElectionContext,
  me: { readonly state: ServerState; readonly currentVote: Vote; readonly currentRound: number; readonly logicalclock: number },
  from: NodeId,
  n: Notification,
): ReadonlyArray<ElectionEffect> => {
  if (!isVoter(ctx, from)) return [replyWithCurrentVote(me, from, me.logicalclock)]
  if (n.state !== "LOOKING") return []
  return [replyWithCurrentVote(me, from, me.currentRound)]
}

/** A LOOKING server answers a non-voter with QuorumPeer's current vote (the last decided one) at once. */
export const replyToNonVoter = (
  me: { readonly state: ServerState; readonly currentVote: Vote; readonly logicalclock: number },
  from: NodeId,
): ElectionEffect => replyWithCurrentVote(me, from, me.logicalclock)

const replyWithCurrentVote = (
  me: { readonly state: ServerState; readonly currentVote: Vote },
  to: NodeId,
  round: number,
): ElectionEffect =>
  send(to, {
    _tag: "Notification",
    leader: me.currentVote.leader,
    zxid: me.currentVote.zxid,
    peerEpoch: me.currentVote.epoch,
    electionEpoch: round,
    state: me.state,
  })
