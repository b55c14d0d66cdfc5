/**
 * The leader's synchronization decision, as one pure function.
 *
 * When a learner has told the leader its last zxid (ACKEPOCH), the leader decides how to bring it up to date:
 *   DIFF        — the learner's history is a prefix of the leader's: send the missing proposals, each with its
 *                 COMMIT;
 *   TRUNC       — the learner has transactions the leader does not: truncate them (nothing to add);
 *   TRUNC+DIFF  — truncate back to a transaction both have, then send the leader's later proposals;
 *   SNAP        — none of the above can be done from the logs: send the whole data tree.
 *
 * This follows `LearnerHandler.syncFollower` and `queueCommittedProposals` of ZooKeeper (3.5 onwards; the
 * branches are numbered as in that method's comment), and the 3.3 rule as a variant flag. The inputs are what the
 * leader's `ZKDatabase` offers: the in-memory committed log (`getCommittedLog`, bounded by min/maxCommittedLog),
 * the on-disk transaction log (`getProposalsFromTxnLog`) and the data tree's `lastProcessedZxid`.
 */
import { epochOf, isEpochStart, showZxid, type Zxid } from "./zxid.ts"

/** Anything with a zxid: ZooKeeper's `Proposal`. The model's transactions carry a value too. */
export interface HasZxid {
  readonly zxid: Zxid
}

export interface SyncInput<P extends HasZxid> {
  /** The learner's last zxid, from its ACKEPOCH (its data tree's lastProcessedZxid). */
  readonly peerLastZxid: Zxid
  /** The leader's data tree's lastProcessedZxid: `(e, 0)` once it has been established in epoch e. */
  readonly lastProcessedZxid: Zxid
  /** The leader's in-memory committed log, in the order it was built (ascending zxids in a sane run). */
  readonly committedLog: ReadonlyArray<P>
  /** The leader's on-disk transaction log, in file order: what `getProposalsFromTxnLog` would read. */
  readonly txnLog: ReadonlyArray<P>
  /** `zookeeper.snapshotSizeFactor >= 0`: the on-disk log may be used when the committed log is too recent. */
  readonly txnLogSync: boolean
  /**
   * Release 3.3 and earlier: for a peer zxid inside [minCommittedLog, maxCommittedLog] send DIFF with every
   * proposal above it, without checking that the peer's zxid is in the log (no TRUNC+DIFF, no epoch check).
   */
  readonly diffWithoutMembership?: boolean
}

/** The packets the leader queues for the learner, in order, before NEWLEADER. */
export type SyncPacket<P extends HasZxid> =
  | { readonly _tag: "DIFF"; readonly zxid: Zxid }
  | { readonly _tag: "TRUNC"; readonly zxid: Zxid }
  | { readonly _tag: "SNAP"; readonly zxid: Zxid }
  | { readonly _tag: "PROPOSAL"; readonly proposal: P }
  | { readonly _tag: "COMMIT"; readonly zxid: Zxid }

export type SyncMode = "DIFF" | "TRUNC" | "TRUNC+DIFF" | "SNAP"

/** Which branch of syncFollower decided. */
export type SyncPath =
  | "in-sync" //          (2) peerLastZxid == lastProcessedZxid
  | "newer-than-log" //   (3) peer above maxCommittedLog and not (e,0)
  | "committed-log" //    (4) peer inside [minCommittedLog, maxCommittedLog]
  | "txn-log" //          (5) peer below minCommittedLog, read from the on-disk log, then the committed log
  | "snapshot" //         none of the above worked

export interface SyncDecision<P extends HasZxid> {
  readonly mode: SyncMode
  readonly path: SyncPath
  /**
   * The packets, in order. DIFF/TRUNC modes: the op packet, then PROPOSAL and COMMIT for each proposal sent.
   * SNAP: the SNAP packet alone (the data tree follows it on the wire).
   */
  readonly packets: ReadonlyArray<SyncPacket<P>>
  /** The op packet's zxid: DIFF's lastCommittedZxid, the TRUNC point, or SNAP's lastProcessedZxid. */
  readonly opZxid: Zxid
  /** The proposals sent (each followed by its COMMIT in `packets`). */
  readonly proposals: ReadonlyArray<P>
  /** TRUNC and TRUNC+DIFF: the zxid the learner truncates its log to. */
  readonly truncZxid?: Zxid
  /**
   * The last zxid queued (`currentZxid` handed to `startForwarding`): the leader then queues every outstanding
   * proposal above it. For SNAP it is the leader's lastProcessedZxid.
   */
  readonly forwardFrom: Zxid
  /** One sentence on why, for people learning the rules. */
  readonly reason: string
}

/** min/maxCommittedLog as ZKDatabase keeps them; both lastProcessedZxid when the committed log is empty. */
export const committedLogBounds = (
  committedLog: ReadonlyArray<HasZxid>,
  lastProcessedZxid: Zxid,
): { readonly min: Zxid; readonly max: Zxid } =>
  committedLog.length === 0
    ? { min: lastProcessedZxid, max: lastProcessedZxid }
    : { min: committedLog[0]!.zxid, max: committedLog[committedLog.length - 1]!.zxid }

