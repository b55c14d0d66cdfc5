/**
 * Raft's rules, one function per rule of Figure 2 ("In Search of an Understandable Consensus Algorithm"),
 * named as in the paper. Every function is pure: it returns the next state and the effects as data.
 */
import {
  cancelTimer,
  reply,
  send,
  setTimer,
  type Effect,
  type Event,
  type InternalAction,
  type NodeContext,
  type NodeId,
  type Step,
} from "../kernel/protocol.ts"
import type {
  AppendEntries,
  AppendEntriesResponse,
  ClientReply,
  ClientRequest,
  Durable,
  Entry,
  InstallSnapshot,
  Message,
  RaftConfig,
  RaftFlags,
  RequestVote,
  RequestVoteResponse,
  Snapshot,
} from "./schema.ts"

export type Role = "Follower" | "Candidate" | "Leader"

export interface RaftState {
  readonly role: Role
  readonly currentTerm: number
  readonly votedFor: NodeId | null
  /** The entries after the snapshot's (all of them while there is no snapshot). */
  readonly log: ReadonlyArray<Entry>
  /** §7: the committed prefix this server compacted or installed; absent until then (always, without compaction). */
  readonly snapshot?: Snapshot
  /** Volatile: highest log index known to be committed. */
  readonly commitIndex: number
  /** Candidates: servers that granted their vote this term, sorted. */
  readonly votesGranted: ReadonlyArray<NodeId>
  /** Leaders: for each peer, the next log index to send and the highest index known replicated. */
  readonly nextIndex: Readonly<Record<string, number>>
  readonly matchIndex: Readonly<Record<string, number>>
  /**
   * Leaders under `parallelAppend` only: the index up to which the log is durable here; the rest is being
   * written while it replicates. Absent otherwise, so the faithful protocol's states are unchanged.
   */
  readonly flushed?: number
}

export type Ctx = NodeContext<RaftConfig, RaftFlags>
export type RaftStep = Step<RaftState, Message, Durable, ClientReply>
type Fx = Effect<Message, ClientReply>

export const ELECTION = "election"
export const HEARTBEAT = "heartbeat"
/** `parallelAppend` leaders: the write of new entries, started when they were appended, is durable. */
export const FLUSH_LOG = "flushLog"
/**
 * `compaction`: replace the log up to an index by a snapshot. The action's `arg` is `<index>:<data>`; the host
 * chooses both (a running node: its applied index and key space), the checker's models compact all committed
 * entries, with the compacted entries as the data (`modelSnapshotData`).
 */
export const COMPACT = "compact"

const none: Readonly<Record<string, number>> = {}

/** A log as a server holds it: the snapshot (if any) and the entries after it. State and durable value both are. */
export interface LogView {
  readonly log: ReadonlyArray<Entry>
  readonly snapshot?: Snapshot | undefined
}

/** The index of the last compacted entry (0 without a snapshot): entry k of `log` has index `snapshotIndex + k + 1`. */
export const snapshotIndex = (s: LogView): number => s.snapshot?.index ?? 0
export const lastLogIndex = (s: LogView): number => snapshotIndex(s) + s.log.length
export const lastLogTerm = (s: LogView): number => (s.log.length === 0 ? (s.snapshot?.term ?? 0) : s.log[s.log.length - 1]!.term)

/**
 * The term of the entry at `index`: 0 at index 0, the snapshot's term at its last index, undefined past the
 * log's end or inside the snapshot (compacted away).
 */
export const termAt = (s: LogView, index: number): number | undefined => {
  const base = snapshotIndex(s)
  if (index === base) return base === 0 ? 0 : s.snapshot!.term
  if (index < base || index > base + s.log.length) return undefined
  return s.log[index - base - 1]!.term
}

/** The entry at `index`, or undefined when it is compacted away or past the log's end. */
export const entryAt = (s: LogView, index: number): Entry | undefined => {
  const base = snapshotIndex(s)
  return index > base ? s.log[index - base - 1] : undefined
}

/** What this server writes to disk. The `volatile-voted-for` variant forgets the vote. */
export const durableOf = (ctx: Ctx, s: RaftState): Durable => {
  const d = { currentTerm: s.currentTerm, votedFor: ctx.variant.volatileVotedFor ? null : s.votedFor, log: s.log }
  return s.snapshot === undefined ? d : { ...d, snapshot: s.snapshot }
}

