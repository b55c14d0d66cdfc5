/**
 * ZAB as one protocol value: the rules, the properties, the bounded models and the variants.
 */
import type { ModelConfig, Protocol, VariantInfo } from "../kernel/protocol.ts"
import {
  acceptedEpochOf,
  roundOf,
  proposedInModel,
  initialGhost,
  invariants,
  transitionProperties,
  updateGhost,
  witnesses,
  type ZabGhost,
} from "./properties.ts"
import {
  enabledClient,
  enabledInternal,
  FINALIZE,
  FLUSH,
  FOLLOW,
  handle,
  LEAD,
  recover,
  SYNC_STEP,
  LEADER_EPOCH,
  LEAKED_FLUSH,
  QUEUE_NEWLEADER,
  TIMEOUT,
  type ZabNode,
} from "./rules.ts"
import { displayZxids, makeZxid } from "./zxid.ts"
import {
  ClientRequest,
  Durable,
  Message,
  messageKind,
  messageKinds,
  ZabConfig,
  type ClientReply,
  type Txn,
  type ZabFlags,
} from "./schema.ts"

const noFaults = { crashes: 0, partitions: 0, losses: 0, duplications: 0 }

const x = (epoch: number, counter: number): Txn => ({ zxid: makeZxid(epoch, counter), value: "x" })

/**
 * The disks after epoch 1, as test/zab/scenarios.test.ts replays it from empty disks: n1 led epoch 1, committed
 * (1,1) with n2 and logged (1,2) alone; n3 accepted epoch 1 but crashed before it was synchronized; then n1 and
 * n2 crashed too. Every server restarts from here.
 */
export const afterEpoch1: ReadonlyArray<Durable> = [
  { acceptedEpoch: 1, currentEpoch: 1, log: [x(1, 1), x(1, 2)], snapshot: { zxid: 0, tree: [] } },
  { acceptedEpoch: 1, currentEpoch: 1, log: [x(1, 1)], snapshot: null },
  { acceptedEpoch: 1, currentEpoch: 0, log: [], snapshot: null },
]

/**
 * The disks after an epoch 1 in which n1 led all three servers and committed (1,1) and (1,2), n3 crashing before it
 * logged (1,2); then n1 and n2 crashed too. Every transaction on a disk is committed (nothing uncommitted can reach
 * a snapshot) and n3 lags one transaction behind, so a new leader brings it up to date with a DIFF that carries a
 * committed proposal. test/zab/scenarios.test.ts replays it from empty disks.
 */
export const lagging: ReadonlyArray<Durable> = [
  { acceptedEpoch: 1, currentEpoch: 1, log: [x(1, 1), x(1, 2)], snapshot: { zxid: 0, tree: [] } },
  { acceptedEpoch: 1, currentEpoch: 1, log: [x(1, 1), x(1, 2)], snapshot: null },
  { acceptedEpoch: 1, currentEpoch: 1, log: [x(1, 1)], snapshot: null },
]

/**
 * The disks after epoch 2, as test/zab/scenarios.test.ts replays it from empty disks. Epoch 1 as above but with
 * every follower synchronized and (1,1) committed everywhere; n1 logged (1,2) alone and crashed. n2 led epoch 2
 * with n3 and committed (2,1); n1 rejoined late and got SNAP (its (1,2) sits on in its log, stale); n2 committed
 * (2,2) with n1 before n3 saw it; then all three crashed. n1's on-disk log is [(1,1), (1,2), (2,2)] while its
 * history is [(1,1), (2,1), (2,2)].
 */
export const afterEpoch2: ReadonlyArray<Durable> = [
  { acceptedEpoch: 2, currentEpoch: 2, log: [x(1, 1), x(1, 2), x(2, 2)], snapshot: { zxid: makeZxid(2, 1), tree: [x(1, 1), x(2, 1)] } },
  { acceptedEpoch: 2, currentEpoch: 2, log: [x(1, 1), x(2, 1), x(2, 2)], snapshot: { zxid: makeZxid(1, 1), tree: [x(1, 1)] } },
  { acceptedEpoch: 2, currentEpoch: 2, log: [x(1, 1), x(2, 1)], snapshot: null },
]

