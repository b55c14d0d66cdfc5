/**
 * A ZAB server: the spec's `zab` (FastLeaderElection, discovery, synchronization, broadcast) hosted by `NodeHost`,
 * plus what a ZooKeeper server does around the protocol and the spec leaves to its host:
 *
 * - **Internal steps**: FLE's `finalize` runs `finalizeMs` after a quorum agrees (finalizeWait), if still enabled.
 * - **Failure detection** (the spec's TIMEOUT timer, which may fire at any moment while armed): a LEADING server
 *   sends keepalive `Probe` control frames to its learners every `heartbeatMs`; a follower postpones its TIMEOUT
 *   whenever it hears from its leader (a packet or a probe) and answers each probe; a leader in broadcast
 *   postpones its own TIMEOUT while a quorum (itself included) answered within `timeoutMs` (ZooKeeper's
 *   syncLimit check). A leader still in discovery or synchronization gets `2·timeoutMs` (initLimit) and no more.
 * - **The znode tree** (datatree.ts), mirrored from the spec's data tree (the transactions applied, in order):
 *   new transactions are applied as they appear; when a sync (TRUNC, SNAP) or a restart replaces the spec's data
 *   tree, the znode tree is rebuilt from it. It is served only while the server serves (an established leader, a
 *   follower after UPTODATE): a LOOKING or syncing server may hold transactions a sync will still remove.
 * - **Writes**: client operations become a transaction (`Write`, several per transaction under load) on the
 *   established leader and are answered once the leader commits and applies it, each with its result at its
 *   position. If the leader leaves its role first the outcome is unknown (a later leader may still commit it).
 * - **Linearizable reads** on the leader: after the read arrives, a round of probes must be answered by a quorum
 *   still following this leader in its epoch in broadcast; every write acknowledged before the read was applied
 *   by this leader (it commits them), and no later epoch can have been established without one of that quorum.
 */
import type { NodeId } from "../../../spec/kernel/protocol.ts"
import { zab } from "../../../spec/zab/index.ts"
import { FINALIZE, FOLLOW, LEAD, RESEND, TIMEOUT, type ZabNode } from "../../../spec/zab/rules.ts"
import type { ClientReply, ClientRequest, Durable, Message, Txn, ZabConfig, ZabFlags } from "../../../spec/zab/schema.ts"
import { showZxid } from "../../../spec/zab/zxid.ts"
import { sidOf } from "../../../spec/zab/election.ts"
import type { Clock, TimerHandle } from "../clock.ts"
import type { EventSink } from "../events.ts"
import { NodeHost, silentLogger, type Logger, type StepInfo } from "../host.ts"
import type { DurableStore } from "../storage.ts"
import type { Control, Transport, TransportHandlers } from "../transport.ts"
import { defaultTimings, faithfulFlags, runtimeConfig, type ZabTimings } from "./config.ts"
import { DataTree, encodeTxnBody, type ApplyResult, type Op, type WatchEvent } from "./datatree.ts"

export class NotLeaderError extends Error {
  constructor(readonly leader: NodeId | null) {
    super(leader === null ? "no established leader is known" : `not the leader; the leader is ${leader}`)
    this.name = "NotLeaderError"
  }
}

/** A request that did not complete: `unknown` outcome (retry may apply twice), `timeout`, or `stopped`. */
export class RequestFailed extends Error {
  constructor(
    readonly code: "unknown" | "timeout" | "stopped",
    message: string,
  ) {
    super(message)
    this.name = "RequestFailed"
  }
}

export interface ZabNodeOptions {
  readonly self: NodeId
  readonly nodes: ReadonlyArray<NodeId>
  readonly store: DurableStore<Durable>
  readonly transport: Transport<Message>
  readonly clock: Clock
  readonly seed: number
  readonly timings?: ZabTimings
  readonly events?: EventSink
  readonly logger?: Logger
  readonly proposalTimeoutMs?: number
  readonly readTimeoutMs?: number
  readonly onFatal?: (error: unknown) => void
  /** Wall-clock time stamped into transactions (ctime/mtime); the spec never sees it. */
  readonly wallClock?: () => number
}

type ZabHost = NodeHost<ZabNode, Message, Durable, ClientRequest, ClientReply, ZabConfig, ZabFlags>

interface Pending {
  readonly resolve: (r: ApplyResult) => void
  readonly reject: (e: Error) => void
  readonly timer: TimerHandle
}