const sameDurable = (a: RaftState, b: RaftState): boolean =>
  a.currentTerm === b.currentTerm && a.votedFor === b.votedFor && a.log === b.log && a.snapshot === b.snapshot

/** Leaders run the heartbeat timer, everyone else the election timer; a role change swaps them. */
const roleTimers = (before: RaftState, after: RaftState): ReadonlyArray<Fx> => {
  if (before.role === after.role || (before.role !== "Leader" && after.role !== "Leader")) return []
  return after.role === "Leader" ? [cancelTimer(ELECTION), setTimer(HEARTBEAT)] : [cancelTimer(HEARTBEAT), setTimer(ELECTION)]
}

/**
 * Builds a step: persists exactly when durable state changed (persist-before-send is the Step's rule) and
 * swaps timers when the role changed.
 */
const step = (ctx: Ctx, before: RaftState, after: RaftState, effects: ReadonlyArray<Fx>): RaftStep => {
  const timers = roleTimers(before, after)
  // A role change already sets the timers it needs; a rule's own restart of the same timer is then redundant.
  const all =
    timers.length === 0
      ? effects
      : [...timers, ...effects.filter((e) => !(e._tag === "SetTimer" && timers.some((t) => t._tag === "SetTimer" && t.timer === e.timer)))]
  return sameDurable(before, after) ? { state: after, effects: all } : { state: after, persist: durableOf(ctx, after), effects: all }
}

/**
 * Start or restart: "Persistent state on all servers (updated on stable storage before responding to RPCs)".
 * A snapshot holds only committed entries, so the commit index starts at its index (§7: the state machine is
 * restored from it).
 */
export const recover = (_ctx: Ctx, disk: Durable | undefined): RaftStep => {
  const state: RaftState = {
    role: "Follower",
    currentTerm: disk?.currentTerm ?? 0,
    votedFor: disk?.votedFor ?? null,
    log: disk?.log ?? [],
    commitIndex: disk?.snapshot?.index ?? 0,
    votesGranted: [],
    nextIndex: none,
    matchIndex: none,
  }
  return { state: disk?.snapshot === undefined ? state : { ...state, snapshot: disk.snapshot }, effects: [setTimer(ELECTION)] }
}

/** "If RPC request or response contains term T > currentTerm: set currentTerm = T, convert to follower". */
export const observeTerm = (s: RaftState, term: number): RaftState => {
  if (term <= s.currentTerm) return s
  // A leader's `flushed` goes with its role (the step persists the whole log, so nothing stays unflushed).
  const { flushed: _, ...rest } = s
  return { ...rest, role: "Follower", currentTerm: term, votedFor: null, votesGranted: [], nextIndex: none, matchIndex: none }
}

/**
 * Followers and candidates: "If election timeout elapses without receiving AppendEntries RPC from current
 * leader or granting vote to candidate: convert to candidate". On conversion: "Increment currentTerm, Vote for
 * self, Reset election timer, Send RequestVote RPCs to all other servers".
 */
export const startElection = (ctx: Ctx, s: RaftState): RaftStep => {
  if (s.role === "Leader") return { state: s, effects: [] }
  const next: RaftState = {
    ...s,
    role: "Candidate",
    currentTerm: s.currentTerm + 1,
    votedFor: ctx.self,
    votesGranted: [ctx.self],
  }
  const rv: RequestVote = {
    _tag: "RequestVote",
    term: next.currentTerm,
    lastLogIndex: lastLogIndex(s),
    lastLogTerm: lastLogTerm(s),
  }
  return step(ctx, s, next, [setTimer(ELECTION), ...ctx.peers.map((p) => send(p, rv))])
}

/** The election restriction (§5.4.1): the candidate's log is at least as up-to-date as the voter's. */
export const candidateLogUpToDate = (voter: LogView, lastIndex: number, lastTerm: number): boolean =>
  lastTerm > lastLogTerm(voter) || (lastTerm === lastLogTerm(voter) && lastIndex >= lastLogIndex(voter))

/**
 * RequestVote receiver: "Reply false if term < currentTerm. If votedFor is null or candidateId, and
 * candidate's log is at least as up-to-date as receiver's log, grant vote."
 */