const models: Record<string, ModelConfig<ZabConfig>> = {
  default: {
    description:
      "3 servers restarting after epoch 1 (divergent disks), oracle election, ≤ 2 new writes, epochs ≤ 3, one crash; " +
      "TRUNC+DIFF cannot occur with one history per server (it needs ZooKeeper's stale logs: --variant zk-storage --model stale-log)",
    // Every witness but syncTRUNCDIFF: with one history per server (the Zab papers' view) no log has the gap a
    // TRUNC+DIFF needs; ZooKeeper's stale logs make it (model stale-log, variant zk-storage). See the README.
    mustReach: witnesses.map((w) => w.name).filter((n) => n !== "syncTRUNCDIFF"),
    servers: 3,
    network: "fifo",
    faults: { crashes: 1, partitions: 0, losses: 0, duplications: 0 },
    config: {
      election: "oracle",
      maxRound: 0,
      values: ["x"],
      maxTxns: 2,
      maxEpoch: 3,
      maxTimeouts: 0,
      txnLogSync: true,
      disks: afterEpoch1,
    },
  },
  recovery: {
    description: "3 servers restarting after epoch 1 (divergent disks), oracle election, 1 new write, epochs ≤ 2, no faults",
    mustReach: ["syncDIFF", "syncTRUNC", "syncSNAP", "txnCommitted", "followerServingWithTxn"],
    servers: 3,
    network: "fifo",
    faults: noFaults,
    config: { election: "oracle", maxRound: 0, values: ["x"], maxTxns: 1, maxEpoch: 2, maxTimeouts: 0, txnLogSync: true, disks: afterEpoch1 },
  },
  "stale-log": {
    description:
      "zk-storage only: 3 servers restarting after epoch 2, n1 with a stale on-disk log (reachable with ZooKeeper's storage); no writes, epochs ≤ 3",
    mustReach: ["syncTRUNCDIFF"],
    servers: 3,
    network: "fifo",
    faults: noFaults,
    config: { election: "oracle", maxRound: 0, values: ["x"], maxTxns: 0, maxEpoch: 3, maxTimeouts: 0, txnLogSync: true, disks: afterEpoch2 },
  },
  timeouts: {
    description: "3 servers from empty disks, oracle election, 1 write, epochs ≤ 2, one server giving up (timeout), no crash",
    mustReach: ["txnCommitted", "syncDIFF", "syncSNAP", "leadersInTwoEpochs"],
    servers: 3,
    network: "fifo",
    faults: noFaults,
    config: { election: "oracle", maxRound: 0, values: ["x"], maxTxns: 1, maxEpoch: 2, maxTimeouts: 1, txnLogSync: true },
  },
  fle: {
    description: "3 servers from empty disks, FastLeaderElection (one round), 1 write, epochs ≤ 1, no faults",
    mustReach: ["txnCommitted", "syncDIFF", "followerServingWithTxn"],
    servers: 3,
    network: "fifo",
    faults: noFaults,
    config: { election: "fle", maxRound: 1, values: ["x"], maxTxns: 1, maxEpoch: 1, maxTimeouts: 0, txnLogSync: true },
  },
  lagging: {
    description:
      "3 servers restarting after epoch 1: (1,1), (1,2) committed, n3 lagging without (1,2); no writes, epochs ≤ 3, one crash",
    // No TRUNC: with every transaction committed and one crash, no learner is ahead of its leader unless a leader
    // lacks a transaction it acknowledged.
    mustReach: witnesses.map((w) => w.name).filter((n) => n !== "syncTRUNC" && n !== "syncTRUNCDIFF"),
    servers: 3,
    network: "fifo",
    faults: { crashes: 1, partitions: 0, losses: 0, duplications: 0 },
    config: { election: "oracle", maxRound: 0, values: ["x"], maxTxns: 0, maxEpoch: 3, maxTimeouts: 0, txnLogSync: true, disks: lagging },
  },
  releases: {
    description: "the issue's bounds for the release variants: 3 servers from empty disks, 2 writes, epochs ≤ 3, 4 crashes",
    mustReach: witnesses.map((w) => w.name).filter((n) => n !== "syncTRUNCDIFF"),
    servers: 3,
    network: "fifo",
    faults: { crashes: 4, partitions: 0, losses: 0, duplications: 0 },
    config: { election: "oracle", maxRound: 0, values: ["x"], maxTxns: 2, maxEpoch: 3, maxTimeouts: 0, txnLogSync: true },
  },
  small: {
    description: "3 servers, oracle election, 1 write, epochs ≤ 2, no faults",
    mustReach: ["txnCommitted", "syncDIFF", "txnDelivered"],
    servers: 3,
    network: "fifo",
    faults: noFaults,
    config: { election: "oracle", maxRound: 0, values: ["x"], maxTxns: 1, maxEpoch: 2, maxTimeouts: 0, txnLogSync: true },
  },
}

