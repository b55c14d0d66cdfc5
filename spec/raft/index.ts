/**
 * Raft as one protocol value: the rules, the properties, the bounded models and the variants.
 */
import type { ModelConfig, Protocol, VariantInfo } from "../kernel/protocol.ts"
import {
  initialGhost,
  invariants,
  transitionProperties,
  normalizeGhost,
  updateGhost,
  witnesses,
  type RaftGhost,
} from "./properties.ts"
import { COMPACT, ELECTION, FLUSH_LOG, HEARTBEAT, enabledInternal, handle, lastLogIndex, recover, type RaftState } from "./rules.ts"
import {
  ClientRequest,
  Durable,
  Message,
  RaftConfig,
  messageKinds,
  type ClientReply,
  type RaftFlags,
} from "./schema.ts"

const noFaults = { crashes: 0, partitions: 0, losses: 0, duplications: 0 }

/**
 * Bounded models. Every model bounds the network as TLC would with a state constraint: at most `maxInFlight`
 * distinct messages in flight and `maxCopiesPerMessage` copies of each. Without such a bound a bag network
 * is infinite (a leader can always send one more heartbeat).
 */
const models: Record<string, ModelConfig<RaftConfig>> = {
  default: {
    description: "3 servers, terms ≤ 2, one entry of one value, ≤ 2 messages in flight; one crash, partition, loss and duplicate",
    mustReach: "all",
    servers: 3,
    network: "bag",
    faults: { crashes: 1, partitions: 1, losses: 1, duplications: 1 },
    maxInFlight: 2,
    maxCopiesPerMessage: 2,
    config: { maxTerm: 2, maxLogLen: 1, values: ["v1"], maxEntriesPerMessage: 1 },
  },
  elect: {
    description: "3 servers, elections only (no client values), terms ≤ 2, ≤ 3 messages in flight, no faults",
    mustReach: ["leadersInTwoTerms"],
    servers: 3,
    network: "bag",
    faults: noFaults,
    maxInFlight: 3,
    maxCopiesPerMessage: 1,
    config: { maxTerm: 2, maxLogLen: 0, values: [], maxEntriesPerMessage: 1 },
  },
  small: {
    description: "3 servers, terms ≤ 2, one entry of one value, ≤ 3 messages in flight, no faults",
    mustReach: ["leadersInTwoTerms", "leaderAppendedEntry", "twoLogsShareAnEntry", "entryCommitted", "laterLeaderAfterCommit"],
    servers: 3,
    network: "bag",
    faults: noFaults,
    maxInFlight: 3,
    maxCopiesPerMessage: 1,
    config: { maxTerm: 2, maxLogLen: 1, values: ["v1"], maxEntriesPerMessage: 1 },
  },
  figure8: {
    description: "3 servers, terms ≤ 4, one entry, ≤ 3 messages in flight: room for Figure 8's old-term commit",
    mustReach: ["leadersInTwoTerms", "entryCommitted", "laterLeaderAfterCommit"],
    servers: 3,
    network: "bag",
    faults: noFaults,
    maxInFlight: 3,
    maxCopiesPerMessage: 1,
    config: { maxTerm: 4, maxLogLen: 1, values: ["v1"], maxEntriesPerMessage: 1 },
  },
  restart: {
    description: "3 servers, elections only, terms ≤ 2, ≤ 3 messages in flight, two crashes",
    mustReach: ["leadersInTwoTerms", "leaderElectedAfterCrash"],
    servers: 3,
    network: "bag",
    faults: { crashes: 2, partitions: 0, losses: 0, duplications: 0 },
    maxInFlight: 3,
    maxCopiesPerMessage: 1,
    config: { maxTerm: 2, maxLogLen: 0, values: [], maxEntriesPerMessage: 1 },
  },
  compaction: {
    description: "3 servers, terms ≤ 2, logs ≤ 2 entries of one value, ≤ 3 messages in flight, no faults: room for an entry after a snapshot",
    mustReach: ["leaderAppendedEntry", "twoLogsShareAnEntry", "entryCommitted"],
    servers: 3,
    network: "bag",
    faults: noFaults,
    maxInFlight: 3,
    maxCopiesPerMessage: 1,
    config: { maxTerm: 2, maxLogLen: 2, values: ["v1"], maxEntriesPerMessage: 1 },
  },
  "five-servers": {
    description: "5 servers, terms ≤ 5, logs ≤ 3 of two values, ≤ 10 messages in flight, faults 2–3 each: for simulation",
    mustReach: "all",
    servers: 5,
    network: "bag",
    faults: { crashes: 2, partitions: 2, losses: 3, duplications: 3 },
    maxInFlight: 10,
    maxCopiesPerMessage: 2,
    config: { maxTerm: 5, maxLogLen: 3, values: ["v1", "v2"], maxEntriesPerMessage: 2 },
  },
}

