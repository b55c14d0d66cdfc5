/**
 * ZAB as ZooKeeper implements it (Zab 1.0: QuorumPeer, Leader, LearnerHandler, Learner, Follower): one function per
 * rule, named after the method or packet it follows. The default variant keeps synchronization atomic; the release
 * variants (`zkRelease`) take it step by step, one durable write per step, with the asynchronous log (section
 * "Release variants"). Every function is pure: it returns the next state and the effects as data.
 *
 * Phases of a server: LOOKING (election) → LEADING or FOLLOWING → discovery (FOLLOWERINFO / LEADERINFO /
 * ACKEPOCH) → synchronization (the leader's `decideSync`, NEWLEADER, ACK, UPTODATE) → broadcast (PROPOSAL / ACK /
 * COMMIT). A server leaves LEADING or FOLLOWING when it times out or its connection closes, and goes back to
 * LOOKING after fast-forwarding its data tree over its log, as ZooKeeperServer.shutdown does.
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
import {
  broadcast,
  decide,
  initialVote,
  isVoter,
  nodeOfSid,
  receiveNotification,
  replyOutOfElection,
  sidOf,
  startRound,
  type Decision,
  type Election,
  type ElectionContext,
  type Notification,
  type Vote,
} from "./election.ts"
import type {
  Ack,
  AckEpoch,
  ClientReply,
  ClientRequest,
  Commit,
  Durable,
  FollowerInfo,
  Message,
  NewLeader,
  Proposal,
  Snapshot,
  Sync,
  Txn,
  ZabConfig,
  ZabFlags,
} from "./schema.ts"
import { decideSync, type SyncMode } from "./sync.ts"
import { epochOf, isEpochStart, makeZxid, showZxid, type Zxid } from "./zxid.ts"

// ---------------------------------------------------------------------------------------------------------
// State

/** LearnerHandler's progress with one learner, as the leader sees it. */
export type HandlerStage =
  | "INFO" //        FOLLOWERINFO received; waiting in getEpochToPropose for a quorum
  | "EPOCH" //       LEADERINFO sent; waiting for ACKEPOCH
  | "WAIT_EPOCH" //  ACKEPOCH received; waiting in waitForEpochAck for a quorum
  | "FORWARDING" //  release variants, leader in BROADCAST: sync packets sent and forwarding on; NEWLEADER not queued yet
  | "SYNCED" //      sync packets and NEWLEADER sent; waiting for the NEWLEADER ACK
  | "WAIT_ACKS" //   NEWLEADER ACK received; waiting in waitForNewLeaderAck for a quorum
  | "RUNNING" //     UPTODATE sent; processing ACKs

export interface Handler {
  readonly stage: HandlerStage
  /** From ACKEPOCH; 0 once synced (no longer needed). */
  readonly peerLastZxid: Zxid
  /** startForwarding done: this learner receives new PROPOSALs and COMMITs. */
  readonly forwarding: boolean
}

export interface Outstanding {
  readonly txn: Txn
  /** Who has ACKed (the leader's own ACK once it has logged the proposal), in id order. */
  readonly acks: ReadonlyArray<NodeId>
}

export type LeaderPhase = "DISCOVERY" | "SYNCHRONIZATION" | "BROADCAST"

export interface Leading {
  readonly _tag: "LEADING"
  readonly phase: LeaderPhase
  /** leaderStateSummary: (currentEpoch, lastProcessedZxid) when lead() started. */
  readonly summary: { readonly epoch: number; readonly zxid: Zxid }
  /** getEpochToPropose's running maximum + 1; fixed once a quorum connected. */
  readonly epoch: number
  readonly epochFixed: boolean
  /** connectingFollowers (until the epoch is fixed). */
  readonly connecting: ReadonlyArray<NodeId>
  /** electingFollowers (until electionFinished). */
  readonly electing: ReadonlyArray<NodeId>
  readonly electionFinished: boolean
  /** The NEWLEADER proposal's ACKs (until the quorum formed). */
  readonly newLeaderAcks: ReadonlyArray<NodeId>
  readonly learners: Readonly<Record<string, Handler>>
  /** outstandingProposals, in zxid order. */
  readonly outstanding: ReadonlyArray<Outstanding>
  readonly lastCommitted: Zxid
  readonly lastProposed: Zxid
}

export type FollowerPhase =
  | "DISCOVERY" // FOLLOWERINFO sent; waiting for LEADERINFO
  | "SYNC" //      ACKEPOCH sent; waiting for the sync packets
  | "NEWLEADER" // sync applied; waiting for NEWLEADER
  | "UPTODATE" //  NEWLEADER ACKed; waiting for UPTODATE
  | "BROADCAST"

export interface Following {
  readonly _tag: "FOLLOWING"
  readonly leader: NodeId
  readonly phase: FollowerPhase
  /** The epoch from LEADERINFO (-1 before). */
  readonly epoch: number
  /** TRUNC or SNAP: take a snapshot at NEWLEADER (Learner.syncWithLeader's snapshotNeeded). */
  readonly snapshotNeeded: boolean
  /** Proposals received during synchronization, logged after UPTODATE (packetsNotLogged). */
  readonly unlogged: ReadonlyArray<Txn>
  /** COMMITs received during synchronization (packetsCommitted). */
  readonly committedEarly: ReadonlyArray<Zxid>
  /** Logged proposals waiting for their COMMIT (FollowerZooKeeperServer.pendingTxns). */
  readonly pending: ReadonlyArray<Txn>
  /** Release variants: syncWithLeader's writeToTxnLog (COMMITs are queued rather than applied in memory). */
  readonly writeToTxnLog: boolean
  /** Release variants: QuorumPeer's syncMode, set by the sync packet and cleared (NONE) at NEWLEADER. */
  readonly syncMode: "DIFF" | "TRUNC" | "SNAP" | null
  /** Release variants: NEWLEADER's handling is under way; the next of its steps (see `runNewLeaderStep`). */
  readonly newLeaderStep: NewLeaderStep | null
  /**
   * Release variants: packets from the leader that arrived while the learner thread was busy with NEWLEADER's
   * writes; they wait in the socket and are read, in order, one per step.
   */
  readonly inbox: ReadonlyArray<Message>
}

/**
 * The steps of NEWLEADER's handling in the release variants, each at most one durable write: the snapshot (TRUNC,
 * SNAP), the log records (master: the committed proposals, appended and flushed), currentEpoch, and (3.8.0) the
 * ACK, which leaves after the proposals were handed to the asynchronous log, so a flush may come first.
 */
export type NewLeaderStep = "SNAPSHOT" | "LOG" | "EPOCH" | "ACK"

export interface Looking {
  readonly _tag: "LOOKING"
  /** FastLeaderElection's state (election "fle"); null with the oracle election. */
  readonly election: Election | null
}

/** The process exited (ServiceUtils.requestSystemExit): it takes no further part until it crashes and restarts. */
export interface Exited {
  readonly _tag: "EXITED"
  readonly why: string
}

export type Role = Looking | Leading | Following | Exited

export interface ZabNode {
  // Durable: mirrored here, written with `persist` whenever one of them changes.
  readonly acceptedEpoch: number
  readonly currentEpoch: number
  /** The transaction log, in file order. */
  readonly log: ReadonlyArray<Txn>
  readonly snapshot: Snapshot | null
  // The in-memory database (ZKDatabase).
  /** The data tree: the transactions applied, in order. */
  readonly tree: ReadonlyArray<Txn>
  /** The data tree's lastProcessedZxid: the last applied zxid, or (e, 0) once a leader is established. */
  readonly lastProcessed: Zxid
  /** The committed log: transactions committed (or replayed at load) since the database was last loaded. */
  readonly committedLog: ReadonlyArray<Txn>
  /**
   * Release variants: SyncRequestProcessor's queue — transactions handed to logRequest (or, on a leader, proposed),
   * not yet written and flushed. A crash loses them.
   */
  readonly toFlush: ReadonlyArray<Txn>
  /**
   * Release 3.8.0: queues of SyncRequestProcessors that Learner.shutdown left running (it calls
   * ZooKeeperServer.shutdown(boolean), which LearnerZooKeeperServer does not override — ZOOKEEPER-4712). Each
   * thread still writes its queue to the shared log, whatever this server does meanwhile; its ACKs go to a
   * closed socket. A crash loses them.
   */
  readonly leaked: ReadonlyArray<ReadonlyArray<Txn>>
  readonly role: Role
  /**
   * Leaders this server gave up on and sent CLOSE: until their DISCONNECT (or, after a crash, their hello)
   * arrives, their packets belong to the closed connection and this server does not follow them.
   */
  readonly closing: ReadonlyArray<NodeId>
  /** Peers whose RESET (or HELLO) this server waits for after its restart; their packets until then are stale. */
  readonly resetting: ReadonlyArray<NodeId>
  /** QuorumPeer.currentVote and its round (election "fle"): what this server tells LOOKING servers. */
  readonly currentVote: { readonly vote: Vote; readonly round: number } | null
  /** The last FLE decision (election "fle"), for properties. */
  readonly decision: Decision | null
  /** A packet that should never arrive did (the TLA+ specs' "should not be triggered" flags). Sticky. */
  readonly anomaly: string | null
}