const faithful: ZabFlags = { diffWithoutMembership: false, commitWithoutQuorum: false, zkStorage: false, zkRelease: null }

const variants: Record<string, VariantInfo<ZabFlags>> = {
  zab: { description: "ZAB as the Zab papers describe it, as ZooKeeper implements it, sync steps atomic", flags: faithful },
  "zk-storage": {
    description:
      "ZooKeeper's storage under atomic sync: FileTxnLog.truncate keeps the first record above the TRUNC zxid, snapshots are never removed",
    flags: { ...faithful, zkStorage: true },
  },
  "zk-3.8": {
    description:
      "release 3.8.0 (tag release-3.8.0-1): ZooKeeper's storage, the asynchronous log, Learner.syncWithLeader step by step (snapshot, currentEpoch, proposals handed to the async log, NEWLEADER ACK before they are durable), leaked SyncRequestProcessors",
    flags: { ...faithful, zkStorage: true, zkRelease: "3.8.0" },
    // A release, not a planted flaw — but one with a known data-loss path (ZOOKEEPER-4643): the checker must find it.
    breaks: { property: "committedLogDurability", model: "lagging" },
  },
  "zk-current": {
    description:
      "ZooKeeper master (see the README for the commit): as zk-3.8 but syncWithLeader logs and flushes the committed proposals, then writes currentEpoch, before the NEWLEADER ACK; outstanding proposals held until UPTODATE; processors shut down",
    flags: { ...faithful, zkStorage: true, zkRelease: "master" },
  },
  "diff-without-membership": {
    description: "the sync decision of 3.3 and earlier: DIFF for any peer zxid inside [min, max], never TRUNC+DIFF",
    flags: { ...faithful, diffWithoutMembership: true },
    breaks: { property: "totalOrder", model: "recovery" },
  },
  "commit-without-quorum": {
    description: "the leader commits a proposal as soon as it has logged it, without a quorum of ACKs",
    flags: { ...faithful, commitWithoutQuorum: true },
    breaks: { property: "leaderLogCompleteness", model: "default" },
  },
}

export const zab: Protocol<ZabNode, Message, Durable, ClientRequest, ClientReply, ZabGhost, ZabConfig, ZabFlags> = {
  name: "zab",
  description: "ZooKeeper Atomic Broadcast: election, discovery, synchronization (DIFF/TRUNC/SNAP), broadcast",
  schemas: { message: Message, durable: Durable, config: ZabConfig, clientRequest: ClientRequest },
  messageKinds,
  messageKind,
  display: displayZxids,
  timers: [TIMEOUT],
  internalActions: () => [LEAD, FOLLOW, FINALIZE, FLUSH, LEAKED_FLUSH, SYNC_STEP, LEADER_EPOCH, QUEUE_NEWLEADER],
  recover,
  handle,
  enabledInternal,
  enabledClient,
  ghost: { init: initialGhost, update: updateGhost },
  constraint: (w, config) =>
    proposedInModel(w.ghost) <= config.maxTxns &&
    w.ghost.timeouts <= config.maxTimeouts &&
    w.nodes.every((n) => acceptedEpochOf(n) <= config.maxEpoch && roundOf(n) <= config.maxRound),
  invariants,
  transitionProperties,
  witnesses,
  defaultModel: "default",
  models,
  defaultVariant: "zab",
  variants,
}
