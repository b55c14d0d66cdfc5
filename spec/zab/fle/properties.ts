/**
 * What FLE guarantees, what it does not, and the witnesses that show a model reaches each premise.
 *
 * FLE on its own does not make the leader unique: with the finalize window, two servers can both reach LEADING
 * in the same round (the published TLA+ spec of ZooKeeper's FLE keeps that as an expected violation).
 * `atMostOneLeadingPerRound` states that claim so that the default model refutes it with a trace; a unique
 * *established* leader per epoch is ZAB's property (`atMostOneEstablishedLeaderPerEpoch` in spec/zab).
 */
import type { Invariant, NodeView, Witness, WorldView } from "../../kernel/protocol.ts"
import { sidOf, totalOrderPredicate, type Summary, type Vote } from "../election.ts"
import type { FleNode } from "./rules.ts"
import type { Durable, Message } from "./schema.ts"

export interface Leading {
  readonly round: number
  readonly node: string
}

/** Every (round, server) that ever reached LEADING, sorted. */
export interface FleGhost {
  readonly leading: ReadonlyArray<Leading>
}

export type FleWorld = WorldView<FleNode, Message, Durable, FleGhost>
type Node = NodeView<FleNode, Durable>

export const initialGhost: FleGhost = { leading: [] }

export const updateGhost = (g: FleGhost, t: { readonly before: FleWorld; readonly after: FleWorld }): FleGhost => {
  let leading = g.leading
  for (let i = 0; i < t.after.nodes.length; i++) {
    const now = t.after.nodes[i]!
    const was = t.before.nodes[i]!
    if (now === was || now.state === undefined || now.state.state !== "LEADING") continue
    if (was.state?.state === "LEADING" && was.state.currentRound === now.state.currentRound) continue
    const round = now.state.currentRound
    if (leading.some((l) => l.round === round && l.node === now.id)) continue
    leading = [...leading, { round, node: now.id }].sort((a, b) => a.round - b.round || (a.node < b.node ? -1 : 1))
  }
  return leading === g.leading ? g : { leading }
}

/** A server's summary: in memory while up, on disk while down. */
const summaryOf = (n: Node): Summary | undefined => n.state?.summary ?? n.disk

/** (epoch, zxid) order, the part of the vote order that says how recent a server's history is. */
const behind = (a: Summary, b: Summary): boolean => a.epoch < b.epoch || (a.epoch === b.epoch && a.zxid < b.zxid)

/** Voters: every server but the observers (a server that is down counts as a voter). */
const voters = (w: FleWorld): ReadonlyArray<Node> => w.nodes.filter((n) => n.state?.participant ?? true)

const allVoterSids = (w: FleWorld): ((sid: number) => boolean) => {
  const sids = new Set(voters(w).map((n) => sidOf(n.id)))
  return (sid) => sids.has(sid)
}

export const leaderNotBehindItsQuorum: Invariant<FleNode, Message, Durable, FleGhost> = {
  name: "leaderNotBehindItsQuorum",
  description:
    "a LEADING server is not behind (by currentEpoch, then zxid) any server whose LOOKING vote it counted in its deciding quorum",
  witness: "leaderCountedALowerServer",
  check: (w) => {
    for (const l of w.nodes) {
      const s = l.state
      if (s === undefined || s.state !== "LEADING" || s.decision === null) continue
      for (const q of s.decision.lookingVoters) {
        const member = w.nodes.find((n) => n.id === q)
        const sum = member === undefined ? undefined : summaryOf(member)
        if (sum !== undefined && behind(s.summary, sum)) {
          return `${l.id} is LEADING in round ${s.currentRound} with epoch ${s.summary.epoch}, zxid ${s.summary.zxid}, but counted ${q} (epoch ${sum.epoch}, zxid ${sum.zxid})`
        }
      }
    }
    return undefined
  },
}

