/**
 * ZAB's data, declared once with Schema: the quorum packets on the wire (named as ZooKeeper's Leader.* packet
 * types), what a server keeps on disk, client requests and model settings.
 *
 * Connections: a learner talks to its leader over one FIFO channel per direction (the checker's "fifo" network).
 * A connection ends with a DISCONNECT from the leader (refusal, not leading, shutdown), or — when the learner gives
 * up — with the learner's CLOSE answered by the leader's DISCONNECT; DISCONNECT is always its last packet. A server
 * that restarts says HELLO to every peer and ignores a peer until that peer's RESET: whatever the peer sent its
 * previous incarnation comes before it. So a new connection never receives an old one's packets (see README).
 */
import { Schema } from "effect"
import { Notification } from "./election.ts"

const Nat = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const ZxidS = Nat

export const Txn = Schema.Struct({ zxid: ZxidS, value: Schema.String })
export type Txn = typeof Txn.Type

export const SyncModeS = Schema.Literals(["DIFF", "TRUNC", "TRUNC+DIFF", "SNAP"])

/** Learner → leader: FOLLOWERINFO, with the learner's acceptedEpoch (as the zxid (acceptedEpoch, 0)). */
export const FollowerInfo = Schema.TaggedStruct("FOLLOWERINFO", { acceptedEpoch: Nat })
/** Leader → learner: LEADERINFO, the proposed new epoch. */
export const LeaderInfo = Schema.TaggedStruct("LEADERINFO", { epoch: Nat })
/** Learner → leader: ACKEPOCH with its currentEpoch (-1: it had already accepted this epoch) and last zxid. */
export const AckEpoch = Schema.TaggedStruct("ACKEPOCH", {
  epoch: Nat,
  currentEpoch: Schema.Int.check(Schema.isGreaterThanOrEqualTo(-1)),
  lastZxid: ZxidS,
})
/**
 * Leader → learner: the synchronization packets of one decision, delivered as one step (the default variant
 * keeps sync atomic): the op packet (DIFF / TRUNC / SNAP with its zxid), the committed proposals each followed by
 * COMMIT, the data tree for SNAP, then the outstanding proposals startForwarding queues (no COMMIT yet).
 */
export const Sync = Schema.TaggedStruct("SYNC", {
  epoch: Nat,
  mode: SyncModeS,
  zxid: ZxidS,
  proposals: Schema.Array(Txn),
  snapshot: Schema.Array(Txn),
  outstanding: Schema.Array(Txn),
})
export const NewLeader = Schema.TaggedStruct("NEWLEADER", { epoch: Nat, zxid: ZxidS })
/** Learner → leader: ACK of NEWLEADER (zxid (e, 0)) or of a proposal. */
export const Ack = Schema.TaggedStruct("ACK", { epoch: Nat, zxid: ZxidS })
export const UpToDate = Schema.TaggedStruct("UPTODATE", { epoch: Nat })
export const Proposal = Schema.TaggedStruct("PROPOSAL", { epoch: Nat, txn: Txn })
export const Commit = Schema.TaggedStruct("COMMIT", { epoch: Nat, zxid: ZxidS })
/**
 * Not a ZooKeeper packet: the leader closing a learner's connection (LearnerHandler shutting down, for example
 * after refusing a learner more recent than itself). The learner sees its socket close and goes back to LOOKING.
 */
export const Disconnect = Schema.TaggedStruct("DISCONNECT", {})
/** Not a ZooKeeper packet: a learner that gave up on its leader closing the connection. */
export const Close = Schema.TaggedStruct("CLOSE", {})
/** Not a ZooKeeper packet: a restarted server telling a peer that its old connections are gone. */
export const Hello = Schema.TaggedStruct("HELLO", {})
/** Not a ZooKeeper packet: the answer to HELLO; everything the peer sent before it was for the old incarnation. */
export const Reset = Schema.TaggedStruct("RESET", {})

export const Message = Schema.Union([
  Notification,
  FollowerInfo,
  LeaderInfo,
  AckEpoch,
  Sync,
  NewLeader,
  Ack,
  UpToDate,
  Proposal,
  Commit,
  Disconnect,
  Close,
  Hello,
  Reset,
])
export type Message = typeof Message.Type
export type FollowerInfo = typeof FollowerInfo.Type
export type LeaderInfo = typeof LeaderInfo.Type
export type AckEpoch = typeof AckEpoch.Type
export type Sync = typeof Sync.Type
export type NewLeader = typeof NewLeader.Type
export type Ack = typeof Ack.Type
export type Proposal = typeof Proposal.Type
export type Commit = typeof Commit.Type