export type Ctx = NodeContext<ZabConfig, ZabFlags>
export type ZabStep = Step<ZabNode, Message, Durable, ClientReply>
type Fx = Effect<Message, ClientReply>

export const TIMEOUT = "timeout"
export const LEAD = "lead"
export const FOLLOW = "follow"
export const FINALIZE = "finalize"
/** FLE's notification timeout: a LOOKING server sends its notifications again (only with `config.resend`). */
export const RESEND = "resend"
/** Release variants: SyncRequestProcessor writes and flushes the head of its queue. */
export const FLUSH = "flush"
/** Release 3.8.0: a leaked SyncRequestProcessor (arg: its index in `leaked`) writes and flushes its queue's head. */
export const LEAKED_FLUSH = "leakedFlush"
/** Release variants: the learner thread's next step — NEWLEADER's next write, or reading a waiting packet. */
export const SYNC_STEP = "syncStep"
/** Release variants: Leader.lead, once the epoch is acknowledged, writes currentEpoch and ACKs NEWLEADER itself. */
export const LEADER_EPOCH = "leaderEpoch"
/** Release variants: a LearnerHandler queues NEWLEADER after its sync packets (arg: the learner). */
export const QUEUE_NEWLEADER = "queueNewLeader"

// ---------------------------------------------------------------------------------------------------------
// Helpers

const electionContext = (ctx: Ctx): ElectionContext => ({
  self: ctx.self,
  nodes: ctx.nodes,
  voters: ctx.nodes,
  withoutEpoch: false,
})

const insertSorted = (ids: ReadonlyArray<NodeId>, id: NodeId): ReadonlyArray<NodeId> =>
  ids.includes(id) ? ids : [...ids, id].sort()

const isQuorum = (ctx: Ctx, ids: ReadonlyArray<NodeId>): boolean => ids.length >= ctx.quorum

export const durableOf = (s: ZabNode): Durable => ({
  acceptedEpoch: s.acceptedEpoch,
  currentEpoch: s.currentEpoch,
  log: s.log,
  snapshot: s.snapshot,
})

const sameDurable = (a: ZabNode, b: ZabNode): boolean =>
  a.acceptedEpoch === b.acceptedEpoch &&
  a.currentEpoch === b.currentEpoch &&
  a.log === b.log &&
  a.snapshot === b.snapshot

/** A step that persists exactly when durable state changed (persist-before-send is the Step's rule). */
const step = (before: ZabNode, after: ZabNode, effects: ReadonlyArray<Fx>): ZabStep =>
  sameDurable(before, after) ? { state: after, effects } : { state: after, persist: durableOf(after), effects }

const lastZxidOf = (txns: ReadonlyArray<Txn>): Zxid | undefined => txns[txns.length - 1]?.zxid

/**
 * How applying a transaction feeds the committed log (ZKDatabase.addCommittedProposal):
 * - "skip": what is not above maxCommittedLog is skipped (the default variant; master does this too);
 * - "append": appended whatever its zxid (3.8.0);
 * - "checked": as "skip", and a gap inside an epoch is an error (master since ZOOKEEPER-4925 throws
 *   IllegalStateException; here it is flagged as an anomaly);
 * - "none": not added at all (3.8.0's ZooKeeperServer.processTxn(hdr, txn), which syncWithLeader uses).
 */
export type CommittedLogMode = "skip" | "append" | "checked" | "none"

/** Applies `txns` to the data tree in order (DataTree.processTxn), feeding the committed log as `mode` says. */
const applyTxns = (s: ZabNode, txns: ReadonlyArray<Txn>, mode: CommittedLogMode = "skip"): ZabNode => {
  if (txns.length === 0) return s
  let committedLog = s.committedLog
  let flagged: string | null = null
  for (const t of txns) {
    if (mode === "none") break
    const max = lastZxidOf(committedLog)
    if (mode !== "append" && max !== undefined && t.zxid <= max) continue
    if (mode === "checked" && max !== undefined && t.zxid !== max + 1 && epochOf(t.zxid) <= epochOf(max)) {
      flagged ??= `committed log: ${showZxid(t.zxid)} is not the next after ${showZxid(max)} (addCommittedProposal throws)`
    }
    committedLog = [...committedLog, t]
  }
  const next: ZabNode = { ...s, tree: [...s.tree, ...txns], lastProcessed: lastZxidOf(txns)!, committedLog }
  return flagged === null ? next : anomaly(next, flagged)
}

/** The committed-log mode of a commit through the request processors (FinalRequestProcessor → processTxn). */
const commitMode = (ctx: Ctx): CommittedLogMode =>
  ctx.variant.zkRelease === "3.8.0" ? "append" : ctx.variant.zkRelease === "master" ? "checked" : "skip"

/** The log's transactions above `zxid`, in file order (FileTxnLog.read(zxid + 1)). */
const logAfter = (log: ReadonlyArray<Txn>, zxid: Zxid): ReadonlyArray<Txn> => log.filter((t) => t.zxid > zxid)

/**
 * FileTxnLog.truncate(zxid): an iterator fast-forwards to the first record whose zxid is at least `zxid` and the
 * file is cut right after that record. When `zxid` is in the log this keeps exactly the records up to it; when it
 * is not, the first record above it survives too. With no record at or above `zxid` the iterator runs off the end
 * and truncation fails (undefined). Snapshots are not touched.
 */
export const truncateLog = (log: ReadonlyArray<Txn>, zxid: Zxid): ReadonlyArray<Txn> | undefined => {
  const at = log.findIndex((t) => t.zxid >= zxid)
  if (at < 0) return undefined
  return at === log.length - 1 ? log : log.slice(0, at + 1)
}

/** ZKDatabase.loadDataBase: the newest snapshot, then the log replayed over it; the committed log is the replay. */
export const loadDatabase = (d: Durable): { tree: ReadonlyArray<Txn>; lastProcessed: Zxid; committedLog: ReadonlyArray<Txn> } => {
  const tree = d.snapshot?.tree ?? []
  const base = d.snapshot?.zxid ?? 0
  const replay = logAfter(d.log, base)
  return {
    tree: replay.length === 0 ? tree : [...tree, ...replay],
    lastProcessed: lastZxidOf(replay) ?? base,
    committedLog: replay,
  }
}

// ---------------------------------------------------------------------------------------------------------
// Boot and LOOKING

const looking = (ctx: Ctx, s: ZabNode): { state: ZabNode; effects: ReadonlyArray<Fx> } => {
  const ectx = electionContext(ctx)
  if (ctx.config.election === "fle") {
    const clock = s.role._tag === "LOOKING" ? (s.role.election?.logicalclock ?? 0) : (s.currentVote?.round ?? 0)
    const { election, effects } = startRound(ectx, clock, { epoch: s.currentEpoch, zxid: s.lastProcessed })
    return { state: { ...s, role: { _tag: "LOOKING", election } }, effects }
  }
  // Oracle election: the server waits for the oracle to make it lead or follow (internal steps).
  return { state: { ...s, role: { _tag: "LOOKING", election: null } }, effects: [] }
}

/** Boot (QuorumPeer.start: loadDataBase, then LOOKING). */
export const recover = (ctx: Ctx, disk: Durable | undefined): ZabStep => {
  const empty: Durable = { acceptedEpoch: 0, currentEpoch: 0, log: [], snapshot: null }
  const d: Durable = disk ?? ctx.config.disks?.[ctx.nodes.indexOf(ctx.self)] ?? empty
  const db = loadDatabase(d)
  const base: ZabNode = {
    acceptedEpoch: d.acceptedEpoch,
    currentEpoch: d.currentEpoch,
    log: d.log,
    snapshot: d.snapshot,
    tree: db.tree,
    lastProcessed: db.lastProcessed,
    committedLog: db.committedLog,
    toFlush: [],
    leaked: [],
    role: { _tag: "LOOKING", election: null },
    closing: [],
    resetting: disk === undefined ? [] : ctx.peers,
    currentVote:
      ctx.config.election === "fle"
        ? { vote: initialVote(electionContext(ctx), { epoch: d.currentEpoch, zxid: db.lastProcessed }), round: 0 }
        : null,
    decision: null,
    anomaly: null,
  }
  const { state, effects } = looking(ctx, base)
  if (disk === undefined) return { state, persist: d, effects }
  // A restart: the connections of the previous incarnation are gone. Say so to every peer (as a TCP reset would).
  return { state, effects: [...ctx.peers.map((p) => send<Message>(p, { _tag: "HELLO" })), ...effects] }
}