export const handleRequestVote = (ctx: Ctx, s0: RaftState, from: NodeId, m: RequestVote): RaftStep => {
  const s = observeTerm(s0, m.term)
  const logOk = ctx.variant.voteWithoutLogCheck || candidateLogUpToDate(s, m.lastLogIndex, m.lastLogTerm)
  const grant = m.term === s.currentTerm && logOk && (s.votedFor === null || s.votedFor === from)
  const next = grant ? { ...s, votedFor: from } : s
  const response: RequestVoteResponse = { _tag: "RequestVoteResponse", term: next.currentTerm, voteGranted: grant }
  // Granting a vote restarts the election timeout ("…without receiving AppendEntries RPC from current
  // leader or granting vote to candidate"). The checker lets an armed timer fire at any moment, so this
  // matters to running nodes only.
  return step(ctx, s0, next, grant ? [setTimer(ELECTION), send(from, response)] : [send(from, response)])
}

/** "If votes received from majority of servers: become leader." */
export const handleRequestVoteResponse = (ctx: Ctx, s0: RaftState, from: NodeId, m: RequestVoteResponse): RaftStep => {
  const s = observeTerm(s0, m.term)
  if (s.role !== "Candidate" || m.term !== s.currentTerm || !m.voteGranted || s.votesGranted.includes(from)) {
    return step(ctx, s0, s, [])
  }
  const votesGranted = [...s.votesGranted, from].sort()
  if (votesGranted.length < ctx.quorum) return step(ctx, s0, { ...s, votesGranted }, [])
  return becomeLeader(ctx, s0, { ...s, votesGranted })
}

/**
 * "Upon election: send initial empty AppendEntries RPCs (heartbeat) to each server". Leaders reinitialise
 * nextIndex to their last log index + 1 and matchIndex to 0. The heartbeat timer sends the first round.
 */
export const becomeLeader = (ctx: Ctx, before: RaftState, s: RaftState): RaftStep => {
  const nextIndex: Record<string, number> = {}
  const matchIndex: Record<string, number> = {}
  const last = lastLogIndex(s)
  for (const p of ctx.peers) {
    nextIndex[p] = last + 1
    matchIndex[p] = 0
  }
  // Everything a candidate holds is durable: only a leader's appends are written in the background.
  const leader: RaftState = { ...s, role: "Leader", votesGranted: [], nextIndex, matchIndex }
  return step(ctx, before, ctx.variant.parallelAppend ? { ...leader, flushed: last } : leader, [])
}

/**
 * What a leader sends a peer: the AppendEntries with entries from nextIndex on, at most maxEntriesPerMessage —
 * or, when the entry before nextIndex is compacted away, its snapshot (§7: "the leader must occasionally send
 * snapshots to followers that lag behind").
 */
export const appendEntriesFor = (ctx: Ctx, s: RaftState, peer: NodeId): AppendEntries | InstallSnapshot => {
  const next = s.nextIndex[peer] ?? lastLogIndex(s) + 1
  const prevLogIndex = next - 1
  const prevLogTerm = termAt(s, prevLogIndex)
  if (prevLogTerm === undefined) {
    const snap = s.snapshot!
    return { _tag: "InstallSnapshot", term: s.currentTerm, lastIncludedIndex: snap.index, lastIncludedTerm: snap.term, data: snap.data }
  }
  const from = prevLogIndex - snapshotIndex(s)
  return {
    _tag: "AppendEntries",
    term: s.currentTerm,
    prevLogIndex,
    prevLogTerm,
    entries: s.log.slice(from, from + ctx.config.maxEntriesPerMessage),
    leaderCommit: Math.min(s.commitIndex, prevLogIndex + ctx.config.maxEntriesPerMessage),
  }
}

/** Leaders: "send AppendEntries RPC with log entries starting at nextIndex" — on every heartbeat. */
export const sendHeartbeat = (ctx: Ctx, s: RaftState): RaftStep => {
  if (s.role !== "Leader") return { state: s, effects: [] }
  return { state: s, effects: [setTimer(HEARTBEAT), ...ctx.peers.map((p) => send(p, appendEntriesFor(ctx, s, p)))] }
}

/**
 * What AppendEntries and InstallSnapshot receivers do first: "Reply false if term < currentTerm" (the refusal,
 * as a step); otherwise adopt the term, and "If AppendEntries RPC received from new leader: convert to
 * follower" (a candidate of the same term).
 */
