/**
 * ZAB's safety properties — the Zab paper's (Junqueira, Reed, Serafini, DSN 2011, §3) and those the published
 * TLA+ specifications of ZooKeeper add — the ghost history they need, and the witnesses that show a model
 * exercises each premise.
 *
 * "Delivered" is read off the servers that serve: an established leader, or a follower that received UPTODATE.
 * A server that is LOOKING, synchronizing or down may hold logged transactions that synchronization will still
 * truncate (ZooKeeper fast-forwards its data tree over its log when it leaves a role, and replays it on restart),
 * so its data tree is not a delivery.
 */
import type {
  Invariant,
  NodeId,
  NodeView,
  Transition,
  TransitionProperty,
  Witness,
  WorldView,
} from "../kernel/protocol.ts"
import type { Leading, ZabNode } from "./rules.ts"
import type { ClientRequest, Durable, Message, Txn } from "./schema.ts"
import type { SyncMode } from "./sync.ts"
import { epochOf, showZxid } from "./zxid.ts"

export interface Broadcast {
  readonly txn: Txn
  readonly leader: string
  readonly epoch: number
}

export interface Committed {
  readonly txn: Txn
  /** The epoch of the leader that committed it. */
  readonly epoch: number
}

export interface Established {
  readonly epoch: number
  readonly leader: string
  /** Some established leader had crashed before this one was established. */
  readonly afterLeaderCrash: boolean
}

export interface ZabGhost {
  /**
   * Set by the first transition, which records what the starting disks already hold (a model may start after
   * some history): every transaction on a disk as broadcast, those on a majority of disks as committed.
   */
  readonly started: boolean
  /** Every proposal ever broadcast, in the order it was proposed. */
  readonly broadcast: ReadonlyArray<Broadcast>
  /** Every transaction a leader committed (quorum of ACKs, or the variant's shortcut), by zxid. */
  readonly committed: ReadonlyArray<Committed>
  /** Every (epoch, leader) that became established, sorted. */
  readonly established: ReadonlyArray<Established>
  readonly leaderCrashed: boolean
  /** Sync modes a learner has applied, sorted. */
  readonly syncModes: ReadonlyArray<SyncMode>
  /** A TRUNC or SNAP was applied to a server holding a committed transaction. */
  readonly resyncedCommitted: boolean
  /** LEADING/FOLLOWING servers that gave up (the timeout budget used). */
  readonly timeouts: number
}

export type ZabWorld = WorldView<ZabNode, Message, Durable, ZabGhost>
type ZabTransition = Transition<ZabNode, Message, Durable, ClientRequest, ZabGhost>
type Node = NodeView<ZabNode, Durable>

export const initialGhost: ZabGhost = {
  started: false,
  broadcast: [],
  committed: [],
  established: [],
  leaderCrashed: false,
  syncModes: [],
  resyncedCommitted: false,
  timeouts: 0,
}

const sameTxn = (a: Txn, b: Txn): boolean => a.zxid === b.zxid && a.value === b.value
const has = (txns: ReadonlyArray<Txn>, t: Txn): boolean => txns.some((x) => sameTxn(x, t))
const indexOf = (txns: ReadonlyArray<Txn>, t: Txn): number => txns.findIndex((x) => sameTxn(x, t))
const isPrefix = (a: ReadonlyArray<Txn>, b: ReadonlyArray<Txn>): boolean =>
  a.length <= b.length && a.every((t, k) => sameTxn(t, b[k]!))
const show = (t: Txn): string => `${showZxid(t.zxid)}=${t.value}`

const leaderRole = (s: ZabNode | undefined): Leading | undefined => (s?.role._tag === "LEADING" ? s.role : undefined)