interface Round {
  readonly seq: number
  readonly epoch: number
  readonly acks: Set<NodeId>
  readonly waiters: Array<{ resolve: () => void; reject: (e: Error) => void }>
  readonly timer: TimerHandle
}

interface Watcher {
  readonly path: string
  readonly kind: "data" | "children"
  readonly resolve: (e: WatchEvent) => void
}

const HISTORY = 1000
const MAX_BATCH_OPS = 64
const MAX_BATCH_BYTES = 512 * 1024

export const serving = (s: ZabNode): boolean =>
  (s.role._tag === "LEADING" || s.role._tag === "FOLLOWING") && s.role.phase === "BROADCAST"

export class ZabPeer {
  readonly host: ZabHost
  private readonly holding: HoldingTransport
  tree = new DataTree()
  readonly timings: ZabTimings
  private treeRef: ReadonlyArray<Txn> = []
  private readonly clock: Clock
  private readonly log: Logger
  private readonly pending = new Map<string, Pending>()
  /** Operations waiting for this turn's transaction (see `propose`). */
  private readonly batch: Array<{ id: string; op: Op }> = []
  private batchScheduled = false
  private nextId = 0
  private readonly idPrefix: string
  private heartbeat: TimerHandle | undefined
  /** FLE resends since this server last changed role (their back-off). */
  private resends = 0
  private probeSeq = 0
  /** Leader: when each learner last answered a probe in this leader's epoch. */
  private readonly lastAck = new Map<NodeId, number>()
  private readonly rounds = new Map<number, Round>()
  private confirmQueue: Array<{ epoch: number; resolve: () => void; reject: (e: Error) => void; deadline: number }> = []
  private roundScheduled = false
  private readonly history: WatchEvent[] = []
  private watchers = new Set<Watcher>()
  private readonly proposalTimeoutMs: number
  private readonly readTimeoutMs: number
  private readonly wallClock: () => number

  constructor(readonly options: ZabNodeOptions) {
    this.timings = options.timings ?? defaultTimings
    this.clock = options.clock
    this.log = options.logger ?? silentLogger
    this.proposalTimeoutMs = options.proposalTimeoutMs ?? 10_000
    this.readTimeoutMs = options.readTimeoutMs ?? 5_000
    this.wallClock = options.wallClock ?? Date.now
    this.idPrefix = `${options.self}:${options.seed.toString(36)}:${Math.floor(this.wallClock()).toString(36)}:`
    const { timeoutMs, finalizeMs } = this.timings
    this.holding = new HoldingTransport(
      options.transport,
      options.clock,
      timeoutMs,
      (msg) => msg._tag === "FOLLOWERINFO" && this.state.role._tag === "LOOKING",
      (id, up) => this.onPeerChange(id, up),
    )
    this.host = new NodeHost({
      protocol: zab,
      self: options.self,
      nodes: options.nodes,
      config: runtimeConfig(),
      variant: faithfulFlags(),
      variantName: zab.defaultVariant,
      store: options.store,
      transport: this.holding,
      clock: options.clock,
      timerDelay: () => {
        const r = this.host.state.role
        return r._tag === "LEADING" && r.phase !== "BROADCAST" ? 2 * timeoutMs : timeoutMs
      },
      // finalizeWait for FLE's decision; the oracle election's choices (lead, follow) are never the host's;
      // every other internal step (a log flush, the next durable write of a sync) runs at once.
      // A server about to follow waits a little longer than the one about to lead, so that its FOLLOWERINFO does
      // not reach a leader still in its own window (which turns it away: ZooKeeper's follower retries connecting).
      // FLE's resends back off as lookForLeader's notTimeout does (from finalizeWait, doubling; capped at 1 s
      // rather than 60 s so that a server left LOOKING rejoins quickly).
      internalDelay: (action) =>
        action.name === FINALIZE
          ? finalizeMs + (this.proposesSelf() ? 0 : Math.max(50, finalizeMs / 4))
          : action.name === RESEND
            ? Math.min(1000, finalizeMs * 2 ** this.resends++)
            : action.name === LEAD || action.name === FOLLOW
              ? undefined
              : 0,
      seed: options.seed,
      ...(options.events === undefined ? {} : { events: options.events }),
      logger: this.log,
      onStep: (info) => this.afterStep(info),
      onControl: (from, ctl) => this.onControl(from, ctl),
      ...(options.onFatal === undefined ? {} : { onFatal: options.onFatal }),
    })
  }