export const followerFollowsABetterVote: Invariant<FleNode, Message, Durable, FleGhost> = {
  name: "followerFollowsABetterVote",
  description:
    "a server that reaches FOLLOWING in its own round follows a server whose vote beat its own initial vote (by epoch, zxid, sid); joining an established leader is the exception",
  witness: "followerDecidedInItsRound",
  check: (w) => {
    const voterSid = allVoterSids(w)
    for (const f of w.nodes) {
      const s = f.state
      if (s === undefined || s.state !== "FOLLOWING" || s.decision === null || s.decision.joined) continue
      const own: Vote = { leader: sidOf(f.id), zxid: s.summary.zxid, epoch: s.summary.epoch }
      if (!totalOrderPredicate(voterSid, s.decision.vote, own)) {
        return `${f.id} follows n${s.decision.vote.leader} (epoch ${s.decision.vote.epoch}, zxid ${s.decision.vote.zxid}) whose vote does not beat its own (epoch ${own.epoch}, zxid ${own.zxid})`
      }
    }
    return undefined
  },
}

export const observersNeverLead: Invariant<FleNode, Message, Durable, FleGhost> = {
  name: "observersNeverLead",
  description: "no server follows or becomes an observer as leader: a server of weight 0 never wins",
  witness: "observerObserving",
  check: (w) => {
    const voterSid = allVoterSids(w)
    for (const n of w.nodes) {
      const s = n.state
      if (s === undefined || s.decision === null) continue
      if (s.state !== "LOOKING" && !voterSid(s.decision.vote.leader)) {
        return `${n.id} decided for n${s.decision.vote.leader}, which is not a voter`
      }
    }
    return undefined
  },
}

export const atMostOneLeadingPerRound: Invariant<FleNode, Message, Durable, FleGhost> = {
  name: "atMostOneLeadingPerRound",
  description:
    "at most one server reaches LEADING in a given round (logical clock) — a claim FLE does NOT make: models expect to refute it (ZAB's discovery makes the established leader unique)",
  witness: "leaderElected",
  check: (w) => {
    const l = w.ghost.leading
    for (let k = 1; k < l.length; k++) {
      if (l[k]!.round === l[k - 1]!.round) {
        return `${l[k - 1]!.node} and ${l[k]!.node} both reached LEADING in round ${l[k]!.round}`
      }
    }
    return undefined
  },
}

const decidedNodes = (w: FleWorld) => w.nodes.filter((n) => n.state !== undefined && n.state.state !== "LOOKING")

export const witnesses: ReadonlyArray<Witness<FleNode, Message, Durable, FleGhost>> = [
  { name: "leaderElected", description: "a server reached LEADING", holds: (w) => w.ghost.leading.length > 0 },
  {
    name: "leaderCountedALowerServer",
    description: "a LEADING server's deciding quorum holds a server with an older (epoch, zxid)",
    holds: (w) =>
      w.nodes.some((l) => {
        const s = l.state
        if (s === undefined || s.state !== "LEADING" || s.decision === null) return false
        return s.decision.lookingVoters.some((q) => {
          const m = w.nodes.find((n) => n.id === q)
          const sum = m === undefined ? undefined : summaryOf(m)
          return sum !== undefined && behind(sum, s.summary)
        })
      }),
  },
  {
    name: "followerDecidedInItsRound",
    description: "a server reached FOLLOWING through its own round's votes (not by joining)",
    holds: (w) => decidedNodes(w).some((n) => n.state!.state === "FOLLOWING" && n.state!.decision?.joined === false),
  },
  {
    name: "joinedEstablishedLeader",
    description: "a server joined a leader a quorum already follows (checkLeader)",
    holds: (w) => decidedNodes(w).some((n) => n.state!.decision?.joined === true && n.state!.state !== "LEADING"),
  },
  {
    name: "leaderInLaterRound",
    description: "a server reached LEADING in a round after the first",
    holds: (w) => w.ghost.leading.some((l) => l.round >= 2),
  },
  {
    name: "observerObserving",
    description: "an observer reached OBSERVING",
    holds: (w) => w.nodes.some((n) => n.state?.state === "OBSERVING"),
  },
]

export const invariants = [leaderNotBehindItsQuorum, followerFollowsABetterVote, observersNeverLead, atMostOneLeadingPerRound]