/** An established leader, or a follower that received UPTODATE. */
export const serving = (n: Node): boolean => {
  const r = n.state?.role
  return r !== undefined && (r._tag === "LEADING" || r._tag === "FOLLOWING") && r.phase === "BROADCAST"
}
const servingNodes = (w: ZabWorld): ReadonlyArray<Node> => w.nodes.filter(serving)
const epochServed = (n: Node): number => {
  const r = n.state!.role
  return r._tag === "LEADING" ? r.epoch : r._tag === "FOLLOWING" ? r.epoch : -1
}

const insertCommitted = (list: ReadonlyArray<Committed>, c: Committed): ReadonlyArray<Committed> =>
  list.some((x) => sameTxn(x.txn, c.txn)) ? list : [...list, c].sort((a, b) => a.txn.zxid - b.txn.zxid || (a.txn.value < b.txn.value ? -1 : 1))

/** What the starting disks hold, recorded once (see ZabGhost.started). */
const seedFrom = (w: ZabWorld): ZabGhost => {
  const held = new Map<string, { txn: Txn; holders: number }>()
  for (const n of w.nodes) {
    const d = n.disk ?? n.state
    if (d === undefined) continue
    const mine = new Map<string, Txn>()
    for (const t of [...d.log, ...(d.snapshot?.tree ?? [])]) mine.set(`${t.zxid}:${t.value}`, t)
    for (const [k, t] of mine) held.set(k, { txn: t, holders: (held.get(k)?.holders ?? 0) + 1 })
  }
  const all = [...held.values()].sort((a, b) => a.txn.zxid - b.txn.zxid || (a.txn.value < b.txn.value ? -1 : 1))
  const majority = Math.floor(w.nodes.length / 2) + 1
  return {
    ...initialGhost,
    started: true,
    broadcast: all.map((h) => ({ txn: h.txn, leader: "before", epoch: epochOf(h.txn.zxid) })),
    committed: all.filter((h) => h.holders >= majority).map((h) => ({ txn: h.txn, epoch: epochOf(h.txn.zxid) })),
  }
}

export const updateGhost = (g0: ZabGhost, t: ZabTransition): ZabGhost => {
  const g = g0.started ? g0 : seedFrom(t.before)
  let next = g
  const { before, after, action } = t
  if (action._tag === "Crash") {
    const i = before.nodes.findIndex((n) => n.id === action.node)
    if (i >= 0 && leaderRole(before.nodes[i]!.state)?.phase === "BROADCAST" && !g.leaderCrashed) {
      next = { ...next, leaderCrashed: true }
    }
    return next
  }
  for (let i = 0; i < after.nodes.length; i++) {
    const was = before.nodes[i]!
    const now = after.nodes[i]!
    if (was === now || now.state === undefined) continue
    const a = leaderRole(was.state)
    const b = leaderRole(now.state)
    if (b !== undefined) {
      const sameLeadership = a !== undefined && a.epoch === b.epoch && a.summary === b.summary
      if (b.phase === "BROADCAST" && !(sameLeadership && a.phase === "BROADCAST")) {
        const e: Established = { epoch: b.epoch, leader: now.id, afterLeaderCrash: next.leaderCrashed }
        next = {
          ...next,
          established: [...next.established, e].sort((x, y) => x.epoch - y.epoch || (x.leader < y.leader ? -1 : 1)),
        }
      }
      if (action._tag === "Client" && sameLeadership && a.phase === "BROADCAST" && b.lastProposed > a.lastProposed) {
        const txn = [...b.outstanding.map((o) => o.txn), ...now.state.toFlush, ...now.state.log].find((t) => t.zxid === b.lastProposed)!
        next = { ...next, broadcast: [...next.broadcast, { txn, leader: now.id, epoch: b.epoch }] }
      }
      if (sameLeadership && b.lastCommitted > a.lastCommitted && a.phase === "BROADCAST") {
        for (const txn of now.state.tree) {
          if (txn.zxid > a.lastCommitted && txn.zxid <= b.lastCommitted) {
            next = { ...next, committed: insertCommitted(next.committed, { txn, epoch: b.epoch }) }
          }
        }
      }
    }
    if (action._tag === "Timeout" && action.node === now.id && was.state?.role._tag !== "LOOKING" && now.state.role._tag === "LOOKING") {
      next = { ...next, timeouts: next.timeouts + 1 }
    }
    if (action._tag === "Deliver" && action.node === now.id && action.msg._tag === "SYNC") {
      const f = was.state?.role
      if (f?._tag === "FOLLOWING" && f.phase === "SYNC" && now.state.role._tag === "FOLLOWING" && now.state.role.phase === "NEWLEADER") {
        const mode = action.msg.mode
        if (!next.syncModes.includes(mode)) next = { ...next, syncModes: [...next.syncModes, mode].sort() }
        if (mode !== "DIFF" && !next.resyncedCommitted && next.committed.some((c) => has(was.state!.tree, c.txn))) {
          next = { ...next, resyncedCommitted: true }
        }
      }
    }
  }
  return next
}