/**
 * A peer restarted: every connection with its previous incarnation is dead. A follower of it goes back to LOOKING,
 * a leader drops its handler; either way the answer is RESET, after which this server's packets are for the new
 * incarnation.
 */
export const onHello = (ctx: Ctx, s0: ZabNode, from: NodeId): ZabStep => {
  let s: ZabNode = {
    ...s0,
    closing: s0.closing.filter((x) => x !== from),
    resetting: s0.resetting.filter((x) => x !== from),
  }
  const reset = send<Message>(from, { _tag: "RESET" })
  if (s.role._tag === "FOLLOWING" && s.role.leader === from) return backToLooking(ctx, s, [reset])
  if (s.role._tag === "LEADING" && s.role.learners[from] !== undefined) {
    const { [from]: _gone, ...learners } = s.role.learners
    s = { ...s, role: { ...s.role, learners } }
  }
  return step(s0, s, [reset])
}

/**
 * Leaving LEADING or FOLLOWING without a crash (timeout, closed connection, refusal): the server shuts down
 * (ZooKeeperServer.shutdown fast-forwards the data tree over the log, so logged-but-uncommitted proposals are
 * applied) and runs the election again. A leader closes its learners' connections.
 */
export const backToLooking = (ctx: Ctx, s: ZabNode, why: ReadonlyArray<Fx> = []): ZabStep => {
  const closes: Fx[] = []
  if (s.role._tag === "LEADING") {
    for (const id of Object.keys(s.role.learners).sort()) closes.push(send(id as NodeId, { _tag: "DISCONNECT" }))
  }
  const down = ctx.variant.zkRelease === null ? applyTxns(s, logAfter(s.log, s.lastProcessed)) : shutdownRelease(ctx, s)
  const { state, effects } = looking(ctx, down)
  return step(s, state, [...why, cancelTimer(TIMEOUT), ...closes, ...effects])
}

/**
 * The release variants' shutdown of a leader or learner (Leader.shutdown, Learner.shutdown → ZooKeeperServer
 * .shutdown(fullyShutDown)). Only a server that was RUNNING (an established leader, a follower after UPTODATE) shuts
 * its processors down — SyncRequestProcessor.shutdown writes its queue — and fast-forwards its data tree over the
 * log on disk; a server still synchronizing keeps its in-memory database as it is. A learner that leaves during a
 * SNAP sync (syncMode still SNAP) shuts down fully: the database is cleared and reloaded from disk when next used.
 * In 3.8.0 a learner's SyncRequestProcessor is never shut down: its queue leaks (see `leaked`).
 */
const shutdownRelease = (ctx: Ctx, s: ZabNode): ZabNode => {
  const r = s.role
  const running = (r._tag === "LEADING" || r._tag === "FOLLOWING") && r.phase === "BROADCAST"
  let next = s
  if (r._tag === "FOLLOWING" && ctx.variant.zkRelease === "3.8.0") {
    if (s.toFlush.length > 0) next = { ...next, toFlush: [], leaked: [...s.leaked, s.toFlush] }
  } else if (running && s.toFlush.length > 0) {
    next = { ...next, log: [...s.log, ...s.toFlush], toFlush: [] }
  }
  if (running) next = applyTxns(next, logAfter(next.log, next.lastProcessed), commitMode(ctx))
  if (r._tag === "FOLLOWING" && r.syncMode === "SNAP") next = { ...next, ...loadDatabase(durableOf(next)) }
  return next
}

// ---------------------------------------------------------------------------------------------------------
// Election outcomes

/**
 * Leader.lead(): zk.loadData() takes a clean snapshot of the data tree (ZooKeeperServer.loadData), then discovery
 * starts; getEpochToPropose(self, acceptedEpoch) is the first call.
 */
export const startLeading = (ctx: Ctx, s: ZabNode, announce: ReadonlyArray<Fx>): ZabStep => {
  const role: Leading = {
    _tag: "LEADING",
    phase: "DISCOVERY",
    summary: { epoch: s.currentEpoch, zxid: s.lastProcessed },
    epoch: s.acceptedEpoch + 1,
    epochFixed: false,
    connecting: [ctx.self],
    electing: [],
    electionFinished: false,
    newLeaderAcks: [],
    learners: {},
    outstanding: [],
    lastCommitted: 0,
    lastProposed: 0,
  }
  const snapshot =
    s.snapshot !== null && s.snapshot.zxid === s.lastProcessed && s.snapshot.tree.length === s.tree.length
      ? s.snapshot
      : { zxid: s.lastProcessed, tree: s.tree }
  return step(s, { ...s, snapshot, role }, [setTimer(TIMEOUT), ...announce])
}

/** Learner.registerWithLeader: connect and send FOLLOWERINFO with the acceptedEpoch. */
export const startFollowing = (s: ZabNode, leader: NodeId): ZabStep => {
  const role: Following = {
    _tag: "FOLLOWING",
    leader,
    phase: "DISCOVERY",
    epoch: -1,
    snapshotNeeded: false,
    unlogged: [],
    committedEarly: [],
    pending: [],
    writeToTxnLog: false,
    syncMode: null,
    newLeaderStep: null,
    inbox: [],
  }
  return step(s, { ...s, role }, [setTimer(TIMEOUT), send(leader, { _tag: "FOLLOWERINFO", acceptedEpoch: s.acceptedEpoch })])
}

const applyDecision = (ctx: Ctx, s: ZabNode, d: Decision, effects: ReadonlyArray<Fx>): ZabStep => {
  const withVote: ZabNode = { ...s, currentVote: { vote: d.vote, round: d.round }, decision: d }
  if (d.state === "LEADING") return startLeading(ctx, withVote, effects)
  const leader = nodeOfSid(ctx, d.vote.leader)
  if (leader === undefined) throw new Error(`FLE decided for unknown server ${d.vote.leader}`)
  const r = startFollowing(withVote, leader)
  return { ...r, effects: [...effects, ...r.effects] }
}

/** A notification arrives (FLE, or the oracle election's "I am leading" / "I am looking"). */
export const handleNotification = (ctx: Ctx, s: ZabNode, from: NodeId, n: Notification): ZabStep => {
  const ectx = electionContext(ctx)
  if (ctx.config.election === "fle") {
    if (s.role._tag === "EXITED") return { state: s, effects: [] }
    if (s.role._tag !== "LOOKING" || s.role.election === null) {
      const cv = s.currentVote ?? { vote: initialVote(ectx, { epoch: s.currentEpoch, zxid: s.lastProcessed }), round: 0 }
      const state = s.role._tag === "LOOKING" ? "LOOKING" : s.role._tag
      const me = { state, currentVote: cv.vote, currentRound: cv.round, logicalclock: cv.round } as const
      return { state: s, effects: replyOutOfElection(ectx, me, from, n) }
    }
    const r = receiveNotification(ectx, s.role.election, { epoch: s.currentEpoch, zxid: s.lastProcessed }, from, n)
    const next: ZabNode = { ...s, role: { _tag: "LOOKING", election: r.election } }
    if (r.decision !== undefined) return applyDecision(ctx, next, r.decision, r.effects)
    return { state: next, effects: r.effects }
  }
  // The oracle election sends no notifications.
  return { state: s, effects: [] }
}

/**
 * The oracle election (as the Zab papers leave election open, and as the published protocol-level TLA+ spec
 * models it): a LOOKING server may at any moment become a prospective leader, or follow any other server.
 * Discovery is what makes this safe: a leader needs a quorum to accept its epoch and refuses a follower more
 * recent than itself; a follower of a server that is not leading is turned away.
 */
export const lead = (ctx: Ctx, s: ZabNode): ZabStep => (s.role._tag === "LOOKING" ? startLeading(ctx, s, []) : { state: s, effects: [] })
export const follow = (s: ZabNode, leader: NodeId): ZabStep =>
  s.role._tag === "LOOKING" ? startFollowing(s, leader) : { state: s, effects: [] }

// ---------------------------------------------------------------------------------------------------------
// Leader: discovery

const withLearner = (l: Leading, id: NodeId, h: Handler): Leading => ({ ...l, learners: { ...l.learners, [id]: h } })