  get id(): NodeId {
    return this.options.self
  }

  get state(): ZabNode {
    return this.host.state
  }

  /** An established leader (broadcast phase). */
  get isLeader(): boolean {
    const r = this.state.role
    return r._tag === "LEADING" && r.phase === "BROADCAST"
  }

  get isServing(): boolean {
    return serving(this.state)
  }

  private proposesSelf(): boolean {
    const r = this.state.role
    return r._tag === "LOOKING" && r.election !== null && r.election.proposal.leader === sidOf(this.id)
  }

  /** The leader this server follows or is, as far as it knows. */
  get leader(): NodeId | null {
    const r = this.state.role
    return r._tag === "LEADING" ? this.id : r._tag === "FOLLOWING" ? r.leader : null
  }

  async start(): Promise<void> {
    await this.host.start()
    this.syncTree(this.host.state, false)
    this.scheduleHeartbeat()
  }

  async stop(): Promise<void> {
    this.failAll(new RequestFailed("stopped", "the node is stopping"))
    if (this.heartbeat !== undefined) this.clock.clearTimeout(this.heartbeat)
    await this.host.stop()
  }

  crash(): void {
    this.failAll(new RequestFailed("stopped", "the node crashed"))
    if (this.heartbeat !== undefined) this.clock.clearTimeout(this.heartbeat)
    this.host.crash()
  }

  // ---- client operations ----------------------------------------------------------------------------------