type Inv = Invariant<ZabNode, Message, Durable, ZabGhost>
type TProp = TransitionProperty<ZabNode, Message, Durable, ClientRequest, ZabGhost>

export const integrity: Inv = {
  name: "integrity",
  description: "Integrity: if some process delivers a transaction, some primary has broadcast it",
  witness: "txnDelivered",
  check: (w) => {
    for (const n of servingNodes(w)) {
      for (const t of n.state!.tree) {
        if (!w.ghost.broadcast.some((b) => sameTxn(b.txn, t))) return `${n.id} delivered ${show(t)}, which no primary broadcast`
      }
    }
    return undefined
  },
}

export const agreement: Inv = {
  name: "agreement",
  description: "Agreement: if some process delivers a and another delivers b, then the second delivers a or the first delivers b",
  witness: "twoServersDelivered",
  check: (w) => {
    const s = servingNodes(w)
    for (const i of s) {
      for (const j of s) {
        if (i === j) continue
        const ti = i.state!.tree
        const tj = j.state!.tree
        for (const a of ti) {
          if (has(tj, a)) continue
          for (const b of tj) {
            if (!has(ti, b)) return `${i.id} delivered ${show(a)} and ${j.id} delivered ${show(b)}, but neither delivered the other's`
          }
        }
      }
    }
    return undefined
  },
}

export const totalOrder: Inv = {
  name: "totalOrder",
  description: "Total order: if some process delivers a before b, any process that delivers b delivers a, and before b",
  witness: "serverDeliveredTwo",
  check: (w) => {
    const s = servingNodes(w)
    for (const i of s) {
      const ti = i.state!.tree
      for (const j of s) {
        if (i === j) continue
        const tj = j.state!.tree
        for (let x = 0; x < ti.length; x++) {
          for (let y = x + 1; y < ti.length; y++) {
            const jb = indexOf(tj, ti[y]!)
            if (jb < 0) continue
            const ja = indexOf(tj, ti[x]!)
            if (ja < 0 || ja > jb) return `${i.id} delivered ${show(ti[x]!)} before ${show(ti[y]!)}, ${j.id} delivered the second but not the first before it`
          }
        }
      }
    }
    return undefined
  },
}

export const localPrimaryOrder: Inv = {
  name: "localPrimaryOrder",
  description: "Local primary order: if a primary broadcasts a before b, a process that delivers b delivers a before b",
  witness: "serverDeliveredTwo",
  check: (w) => {
    const bs = w.ghost.broadcast
    for (let x = 0; x < bs.length; x++) {
      for (let y = x + 1; y < bs.length; y++) {
        const a = bs[x]!
        const b = bs[y]!
        if (a.leader !== b.leader || a.epoch !== b.epoch) continue
        for (const n of servingNodes(w)) {
          const t = n.state!.tree
          const jb = indexOf(t, b.txn)
          if (jb < 0) continue
          const ja = indexOf(t, a.txn)
          if (ja < 0 || ja > jb) return `${a.leader} broadcast ${show(a.txn)} before ${show(b.txn)}; ${n.id} delivered the second without the first before it`
        }
      }
    }
    return undefined
  },
}