/** LearnerHandler.run: FOLLOWERINFO, then getEpochToPropose(sid, lastAcceptedEpoch). */
export const leaderOnFollowerInfo = (ctx: Ctx, s: ZabNode, from: NodeId, m: FollowerInfo): ZabStep => {
  if (s.role._tag !== "LEADING") {
    // Nobody accepts the connection: the learner gives up on this leader.
    return { state: s, effects: [send(from, { _tag: "DISCONNECT" })] }
  }
  let l: Leading = withLearner(s.role, from, { stage: "INFO", peerLastZxid: 0, forwarding: false })
  if (l.epochFixed) {
    return step(s, { ...s, role: withLearner(l, from, { ...l.learners[from]!, stage: "EPOCH" }) }, [
      send(from, { _tag: "LEADERINFO", epoch: l.epoch }),
    ])
  }
  const epoch = m.acceptedEpoch >= l.epoch ? m.acceptedEpoch + 1 : l.epoch
  const connecting = insertSorted(l.connecting, from)
  l = { ...l, epoch, connecting }
  if (!isQuorum(ctx, connecting)) return step(s, { ...s, role: l }, [])
  // A quorum connected: the epoch is fixed and persisted as acceptedEpoch; every waiting handler sends LEADERINFO.
  const effects: Fx[] = []
  const learners: Record<string, Handler> = {}
  for (const [id, h] of Object.entries(l.learners)) {
    if (h.stage === "INFO") {
      learners[id] = { ...h, stage: "EPOCH" }
      effects.push(send(id as NodeId, { _tag: "LEADERINFO", epoch: l.epoch }))
    } else learners[id] = h
  }
  // lead() continues: waitForEpochAck(self, leaderStateSummary).
  l = { ...l, epochFixed: true, connecting: [], learners, electing: [ctx.self] }
  return step(s, { ...s, acceptedEpoch: l.epoch, role: l }, effects)
}

/** StateSummary.isMoreRecentThan. */
const moreRecent = (a: { epoch: number; zxid: Zxid }, b: { epoch: number; zxid: Zxid }): boolean =>
  a.epoch > b.epoch || (a.epoch === b.epoch && a.zxid > b.zxid)

/** LearnerHandler: ACKEPOCH, then waitForEpochAck; once a quorum acked, synchronize. */
export const leaderOnAckEpoch = (ctx: Ctx, s: ZabNode, from: NodeId, m: AckEpoch): ZabStep => {
  if (s.role._tag !== "LEADING") return { state: s, effects: [] }
  const h = s.role.learners[from]
  if (h === undefined || h.stage !== "EPOCH" || m.epoch !== s.role.epoch) return { state: s, effects: [] }
  let l: Leading = withLearner(s.role, from, { ...h, stage: "WAIT_EPOCH", peerLastZxid: m.lastZxid })
  if (l.electionFinished) return synchronize(ctx, s, l, [from])
  if (m.currentEpoch !== -1) {
    if (moreRecent({ epoch: m.currentEpoch, zxid: m.lastZxid }, l.summary)) {
      // "Follower is ahead of the leader": this handler dies and its connection closes.
      const { [from]: _gone, ...rest } = l.learners
      return step(s, { ...s, role: { ...l, learners: rest } }, [send(from, { _tag: "DISCONNECT" })])
    }
    l = { ...l, electing: insertSorted(l.electing, from) }
  }
  if (!isQuorum(ctx, l.electing) || !l.electing.includes(ctx.self)) return step(s, { ...s, role: l }, [])
  const waiting = Object.keys(l.learners)
    .filter((id) => l.learners[id]!.stage === "WAIT_EPOCH")
    .sort() as NodeId[]
  if (ctx.variant.zkRelease !== null) {
    // electionFinished releases the handlers, which synchronize their learners at once; lead() writes currentEpoch
    // and ACKs NEWLEADER itself on its own thread, a step of its own (LEADER_EPOCH).
    l = { ...l, electionFinished: true, electing: [], phase: "SYNCHRONIZATION", newLeaderAcks: [] }
    return synchronize(ctx, s, l, waiting)
  }
  // electionFinished: lead() sets currentEpoch and starts waiting for NEWLEADER ACKs (its own first).
  l = { ...l, electionFinished: true, electing: [], phase: "SYNCHRONIZATION", newLeaderAcks: [ctx.self] }
  return synchronize(ctx, { ...s, currentEpoch: l.epoch }, l, waiting, s)
}

/** Release variants: Leader.lead after waitForEpochAck — setCurrentEpoch, then waitForNewLeaderAck(self). */
export const leaderEpoch = (ctx: Ctx, s: ZabNode): ZabStep => {
  if (s.role._tag !== "LEADING" || s.role.phase !== "SYNCHRONIZATION" || s.role.newLeaderAcks.includes(ctx.self)) {
    return { state: s, effects: [] }
  }
  const l: Leading = { ...s.role, newLeaderAcks: insertSorted(s.role.newLeaderAcks, ctx.self) }
  const written: ZabNode = { ...s, currentEpoch: l.epoch, role: l }
  if (!isQuorum(ctx, l.newLeaderAcks)) return step(s, written, [])
  const r = startZkServer(written, l)
  return step(s, r.state, r.effects)
}

/**
 * LearnerHandler after waitForEpochAck: syncFollower (decideSync), startForwarding (the outstanding proposals
 * above the sync point), then NEWLEADER. One atomic step per learner.
 */
const synchronize = (ctx: Ctx, s: ZabNode, l0: Leading, ids: ReadonlyArray<NodeId>, before: ZabNode = s): ZabStep => {
  let l = l0
  const effects: Fx[] = []
  for (const id of ids) {
    const h = l.learners[id]!
    const d = decideSync({
      peerLastZxid: h.peerLastZxid,
      lastProcessedZxid: s.lastProcessed,
      committedLog: s.committedLog,
      txnLog: s.log,
      txnLogSync: ctx.config.txnLogSync,
      diffWithoutMembership: ctx.variant.diffWithoutMembership,
    })
    const outstanding = l.lastProposed > d.forwardFrom ? l.outstanding.filter((o) => o.txn.zxid > d.forwardFrom).map((o) => o.txn) : []
    const sync: Sync = {
      _tag: "SYNC",
      epoch: l.epoch,
      mode: d.mode,
      zxid: d.opZxid,
      proposals: d.proposals,
      snapshot: d.mode === "SNAP" ? s.tree : [],
      outstanding,
    }
    if (ctx.variant.zkRelease !== null && l.phase === "BROADCAST") {
      // NEWLEADER is queued after startForwarding, so PROPOSALs and COMMITs forwarded meanwhile come before it.
      // (Before the leader is established nothing is forwarded, and sending both at once loses no behaviour.)
      effects.push(send(id, sync))
      l = withLearner(l, id, { stage: "FORWARDING", peerLastZxid: 0, forwarding: true })
      continue
    }
    effects.push(send(id, sync), send(id, { _tag: "NEWLEADER", epoch: l.epoch, zxid: makeZxid(l.epoch, 0) }))
    l = withLearner(l, id, { stage: "SYNCED", peerLastZxid: 0, forwarding: true })
  }
  return step(before, { ...s, role: l }, effects)
}

/** Release variants: LearnerHandler queues NEWLEADER for a learner it synchronized while the leader serves. */
export const queueNewLeader = (s: ZabNode, id: NodeId): ZabStep => {
  if (s.role._tag !== "LEADING" || s.role.learners[id]?.stage !== "FORWARDING") return { state: s, effects: [] }
  const l = s.role
  return step(s, { ...s, role: withLearner(l, id, { ...l.learners[id]!, stage: "SYNCED" }) }, [
    send(id, { _tag: "NEWLEADER", epoch: l.epoch, zxid: makeZxid(l.epoch, 0) }),
  ])
}

/** A learner closed its connection: its handler dies; the leader's DISCONNECT is the connection's last packet. */
export const leaderOnClose = (s: ZabNode, from: NodeId): ZabStep => {
  if (s.role._tag !== "LEADING" || s.role.learners[from] === undefined) return { state: s, effects: [] }
  const { [from]: _gone, ...learners } = s.role.learners
  return step(s, { ...s, role: { ...s.role, learners } }, [send(from, { _tag: "DISCONNECT" })])
}

// ---------------------------------------------------------------------------------------------------------
// Leader: NEWLEADER quorum and broadcast