/** Message kinds for coverage; SYNC is split by mode so coverage counts each sync mode. */
export const messageKinds = [
  "Notification",
  "FOLLOWERINFO",
  "LEADERINFO",
  "ACKEPOCH",
  "SYNC DIFF",
  "SYNC TRUNC",
  "SYNC TRUNC+DIFF",
  "SYNC SNAP",
  "NEWLEADER",
  "ACK",
  "UPTODATE",
  "PROPOSAL",
  "COMMIT",
  "DISCONNECT",
  "CLOSE",
  "HELLO",
  "RESET",
] as const

export const messageKind = (m: Message): string => (m._tag === "SYNC" ? `SYNC ${m.mode}` : m._tag)

/** A snapshot file: the data tree (applied transactions) as of `zxid`. */
export const Snapshot = Schema.Struct({ zxid: ZxidS, tree: Schema.Array(Txn) })
export type Snapshot = typeof Snapshot.Type

/**
 * What a server keeps on disk: the transaction log (in file order), the newest snapshot, and the two epoch files.
 */
export const Durable = Schema.Struct({
  acceptedEpoch: Nat,
  currentEpoch: Nat,
  log: Schema.Array(Txn),
  snapshot: Schema.NullOr(Snapshot),
})
export type Durable = typeof Durable.Type

/** A client write, submitted to the leader of the moment. */
export const ClientRequest = Schema.TaggedStruct("Write", { value: Schema.String })
export type ClientRequest = typeof ClientRequest.Type

export type ClientReply =
  | { readonly _tag: "Proposed"; readonly zxid: number }
  | { readonly _tag: "NotLeader" }

export const ZabConfig = Schema.Struct({
  /** "oracle": any LOOKING server may lead, others follow the first leader they hear of; "fle": FastLeaderElection. */
  election: Schema.Literals(["oracle", "fle"]),
  /** With FLE: no server's logical clock exceeds this (a state constraint). */
  maxRound: Nat,
  /** The client values the model may write. */
  values: Schema.Array(Schema.String),
  /** No more than this many proposals in a behaviour (a state constraint on the ghost). */
  maxTxns: Nat,
  /** No server's acceptedEpoch exceeds this (a state constraint). */
  maxEpoch: Nat.check(Schema.isGreaterThanOrEqualTo(1)),
  /** No more than this many LEADING/FOLLOWING servers give up and go back to LOOKING (a state constraint). */
  maxTimeouts: Nat,
  /**
   * What each server (n1, n2, …) finds on its disk when the model starts; empty disks when absent. A model that
   * starts from non-empty disks starts after some history; test/zab/scenarios.test.ts replays that history from
   * empty disks with the model's own rules, so the starting state is one the protocol reaches.
   */
  disks: Schema.optional(Schema.Array(Durable)),
  /** zookeeper.snapshotSizeFactor >= 0: the leader may sync a learner from its on-disk log. */
  txnLogSync: Schema.Boolean,
  /**
   * FastLeaderElection's notification timeout (lookForLeader's notTimeout): a LOOKING server may send its current
   * notifications again (internal step `resend`). Absent (off) in every model: the checker's network loses nothing,
   * so a resend only repeats a vote. Running nodes need it: a vote answered while the answerer's epoch was moving
   * (a leader established, its follower not yet) can leave a joining server LOOKING for ever without it.
   */
  resend: Schema.optional(Schema.Boolean),
})
export type ZabConfig = typeof ZabConfig.Type

/** The releases modelled step by step: tag release-3.8.0-1 (3.8.0 as released) and master (commit in the README). */
export type ZkRelease = "3.8.0" | "master"

/** The rules a variant may change. The default variant has every flag false. */
export interface ZabFlags {
  /** Sync decision of release 3.3 and earlier: DIFF for any peer zxid inside [min, max], no membership check. */
  readonly diffWithoutMembership: boolean
  /** The leader commits a proposal as soon as it has logged it, without waiting for a quorum of ACKs. */
  readonly commitWithoutQuorum: boolean
  /**
   * ZooKeeper's storage instead of the Zab papers' single history per server: SNAP replaces the data tree but leaves
   * the transaction log as it was (it may go stale); TRUNC is ZKDatabase.truncateLog — FileTxnLog.truncate keeps
   * the first record at or above the zxid, snapshots are never removed, and the data tree reloads from the newest
   * snapshot.
   */
  readonly zkStorage: boolean
  /**
   * A ZooKeeper release's granularity (null: the Zab papers' atomic synchronization). Either release logs through
   * SyncRequestProcessor — a queue written and flushed by an internal step, each ACK (the leader's own included)
   * after the flush — and follows that release's Learner.syncWithLeader, one durable write per step, and its
   * leader side (Leader.lead writes currentEpoch on its own thread; NEWLEADER is queued after startForwarding).
   * See rules.ts, "Release variants", and the README's map to the source.
   */
  readonly zkRelease: ZkRelease | null
}