export const globalPrimaryOrder: Inv = {
  name: "globalPrimaryOrder",
  description: "Global primary order: a process that delivers a of epoch e and b of a later epoch delivers a before b",
  witness: "serverDeliveredTwo",
  check: (w) => {
    for (const n of servingNodes(w)) {
      const t = n.state!.tree
      for (let x = 0; x < t.length; x++) {
        for (let y = x + 1; y < t.length; y++) {
          if (epochOf(t[x]!.zxid) > epochOf(t[y]!.zxid)) return `${n.id} delivered ${show(t[y]!)} after ${show(t[x]!)} of a later epoch`
        }
      }
    }
    return undefined
  },
}

/** The leader a serving follower follows, when that leader serves the same epoch. */
const leaderOf = (w: ZabWorld, f: Node): Node | undefined => {
  const r = f.state!.role
  if (r._tag !== "FOLLOWING") return undefined
  const l = w.nodes.find((n) => n.id === r.leader)
  if (l === undefined || !serving(l) || leaderRole(l.state) === undefined || epochServed(l) !== r.epoch) return undefined
  return l
}

export const primaryIntegrity: Inv = {
  name: "primaryIntegrity",
  description:
    "Primary integrity: if primary p broadcasts in epoch e and a process delivers b of an epoch before e, p delivered b before broadcasting",
  witness: "followerServingWithTxn",
  check: (w) => {
    for (const f of servingNodes(w)) {
      const l = leaderOf(w, f)
      if (l === undefined) continue
      const e = epochServed(l)
      for (const b of f.state!.tree) {
        if (epochOf(b.zxid) < e && !has(l.state!.tree, b)) return `${f.id} delivered ${show(b)} of an epoch before ${e}, which its primary ${l.id} did not`
      }
    }
    return undefined
  },
}

export const atMostOneEstablishedLeaderPerEpoch: Inv = {
  name: "atMostOneEstablishedLeaderPerEpoch",
  description: "At most one leader is established (a quorum ACKed its NEWLEADER) in any epoch",
  witness: "leadersInTwoEpochs",
  check: (w) => {
    const e = w.ghost.established
    for (let k = 1; k < e.length; k++) {
      if (e[k]!.epoch === e[k - 1]!.epoch && e[k]!.leader !== e[k - 1]!.leader) {
        return `${e[k - 1]!.leader} and ${e[k]!.leader} were both established in epoch ${e[k]!.epoch}`
      }
    }
    return undefined
  },
}

export const prefixConsistency: Inv = {
  name: "prefixConsistency",
  description: "Prefix consistency: of any two processes' delivered histories, one is a prefix of the other",
  witness: "twoServersDelivered",
  check: (w) => {
    const s = servingNodes(w)
    for (let x = 0; x < s.length; x++) {
      for (let y = x + 1; y < s.length; y++) {
        const a = s[x]!.state!.tree
        const b = s[y]!.state!.tree
        if (!isPrefix(a, b) && !isPrefix(b, a)) {
          return `${s[x]!.id} delivered [${a.map(show).join(", ")}] and ${s[y]!.id} [${b.map(show).join(", ")}]: neither is a prefix of the other`
        }
      }
    }
    return undefined
  },
}

export const leaderLogCompleteness: Inv = {
  name: "leaderLogCompleteness",
  description: "Leader log completeness: an established leader's history holds every transaction committed in an earlier epoch",
  witness: "laterLeaderAfterCommit",
  check: (w) => {
    for (const n of servingNodes(w)) {
      const l = leaderRole(n.state)
      if (l === undefined) continue
      for (const c of w.ghost.committed) {
        if (c.epoch < l.epoch && !has(n.state!.tree, c.txn)) {
          return `${n.id}, established in epoch ${l.epoch}, lacks ${show(c.txn)} committed in epoch ${c.epoch}`
        }
      }
    }
    return undefined
  },
}