/** LearnerHandler reads an ACK: the NEWLEADER ACK first (waitForNewLeaderAck), then proposal ACKs (processAck). */
export const leaderOnAck = (ctx: Ctx, s: ZabNode, from: NodeId, m: Ack): ZabStep => {
  if (s.role._tag !== "LEADING") return { state: s, effects: [] }
  const l = s.role
  const h = l.learners[from]
  if (h === undefined || m.epoch !== l.epoch) return { state: s, effects: [] }
  if (h.stage === "SYNCED") {
    // LearnerHandler reads one packet after NEWLEADER and, if it is an ACK, hands it to waitForNewLeaderAck: once
    // the quorum formed that returns at once; an ACK of another zxid (a proposal ACK overtaking the NEWLEADER ACK)
    // is logged "from a different epoch" and not counted, and the handler still goes on to wait for the leader
    // to start (ZOOKEEPER-4685). The NEWLEADER ACK that follows reaches processAck, which ignores it.
    if (l.phase === "BROADCAST") {
      return step(s, { ...s, role: withLearner(l, from, { ...h, stage: "RUNNING" }) }, [
        send(from, { _tag: "UPTODATE", epoch: l.epoch }),
      ])
    }
    const counted = m.zxid === makeZxid(l.epoch, 0)
    const acks = counted ? insertSorted(l.newLeaderAcks, from) : l.newLeaderAcks
    const waiting = withLearner({ ...l, newLeaderAcks: acks }, from, { ...h, stage: "WAIT_ACKS" })
    // lead() passes waitForNewLeaderAck only after its own ACK (the default variant counts it from the start).
    if (!isQuorum(ctx, acks) || !acks.includes(ctx.self)) return step(s, { ...s, role: waiting }, [])
    return startZkServer(s, waiting)
  }
  // Until UPTODATE the handler does not read: ACKs wait in the socket. Dropping them loses nothing: a handler waits
  // only while the leader is not yet established, when nothing is outstanding and processAck would ignore them.
  if (h.stage !== "RUNNING") return { state: s, effects: [] }
  return processAck(ctx, s, l, from, m.zxid)
}

/**
 * Leader.startZkServer once a quorum ACKed NEWLEADER: the leader is established; lastCommitted and the data
 * tree's lastProcessedZxid become (e, 0); every learner waiting gets UPTODATE.
 */
const startZkServer = (s: ZabNode, l: Leading): ZabStep => {
  const start = makeZxid(l.epoch, 0)
  const effects: Fx[] = []
  const learners: Record<string, Handler> = {}
  for (const id of Object.keys(l.learners).sort()) {
    const h = l.learners[id]!
    if (h.stage === "WAIT_ACKS") {
      learners[id] = { ...h, stage: "RUNNING" }
      effects.push(send(id as NodeId, { _tag: "UPTODATE", epoch: l.epoch }))
    } else learners[id] = h
  }
  const role: Leading = { ...l, phase: "BROADCAST", newLeaderAcks: [], learners, lastCommitted: start, lastProposed: start }
  const currentVote = s.currentVote === null ? null : { ...s.currentVote, vote: { ...s.currentVote.vote, epoch: l.epoch } }
  return step(s, { ...s, role, lastProcessed: start, currentVote }, effects)
}

const forwardingLearners = (l: Leading): NodeId[] =>
  Object.keys(l.learners)
    .filter((id) => l.learners[id]!.forwarding)
    .sort() as NodeId[]

/** Leader.processAck and tryToCommit: commit in zxid order once a quorum (the leader included) has ACKed. */
const processAck = (ctx: Ctx, s: ZabNode, l: Leading, from: NodeId, zxid: Zxid): ZabStep => {
  if (isEpochStart(zxid)) return { state: s, effects: [] } // the ACK after UPTODATE: ignored
  // An ACK for a zxid at or below lastCommitted is old news (a learner ACKs every transaction it logs, those of
  // a DIFF included); one above lastProposed is for a proposal this leader never made.
  if (zxid > l.lastProposed) {
    return { state: { ...s, anomaly: s.anomaly ?? `${ctx.self} received ACK ${showZxid(zxid)} from ${from}, which it never proposed` }, effects: [] }
  }
  if (l.outstanding.length === 0 || l.lastCommitted >= zxid) return { state: s, effects: [] }
  const at = l.outstanding.findIndex((o) => o.txn.zxid === zxid)
  if (at < 0) return { state: s, effects: [] }
  const o = l.outstanding[at]!
  const acked: Outstanding = { ...o, acks: insertSorted(o.acks, from) }
  const outstanding = l.outstanding.slice()
  outstanding[at] = acked
  return tryToCommit(ctx, s, { ...l, outstanding }, zxid)
}

/** Leader.tryToCommit: not before its predecessor, and only with a quorum (unless the variant says otherwise). */
const tryToCommit = (ctx: Ctx, s: ZabNode, l: Leading, zxid: Zxid): ZabStep => {
  const at = l.outstanding.findIndex((o) => o.txn.zxid === zxid)
  const o = l.outstanding[at]!
  const predecessorOutstanding = l.outstanding.some((p) => p.txn.zxid === zxid - 1)
  if (predecessorOutstanding || (!ctx.variant.commitWithoutQuorum && !isQuorum(ctx, o.acks))) {
    return step(s, { ...s, role: l }, [])
  }
  const role: Leading = { ...l, outstanding: l.outstanding.filter((_, k) => k !== at), lastCommitted: zxid }
  // The commit processor applies it to the leader's data tree.
  const commits = forwardingLearners(l).map((id) =>
    send<Message>(id, { _tag: "COMMIT", epoch: l.epoch, zxid }),
  )
  return step(s, applyTxns({ ...s, role }, [o.txn], commitMode(ctx)), commits)
}

/**
 * Leader.propose for a client write: the next zxid of the epoch, sent to every forwarding learner; the leader
 * logs it and ACKs it itself (SyncRequestProcessor, AckRequestProcessor) in the same step.
 */
export const leaderOnWrite = (ctx: Ctx, s: ZabNode, request: ClientRequest): ZabStep => {
  if (s.role._tag !== "LEADING" || s.role.phase !== "BROADCAST") return { state: s, effects: [reply({ _tag: "NotLeader" })] }
  const l = s.role
  const zxid = l.lastProposed + 1
  const txn: Txn = { zxid, value: request.value }
  if (ctx.variant.zkRelease !== null) {
    // The leader's own copy goes through its SyncRequestProcessor; it ACKs itself after the flush.
    const role: Leading = { ...l, lastProposed: zxid, outstanding: [...l.outstanding, { txn, acks: [] }] }
    return step(s, { ...s, role, toFlush: [...s.toFlush, txn] }, [
      reply<ClientReply>({ _tag: "Proposed", zxid }),
      ...forwardingLearners(l).map((id) => send<Message>(id, { _tag: "PROPOSAL", epoch: l.epoch, txn })),
    ])
  }
  const role: Leading = { ...l, lastProposed: zxid, outstanding: [...l.outstanding, { txn, acks: [ctx.self] }] }
  const logged: ZabNode = { ...s, log: [...s.log, txn], role }
  const sent: Fx[] = [
    reply<ClientReply>({ _tag: "Proposed", zxid }),
    ...forwardingLearners(l).map((id) => send<Message>(id, { _tag: "PROPOSAL", epoch: l.epoch, txn })),
  ]
  const r = tryToCommit(ctx, logged, role, zxid)
  return step(s, r.state, [...sent, ...r.effects])
}

// ---------------------------------------------------------------------------------------------------------
// Follower

const fromLeader = (s: ZabNode, from: NodeId): s is ZabNode & { role: Following } =>
  s.role._tag === "FOLLOWING" && s.role.leader === from

const anomaly = (s: ZabNode, what: string): ZabNode => (s.anomaly === null ? { ...s, anomaly: what } : s)

/** Learner.registerWithLeader, on LEADERINFO: accept a newer epoch durably and answer ACKEPOCH. */
export const followerOnLeaderInfo = (ctx: Ctx, s: ZabNode & { role: Following }, epoch: number): ZabStep => {
  const f = s.role
  if (f.phase !== "DISCOVERY") return { state: anomaly(s, `${f.leader} sent LEADERINFO in phase ${f.phase}`), effects: [] }
  if (epoch < s.acceptedEpoch) return backToLooking(ctx, s) // "Leaders epoch … is less than accepted epoch"
  const ack: AckEpoch = {
    _tag: "ACKEPOCH",
    epoch,
    currentEpoch: epoch > s.acceptedEpoch ? s.currentEpoch : -1,
    lastZxid: s.lastProcessed,
  }
  const next: ZabNode = { ...s, acceptedEpoch: epoch, role: { ...f, phase: "SYNC", epoch } }
  return step(s, next, [send(f.leader, ack)])
}

