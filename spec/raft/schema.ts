/**
 * Raft's data, declared once with Schema: the messages on the wire, what a server persists, client requests
 * and the model settings. The TypeScript types the handlers use are derived from these declarations.
 */
import { Schema } from "effect"
import { NodeId } from "../kernel/protocol.ts"

const Term = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Index = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

export const Entry = Schema.Struct({ term: Term, value: Schema.String })
export type Entry = typeof Entry.Type

export const RequestVote = Schema.TaggedStruct("RequestVote", {
  term: Term,
  lastLogIndex: Index,
  lastLogTerm: Term,
})
export const RequestVoteResponse = Schema.TaggedStruct("RequestVoteResponse", {
  term: Term,
  voteGranted: Schema.Boolean,
})
export const AppendEntries = Schema.TaggedStruct("AppendEntries", {
  term: Term,
  prevLogIndex: Index,
  prevLogTerm: Term,
  entries: Schema.Array(Entry),
  leaderCommit: Index,
})
export const AppendEntriesResponse = Schema.TaggedStruct("AppendEntriesResponse", {
  term: Term,
  success: Schema.Boolean,
  /** On success, the index of the last entry the follower now holds from this request. */
  matchIndex: Index,
})

/**
 * §7 (Figure 13), sent in one piece: the leader's snapshot, for a follower that needs entries the leader has
 * compacted away. Answered with an `AppendEntriesResponse` whose `matchIndex` is `lastIncludedIndex`, which
 * is all the leader learns from Figure 13's reply plus the index it needs to go on from.
 */
export const InstallSnapshot = Schema.TaggedStruct("InstallSnapshot", {
  term: Term,
  lastIncludedIndex: Index,
  lastIncludedTerm: Term,
  data: Schema.String,
})

export const Message = Schema.Union([RequestVote, RequestVoteResponse, AppendEntries, AppendEntriesResponse, InstallSnapshot])
export type Message = typeof Message.Type
export type RequestVote = typeof RequestVote.Type
export type RequestVoteResponse = typeof RequestVoteResponse.Type
export type AppendEntries = typeof AppendEntries.Type
export type AppendEntriesResponse = typeof AppendEntriesResponse.Type
export type InstallSnapshot = typeof InstallSnapshot.Type

export const messageKinds = ["RequestVote", "RequestVoteResponse", "AppendEntries", "AppendEntriesResponse", "InstallSnapshot"] as const

/**
 * §7: the committed log prefix a server replaced by a snapshot — the index and term of its last entry and the
 * state machine's state after applying it. `data` is opaque to the rules: the running nodes put their key
 * space there; the checker's models put the compacted entries (so the properties still see every entry).
 */
export const Snapshot = Schema.Struct({ index: Index, term: Term, data: Schema.String })
export type Snapshot = typeof Snapshot.Type

/** Figure 2, "Persistent state on all servers", and the snapshot of Figure 13 (absent until a compaction). */
export const Durable = Schema.Struct({
  currentTerm: Term,
  votedFor: Schema.NullOr(NodeId),
  /** The entries after the snapshot's, if any: entry k of the array has index `snapshot.index + k + 1`. */
  log: Schema.Array(Entry),
  snapshot: Schema.optional(Snapshot),
})
export type Durable = typeof Durable.Type

/**
 * A client command. `PutBatch` carries several commands that arrived together and are appended in one step —
 * batching as in §10.2.1 of Ongaro's thesis and etcd's `MsgProp` with many entries. It is the same as `Put`
 * of each value in turn on the same leader (those steps change nothing but the log and send nothing), so it
 * adds no behaviour; the checker's models submit single `Put`s only.
 */
export const Put = Schema.TaggedStruct("Put", { value: Schema.String })
export const PutBatch = Schema.TaggedStruct("PutBatch", { values: Schema.NonEmptyArray(Schema.String) })
export const ClientRequest = Schema.Union([Put, PutBatch])
export type ClientRequest = typeof ClientRequest.Type

/** `Accepted.index` is the index of the (first) appended entry; a batch of k values fills index … index+k−1. */
export type ClientReply =
  | { readonly _tag: "Accepted"; readonly index: number; readonly term: number }
  | { readonly _tag: "NotLeader"; readonly leaderHint: NodeId | null }

/** Bounds of a Raft model. */
export const RaftConfig = Schema.Struct({
  /** No server's term exceeds this (a state constraint). */
  maxTerm: Term.check(Schema.isGreaterThanOrEqualTo(1)),
  /** No log's last index exceeds this, snapshot included (a state constraint). */
  maxLogLen: Index,
  /** The client values the model may submit, each to the leader of the moment. */
  values: Schema.Array(Schema.String),
  /** How many entries one AppendEntries carries at most. */
  maxEntriesPerMessage: Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)),
})
export type RaftConfig = typeof RaftConfig.Type

/** The rules a variant may change. The faithful protocol has every flag false. */
export interface RaftFlags {
  /** Figure 8's trap: commit an entry of an earlier term by counting replicas. */
  readonly commitPreviousTerm: boolean
  /** Grant a vote without checking that the candidate's log is at least as up to date. */
  readonly voteWithoutLogCheck: boolean
  /** Keep votedFor in memory only, so a restarted server can vote twice in one term. */
  readonly volatileVotedFor: boolean
  /**
   * Thesis §10.2.1: a leader writes new entries to its disk in parallel with sending them to followers — its
   * client step persists nothing, a later `flushLog` step makes them durable — and counts itself towards a
   * commit only for entries it has flushed.
   */
  readonly parallelAppend: boolean
  /** With `parallelAppend`, the leader counts itself for entries it has not flushed yet (a crash loses them). */
  readonly countUnflushedSelf: boolean
  /** §7: servers may replace their committed log prefix by a snapshot (internal step `compact`). */
  readonly compaction: boolean
  /** With `compaction`, a server may compact its whole log, committed or not. */
  readonly compactUncommitted: boolean
  /** With `compaction`, InstallSnapshot discards the receiver's whole log, even entries after the snapshot. */
  readonly snapshotDiscardsLog: boolean
}