const faithful: RaftFlags = {
  commitPreviousTerm: false,
  voteWithoutLogCheck: false,
  volatileVotedFor: false,
  parallelAppend: false,
  countUnflushedSelf: false,
  compaction: false,
  compactUncommitted: false,
  snapshotDiscardsLog: false,
}

const variants: Record<string, VariantInfo<RaftFlags>> = {
  faithful: { description: "Raft as in Figure 2 of the paper", flags: faithful },
  "commit-previous-term": {
    description: "a leader commits an entry of an earlier term once a majority stores it (the trap of Figure 8)",
    flags: { ...faithful, commitPreviousTerm: true },
    breaks: { property: "leaderCompleteness", model: "figure8" },
  },
  "vote-without-log-check": {
    description: "servers grant votes without checking that the candidate's log is at least as up to date",
    flags: { ...faithful, voteWithoutLogCheck: true },
    breaks: { property: "leaderCompleteness", model: "small" },
  },
  "parallel-append": {
    description:
      "Figure 2 plus §10.2.1 of Ongaro's thesis: the leader writes new entries to disk while it replicates them, and counts itself towards a commit once they are flushed",
    flags: { ...faithful, parallelAppend: true },
  },
  "parallel-append-counts-self": {
    description: "parallel append, but the leader counts itself for entries not yet on its disk, so a crash can lose a committed entry",
    flags: { ...faithful, parallelAppend: true, countUnflushedSelf: true },
    breaks: { property: "committedEntriesNeverLost", model: "default" },
  },
  compaction: {
    description: "Figure 2 plus log compaction (§7): servers replace committed entries by a snapshot and send it to followers that lag behind",
    flags: { ...faithful, compaction: true },
  },
  "parallel-append-compaction": {
    description: "parallel-append and compaction together: what real nodes run",
    flags: { ...faithful, parallelAppend: true, compaction: true },
  },
  "compact-uncommitted": {
    description: "log compaction, but a server also compacts entries that are not committed yet, and a follower takes the snapshot as committed",
    flags: { ...faithful, compaction: true, compactUncommitted: true },
    breaks: { property: "committedEntriesNeverLost", model: "small" },
  },
  "snapshot-discards-log": {
    description: "log compaction, but InstallSnapshot discards the receiver's whole log, even the entries after the snapshot that it has acknowledged",
    flags: { ...faithful, compaction: true, snapshotDiscardsLog: true },
    breaks: { property: "committedEntriesNeverLost", model: "compaction" },
  },
  "volatile-voted-for": {
    description: "votedFor is kept in memory only, so a server that restarts can vote twice in one term",
    flags: { ...faithful, volatileVotedFor: true },
    breaks: { property: "electionSafety", model: "restart" },
  },
}

export const raft: Protocol<RaftState, Message, Durable, ClientRequest, ClientReply, RaftGhost, RaftConfig, RaftFlags> = {
  name: "raft",
  description: "Raft consensus: leader election, log replication and commitment (Ongaro & Ousterhout, Figure 2)",
  schemas: { message: Message, durable: Durable, config: RaftConfig, clientRequest: ClientRequest },
  messageKinds,
  messageKind: (m) => m._tag,
  variantMessageKinds: (variant) => (variant.compaction ? messageKinds : messageKinds.filter((k) => k !== "InstallSnapshot")),
  timers: [ELECTION, HEARTBEAT],
  internalActions: (variant) => [...(variant.parallelAppend ? [FLUSH_LOG] : []), ...(variant.compaction ? [COMPACT] : [])],
  recover,
  handle,
  enabledInternal,
  enabledClient: (ctx, s) =>
    s.role === "Leader" && lastLogIndex(s) < ctx.config.maxLogLen
      ? ctx.config.values.map((value) => ({ _tag: "Put" as const, value }))
      : [],
  ghost: { init: initialGhost, update: updateGhost },
  // Raft never breaks ties by server id, so its servers are interchangeable; after a renaming, restore the
  // sorted order of the sets it keeps.
  normalizeRenamed: {
    state: (s) => (s.votesGranted.length < 2 ? s : { ...s, votesGranted: [...s.votesGranted].sort() }),
    ghost: normalizeGhost,
  },
  constraint: (w, config) =>
    w.nodes.every((n) => {
      const term = n.up ? n.state!.currentTerm : (n.disk?.currentTerm ?? 0)
      return term <= config.maxTerm && lastLogIndex(n.up ? n.state! : (n.disk ?? { log: [] })) <= config.maxLogLen
    }),
  invariants,
  transitionProperties,
  witnesses,
  defaultModel: "default",
  models,
  defaultVariant: "faithful",
  variants,
}