const fromLeader = (ctx: Ctx, s0: RaftState, from: NodeId, term: number): { readonly refused: RaftStep } | { readonly state: RaftState } => {
  const s = observeTerm(s0, term)
  if (term < s.currentTerm) {
    const refuse: AppendEntriesResponse = { _tag: "AppendEntriesResponse", term: s.currentTerm, success: false, matchIndex: 0 }
    return { refused: step(ctx, s0, s, [send(from, refuse)]) }
  }
  return { state: s.role === "Candidate" ? { ...s, role: "Follower", votesGranted: [] } : s }
}

/**
 * AppendEntries receiver: "Reply false if term < currentTerm. Reply false if log doesn't contain an entry at
 * prevLogIndex whose term matches prevLogTerm. If an existing entry conflicts with a new one (same index but
 * different terms), delete the existing entry and all that follow it. Append any new entries not already in
 * the log. If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new entry)."
 */
export const handleAppendEntries = (ctx: Ctx, s0: RaftState, from: NodeId, m: AppendEntries): RaftStep => {
  const leader = fromLeader(ctx, s0, from, m.term)
  if ("refused" in leader) return leader.refused
  const s = leader.state
  // Entries up to the snapshot's index are committed, so they match every leader's (Leader Completeness): an
  // AppendEntries reaching back into the snapshot is checked at the snapshot's index instead.
  const base = snapshotIndex(s)
  const skip = Math.max(0, Math.min(base - m.prevLogIndex, m.entries.length))
  const prevIndex = m.prevLogIndex + skip
  const prevTerm = skip === 0 ? m.prevLogTerm : m.entries[skip - 1]!.term
  const logOk = prevIndex === 0 || prevIndex < base || termAt(s, prevIndex) === prevTerm
  if (!logOk) {
    const refuse: AppendEntriesResponse = { _tag: "AppendEntriesResponse", term: s.currentTerm, success: false, matchIndex: 0 }
    return step(ctx, s0, s, [setTimer(ELECTION), send(from, refuse)])
  }
  const log = prevIndex < base ? s.log : mergeEntries(s.log, prevIndex - base, skip === 0 ? m.entries : m.entries.slice(skip))
  const lastNew = m.prevLogIndex + m.entries.length
  const commitIndex = Math.max(s.commitIndex, Math.min(m.leaderCommit, lastNew))
  const next: RaftState = { ...s, log, commitIndex }
  const ok: AppendEntriesResponse = { _tag: "AppendEntriesResponse", term: s.currentTerm, success: true, matchIndex: lastNew }
  // An AppendEntries from the current leader restarts the election timeout.
  return step(ctx, s0, next, [setTimer(ELECTION), send(from, ok)])
}

/**
 * Deletes only from the first conflicting entry onward and appends what is missing, so a stale or duplicated
 * AppendEntries never truncates entries that follow the ones it carries. Returns `log` itself when unchanged.
 */
export const mergeEntries = (
  log: ReadonlyArray<Entry>,
  prevLogIndex: number,
  entries: ReadonlyArray<Entry>,
): ReadonlyArray<Entry> => {
  for (let k = 0; k < entries.length; k++) {
    const at = prevLogIndex + k // 0-based position of entry k
    const existing = log[at]
    if (existing !== undefined && existing.term === entries[k]!.term) continue
    // One copy (concat) instead of slice-then-push, which copies the log twice: this runs per AppendEntries.
    return (at === log.length ? log : log.slice(0, at)).concat(entries.slice(k))
  }
  return log
}

/**
 * Leaders: "If successful: update nextIndex and matchIndex for follower. If AppendEntries fails because of log
 * inconsistency: decrement nextIndex and retry." Then advance the commit index.
 */
export const handleAppendEntriesResponse = (
  ctx: Ctx,
  s0: RaftState,
  from: NodeId,
  m: AppendEntriesResponse,
): RaftStep => {
  const s = observeTerm(s0, m.term)
  if (s !== s0) return step(ctx, s0, s, [])
  if (s.role !== "Leader" || m.term !== s.currentTerm) return { state: s, effects: [] }
  const match = s.matchIndex[from] ?? 0
  const next = s.nextIndex[from] ?? lastLogIndex(s) + 1
  if (!m.success) {
    if (next <= 1) return { state: s, effects: [] }
    return { state: { ...s, nextIndex: { ...s.nextIndex, [from]: next - 1 } }, effects: [] }
  }
  // Responses can arrive late or twice: indexes only move forward.
  const newMatch = Math.max(match, m.matchIndex)
  const newNext = Math.max(next, m.matchIndex + 1)
  if (newMatch === match && newNext === next) return { state: s, effects: [] }
  const updated: RaftState = {
    ...s,
    matchIndex: newMatch === match ? s.matchIndex : { ...s.matchIndex, [from]: newMatch },
    nextIndex: newNext === next ? s.nextIndex : { ...s.nextIndex, [from]: newNext },
  }
  return { state: advanceCommitIndex(ctx, updated), effects: [] }
}