export const committedLogDurability: TProp = {
  name: "committedLogDurability",
  description:
    "Committed-log durability: TRUNC or SNAP never removes a committed transaction from a server's log or data tree (unless the same sync hands it back as an outstanding proposal)",
  witness: "committedTxnResynced",
  check: ({ before, after, action }) => {
    if (action._tag !== "Deliver" || action.msg._tag !== "SYNC" || action.msg.mode === "DIFF") return undefined
    const i = after.nodes.findIndex((n) => n.id === action.node)
    const a = before.nodes[i]!.state
    const b = after.nodes[i]!.state
    if (a === undefined || b === undefined || a === b) return undefined
    // A proposal outstanding when the leader decided may be committed before the learner applies the sync: the
    // sync then carries it again (startForwarding), to be logged at UPTODATE.
    const back = b.role._tag === "FOLLOWING" ? b.role.unlogged : []
    for (const c of after.ghost.committed) {
      if (has(back, c.txn)) continue
      if (has(a.tree, c.txn) && !has(b.tree, c.txn)) return `${action.msg.mode} removed committed ${show(c.txn)} from ${action.node}'s data tree`
      if (action.msg.mode !== "SNAP" && has(a.log, c.txn) && !has(b.log, c.txn)) {
        return `${action.msg.mode} removed committed ${show(c.txn)} from ${action.node}'s log`
      }
    }
    return undefined
  },
}

/** The serving leader of the highest epoch, if any. */
const currentLeader = (w: ZabWorld): Node | undefined => {
  let best: Node | undefined
  for (const n of servingNodes(w)) {
    const l = leaderRole(n.state)
    if (l !== undefined && (best === undefined || l.epoch > leaderRole(best.state)!.epoch)) best = n
  }
  return best
}

export const monotonicRead: TProp = {
  name: "monotonicRead",
  description: "Monotonic read: the committed history seen through the current leader only grows",
  witness: "laterLeaderAfterCommit",
  check: ({ before, after }) => {
    const a = currentLeader(before)
    const b = currentLeader(after)
    if (a === undefined || b === undefined) return undefined
    if (leaderRole(b.state)!.epoch < leaderRole(a.state)!.epoch) return undefined
    if (!isPrefix(a.state!.tree, b.state!.tree)) {
      return `the current leader's history went from [${a.state!.tree.map(show).join(", ")}] (${a.id}) to [${b.state!.tree.map(show).join(", ")}] (${b.id})`
    }
    return undefined
  },
}

export const processConsistency: Inv = {
  name: "processConsistency",
  description: "Process consistency: a synced follower's history is a prefix of its leader's",
  witness: "followerServingWithTxn",
  check: (w) => {
    for (const f of servingNodes(w)) {
      const l = leaderOf(w, f)
      if (l === undefined) continue
      if (!isPrefix(f.state!.tree, l.state!.tree)) {
        return `${f.id}'s history [${f.state!.tree.map(show).join(", ")}] is not a prefix of its leader ${l.id}'s [${l.state!.tree.map(show).join(", ")}]`
      }
    }
    return undefined
  },
}

export const noImpossibleMessages: Inv = {
  name: "noImpossibleMessages",
  description:
    "No packet arrives that should not exist: NEWLEADER outside synchronization, a PROPOSAL that is not the next zxid, a COMMIT for an unknown or out-of-order zxid, an ACK for a zxid never proposed",
  witness: "txnCommitted",
  check: (w) => {
    for (const n of w.nodes) if (n.state?.anomaly) return n.state.anomaly
    return undefined
  },
}

const servingFollowersWithTxn = (w: ZabWorld) =>
  servingNodes(w).filter((n) => n.state!.role._tag === "FOLLOWING" && n.state!.tree.length > 0)