/** Learner.syncWithLeader, the sync packets (atomic): DIFF, TRUNC, TRUNC+DIFF or SNAP, then the proposals. */
export const followerOnSync = (ctx: Ctx, s: ZabNode & { role: Following }, m: Sync): ZabStep => {
  const f = s.role
  if (f.phase !== "SYNC") return { state: anomaly(s, `${f.leader} sent sync packets in phase ${f.phase}`), effects: [] }
  let next: ZabNode = s
  switch (m.mode) {
    case "DIFF":
      break
    case "TRUNC":
    case "TRUNC+DIFF": {
      if (ctx.variant.zkStorage) {
        // ZKDatabase.truncateLog: FileTxnLog.truncate, then the database reloads from the newest snapshot (never
        // removed) and the truncated log; then lastProcessedZxid is set to the TRUNC zxid.
        const log = truncateLog(s.log, m.zxid)
        if (log === undefined) {
          // "Not able to truncate the log": the learner exits.
          const why = `TRUNC to ${showZxid(m.zxid)} is beyond its log`
          return { state: { ...s, role: { _tag: "EXITED", why } }, effects: [cancelTimer(TIMEOUT)] }
        }
        const db = loadDatabase({ ...durableOf(s), log })
        next = { ...s, log, tree: db.tree, committedLog: db.committedLog, lastProcessed: m.zxid }
        break
      }
      // The Zab papers' TRUNC: the history after the zxid is gone — from the log, the data tree and the snapshot.
      const upTo = (t: Txn) => t.zxid <= m.zxid
      const snapshot =
        s.snapshot === null || s.snapshot.zxid <= m.zxid ? s.snapshot : { zxid: m.zxid, tree: s.snapshot.tree.filter(upTo) }
      next = {
        ...s,
        log: s.log.filter(upTo),
        snapshot,
        tree: s.tree.filter(upTo),
        committedLog: s.committedLog.filter(upTo),
        lastProcessed: m.zxid,
      }
      break
    }
    case "SNAP":
      // deserializeSnapshot clears the database (committed log included). ZooKeeper leaves the log on disk as it
      // was; in the Zab papers a server has one history, so the log becomes the leader's history too.
      next = { ...s, tree: m.snapshot, lastProcessed: m.zxid, committedLog: [], ...(ctx.variant.zkStorage ? {} : { log: m.snapshot }) }
      break
  }
  // The committed proposals of a DIFF: logged and applied (each came with its COMMIT).
  if (m.proposals.length > 0) next = applyTxns({ ...next, log: [...next.log, ...m.proposals] }, m.proposals)
  const role: Following = {
    ...f,
    phase: "NEWLEADER",
    snapshotNeeded: m.mode !== "DIFF",
    unlogged: m.outstanding,
  }
  return step(s, { ...next, role }, [])
}

/** NEWLEADER: take the snapshot TRUNC/SNAP need, accept the epoch (currentEpoch), ACK. */
export const followerOnNewLeader = (_ctx: Ctx, s: ZabNode & { role: Following }, m: NewLeader): ZabStep => {
  const f = s.role
  if (f.phase !== "NEWLEADER") return { state: anomaly(s, `${f.leader} sent NEWLEADER outside synchronization (phase ${f.phase})`), effects: [] }
  const snapshot = f.snapshotNeeded ? { zxid: s.lastProcessed, tree: s.tree } : s.snapshot
  const next: ZabNode = { ...s, snapshot, currentEpoch: f.epoch, role: { ...f, phase: "UPTODATE", snapshotNeeded: false } }
  return step(s, next, [send(f.leader, { _tag: "ACK", epoch: f.epoch, zxid: m.zxid })])
}

/** The last zxid this follower knows of (applied, logged or held), against which the next PROPOSAL is checked. */
const lastKnown = (s: ZabNode, f: Following): Zxid =>
  Math.max(s.lastProcessed, lastZxidOf(f.pending) ?? 0, lastZxidOf(f.unlogged) ?? 0)

const isNext = (last: Zxid, zxid: Zxid): boolean =>
  epochOf(zxid) === epochOf(last) ? zxid === last + 1 : epochOf(zxid) > epochOf(last) && zxid === makeZxid(epochOf(zxid), 1)

/** UPTODATE: log what arrived during synchronization and ACK it, apply what was committed; serve. */
export const followerOnUpToDate = (ctx: Ctx, s: ZabNode & { role: Following }): ZabStep => {
  const f = s.role
  if (f.phase !== "UPTODATE") return { state: anomaly(s, `${f.leader} sent UPTODATE in phase ${f.phase}`), effects: [] }
  let next: ZabNode = {
    ...s,
    log: f.unlogged.length === 0 ? s.log : [...s.log, ...f.unlogged],
    role: { ...f, phase: "BROADCAST", unlogged: [], committedEarly: [], pending: [...f.pending, ...f.unlogged] },
  }
  const acks: Fx[] = f.unlogged.map((t) => send(f.leader, { _tag: "ACK", epoch: f.epoch, zxid: t.zxid }))
  for (const z of f.committedEarly) next = commitPending(ctx, next as ZabNode & { role: Following }, z)
  if (next.currentVote !== null) next = { ...next, currentVote: { ...next.currentVote, vote: { ...next.currentVote.vote, epoch: f.epoch } } }
  return step(s, next, acks)
}

/** Follower.processPacket PROPOSAL: log it and ACK (during synchronization it waits for UPTODATE). */
export const followerOnProposal = (ctx: Ctx, s: ZabNode & { role: Following }, m: Proposal): ZabStep => {
  const f = s.role
  if (f.phase === "DISCOVERY" || f.phase === "SYNC") {
    return { state: anomaly(s, `${f.leader} sent PROPOSAL before the sync packets`), effects: [] }
  }
  if (!isNext(lastKnown(s, f), m.txn.zxid)) {
    return { state: anomaly(s, `${f.leader} sent PROPOSAL ${showZxid(m.txn.zxid)}, not the next after ${showZxid(lastKnown(s, f))}`), effects: [] }
  }
  // syncWithLeader: packetsNotCommitted (3.8.0) / packetsNotLogged (master); the default variant's "unlogged".
  if (f.phase !== "BROADCAST") return { state: { ...s, role: { ...f, unlogged: [...f.unlogged, m.txn] } }, effects: [] }
  if (ctx.variant.zkRelease !== null) return step(s, logRequest(s, f, [m.txn]), []) // ACKed after the flush
  const next: ZabNode = { ...s, log: [...s.log, m.txn], role: { ...f, pending: [...f.pending, m.txn] } }
  return step(s, next, [send(f.leader, { _tag: "ACK", epoch: f.epoch, zxid: m.txn.zxid })])
}

/** FollowerZooKeeperServer.commit: the COMMIT must be for the first pending transaction. */
const commitPending = (ctx: Ctx, s: ZabNode & { role: Following }, zxid: Zxid): ZabNode => {
  const f = s.role
  const first = f.pending[0]
  // The releases only warn ("Committing … without seeing txn") when nothing is pending.
  if (first === undefined && ctx.variant.zkRelease !== null) return s
  if (first === undefined || first.zxid !== zxid) {
    // The releases exit here (UNMATCHED_TXN_COMMIT); either way it is a packet that should never arrive.
    return anomaly(s, `${f.leader} sent COMMIT ${showZxid(zxid)} but the next pending proposal is ${first === undefined ? "none" : showZxid(first.zxid)}`)
  }
  return applyTxns({ ...s, role: { ...f, pending: f.pending.slice(1) } }, [first], commitMode(ctx))
}

export const followerOnCommit = (ctx: Ctx, s: ZabNode & { role: Following }, m: Commit): ZabStep => {
  const f = s.role
  if (f.phase === "DISCOVERY" || f.phase === "SYNC") {
    return { state: anomaly(s, `${f.leader} sent COMMIT before the sync packets`), effects: [] }
  }
  if (ctx.variant.zkRelease !== null && f.phase !== "BROADCAST") {
    // syncWithLeader peeks at the first held proposal before anything else: with none held that is a
    // NullPointerException (ZOOKEEPER-4394; in 3.8.0 NEWLEADER empties packetsNotCommitted), which ends
    // followLeader — the learner closes the connection and goes back to election.
    if (f.unlogged.length === 0) return backToLooking(ctx, { ...s, closing: insertSorted(s.closing, f.leader) }, [send(f.leader, { _tag: "CLOSE" })])
    return step(s, syncCommit(ctx, s, m.zxid), [])
  }
  if (f.phase !== "BROADCAST") return { state: { ...s, role: { ...f, committedEarly: [...f.committedEarly, m.zxid] } }, effects: [] }
  return step(s, commitPending(ctx, s, m.zxid), [])
}

// ---------------------------------------------------------------------------------------------------------
// Release variants (zk-3.8: tag release-3.8.0-1; zk-current: master): Learner.syncWithLeader step by step, and
// the asynchronous log (SyncRequestProcessor) on leader and learners.

/** FollowerZooKeeperServer.logRequest: pendingTxns (not an (e,0) zxid), then SyncRequestProcessor's queue. */
const logRequest = (s: ZabNode, f: Following, txns: ReadonlyArray<Txn>): ZabNode =>
  txns.length === 0
    ? { ...s, role: f }
    : { ...s, toFlush: [...s.toFlush, ...txns], role: { ...f, pending: [...f.pending, ...txns.filter((t) => !isEpochStart(t.zxid))] } }

