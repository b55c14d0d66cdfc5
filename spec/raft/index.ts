/**
 * Raft as one protocol value: the rules, the properties, the bounded models and the variants.
 */
import type { ModelConfig, Protocol, VariantInfo } from "../kernel/protocol.ts"
import {
  initialGhost,
  invariants,
  logOf,
  transitionProperties,
  updateGhost,
  witnesses,
  type RaftGhost,
} from "./properties.ts"
import { ELECTION, HEARTBEAT, handle, recover, type RaftState } from "./rules.ts"
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

const models: Record<string, ModelConfig<RaftConfig>> = {
  default: {
    description: "3 servers, terms ≤ 2, logs ≤ 2 of one value; one crash, one partition, one loss, one duplicate",
    servers: 3,
    network: "bag",
    faults: { crashes: 1, partitions: 1, losses: 1, duplications: 1 },
    maxCopiesPerMessage: 1,
    config: { maxTerm: 2, maxLogLen: 2, values: ["v1"], maxEntriesPerMessage: 1 },
  },
  elect: {
    description: "3 servers, elections only (no client values), terms ≤ 2, no faults",
    servers: 3,
    network: "bag",
    faults: noFaults,
    maxCopiesPerMessage: 1,
    config: { maxTerm: 2, maxLogLen: 0, values: [], maxEntriesPerMessage: 1 },
  },
  small: {
    description: "3 servers, terms ≤ 2, one entry of one value, no faults",
    servers: 3,
    network: "bag",
    faults: noFaults,
    maxCopiesPerMessage: 1,
    config: { maxTerm: 2, maxLogLen: 1, values: ["v1"], maxEntriesPerMessage: 1 },
  },
  figure8: {
    description: "3 servers, terms ≤ 4, logs ≤ 2: enough for an old-term entry to be committed, then overwritten",
    servers: 3,
    network: "bag",
    faults: noFaults,
    maxCopiesPerMessage: 1,
    config: { maxTerm: 4, maxLogLen: 2, values: ["v1"], maxEntriesPerMessage: 1 },
  },
  restart: {
    description: "3 servers, terms ≤ 2, elections only, two crashes: enough for a restarted server to vote twice",
    servers: 3,
    network: "bag",
    faults: { crashes: 2, partitions: 0, losses: 0, duplications: 0 },
    maxCopiesPerMessage: 1,
    config: { maxTerm: 2, maxLogLen: 0, values: [], maxEntriesPerMessage: 1 },
  },
}

const faithful: RaftFlags = { commitPreviousTerm: false, voteWithoutLogCheck: false, volatileVotedFor: false }

const variants: Record<string, VariantInfo<RaftFlags>> = {
  faithful: { description: "Raft as in Figure 2 of the paper", flags: faithful },
  "commit-previous-term": {
    description: "a leader commits an entry of an earlier term once a majority stores it (the trap of Figure 8)",
    flags: { ...faithful, commitPreviousTerm: true },
    breaks: { property: "stateMachineSafety", model: "figure8" },
  },
  "vote-without-log-check": {
    description: "servers grant votes without checking that the candidate's log is at least as up to date",
    flags: { ...faithful, voteWithoutLogCheck: true },
    breaks: { property: "leaderCompleteness", model: "small" },
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
  timers: [ELECTION, HEARTBEAT],
  internalActions: [],
  recover,
  handle,
  enabledInternal: () => [],
  enabledClient: (ctx, s) =>
    s.role === "Leader" && s.log.length < ctx.config.maxLogLen
      ? ctx.config.values.map((value) => ({ _tag: "Put" as const, value }))
      : [],
  ghost: { init: initialGhost, update: updateGhost },
  constraint: (w, config) =>
    w.nodes.every((n) => {
      const term = n.up ? n.state!.currentTerm : (n.disk?.currentTerm ?? 0)
      return term <= config.maxTerm && logOf(n).length <= config.maxLogLen
    }),
  invariants,
  transitionProperties,
  witnesses,
  defaultModel: "default",
  models,
  defaultVariant: "faithful",
  variants,
}