export const witnesses: ReadonlyArray<Witness<ZabNode, Message, Durable, ZabGhost>> = [
  { name: "txnCommitted", description: "a leader committed a transaction", holds: (w) => w.ghost.committed.length > 0 },
  {
    name: "newEpochAfterLeaderCrash",
    description: "a leader was established after an established leader crashed",
    holds: (w) => w.ghost.established.some((e) => e.afterLeaderCrash),
  },
  { name: "syncDIFF", description: "a learner was synchronized by DIFF", holds: (w) => w.ghost.syncModes.includes("DIFF") },
  { name: "syncTRUNC", description: "a learner was synchronized by TRUNC", holds: (w) => w.ghost.syncModes.includes("TRUNC") },
  {
    name: "syncTRUNCDIFF",
    description: "a learner was synchronized by TRUNC+DIFF",
    holds: (w) => w.ghost.syncModes.includes("TRUNC+DIFF"),
  },
  { name: "syncSNAP", description: "a learner was synchronized by SNAP", holds: (w) => w.ghost.syncModes.includes("SNAP") },
  { name: "txnDelivered", description: "a serving follower delivered a transaction", holds: (w) => servingFollowersWithTxn(w).length > 0 },
  {
    name: "twoServersDelivered",
    description: "two serving servers delivered transactions",
    holds: (w) => servingNodes(w).filter((n) => n.state!.tree.length > 0).length >= 2,
  },
  {
    name: "serverDeliveredTwo",
    description: "a serving server delivered two transactions",
    holds: (w) => servingNodes(w).some((n) => n.state!.tree.length >= 2),
  },
  {
    name: "followerServingWithTxn",
    description: "a serving follower of a serving leader of its epoch delivered a transaction",
    holds: (w) => servingFollowersWithTxn(w).some((f) => leaderOf(w, f) !== undefined),
  },
  {
    name: "leadersInTwoEpochs",
    description: "leaders were established in two epochs",
    holds: (w) => new Set(w.ghost.established.map((e) => e.epoch)).size >= 2,
  },
  {
    name: "laterLeaderAfterCommit",
    description: "a leader serves an epoch later than one in which a transaction was committed",
    holds: (w) =>
      servingNodes(w).some((n) => {
        const l = leaderRole(n.state)
        return l !== undefined && w.ghost.committed.some((c) => c.epoch < l.epoch)
      }),
  },
  {
    name: "committedTxnResynced",
    description: "a TRUNC or SNAP was applied to a server holding a committed transaction",
    holds: (w) => w.ghost.resyncedCommitted,
  },
]

export const invariants: ReadonlyArray<Inv> = [
  noImpossibleMessages,
  integrity,
  agreement,
  totalOrder,
  localPrimaryOrder,
  globalPrimaryOrder,
  primaryIntegrity,
  atMostOneEstablishedLeaderPerEpoch,
  prefixConsistency,
  leaderLogCompleteness,
  processConsistency,
]
export const transitionProperties: ReadonlyArray<TProp> = [committedLogDurability, monotonicRead]

/** The epochs a server has accepted: in memory while up, on disk while down (for the epoch bound). */
/** Proposals made while the model ran (not those already on the starting disks). */
export const proposedInModel = (g: ZabGhost): number => {
  let k = 0
  for (const b of g.broadcast) if (b.leader !== "before") k++
  return k
}

/** A server's FLE logical clock (0 with the oracle election or while down). */
export const roundOf = (n: Node): number => {
  const s = n.state
  if (s === undefined) return 0
  return s.role._tag === "LOOKING" ? (s.role.election?.logicalclock ?? 0) : (s.currentVote?.round ?? 0)
}

export const acceptedEpochOf = (n: Node): number => n.state?.acceptedEpoch ?? n.disk?.acceptedEpoch ?? 0

export type { NodeId }
