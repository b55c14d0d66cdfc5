/**
 * The `fle` protocol's handlers: a server runs lookForLeader while LOOKING, answers LOOKING servers while it is
 * LEADING, FOLLOWING or OBSERVING, and (with `reelect`) goes back to LOOKING for a new round, as QuorumPeer.run
 * does when the leader or follower it became gives up.
 */
import { cancelTimer, setTimer, type Event, type InternalAction, type NodeContext, type Step } from "../../kernel/protocol.ts"
import {
  broadcast,
  decide,
  initialVote,
  isVoter,
  receiveNotification,
  replyOutOfElection,
  sidOf,
  replyToNonVoter,
  startRound,
  type Decision,
  type Election,
  type ElectionContext,
  type ElectionEffect,
  type ServerState,
  type Summary,
  type Vote,
} from "../election.ts"
import type { ClientReply, ClientRequest, Durable, FleConfig, FleFlags, Message } from "./schema.ts"

export interface FleNode {
  readonly state: ServerState
  readonly election: Election
  /** QuorumPeer.currentVote: the last decided vote (its own vote before the first decision). */
  readonly currentVote: Vote
  /** The round (electionEpoch) of currentVote. */
  readonly currentRound: number
  /** How the last lookForLeader ended: for properties (LEADING's deciding quorum is its leadingVoteSet). */
  readonly decision: Decision | null
  readonly summary: Summary
  /** LearnerType.PARTICIPANT (a voter) or an observer. Fixed by the configuration. */
  readonly participant: boolean
}

export type Ctx = NodeContext<FleConfig, FleFlags>
export type FleStep = Step<FleNode, Message, Durable, ClientReply>

export const NOT_TIMEOUT = "notTimeout"
export const REELECT = "reelect"
export const FINALIZE = "finalize"

/** The election's view of the cluster: voters are every server but the last `observers`. */
export const electionContext = (ctx: Ctx): ElectionContext => ({
  self: ctx.self,
  nodes: ctx.nodes,
  voters: ctx.nodes.slice(0, ctx.nodes.length - ctx.config.observers),
  withoutEpoch: ctx.variant.withoutEpoch,
})

const lookingTimers = (ctx: Ctx) => (ctx.config.resend ? [setTimer(NOT_TIMEOUT)] : [])

/** Boot: LOOKING in round 1, voting for self (QuorumPeer.startLeaderElection, then lookForLeader). */
export const recover = (ctx: Ctx, disk: Durable | undefined): FleStep => {
  const index = ctx.nodes.indexOf(ctx.self)
  const summary = disk ?? ctx.config.summaries[index] ?? { epoch: 0, zxid: 0 }
  const ectx = electionContext(ctx)
  // The first boot of the model may start at a later round; a restart always starts from round 1.
  const previous = disk === undefined ? (ctx.config.firstRound[index] ?? 1) - 1 : 0
  const { election, effects } = startRound(ectx, previous, summary)
  const state: FleNode = {
    state: "LOOKING",
    election,
    currentVote: initialVote(ectx, summary),
    currentRound: 0,
    decision: null,
    summary,
    participant: isVoter(ectx, ctx.self),
  }
  return { state, persist: summary, effects: [...lookingTimers(ctx), ...effects] }
}

const decided = (ctx: Ctx, s: FleNode, election: Election, d: Decision, effects: ReadonlyArray<ElectionEffect>): FleStep => ({
  state: {
    ...s,
    state: d.state,
    election: { ...election, finalizing: false },
    currentVote: d.vote,
    currentRound: d.round,
    decision: d,
  },
  effects: [cancelTimer(NOT_TIMEOUT), ...(ctx.config.reelect && d.state === "LEADING" ? [setTimer(REELECT)] : []), ...effects],
})

export const handle = (ctx: Ctx, s: FleNode, event: Event<Message, ClientRequest>): FleStep => {
  const ectx = electionContext(ctx)
  switch (event._tag) {
    case "Deliver": {
      const n = event.msg
      const me = { state: s.state, currentVote: s.currentVote, currentRound: s.currentRound, logicalclock: s.election.logicalclock }
      if (!isVoter(ectx, event.from)) return { state: s, effects: [replyToNonVoter(me, event.from)] }
      if (s.state !== "LOOKING") {
        // A LOOKING notification from the leader this server follows: the leader gave up, so this server has
        // lost it (in ZooKeeper the broken connection tells it first) and starts a new round of its own.
        const lostLeader =
          ctx.config.reelect && s.state === "FOLLOWING" && n.state === "LOOKING" && sidOf(event.from) === s.currentVote.leader
        if (!lostLeader) return { state: s, effects: replyOutOfElection(ectx, me, event.from, n) }
        const restarted = startRound(ectx, s.election.logicalclock, s.summary)
        const r = receiveNotification(ectx, restarted.election, s.summary, event.from, n)
        const effects = [...lookingTimers(ctx), ...restarted.effects, ...r.effects]
        if (r.decision !== undefined) return decided(ctx, s, r.election, r.decision, effects)
        return { state: { ...s, state: "LOOKING", election: r.election }, effects }
      }
      const r = receiveNotification(ectx, s.election, s.summary, event.from, n)
      if (r.decision !== undefined) return decided(ctx, s, r.election, r.decision, r.effects)
      return { state: { ...s, election: r.election }, effects: r.effects }
    }
    case "Internal":
      if (event.action.name === FINALIZE && s.state === "LOOKING" && s.election.finalizing) {
        return decided(ctx, s, s.election, decide(ectx, s.election), [])
      }
      return { state: s, effects: [] }
    case "Timeout":
      if (event.timer === NOT_TIMEOUT) {
        if (s.state !== "LOOKING") return { state: s, effects: [] }
        // While finalizing, lookForLeader is in its finalizeWait poll, not the notification timeout.
        if (s.election.finalizing) return { state: s, effects: [setTimer(NOT_TIMEOUT)] }
        return { state: s, effects: [setTimer(NOT_TIMEOUT), ...broadcast(ectx, s.election)] }
      }
      if (event.timer === REELECT && s.state !== "LOOKING") {
        const { election, effects } = startRound(ectx, s.election.logicalclock, s.summary)
        return { state: { ...s, state: "LOOKING", election }, effects: [...lookingTimers(ctx), ...effects] }
      }
      return { state: s, effects: [] }
    case "Client":
      return { state: s, effects: [] }
  }
}

export const enabledInternal = (_ctx: Ctx, s: FleNode): ReadonlyArray<InternalAction> =>
  s.state === "LOOKING" && s.election.finalizing ? [{ name: FINALIZE }] : []