/** The mutable bookkeeping of one syncFollower call (local to `decideSync`, never escapes it). */
interface Queue<P extends HasZxid> {
  packets: SyncPacket<P>[]
  proposals: P[]
  needOpPacket: boolean
  truncZxid: Zxid | undefined
}

/**
 * `queueCommittedProposals`: walk `proposals`, queueing those in (peerLastZxid, maxZxid] and deciding the op
 * packet at the first one not below the peer. Returns the last zxid queued (the peer's zxid if none).
 */
const queueCommittedProposals = <P extends HasZxid>(
  q: Queue<P>,
  proposals: ReadonlyArray<P>,
  peerLastZxid: Zxid,
  maxZxid: Zxid | undefined,
  lastCommittedZxid: Zxid,
): Zxid => {
  const isPeerNewEpochZxid = isEpochStart(peerLastZxid)
  let queuedZxid = peerLastZxid
  let prevProposalZxid = -1
  for (const p of proposals) {
    const packetZxid = p.zxid
    if (maxZxid !== undefined && packetZxid > maxZxid) break
    // Skip the proposals the peer already has.
    if (packetZxid < peerLastZxid) {
      prevProposalZxid = packetZxid
      continue
    }
    if (q.needOpPacket) {
      if (packetZxid === peerLastZxid) {
        // The peer's zxid is in our history: DIFF from here.
        q.packets.push({ _tag: "DIFF", zxid: lastCommittedZxid })
        q.needOpPacket = false
        continue
      }
      if (isPeerNewEpochZxid) {
        // (e, 0) names no transaction, so it is never found; everything above it is sent.
        q.packets.push({ _tag: "DIFF", zxid: lastCommittedZxid })
        q.needOpPacket = false
      } else if (packetZxid > peerLastZxid) {
        // The peer has a transaction we never saw (it may have been a leader).
        if (epochOf(packetZxid) !== epochOf(peerLastZxid)) {
          // A TRUNC may not cross an epoch boundary (the learner would crash): the caller falls back to SNAP.
          return queuedZxid
        }
        q.packets.push({ _tag: "TRUNC", zxid: prevProposalZxid })
        q.truncZxid = prevProposalZxid
        q.needOpPacket = false
      }
    }
    if (packetZxid <= queuedZxid) continue // no op packet yet, or a duplicate in the iterator
    q.packets.push({ _tag: "PROPOSAL", proposal: p }, { _tag: "COMMIT", zxid: packetZxid })
    q.proposals.push(p)
    queuedZxid = packetZxid
  }
  if (q.needOpPacket && isPeerNewEpochZxid) {
    // Our history is older than the learner's (e, 0) and nothing is newer: an empty DIFF.
    q.packets.push({ _tag: "DIFF", zxid: lastCommittedZxid })
    q.needOpPacket = false
  }
  return queuedZxid
}

/** What `getProposalsFromTxnLog(peerLastZxid)` yields: the log, if it reaches back to the peer; else nothing. */
export const txnLogFrom = <P extends HasZxid>(txnLog: ReadonlyArray<P>, peerLastZxid: Zxid): ReadonlyArray<P> =>
  txnLog.length > 0 && txnLog[0]!.zxid <= peerLastZxid ? txnLog : []

const modeOf = (packets: ReadonlyArray<SyncPacket<HasZxid>>, proposals: number): SyncMode => {
  const op = packets[0]
  if (op === undefined || op._tag === "SNAP") return "SNAP"
  if (op._tag === "TRUNC") return proposals === 0 ? "TRUNC" : "TRUNC+DIFF"
  return "DIFF"
}