/**
 * Leaders: "If there exists an N such that N > commitIndex, a majority of matchIndex[i] ≥ N, and
 * log[N].term == currentTerm: set commitIndex = N". The `commit-previous-term` variant drops the term test.
 */
export const advanceCommitIndex = (ctx: Ctx, s: RaftState): RaftState => {
  // §10.2.1: "the leader may commit an entry before it has been written to its own disk", counting only the
  // followers that have; it counts itself once the entry is flushed here.
  const last = lastLogIndex(s)
  const ownDurable = ctx.variant.countUnflushedSelf ? last : (s.flushed ?? last)
  // Everything up to the snapshot's index is committed already (commitIndex ≥ snapshotIndex).
  for (let n = last; n > s.commitIndex; n--) {
    if (!ctx.variant.commitPreviousTerm && termAt(s, n) !== s.currentTerm) continue
    let replicas = n <= ownDurable ? 1 : 0
    for (const p of ctx.peers) if ((s.matchIndex[p] ?? 0) >= n) replicas++
    if (replicas >= ctx.quorum) return { ...s, commitIndex: n }
  }
  return s
}

/**
 * "If command received from client: append entry to local log, respond after entry applied". A `PutBatch`
 * appends one entry per value, in order, in this one step.
 */
export const handleClientRequest = (ctx: Ctx, s: RaftState, request: ClientRequest): RaftStep => {
  if (s.role !== "Leader") return { state: s, effects: [reply({ _tag: "NotLeader", leaderHint: null })] }
  const term = s.currentTerm
  const added: ReadonlyArray<Entry> =
    request._tag === "Put" ? [{ term, value: request.value }] : request.values.map((value) => ({ term, value }))
  // concat rather than spread: the same new array, copied several times faster. The copy is O(log length) per
  // step, which is why the runtime submits concurrent requests as one PutBatch.
  const log = s.log.concat(added)
  const accepted: Fx = reply({ _tag: "Accepted", index: lastLogIndex(s) + 1, term })
  // §10.2.1: the write starts now and is made durable by `flushLog`; nothing waits for it.
  if (ctx.variant.parallelAppend) return { state: { ...s, log }, effects: [accepted] }
  return step(ctx, s, { ...s, log }, [accepted])
}

/**
 * `parallelAppend` leaders: the entries appended since the last flush are durable. The leader now counts
 * itself for them, which may commit some.
 */
export const flushLog = (ctx: Ctx, s: RaftState): RaftStep => {
  const last = lastLogIndex(s)
  if (s.role !== "Leader" || s.flushed === undefined || s.flushed >= last) return { state: s, effects: [] }
  const next = advanceCommitIndex(ctx, { ...s, flushed: last })
  return { state: next, persist: durableOf(ctx, next), effects: [] }
}

/**
 * `compaction`: "Each server takes snapshots independently, covering just the committed entries in its log"
 * (§7). Replaces the entries up to `index` by a snapshot with the given state-machine data. An index the
 * server cannot compact (not past its snapshot, or not committed) leaves the state as it is. Under
 * parallel append a leader's unflushed entries are never committed by it alone, but its flushed mark must
 * not point inside the snapshot: it is an index, so it stays valid.
 */
export const compact = (ctx: Ctx, s: RaftState, index: number, data: string): RaftStep => {
  const base = snapshotIndex(s)
  const limit = ctx.variant.compactUncommitted ? lastLogIndex(s) : s.commitIndex
  if (!ctx.variant.compaction || index <= base || index > limit) return { state: s, effects: [] }
  const snapshot: Snapshot = { index, term: termAt(s, index)!, data }
  const next: RaftState = { ...s, log: s.log.slice(index - base), snapshot, commitIndex: Math.max(s.commitIndex, index) }
  return step(ctx, s, next, [])
}

/**
 * InstallSnapshot receiver (Figure 13): "Reply immediately if term < currentTerm. If existing log entry has
 * same index and term as snapshot's last included entry, retain log entries following it and reply. Discard
 * the entire log. Reset state machine using snapshot contents." A snapshot this server already covers — its
 * commit index is at or past it — changes nothing: those entries are committed here and match the leader's.
 */