  /**
   * Proposes a znode operation on the established leader; resolves with its result once committed and applied.
   * Operations proposed in the same turn of the event loop share one transaction (`TxnBody.ops`, at most
   * `MAX_BATCH_OPS` / `MAX_BATCH_BYTES`): under load the per-transaction costs (a step per message, the spec's
   * copies of its history) are spread over many writes; alone, a write is a transaction of its own at once.
   */
  propose(op: Op): Promise<ApplyResult> {
    if (!this.isLeader) return Promise.reject(new NotLeaderError(this.leader === this.id ? null : this.leader))
    const id = this.idPrefix + (++this.nextId).toString(36)
    const done = new Promise<ApplyResult>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        if (this.pending.get(id)?.timer !== timer) return
        this.pending.delete(id)
        reject(new RequestFailed("timeout", `the write was not committed within ${this.proposalTimeoutMs} ms; its outcome is unknown`))
      }, this.proposalTimeoutMs)
      this.pending.set(id, { resolve, reject, timer })
    })
    this.batch.push({ id, op })
    if (!this.batchScheduled) {
      this.batchScheduled = true
      setImmediate(() => this.proposeBatch())
    }
    return done
  }

  private proposeBatch(): void {
    this.batchScheduled = false
    while (this.batch.length > 0) {
      let bytes = 0
      let n = 0
      while (n < this.batch.length && n < MAX_BATCH_OPS && bytes < MAX_BATCH_BYTES) {
        const o = this.batch[n]!.op
        bytes += o.path.length + (o._tag === "delete" ? 0 : o.data.length) + 64
        n++
      }
      const ops = this.batch.splice(0, n)
      void this.host.request({ _tag: "Write", value: encodeTxnBody({ time: this.wallClock(), ops }) }).then((reply) => {
        if (reply !== undefined && reply._tag !== "NotLeader") return
        // Not taken (this server is no longer the established leader): safe to retry elsewhere.
        for (const { id } of ops) {
          const p = this.pending.get(id)
          if (p === undefined) continue
          this.pending.delete(id)
          this.clock.clearTimeout(p.timer)
          p.reject(new NotLeaderError(null))
        }
      })
    }
  }

  /** Resolves when a linearizable read may be served from this node's tree (it is the established leader). */
  async readBarrier(): Promise<void> {
    if (!this.isLeader) throw new NotLeaderError(this.leader === this.id ? null : this.leader)
    const epoch = this.state.acceptedEpoch
    await new Promise<void>((resolve, reject) => {
      this.confirmQueue.push({ epoch, resolve, reject, deadline: this.clock.now() + this.readTimeoutMs })
      this.scheduleRound()
    })
  }

  /** Waits for the next change of `path` (data: created/changed/deleted; children) after zxid `since`. */
  watch(path: string, kind: "data" | "children", since: number): { event?: WatchEvent; tooOld?: boolean; wait?: Promise<WatchEvent>; cancel?: () => void } {
    const matches = (e: WatchEvent) => e.path === path && (kind === "children" ? e.type === "NodeChildrenChanged" : e.type !== "NodeChildrenChanged")
    const oldest = this.history[0]
    if (since < this.tree.lastZxid) {
      if (oldest !== undefined && since < oldest.zxid - 1 && this.history.length >= HISTORY) return { tooOld: true }
      const hit = this.history.find((e) => e.zxid > since && matches(e))
      if (hit !== undefined) return { event: hit }
    }
    let w: Watcher | undefined
    const wait = new Promise<WatchEvent>((resolve) => {
      w = { path, kind, resolve }
      this.watchers.add(w)
    })
    return { wait, cancel: () => void (w !== undefined && this.watchers.delete(w)) }
  }

  /** A client URL of the leader, when this node follows one that told its URL. */
  leaderClientUrl(): string | null {
    const r = this.state.role
    if (r._tag !== "FOLLOWING") return null
    return this.options.transport.peer(r.leader)?.clientUrl ?? null
  }

  status() {
    const s = this.state
    const r = s.role
    return {
      id: this.id,
      role: r._tag,
      phase: r._tag === "LEADING" || r._tag === "FOLLOWING" ? r.phase : null,
      serving: this.isServing,
      leader: this.leader,
      acceptedEpoch: s.acceptedEpoch,
      currentEpoch: s.currentEpoch,
      lastZxid: showZxid(s.lastProcessed),
      lastZxidNumber: s.lastProcessed,
      logLength: s.log.length,
      applied: this.tree.applied,
      znodes: this.tree.size,
      anomaly: s.anomaly,
      exited: r._tag === "EXITED" ? r.why : null,
      seed: this.options.seed,
      stats: this.host.stats,
    }
  }

  // ---- the host's hooks -----------------------------------------------------------------------------------

  private afterStep(info: StepInfo<ZabNode, Message, Durable, ClientRequest, ClientReply>): void {
    const { event, before, after } = info
    const b = before.role
    const a = after.role
    if (a._tag !== b._tag || (a._tag === "FOLLOWING" && b._tag === "FOLLOWING" && a.leader !== b.leader)) {
      if (a._tag === "LEADING") this.log.info(`LEADING: proposing epoch ${a.epoch} (last zxid ${showZxid(after.lastProcessed)})`)
      else if (a._tag === "FOLLOWING") this.log.info(`FOLLOWING ${a.leader} (last zxid ${showZxid(after.lastProcessed)})`)
      else if (a._tag === "LOOKING") this.log.info(`LOOKING (was ${b._tag}${event._tag === "Timeout" ? ", timed out" : ""})`)
      else this.log.error(`EXITED: ${a.why}`)
      this.lastAck.clear()
      this.resends = 0
    }
    if (serving(after) && !serving(before)) {
      this.log.info(`serving: ${a._tag} in epoch ${after.currentEpoch}, last zxid ${showZxid(after.lastProcessed)}, ${after.tree.length} transactions applied`)
    }
    if (after.anomaly !== null && before.anomaly === null) this.log.error(`protocol anomaly: ${after.anomaly}`)
    // Failure detection: a follower hears from its leader.
    if (event._tag === "Deliver" && a._tag === "FOLLOWING" && a.leader === event.from) this.host.postponeTimer(TIMEOUT)
    if (this.pending.size > 0 && !(a._tag === "LEADING" && b._tag === "LEADING" && a.epoch === b.epoch)) {
      this.failPending(new RequestFailed("unknown", `${this.id} stopped leading before the write committed; its outcome is unknown`))
    }
    if (before.role._tag === "LEADING" && !this.isLeader) this.failRounds(new NotLeaderError(this.leader))
    this.syncTree(after, a._tag === "LEADING")
    if (a._tag !== b._tag) this.holding.release()
  }

  /** Mirrors the spec's data tree (applied transactions) into the znode tree. */
  private syncTree(s: ZabNode, leading: boolean): void {
    const txns = s.tree
    if (txns === this.treeRef) return
    const n = this.tree.applied
    const prev = this.treeRef
    const extendsPrev = txns.length >= n && (n === 0 || (txns[n - 1] === prev[n - 1] && txns[0] === prev[0]))
    const notify = serving(s)
    if (!extendsPrev) {
      this.tree = new DataTree()
      this.history.length = 0
      for (const t of txns) this.tree.apply(t.zxid, t.value)
      this.log.info(`znode tree rebuilt from ${txns.length} transactions (last zxid ${showZxid(this.tree.lastZxid)})`)
    } else {
      for (let i = n; i < txns.length; i++) {
        const t = txns[i]!
        const r = this.tree.apply(t.zxid, t.value)
        if (leading && this.pending.size > 0) {
          for (const { id, result } of r.results) {
            const p = this.pending.get(id)
            if (p === undefined) continue
            this.pending.delete(id)
            this.clock.clearTimeout(p.timer)
            p.resolve(result)
          }
        }
        for (const e of r.events) {
          this.history.push(e)
          if (notify) this.fire(e)
        }
      }
      if (this.history.length > HISTORY) this.history.splice(0, this.history.length - HISTORY)
    }
    this.treeRef = txns
  }

  private fire(e: WatchEvent): void {
    if (this.watchers.size === 0) return
    for (const w of [...this.watchers]) {
      const hit = e.path === w.path && (w.kind === "children" ? e.type === "NodeChildrenChanged" : e.type !== "NodeChildrenChanged")
      if (!hit) continue
      this.watchers.delete(w)
      w.resolve(e)
    }
  }

  /**
   * A follower whose connection to its leader closed (the leader's process died, its socket was reset) fires its
   * armed TIMEOUT at once rather than waiting it out — as ZooKeeper's learner leaves on a socket error. Firing an
   * armed timer early is a behaviour of the spec.
   */
  private onPeerChange(id: NodeId, up: boolean): void {
    if (up || this.host.isStopped) return
    const r = this.state.role
    if (r._tag === "FOLLOWING" && r.leader === id && this.host.isArmed(TIMEOUT)) {
      this.log.info(`the connection to leader ${id} closed: giving up on it now`)
      this.host.fireTimerNow(TIMEOUT)
    }
  }

  private onControl(from: NodeId, ctl: Control): void {
    if (this.host.isStopped) return
    const s = this.state
    switch (ctl._tag) {
      case "Probe": {
        const r = s.role
        const mine = r._tag === "FOLLOWING" && r.leader === from
        if (mine) this.host.postponeTimer(TIMEOUT)
        const ok = mine && r.phase === "BROADCAST" && r.epoch === ctl.term
        this.host.sendControl(from, { _tag: "ProbeAck", seq: ctl.seq, term: ok ? ctl.term : -1 })
        return
      }
      case "ProbeAck": {
        const r = s.role
        if (r._tag !== "LEADING" || ctl.term !== r.epoch || r.learners[from] === undefined) return
        this.lastAck.set(from, this.clock.now())
        const round = this.rounds.get(ctl.seq)
        if (round === undefined || round.epoch !== r.epoch || r.phase !== "BROADCAST") return
        round.acks.add(from)
        if (round.acks.size >= this.host.ctx.quorum) this.completeRound(round)
        return
      }
    }
  }

  // ---- keepalives and read rounds ------------------------------------------------------------------------

  private scheduleHeartbeat(): void {
    this.heartbeat = this.clock.setTimeout(() => {
      this.tick()
      if (!this.host.isStopped) this.scheduleHeartbeat()
    }, this.timings.heartbeatMs)
  }

  private tick(): void {
    if (this.host.isStopped) return
    const r = this.state.role
    if (r._tag !== "LEADING") return
    const seq = ++this.probeSeq
    for (const id of Object.keys(r.learners) as NodeId[]) this.host.sendControl(id, { _tag: "Probe", seq, term: r.epoch })
    if (r.phase !== "BROADCAST") return
    // ZooKeeper's syncLimit check: a quorum (this leader included) heard from recently keeps the leader leading.
    const now = this.clock.now()
    let fresh = 1
    for (const [id, at] of this.lastAck) if (r.learners[id] !== undefined && now - at <= this.timings.timeoutMs) fresh++
    if (fresh >= this.host.ctx.quorum) this.host.postponeTimer(TIMEOUT)
  }

  private scheduleRound(): void {
    if (this.roundScheduled) return
    this.roundScheduled = true
    this.clock.setTimeout(() => {
      this.roundScheduled = false
      this.startRound()
    }, 0)
  }

  private startRound(): void {
    const now = this.clock.now()
    const r = this.state.role
    const waiters: Round["waiters"] = []
    for (const w of this.confirmQueue) {
      if (!this.isLeader || r._tag !== "LEADING" || r.epoch !== w.epoch) w.reject(new NotLeaderError(this.leader))
      else if (now > w.deadline) w.reject(new RequestFailed("timeout", "leadership could not be confirmed in time"))
      else waiters.push(w)
    }
    const retry = this.confirmQueue.filter((w) => waiters.includes(w))
    this.confirmQueue = []
    if (waiters.length === 0 || r._tag !== "LEADING") return
    const seq = ++this.probeSeq
    const timer = this.clock.setTimeout(() => {
      if (!this.rounds.delete(seq)) return
      this.confirmQueue.push(...retry)
      this.scheduleRound()
    }, 4 * this.timings.heartbeatMs)
    const round: Round = { seq, epoch: r.epoch, acks: new Set([this.id]), waiters, timer }
    this.rounds.set(seq, round)
    if (round.acks.size >= this.host.ctx.quorum) return this.completeRound(round)
    for (const id of Object.keys(r.learners) as NodeId[]) this.host.sendControl(id, { _tag: "Probe", seq, term: r.epoch })
  }

  private completeRound(r: Round): void {
    if (!this.rounds.delete(r.seq)) return
    this.clock.clearTimeout(r.timer)
    for (const w of r.waiters) w.resolve()
  }

  private failRounds(error: Error): void {
    for (const r of this.rounds.values()) {
      this.clock.clearTimeout(r.timer)
      for (const w of r.waiters) w.reject(error)
    }
    this.rounds.clear()
  }

  private failPending(error: Error): void {
    for (const p of this.pending.values()) {
      this.clock.clearTimeout(p.timer)
      p.reject(error)
    }
    this.pending.clear()
  }

  private failAll(error: Error): void {
    this.batch.length = 0
    this.failPending(error)
    this.failRounds(error)
    for (const w of this.confirmQueue) w.reject(error)
    this.confirmQueue = []
  }
}