/**
 * SyncRequestProcessor: append the head of its queue and flush. It flushes whenever its queue runs dry, so any
 * prefix of the queue can become durable on its own; one transaction per step reaches every such prefix. Then a
 * follower's SendAckRequestProcessor ACKs it, and a leader's AckRequestProcessor counts the leader's own ACK.
 */
export const flush = (ctx: Ctx, s: ZabNode): ZabStep => {
  const t = s.toFlush[0]
  if (t === undefined) return { state: s, effects: [] }
  const written: ZabNode = { ...s, log: [...s.log, t], toFlush: s.toFlush.slice(1) }
  if (s.role._tag === "FOLLOWING") {
    return step(s, written, [send<Message>(s.role.leader, { _tag: "ACK", epoch: s.role.epoch, zxid: t.zxid })])
  }
  if (s.role._tag === "LEADING" && s.role.phase === "BROADCAST") {
    const r = processAck(ctx, written, s.role, ctx.self, t.zxid)
    return step(s, r.state, r.effects)
  }
  return step(s, written, [])
}

/** Release 3.8.0: a leaked SyncRequestProcessor writes the head of its queue; its ACK meets a closed socket. */
export const leakedFlush = (s: ZabNode, k: number): ZabStep => {
  const q = s.leaked[k]
  if (q === undefined || q.length === 0) return { state: s, effects: [] }
  const leaked = q.length === 1 ? s.leaked.filter((_, j) => j !== k) : s.leaked.map((x, j) => (j === k ? x.slice(1) : x))
  return step(s, { ...s, log: [...s.log, q[0]!], leaked }, [])
}

/**
 * syncWithLeader, a COMMIT before UPTODATE (the first held proposal exists): before NEWLEADER of a SNAP or TRUNC
 * (writeToTxnLog false) it is applied in memory at once if it matches the first held proposal (else only a
 * warning); otherwise it is queued in packetsCommitted. 3.8.0 applies it with processTxn(hdr, txn), which leaves the
 * committed log alone; master with processTxn(request), which adds it (ZOOKEEPER-4925).
 */
const syncCommit = (ctx: Ctx, s: ZabNode & { role: Following }, zxid: Zxid): ZabNode => {
  const f = s.role
  if (f.writeToTxnLog) return { ...s, role: { ...f, committedEarly: [...f.committedEarly, zxid] } }
  const first = f.unlogged[0]
  if (first === undefined || first.zxid !== zxid) return s // "Committing …, but next proposal is …"
  const mode = ctx.variant.zkRelease === "3.8.0" ? "none" : commitMode(ctx)
  return applyTxns({ ...s, role: { ...f, unlogged: f.unlogged.slice(1) } }, [first], mode)
}

/**
 * syncWithLeader, the sync packets: SNAP replaces the in-memory database (its committed log too); TRUNC is
 * ZKDatabase.truncateLog, the step's one durable write (the log cut, the database reloaded from disk); DIFF
 * changes nothing yet and makes everything that follows go to the log. Then the PROPOSAL/COMMIT pairs of the
 * decision and the outstanding PROPOSALs, as syncWithLeader reads them.
 */
const followerOnSyncRelease = (ctx: Ctx, s: ZabNode & { role: Following }, m: Sync): ZabStep => {
  const f = s.role
  if (f.phase !== "SYNC") return { state: anomaly(s, `${f.leader} sent sync packets in phase ${f.phase}`), effects: [] }
  let next: ZabNode = s
  if (m.mode === "SNAP") {
    next = { ...s, tree: m.snapshot, lastProcessed: m.zxid, committedLog: [] }
  } else if (m.mode !== "DIFF") {
    const log = truncateLog(s.log, m.zxid)
    if (log === undefined) {
      return { state: { ...s, role: { _tag: "EXITED", why: `TRUNC to ${showZxid(m.zxid)} is beyond its log` } }, effects: [cancelTimer(TIMEOUT)] }
    }
    const db = loadDatabase({ ...durableOf(s), log })
    next = { ...s, log, tree: db.tree, committedLog: db.committedLog, lastProcessed: m.zxid }
  }
  const syncMode = m.mode === "TRUNC+DIFF" ? "TRUNC" : m.mode
  const role: Following = {
    ...f,
    phase: "NEWLEADER",
    syncMode,
    snapshotNeeded: syncMode !== "DIFF",
    writeToTxnLog: syncMode === "DIFF",
    unlogged: [],
    committedEarly: [],
  }
  let held = { ...next, role } as ZabNode & { role: Following }
  for (const t of m.proposals) {
    held = { ...held, role: { ...held.role, unlogged: [...held.role.unlogged, t] } }
    held = syncCommit(ctx, held, t.zxid) as ZabNode & { role: Following }
  }
  held = { ...held, role: { ...held.role, unlogged: [...held.role.unlogged, ...m.outstanding] } }
  return step(s, held, [])
}

/** NEWLEADER's first step (later ones are SYNC_STEPs); the learner thread reads nothing until the last is done. */
const followerOnNewLeaderRelease = (ctx: Ctx, s: ZabNode & { role: Following }): ZabStep => {
  const f = s.role
  if (f.phase !== "NEWLEADER" || f.newLeaderStep !== null) {
    return { state: anomaly(s, `${f.leader} sent NEWLEADER outside synchronization (phase ${f.phase})`), effects: [] }
  }
  const first: NewLeaderStep = f.snapshotNeeded ? "SNAPSHOT" : afterSnapshot(ctx, f)
  const r = runNewLeaderStep(ctx, { ...s, role: { ...f, newLeaderStep: first } })
  return step(s, r.state, r.effects)
}

/** master logs the committed proposals before anything else (ZOOKEEPER-4646), when there are any. */
const afterSnapshot = (ctx: Ctx, f: Following): NewLeaderStep =>
  ctx.variant.zkRelease === "master" && f.committedEarly.length > 0 ? "LOG" : "EPOCH"

/**
 * One step of NEWLEADER's handling, in the release's order.
 * - SNAPSHOT (TRUNC, SNAP): takeSnapshot of the data tree.
 * - LOG (master): every queued COMMIT whose proposal is first in packetsNotLogged: appendRequest and processTxn;
 *   a COMMIT that does not match is dropped with a warning; then one flush (ZKDatabase.commit). Outstanding
 *   proposals stay held until UPTODATE (ZOOKEEPER-4394).
 * - EPOCH: setCurrentEpoch. master then sends the NEWLEADER ACK (ZOOKEEPER-4643/4785: the epoch after the log).
 *   3.8.0 starts its processors and hands every held proposal to logRequest — asynchronous: not durable yet — and
 *   sends the ACK in a step of its own (ACK), so the SyncRequestProcessor may flush, and ACK proposals, first.
 */
const runNewLeaderStep = (ctx: Ctx, s: ZabNode & { role: Following }): ZabStep => {
  const f = s.role
  const newLeaderAck = send<Message>(f.leader, { _tag: "ACK", epoch: f.epoch, zxid: makeZxid(f.epoch, 0) })
  switch (f.newLeaderStep) {
    case null:
      return { state: s, effects: [] }
    case "SNAPSHOT": {
      const next: ZabNode = {
        ...s,
        snapshot: { zxid: s.lastProcessed, tree: s.tree },
        role: { ...f, snapshotNeeded: false, newLeaderStep: afterSnapshot(ctx, f) },
      }
      return step(s, next, [])
    }
    case "LOG": {
      let next = { ...s, role: { ...f, committedEarly: [], newLeaderStep: "EPOCH" } } as ZabNode & { role: Following }
      for (const z of f.committedEarly) {
        const first = next.role.unlogged[0]
        if (first === undefined || first.zxid !== z) continue // "Committing …, but got no proposal / next proposal is …"
        next = { ...next, log: [...next.log, first], role: { ...next.role, unlogged: next.role.unlogged.slice(1) } }
        next = applyTxns(next, [first], commitMode(ctx)) as ZabNode & { role: Following }
      }
      return step(s, next, [])
    }
    case "EPOCH": {
      const epoched: ZabNode = { ...s, currentEpoch: f.epoch }
      const synced: Following = { ...f, syncMode: null, writeToTxnLog: true }
      if (ctx.variant.zkRelease === "master") {
        return step(s, { ...epoched, role: { ...synced, phase: "UPTODATE", newLeaderStep: null } }, [newLeaderAck])
      }
      return step(s, logRequest(epoched, { ...synced, unlogged: [], newLeaderStep: "ACK" }, f.unlogged), [])
    }
    case "ACK":
      return step(s, { ...s, role: { ...f, phase: "UPTODATE", newLeaderStep: null } }, [newLeaderAck])
  }
}