/** The leader's decision for one learner (LearnerHandler.syncFollower). */
export const decideSync = <P extends HasZxid>(input: SyncInput<P>): SyncDecision<P> => {
  const { peerLastZxid, lastProcessedZxid, committedLog, txnLog, txnLogSync } = input
  const { min: minCommittedLog, max: maxCommittedLog } = committedLogBounds(committedLog, lastProcessedZxid)
  const isPeerNewEpochZxid = isEpochStart(peerLastZxid)
  const q: Queue<P> = { packets: [], proposals: [], needOpPacket: true, truncZxid: undefined }
  let currentZxid = peerLastZxid
  let needSnap = true
  let path: SyncPath = "snapshot"
  const peer = showZxid(peerLastZxid)

  if (lastProcessedZxid === peerLastZxid) {
    // (2) Already in sync: an empty DIFF.
    q.packets.push({ _tag: "DIFF", zxid: peerLastZxid })
    q.needOpPacket = false
    needSnap = false
    path = "in-sync"
  } else if (peerLastZxid > maxCommittedLog && !isPeerNewEpochZxid) {
    // (3) The peer is ahead of our committed log: truncate it to our last committed proposal.
    q.packets.push({ _tag: "TRUNC", zxid: maxCommittedLog })
    q.truncZxid = maxCommittedLog
    currentZxid = maxCommittedLog
    q.needOpPacket = false
    needSnap = false
    path = "newer-than-log"
  } else if (maxCommittedLog >= peerLastZxid && minCommittedLog <= peerLastZxid) {
    // (4) The peer is within the committed log.
    path = "committed-log"
    if (input.diffWithoutMembership === true) {
      q.packets.push({ _tag: "DIFF", zxid: maxCommittedLog })
      q.needOpPacket = false
      for (const p of committedLog) {
        if (p.zxid > peerLastZxid) {
          q.packets.push({ _tag: "PROPOSAL", proposal: p }, { _tag: "COMMIT", zxid: p.zxid })
          q.proposals.push(p)
          currentZxid = p.zxid
        }
      }
    } else {
      currentZxid = queueCommittedProposals(q, committedLog, peerLastZxid, undefined, maxCommittedLog)
    }
    needSnap = false
  } else if (peerLastZxid < minCommittedLog && txnLogSync) {
    // (5) The peer is older than the committed log: read the on-disk log up to it, then the committed log.
    const fromDisk = txnLogFrom(txnLog, peerLastZxid)
    if (fromDisk.length > 0) {
      path = "txn-log"
      currentZxid = queueCommittedProposals(q, fromDisk, peerLastZxid, minCommittedLog, maxCommittedLog)
      if (currentZxid < minCommittedLog) {
        // A gap between the end of the on-disk log and the start of the committed log: revert to SNAP.
        currentZxid = peerLastZxid
        q.packets = []
        q.proposals = []
        q.truncZxid = undefined
        q.needOpPacket = true
        path = "snapshot"
      } else {
        currentZxid = queueCommittedProposals(q, committedLog, currentZxid, undefined, maxCommittedLog)
        needSnap = false
      }
    }
  }

  if (!needSnap && q.needOpPacket) {
    // Branch (4) or (5) ended without an op packet (a TRUNC would cross an epoch): fall back to SNAP.
    needSnap = true
    path = "snapshot"
  }
  if (needSnap) {
    const why =
      peerLastZxid < minCommittedLog
        ? txnLogSync
          ? `peer ${peer} is below the committed log and the on-disk log cannot bridge the gap`
          : `peer ${peer} is below the committed log (min ${showZxid(minCommittedLog)}) and txn-log sync is off`
        : `reaching peer ${peer} from the log would truncate across an epoch boundary`
    return {
      mode: "SNAP",
      path: "snapshot",
      packets: [{ _tag: "SNAP", zxid: lastProcessedZxid }],
      opZxid: lastProcessedZxid,
      proposals: [],
      forwardFrom: lastProcessedZxid,
      reason: `${why}: send the data tree at ${showZxid(lastProcessedZxid)}`,
    }
  }
  const mode = modeOf(q.packets, q.proposals.length)
  const sent = q.proposals.map((p) => showZxid(p.zxid)).join(", ")
  const reason = (() => {
    switch (path) {
      case "in-sync":
        return `peer ${peer} equals the leader's lastProcessedZxid: empty DIFF`
      case "newer-than-log":
        return `peer ${peer} is above maxCommittedLog ${showZxid(maxCommittedLog)}: TRUNC to it`
      default: {
        const where = path === "txn-log" ? "the on-disk log then the committed log" : "the committed log"
        const op =
          mode === "DIFF"
            ? isPeerNewEpochZxid
              ? `peer ${peer} starts an epoch: DIFF`
              : input.diffWithoutMembership === true
                ? `peer ${peer} is inside [${showZxid(minCommittedLog)}, ${showZxid(maxCommittedLog)}] (3.3 rule, no membership check): DIFF`
                : `peer ${peer} is in ${where}: DIFF`
            : `peer ${peer} is not in ${where} but ${showZxid(q.proposals[0]?.zxid ?? peerLastZxid)} of the same epoch is: TRUNC to ${showZxid(q.truncZxid ?? -1)}`
        return sent.length === 0 ? op : `${op}, then ${sent}`
      }
    }
  })()
  const op = q.packets[0]
  return {
    mode,
    path,
    packets: q.packets,
    opZxid: op !== undefined && op._tag !== "PROPOSAL" && op._tag !== "COMMIT" ? op.zxid : peerLastZxid,
    proposals: q.proposals,
    ...(q.truncZxid === undefined ? {} : { truncZxid: q.truncZxid }),
    forwardFrom: currentZxid,
    reason,
  }
}

/**
 * The learner's history after it applies a decision, in the abstract (the Zab papers' view): TRUNC keeps what is
 * at or below the trunc point, the proposals are appended, SNAP replaces everything with the leader's data tree.
 */
export const applySync = <P extends HasZxid>(
  learner: ReadonlyArray<P>,
  decision: SyncDecision<P>,
  leaderDataTree: ReadonlyArray<P>,
): ReadonlyArray<P> => {
  if (decision.mode === "SNAP") return leaderDataTree
  const kept = decision.truncZxid === undefined ? learner : learner.filter((p) => p.zxid <= decision.truncZxid!)
  return [...kept, ...decision.proposals]
}