/**
 * Delays a FOLLOWERINFO that reaches a server still LOOKING (in its finalize window) until it has decided, or
 * `maxHoldMs` passed: a learner may decide before its leader does, and the spec turns a FOLLOWERINFO to a server
 * that is not LEADING away (ZooKeeper's learner retries its connection instead). Holding a message is a network
 * delay, so every run stays a behaviour of the spec; messages from the same sender queue behind it (FIFO).
 */
class HoldingTransport implements Transport<Message> {
  private handlers: TransportHandlers<Message> | undefined
  private readonly queues = new Map<NodeId, Array<{ msg: Message; raw: string; since: number }>>()

  constructor(
    private readonly inner: Transport<Message>,
    private readonly clock: Clock,
    private readonly maxHoldMs: number,
    private readonly hold: (msg: Message) => boolean,
    private readonly onPeerChange: (id: NodeId, up: boolean) => void,
  ) {}

  start(handlers: TransportHandlers<Message>): Promise<void> {
    this.handlers = handlers
    return this.inner.start({
      ...handlers,
      onMessage: (from, msg, raw) => this.arrive(from, msg, raw),
      onPeer: (id, info, up) => {
        handlers.onPeer?.(id, info, up)
        this.onPeerChange(id, up)
      },
    })
  }

  private arrive(from: NodeId, msg: Message, raw: string): void {
    const q = this.queues.get(from)
    if (q !== undefined) {
      q.push({ msg, raw, since: this.clock.now() })
      return
    }
    if (!this.hold(msg)) return this.handlers?.onMessage(from, msg, raw)
    this.queues.set(from, [{ msg, raw, since: this.clock.now() }])
    this.clock.setTimeout(() => this.release(), this.maxHoldMs + 1)
  }

  /** Delivers what need not wait any longer (called when the server's role changes, and on expiry). */
  release(): void {
    const now = this.clock.now()
    for (const [from, q] of [...this.queues]) {
      while (q.length > 0) {
        const head = q[0]!
        if (this.hold(head.msg) && now - head.since < this.maxHoldMs) break
        q.shift()
        this.handlers?.onMessage(from, head.msg, head.raw)
      }
      if (q.length === 0) this.queues.delete(from)
      else this.clock.setTimeout(() => this.release(), this.maxHoldMs - (now - q[0]!.since) + 1)
    }
  }

  send(to: NodeId, json: string): void {
    this.inner.send(to, json)
  }
  sendControl(to: NodeId, ctl: Control): void {
    this.inner.sendControl(to, ctl)
  }
  peer(id: NodeId) {
    return this.inner.peer(id)
  }
  close(): Promise<void> {
    return this.inner.close()
  }
}