/**
 * syncWithLeader's UPTODATE (both releases): the ACK of UPTODATE (ignored by the leader, not modelled); the server
 * starts; whatever is still held goes to logRequest (ACKed after the flush); each queued COMMIT goes to
 * FollowerZooKeeperServer.commit.
 */
const followerOnUpToDateRelease = (ctx: Ctx, s: ZabNode & { role: Following }): ZabStep => {
  const f = s.role
  if (f.phase !== "UPTODATE") return { state: anomaly(s, `${f.leader} sent UPTODATE in phase ${f.phase}`), effects: [] }
  let next = logRequest(s, { ...f, phase: "BROADCAST", unlogged: [], committedEarly: [] }, f.unlogged) as ZabNode & { role: Following }
  for (const z of f.committedEarly) next = commitPending(ctx, next, z) as ZabNode & { role: Following }
  if (next.currentVote !== null) next = { ...next, currentVote: { ...next.currentVote, vote: { ...next.currentVote.vote, epoch: f.epoch } } }
  return step(s, next, [])
}

/** The learner thread is busy with NEWLEADER's writes, or has packets waiting to be read: new ones wait too. */
const busy = (s: ZabNode): s is ZabNode & { role: Following } =>
  s.role._tag === "FOLLOWING" && (s.role.newLeaderStep !== null || s.role.inbox.length > 0)

/** SYNC_STEP: NEWLEADER's next write, or else the next packet waiting in the socket. */
const learnerStep = (ctx: Ctx, s: ZabNode & { role: Following }): ZabStep => {
  const f = s.role
  if (f.newLeaderStep !== null) return runNewLeaderStep(ctx, s)
  const [head, ...rest] = f.inbox
  if (head === undefined) return { state: s, effects: [] }
  const r = deliver(ctx, { ...s, role: { ...f, inbox: rest } }, f.leader, head)
  return step(s, r.state, r.effects)
}

// ---------------------------------------------------------------------------------------------------------
// Dispatch

export const handle = (ctx: Ctx, s: ZabNode, event: Event<Message, ClientRequest>): ZabStep => {
  if (s.role._tag === "EXITED") return { state: s, effects: [] }
  switch (event._tag) {
    case "Deliver":
      if (busy(s) && event.from === s.role.leader) {
        return { state: { ...s, role: { ...s.role, inbox: [...s.role.inbox, event.msg] } }, effects: [] }
      }
      return deliver(ctx, s, event.from, event.msg)
    case "Timeout":
      if (event.timer === TIMEOUT && s.role._tag === "FOLLOWING") {
        // The follower gives up on its leader and closes the connection.
        const leader = s.role.leader
        return backToLooking(ctx, { ...s, closing: insertSorted(s.closing, leader) }, [send(leader, { _tag: "CLOSE" })])
      }
      if (event.timer === TIMEOUT && s.role._tag === "LEADING") return backToLooking(ctx, s)
      return { state: s, effects: [] }
    case "Internal": {
      const a = event.action
      if (a.name === FLUSH) return flush(ctx, s)
      if (a.name === LEAKED_FLUSH) return leakedFlush(s, Number(a.arg))
      if (a.name === SYNC_STEP && s.role._tag === "FOLLOWING") return learnerStep(ctx, s as ZabNode & { role: Following })
      if (a.name === LEADER_EPOCH) return leaderEpoch(ctx, s)
      if (a.name === QUEUE_NEWLEADER && a.arg !== undefined) return queueNewLeader(s, a.arg as NodeId)
      if (a.name === LEAD) return lead(ctx, s)
      if (a.name === FOLLOW && a.arg !== undefined) return follow(s, a.arg as NodeId)
      if (a.name === RESEND && ctx.config.resend === true && s.role._tag === "LOOKING" && s.role.election !== null) {
        return { state: s, effects: broadcast(electionContext(ctx), s.role.election) }
      }
      if (a.name === FINALIZE && s.role._tag === "LOOKING" && s.role.election?.finalizing === true) {
        const d = decide(electionContext(ctx), s.role.election)
        return applyDecision(ctx, { ...s, role: { _tag: "LOOKING", election: { ...s.role.election, finalizing: false } } }, d, [])
      }
      return { state: s, effects: [] }
    }
    case "Client":
      return leaderOnWrite(ctx, s, event.request)
  }
}

/** A packet read from `from` (the Deliver event, or a packet that waited while the learner thread was busy). */
const deliver = (ctx: Ctx, s: ZabNode, from: NodeId, m: Message): ZabStep => {
  if (m._tag === "HELLO") return onHello(ctx, s, from)
  if (s.resetting.includes(from)) {
    // Until the peer's RESET, its packets were addressed to this server's previous incarnation.
    return m._tag === "RESET" ? { state: { ...s, resetting: s.resetting.filter((x) => x !== from) }, effects: [] } : { state: s, effects: [] }
  }
  if (s.closing.includes(from)) {
    // A connection this server closed: its packets are dropped until the leader's DISCONNECT ends it.
    return m._tag === "DISCONNECT" ? { state: { ...s, closing: s.closing.filter((x) => x !== from) }, effects: [] } : { state: s, effects: [] }
  }
  switch (m._tag) {
    case "RESET":
      return { state: s, effects: [] }
    case "Notification":
      return handleNotification(ctx, s, from, m)
    case "FOLLOWERINFO":
      return leaderOnFollowerInfo(ctx, s, from, m)
    case "ACKEPOCH":
      return leaderOnAckEpoch(ctx, s, from, m)
    case "ACK":
      return leaderOnAck(ctx, s, from, m)
    case "CLOSE":
      return leaderOnClose(s, from)
    case "DISCONNECT":
      // The last packet of a connection: the leader refused it, was not leading, or shut down.
      return fromLeader(s, from) ? backToLooking(ctx, s) : { state: s, effects: [] }
    default: {
      // A packet from a server this one does not follow (a leader it left with the connection's DISCONNECT).
      if (!fromLeader(s, from)) return { state: s, effects: [] }
      const release = ctx.variant.zkRelease !== null
      switch (m._tag) {
        case "LEADERINFO":
          return followerOnLeaderInfo(ctx, s, m.epoch)
        case "SYNC":
          return release ? followerOnSyncRelease(ctx, s, m) : followerOnSync(ctx, s, m)
        case "NEWLEADER":
          return release ? followerOnNewLeaderRelease(ctx, s) : followerOnNewLeader(ctx, s, m)
        case "UPTODATE":
          return release ? followerOnUpToDateRelease(ctx, s) : followerOnUpToDate(ctx, s)
        case "PROPOSAL":
          return followerOnProposal(ctx, s, m)
        case "COMMIT":
          return followerOnCommit(ctx, s, m)
      }
    }
  }
}

export const enabledInternal = (ctx: Ctx, s: ZabNode): ReadonlyArray<InternalAction> => {
  if (s.role._tag === "EXITED") return []
  // Threads that run whatever the role: leaked SyncRequestProcessors (3.8.0).
  const leaked: InternalAction[] = s.leaked.map((_, k) => ({ name: LEAKED_FLUSH, arg: String(k) }))
  if (s.role._tag !== "LOOKING") {
    const out: InternalAction[] = leaked
    if (s.toFlush.length > 0) out.push({ name: FLUSH })
    if (busy(s)) out.push({ name: SYNC_STEP })
    if (s.role._tag === "LEADING" && ctx.variant.zkRelease !== null) {
      const l = s.role
      if (l.phase === "SYNCHRONIZATION" && !l.newLeaderAcks.includes(ctx.self)) out.push({ name: LEADER_EPOCH })
      for (const id of Object.keys(l.learners).sort()) {
        if (l.learners[id]!.stage === "FORWARDING") out.push({ name: QUEUE_NEWLEADER, arg: id })
      }
    }
    return out
  }
  if (ctx.config.election === "oracle") {
    const reachable = ctx.peers.filter((p) => !s.closing.includes(p) && !s.resetting.includes(p))
    return [...leaked, { name: LEAD }, ...reachable.map((p) => ({ name: FOLLOW, arg: p }))]
  }
  const out = s.role.election?.finalizing === true ? [...leaked, { name: FINALIZE }] : leaked
  return ctx.config.resend === true && s.role.election !== null ? [...out, { name: RESEND }] : out
}

export const enabledClient = (ctx: Ctx, s: ZabNode): ReadonlyArray<ClientRequest> =>
  s.role._tag === "LEADING" && s.role.phase === "BROADCAST"
    ? ctx.config.values.map((value) => ({ _tag: "Write" as const, value }))
    : []

export type { SyncMode }