export const handleInstallSnapshot = (ctx: Ctx, s0: RaftState, from: NodeId, m: InstallSnapshot): RaftStep => {
  const leader = fromLeader(ctx, s0, from, m.term)
  if ("refused" in leader) return leader.refused
  const s = leader.state
  const ok: AppendEntriesResponse = { _tag: "AppendEntriesResponse", term: s.currentTerm, success: true, matchIndex: m.lastIncludedIndex }
  if (m.lastIncludedIndex <= s.commitIndex && !ctx.variant.snapshotDiscardsLog) return step(ctx, s0, s, [setTimer(ELECTION), send(from, ok)])
  const keep = !ctx.variant.snapshotDiscardsLog && termAt(s, m.lastIncludedIndex) === m.lastIncludedTerm
  const log = keep ? s.log.slice(m.lastIncludedIndex - snapshotIndex(s)) : []
  const snapshot: Snapshot = { index: m.lastIncludedIndex, term: m.lastIncludedTerm, data: m.data }
  const next: RaftState = { ...s, log, snapshot, commitIndex: Math.max(s.commitIndex, m.lastIncludedIndex) }
  return step(ctx, s0, next, [setTimer(ELECTION), send(from, ok)])
}

/**
 * The data of a model's snapshot: the compacted entries themselves, as JSON, so that the properties still see
 * every committed entry (`fullLog`). Running nodes put their state machine there instead.
 */
export const modelSnapshotData = (s: LogView, index: number): string => {
  const earlier: ReadonlyArray<Entry> = s.snapshot === undefined ? [] : (JSON.parse(s.snapshot.data) as ReadonlyArray<Entry>)
  return JSON.stringify([...earlier, ...s.log.slice(0, index - snapshotIndex(s))])
}

/** The `arg` of a compact action. */
export const compactArg = (index: number, data: string): string => `${index}:${data}`

/**
 * Internal steps enabled now: a `parallelAppend` leader's flush of unflushed entries; under `compaction`, the
 * compaction of every committed entry not yet in the snapshot (the checker's choice; a node picks its own).
 */
export const enabledInternal = (ctx: Ctx, s: RaftState): ReadonlyArray<InternalAction> => {
  const out: InternalAction[] = []
  if (s.flushed !== undefined && s.flushed < lastLogIndex(s)) out.push({ name: FLUSH_LOG })
  if (ctx.variant.compaction) {
    const upTo = ctx.variant.compactUncommitted ? lastLogIndex(s) : s.commitIndex
    if (upTo > snapshotIndex(s)) out.push({ name: COMPACT, arg: compactArg(upTo, modelSnapshotData(s, upTo)) })
  }
  return out
}

const compactAction = (ctx: Ctx, s: RaftState, arg: string | undefined): RaftStep => {
  const colon = arg?.indexOf(":") ?? -1
  const index = colon > 0 ? Number(arg!.slice(0, colon)) : NaN
  if (!Number.isSafeInteger(index)) return { state: s, effects: [] }
  return compact(ctx, s, index, arg!.slice(colon + 1))
}

/** The one entry point: dispatch an event to its rule. */
export const handle = (ctx: Ctx, s: RaftState, event: Event<Message, ClientRequest>): RaftStep => {
  switch (event._tag) {
    case "Deliver": {
      const m = event.msg
      switch (m._tag) {
        case "RequestVote":
          return handleRequestVote(ctx, s, event.from, m)
        case "RequestVoteResponse":
          return handleRequestVoteResponse(ctx, s, event.from, m)
        case "AppendEntries":
          return handleAppendEntries(ctx, s, event.from, m)
        case "AppendEntriesResponse":
          return handleAppendEntriesResponse(ctx, s, event.from, m)
        case "InstallSnapshot":
          return handleInstallSnapshot(ctx, s, event.from, m)
      }
    }
    case "Timeout":
      return event.timer === HEARTBEAT ? sendHeartbeat(ctx, s) : startElection(ctx, s)
    case "Client":
      return handleClientRequest(ctx, s, event.request)
    case "Internal":
      switch (event.action.name) {
        case FLUSH_LOG:
          return flushLog(ctx, s)
        case COMPACT:
          return compactAction(ctx, s, event.action.arg)
        default:
          return { state: s, effects: [] }
      }
  }
}
