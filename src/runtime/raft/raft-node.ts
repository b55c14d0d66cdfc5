/**
 * A Raft node: the spec's Raft hosted by `NodeHost`, plus what a server needs around a consensus module and
 * the spec leaves to its host:
 *
 * - **Applying** committed entries, in order, to the etcd v2 key space (kv.ts) and answering the client whose
 *   proposal landed at that index — if the entry there still has the proposal's term (else it was dropped) —
 *   once the step that committed them is durable.
 * - **Parallel append** (variant `parallel-append`, the default): queuing the spec's `flushLog` step right after
 *   a leader's entries leave, so its own write overlaps the followers'.
 * - **Snapshots** (variants with compaction — `parallel-append-compaction` is the default; §7): once `snapshotEvery`
 *   entries were applied since the last snapshot, and they hold as many bytes as it does (`SNAPSHOT_LOG_RATIO`)
 *   or the steps since copied a long log about as much as a snapshot costs (`LARGE_LOG_SLOTS`), the key space
 *   is serialized and the spec's `compact` step replaces the log up to that index by it — on a leader once
 *   every peer holds those entries (or a few seconds have passed), so a healthy follower never needs the
 *   snapshot sent. A snapshot installed from the leader, or recovered from disk, replaces the key space.
 * - **Knowing the leader**: the sender of an AppendEntries of the current term (or itself).
 * - **Timer policy** (legal because a model timer may fire at any moment while armed): a follower's election
 *   timer is postponed whenever it accepts an AppendEntries of its term or grants a vote (Figure 2's "without
 *   receiving AppendEntries RPC from current leader or granting vote"); a leader fires its heartbeat timer
 *   early when a peer is behind and has no AppendEntries outstanding, so new entries leave at once — or, under
 *   load, once enough have gathered to fill a message (`maybeKick`).
 * - **A no-op entry at the start of each term** (§8), submitted as an ordinary client request: it lets a new
 *   leader commit (and so learn) everything committed before it, and is what read-index waits for.
 * - **Linearizable reads** by read index (§6.4): the read waits until the leader has committed an entry of its
 *   term, takes `readIndex = commitIndex`, confirms it is still leader with a round of `Probe` control frames
 *   answered by a majority still in its term, then serves once `readIndex` is applied.
 */
import type { NodeId } from "../../../spec/kernel/protocol.ts"
import { raft } from "../../../spec/raft/index.ts"
import {
  COMPACT,
  compactArg,
  ELECTION,
  entryAt,
  FLUSH_LOG,
  HEARTBEAT,
  lastLogIndex,
  snapshotIndex,
  termAt,
  type RaftState,
} from "../../../spec/raft/rules.ts"
import type { ClientReply, ClientRequest, Durable, Message, RaftConfig, RaftFlags, Snapshot } from "../../../spec/raft/schema.ts"
import type { Clock, TimerHandle } from "../clock.ts"
import type { EventSink } from "../events.ts"
import { NodeHost, silentLogger, type Logger, type StepInfo } from "../host.ts"
import { makeRng } from "../prng.ts"
import type { DurableStore } from "../storage.ts"
import type { Control, Transport } from "../transport.ts"
import {
  DEFAULT_SNAPSHOT_EVERY,
  defaultTimings,
  MAX_SNAPSHOT_BYTES,
  RUNTIME_VARIANT,
  runtimeConfig,
  runtimeFlags,
  SNAPSHOT_CATCH_UP_MS,
  SNAPSHOT_RESEND_MS,
  type RaftTimings,
} from "./config.ts"
import { encodeCommand, KvStore, type Command, type Result } from "./kv.ts"

export class NotLeaderError extends Error {
  constructor(readonly leader: NodeId | null) {
    super(leader === null ? "no leader is known" : `not the leader; the leader is ${leader}`)
    this.name = "NotLeaderError"
  }
}

/** A proposal or read that did not complete: `dropped` is safe to retry, `timeout` has an unknown outcome. */
export class RequestFailed extends Error {
  constructor(
    readonly code: "dropped" | "timeout" | "stopped",
    message: string,
  ) {
    super(message)
    this.name = "RequestFailed"
  }
}

export interface RaftNodeOptions {
  readonly self: NodeId
  readonly nodes: ReadonlyArray<NodeId>
  readonly store: DurableStore<Durable>
  /**
   * Makes a snapshot durable before the node takes the `compact` step that holds it (`RaftStore`: its own file,
   * written while appends go on), so that step's append need not write it. Without it the step's append does.
   */
  readonly prepareSnapshot?: (snapshot: Snapshot) => Promise<void>
  readonly transport: Transport<Message>
  readonly clock: Clock
  readonly seed: number
  readonly timings?: RaftTimings
  readonly events?: EventSink
  readonly logger?: Logger
  /** The model whose config (bounds lifted) the node runs with. */
  readonly model?: string
  /** The variant whose rules the node runs (a deployable one; default `RUNTIME_VARIANT`). */
  readonly variant?: string
  readonly proposalTimeoutMs?: number
  readonly readTimeoutMs?: number
  /** Variants with compaction: applied entries between snapshots (default `DEFAULT_SNAPSHOT_EVERY`). */
  readonly snapshotEvery?: number
  /** Variants with compaction: the log length past which its copies count towards a snapshot (`LARGE_LOG_SLOTS`). */
  readonly largeLogSlots?: number
  readonly onFatal?: (error: unknown) => void
}

type RaftHost = NodeHost<RaftState, Message, Durable, ClientRequest, ClientReply, RaftConfig, RaftFlags>

interface Proposal {
  readonly term: number
  /** The entry value proposed and its command, so the leader applies it without decoding it again. */
  readonly value: string
  readonly command: Command
  readonly resolve: (r: Result | undefined) => void
  readonly reject: (e: Error) => void
  /** The timeout shared by the proposals of one batch (a timer per write cost more than the rest of its bookkeeping). */
  readonly deadline: BatchDeadline
}

interface BatchDeadline {
  readonly timer: TimerHandle
  /** Proposals of the batch not yet applied or failed; the timer is cleared when none is left. */
  pending: number
}

/** A command waiting to be submitted with the others of its turn. */
interface Pending {
  readonly value: string
  readonly command: Command
  readonly resolve: (r: Result | undefined) => void
  readonly reject: (e: Error) => void
}

interface Waiter {
  /** true: done; false: keep waiting; an Error: fail. */
  readonly check: () => boolean | Error
  readonly resolve: () => void
  readonly reject: (e: Error) => void
  readonly timer: TimerHandle
}

interface Round {
  readonly seq: number
  readonly term: number
  readonly acks: Set<NodeId>
  readonly waiters: Array<{ resolve: () => void; reject: (e: Error) => void }>
  readonly timer: TimerHandle
}

/** How long a peak of concurrent writes is remembered (`worthWaiting`). */
const CONCURRENCY_WINDOW_MS = 100
/**
 * The share of that peak an AppendEntries waits for: not all of it — some writers are always between a reply
 * and their next request — but most. 0.5, 0.75 and 1 measured within noise of one another (`npm run
 * bench:cluster`, three runs each); the middle one is kept.
 */
const COALESCE_SHARE = 0.75
/**
 * A snapshot is taken once the entries applied since the last one hold at least this many times its bytes (and
 * `snapshotEvery` entries have passed): a snapshot serializes the whole key space, so a fixed entry count made
 * its cost per write grow with the key space. `npm run bench:inprocess -- --rounds 3` (20,000 to 200,000 keys):
 * 45 / 99 / 152 µs of CPU per write with every 10,000 entries, 40 / 60 / 60 with this rule (0.5 the same; 2
 * let the log, copied per step, grow too long: 114 in the third round).
 */
const SNAPSHOT_LOG_RATIO = 1
/**
 * A log longer than this is a V8 large object (over 128 KiB of 8-byte slots), and each step that changes the
 * log copies it (the spec's state is immutable): ~100 µs per copy at 17,000 entries, ~860 µs at 200,000,
 * against ~2.5 µs at 10,000. The byte rule alone let the log of a large key space grow that long, and one write
 * at a time then paid a copy per write on every node.
 */
const LARGE_LOG_SLOTS = 16_000
/**
 * So a snapshot is also due once the steps since the last one copied, in logs over `LARGE_LOG_SLOTS`, this
 * many slots per byte of that snapshot: the copies' cost weighed against a snapshot's. `npm run bench:inprocess
 * -- --rounds 3 --inflight 1 --writes 30000` (one write at a time, 50,000 → 110,000 keys): 96 / 315 / 561 µs of
 * CPU per write without this, 102 / 160 / 194 with 4 (131 / 176 in the last two rounds with 1, 253 / 310 with
 * 16). With 64 in flight (`--rounds 3`, 80,000 → 200,000 keys) it leaves long, batched steps alone: 35 / 51 /
 * 36 without, 33-36 / 52-59 / 35-42 with 4 (51-66 in the last round with 1 or 2).
 */
const LARGE_LOG_SLOTS_PER_SNAPSHOT_BYTE = 4

export class RaftNode {
  readonly host: RaftHost
  readonly kv = new KvStore()
  /** The leader of the current term as far as this node knows. */
  leader: NodeId | null = null
  readonly timings: RaftTimings
  private readonly clock: Clock
  private readonly log: Logger
  private readonly proposals = new Map<number, Proposal>()
  private batch: Pending[] = []
  private waiters = new Set<Waiter>()
  /** Leader: AppendEntries sent to each peer and not yet answered, and when the last one left. */
  private readonly outstanding = new Map<NodeId, { count: number; lastSent: number }>()
  private probeSeq = 0
  private readonly rounds = new Map<number, Round>()
  private confirmQueue: Array<{ term: number; resolve: () => void; reject: (e: Error) => void; deadline: number }> = []
  private roundScheduled = false
  private nextId = 0
  /** Whether an end-of-turn `submitBatch` is scheduled (`propose`). */
  private submitScheduled = false
  /** A wait to fill an AppendEntries (`maybeKick`): its timer, and whether that timer has run out. */
  private coalescing: { readonly timer: TimerHandle; expired: boolean } | undefined
  /** Writes submitted to the spec whose proposals are not registered yet (their step is not durable yet). */
  private submitting = 0
  /** The most writes held at once lately (`worthWaiting`), and since when. */
  private concurrency = 0
  private concurrencyAt = 0
  private readonly proposalTimeoutMs: number
  private readonly readTimeoutMs: number
  /** Whether a `flushLog` step is queued (parallel append: one at a time, see `afterStep`). */
  private flushQueued = false
  /**
   * Commit indexes reached by steps whose persists are not durable yet, oldest first: applied (and answered)
   * only once they are, since a crash before would undo the step (`applyDurableCommits`).
   */
  private readonly undurableCommits: Array<{ readonly need: number; readonly commitIndex: number }> = []
  private readonly snapshotEvery: number
  private readonly largeLogSlots: number
  /** A snapshot of the key space taken at `index`, waiting for the peers before the leader compacts to it. */
  private pendingSnapshot: { readonly index: number; readonly data: string; readonly at: number } | undefined
  /** Whether a `compact` step is queued. */
  private compactQueued = false
  /**
   * Bytes of entry values applied since a snapshot was last taken (or found too large) or restored, and that
   * snapshot's length (`SNAPSHOT_LOG_RATIO`).
   */
  private entryBytesSinceSnapshot = 0
  private lastSnapshotLength = 0
  /** Slots of logs over `largeLogSlots` copied by this node's steps since a snapshot was last taken or restored. */
  private largeLogSlotsCopied = 0
  /** The applied index at which the key space was last found too large to snapshot (so it is not retried at once). */
  private snapshotRefusedAt = -1
  /** Leader: the snapshot last sent to each peer and when, so a heartbeat does not send it again while it installs. */
  private readonly snapshotSent = new Map<NodeId, { readonly index: number; readonly at: number }>()

  constructor(readonly options: RaftNodeOptions) {
    this.timings = options.timings ?? defaultTimings
    this.clock = options.clock
    this.log = options.logger ?? silentLogger
    this.proposalTimeoutMs = options.proposalTimeoutMs ?? 10_000
    this.readTimeoutMs = options.readTimeoutMs ?? 5_000
    this.snapshotEvery = options.snapshotEvery ?? DEFAULT_SNAPSHOT_EVERY
    this.largeLogSlots = options.largeLogSlots ?? LARGE_LOG_SLOTS
    const rng = makeRng(options.seed)
    const { electionMs, heartbeatMs } = this.timings
    this.host = new NodeHost({
      protocol: raft,
      self: options.self,
      nodes: options.nodes,
      config: runtimeConfig(options.model),
      variant: runtimeFlags(options.variant),
      variantName: options.variant ?? RUNTIME_VARIANT,
      store: options.store,
      transport: options.transport,
      clock: options.clock,
      timerDelay: (timer) => (timer === ELECTION ? rng.int(electionMs, 2 * electionMs) : heartbeatMs),
      seed: options.seed,
      ...(options.events === undefined ? {} : { events: options.events }),
      logger: this.log,
      onStep: (info) => this.afterStep(info),
      onControl: (from, ctl) => this.onControl(from, ctl),
      dropSend: (to, msg) => this.resendsSnapshot(to, msg),
      onDurable: () => {
        this.applyDurableCommits()
        this.submitBatch()
      },
      ...(options.onFatal === undefined ? {} : { onFatal: options.onFatal }),
    })
  }

  get id(): NodeId {
    return this.options.self
  }

  get state(): RaftState {
    return this.host.state
  }

  get isLeader(): boolean {
    return this.host.state.role === "Leader"
  }

  async start(): Promise<void> {
    await this.host.start()
    // A snapshot recovered from disk is the key space up to its index: the log holds only what follows it.
    this.restoreSnapshot(this.state)
  }

  async stop(): Promise<void> {
    this.failAll(new RequestFailed("stopped", "the node is stopping"))
    await this.host.stop()
  }

  /** Simulated crash (tests). */
  crash(): void {
    this.failAll(new RequestFailed("stopped", "the node crashed"))
    this.host.crash()
  }

  // ---- client operations ----------------------------------------------------------------------------------

  /**
   * Proposes a command; resolves with its result once it is committed and applied here.
   *
   * Commands go to the spec together, as one `PutBatch` step: the spec copies the log once per step, so one
   * step per command made a write cost O(log length) (README, "Known gaps"). A batch is submitted at the end
   * of the event-loop turn, or — while an append is in flight — once that append is durable: a step taken
   * earlier would only have waited for the same next append (group commit), so the batch grows at no cost.
   */
  propose(command: Command): Promise<Result | undefined> {
    return new Promise((resolve, reject) => this.proposeThen(command, resolve, reject))
  }

  /**
   * `propose` with callbacks, called synchronously as the command is applied (or fails): a client API answers
   * each write as its entry is applied, instead of after the whole committed batch is (a promise resumes its
   * awaiter only once the apply loop is over). The callbacks run inside that loop, so they must not throw.
   * `npm run bench:cluster -- --only raft`, 8 ABBA pairs answering this way against through `propose`: 7,753
   * against 7,250 writes/s (+7 %), servers 158 against 169 µs of CPU per write.
   */
  proposeThen(command: Command, resolve: (r: Result | undefined) => void, reject: (e: Error) => void): void {
    // Eleven characters at least: V8's JSON.parse interns string values of up to ten, so a short id — unique per
    // write — went into the string table on every node that applied it (`perf`: ~4 % of a loaded follower's
    // main thread in the table's lookups and growth; 510 → 300 ns per command parsed in a micro-benchmark).
    const withId = { ...command, id: `${this.id}:${String(++this.nextId).padStart(8, "0")}` } as Command
    this.batch.push({ value: encodeCommand(withId), command: withId, resolve, reject })
    // Once per turn: the batch goes at the end of it — unless an append is in flight (it goes when that is
    // durable) or the batch is held for a coalescing AppendEntries, which its growth may have filled.
    if (!this.submitScheduled) {
      this.submitScheduled = true
      this.clock.setTimeout(() => {
        this.submitScheduled = false
        if (!this.host.appending) this.submitBatch()
      }, 0)
    }
  }

  private submitBatch(): void {
    if (this.batch.length === 0) return
    // While an AppendEntries waits to fill up, its new entries wait with it: one step, one append (fsync) and
    // one log copy for all of them, instead of one per append that would finish meanwhile.
    if (this.coalescing !== undefined && this.worthWaiting((this.unsentToIdlePeer(this.state) ?? 0) + this.batch.length)) return
    const batch = this.batch
    this.batch = []
    const [first, ...rest] = batch.map((p) => p.value)
    const request: ClientRequest = rest.length === 0 ? { _tag: "Put", value: first! } : { _tag: "PutBatch", values: [first!, ...rest] }
    this.submitting += batch.length
    this.host.request(request).then(
      (reply) => {
        this.submitting -= batch.length
        if (reply === undefined || reply._tag === "NotLeader") {
          const error =
            reply === undefined
              ? new RequestFailed("dropped", "the node did not take the request")
              : new NotLeaderError(this.leader === this.id ? null : this.leader)
          for (const p of batch) p.reject(error)
          return
        }
        this.register(reply.index, reply.term, batch)
      },
      // A step that threw (a broken internal assumption) fails every write of the batch, as it failed one before.
      (error: unknown) => {
        this.submitting -= batch.length
        for (const p of batch) p.reject(error instanceof Error ? error : new Error(String(error)))
      },
    )
  }

  /**
   * Waits for the entries of a batch, at `first` and after, to be applied (or replaced by another term's entry,
   * or to time out together).
   */
  private register(first: number, term: number, batch: ReadonlyArray<Pending>): void {
    const deadline: BatchDeadline = {
      pending: 0,
      timer: this.clock.setTimeout(() => {
        for (let index = first; index < first + batch.length; index++) {
          const p = this.proposals.get(index)
          if (p?.deadline !== deadline) continue
          this.proposals.delete(index)
          p.reject(new RequestFailed("timeout", `entry ${index} (term ${term}) was not committed within ${this.proposalTimeoutMs} ms; its outcome is unknown`))
        }
      }, this.proposalTimeoutMs),
    }
    batch.forEach((p, i) => {
      const index = first + i
      if (index <= this.kv.index) {
        p.reject(new RequestFailed("timeout", `entry ${index} was applied before its proposal was registered`))
        return
      }
      deadline.pending++
      this.proposals.set(index, { term, value: p.value, command: p.command, resolve: p.resolve, reject: p.reject, deadline })
    })
    if (deadline.pending === 0) this.clock.clearTimeout(deadline.timer)
  }

  /** A proposal is settled: its batch's timer goes once the whole batch is. */
  private settled(p: Proposal): void {
    if (--p.deadline.pending === 0) this.clock.clearTimeout(p.deadline.timer)
  }

  /**
   * Resolves when a linearizable read may be served from this node's key space: this node is the leader, has
   * committed an entry of its term, a majority confirmed its leadership after the read arrived, and the
   * commit index at arrival is applied. Throws `NotLeaderError` on a follower.
   */
  async readBarrier(): Promise<void> {
    const deadline = this.clock.now() + this.readTimeoutMs
    await this.waitUntil(() => {
      const s = this.state
      if (s.role !== "Leader") return new NotLeaderError(this.leader === this.id ? null : this.leader)
      return s.commitIndex > 0 && termAt(s, s.commitIndex) === s.currentTerm
    }, deadline)
    const { commitIndex: readIndex, currentTerm: term } = this.state
    await new Promise<void>((resolve, reject) => {
      this.confirmQueue.push({ term, resolve, reject, deadline })
      this.scheduleRound()
    })
    await this.waitUntil(() => this.kv.index >= readIndex || (this.state.currentTerm !== term ? new NotLeaderError(this.leader) : false), deadline)
  }

  /** A client URL of the leader, when this node is not it and the leader told its URL. */
  leaderClientUrl(): string | null {
    if (this.leader === null || this.leader === this.id) return null
    return this.options.transport.peer(this.leader)?.clientUrl ?? null
  }

  status() {
    const s = this.state
    return {
      id: this.id,
      role: s.role,
      term: s.currentTerm,
      leader: this.leader,
      votedFor: s.votedFor,
      commitIndex: s.commitIndex,
      lastApplied: this.kv.index,
      lastLogIndex: lastLogIndex(s),
      snapshotIndex: snapshotIndex(s),
      logLength: s.log.length,
      seed: this.options.seed,
      stats: this.host.stats,
    }
  }

  // ---- the host's hooks -----------------------------------------------------------------------------------

  private afterStep(info: StepInfo<RaftState, Message, Durable, ClientRequest, ClientReply>): void {
    const { event, before, after } = info
    if (after.snapshot !== before.snapshot) this.restoreSnapshot(after)
    if (after.log !== before.log && after.log.length > this.largeLogSlots) this.largeLogSlotsCopied += after.log.length
    // Who leads this term, and the election timer policy.
    if (after.currentTerm !== before.currentTerm) this.leader = null
    if (event._tag === "Deliver") {
      const m = event.msg
      if (m._tag === "AppendEntries" && m.term === after.currentTerm && after.role === "Follower") {
        if (this.leader !== event.from) this.log.info(`following ${event.from} in term ${after.currentTerm}`)
        this.leader = event.from
        this.host.postponeTimer(ELECTION)
      } else if (m._tag === "RequestVote" && after.votedFor === event.from && before.votedFor !== event.from) {
        this.host.postponeTimer(ELECTION)
      } else if (m._tag === "RequestVote" && after.role === "Follower" && after.currentTerm > before.currentTerm && after.votedFor === null) {
        // A candidate of a new term was refused: its log is behind ours, so it cannot win with our vote.
        // Standing now — an election timeout fired early, which the model allows at any moment — instead of
        // waiting out a whole timeout of our own (a failover took 912 ms that way; README, "Benchmark").
        this.host.fireTimerNow(ELECTION)
      } else if (m._tag === "AppendEntriesResponse") {
        const o = this.outstanding.get(event.from)
        if (o !== undefined && o.count > 0) o.count--
      }
    }
    if (after.role === "Leader" && event._tag === "Timeout" && event.timer === HEARTBEAT) {
      // Count the AppendEntries of this heartbeat as outstanding now, even if they wait for a persist.
      const now = this.clock.now()
      for (const p of this.host.ctx.peers) {
        const o = this.outstanding.get(p) ?? { count: 0, lastSent: 0 }
        o.count++
        o.lastSent = now
        this.outstanding.set(p, o)
      }
    }
    if (after.role === "Leader") {
      this.leader = this.id
      if (before.role !== "Leader" || before.currentTerm !== after.currentTerm) {
        this.log.info(`became leader of term ${after.currentTerm} (log ${lastLogIndex(after)}, commit ${after.commitIndex})`)
        this.outstanding.clear()
        void this.propose({ _tag: "noop" }).catch(() => {})
      }
      this.maybeKick(after)
    } else if (before.role === "Leader") {
      this.log.info(`stepped down in term ${after.currentTerm}`)
      this.failRounds(new NotLeaderError(this.leader))
    } else if (after.role === "Candidate" && before.currentTerm !== after.currentTerm) {
      this.log.info(`election timeout: candidate for term ${after.currentTerm}`)
    }
    // Parallel append: the leader's new entries go to disk in a step of their own, queued right behind this one
    // — after the heartbeat `maybeKick` may have queued, so their AppendEntries leave before the write starts.
    if (event._tag === "Internal" && event.action.name === FLUSH_LOG) this.flushQueued = false
    if (after.flushed !== undefined && after.flushed < lastLogIndex(after) && !this.flushQueued) {
      this.flushQueued = true
      this.host.deliver({ _tag: "Internal", action: { name: FLUSH_LOG } })
    }
    // Apply what is newly committed — once this step is durable. With parallel append a leader's flushLog step
    // can commit (it counts itself); until its write is durable a crash would forget that, so nothing of it may
    // show (its sends are held by the host; its applies and client answers here).
    if (after.commitIndex > this.kv.index) {
      const need = this.host.persistsTaken
      if (need <= this.host.durablePersists) this.applyUpTo(after.commitIndex)
      else this.undurableCommits.push({ need, commitIndex: after.commitIndex })
    }
    if (event._tag === "Internal" && event.action.name === COMPACT) this.compactQueued = false
    this.maybeCompact()
    this.checkWaiters()
  }

  /**
   * Variants with compaction: every `snapshotEvery` applied entries, snapshot the key space and queue the
   * spec's `compact` step to that index. A leader waits until every peer holds those entries (so none needs
   * the snapshot sent) or `SNAPSHOT_CATCH_UP_MS` passed (a peer that is down or far behind gets the snapshot).
   */
  private maybeCompact(): void {
    if (!this.host.ctx.variant.compaction || this.compactQueued || this.host.isStopped) return
    const s = this.state
    const base = snapshotIndex(s)
    if (this.pendingSnapshot !== undefined && this.pendingSnapshot.index <= base) this.pendingSnapshot = undefined
    // Due: N entries past the snapshot — or past the one still waiting for the peers, which a newer one
    // replaces (keeping its waiting time), so a leader with a peer down still compacts up to date.
    const from = this.pendingSnapshot?.index ?? base
    if (
      this.kv.index - from >= this.snapshotEvery &&
      this.kv.index - this.snapshotRefusedAt >= this.snapshotEvery &&
      (this.entryBytesSinceSnapshot >= this.lastSnapshotLength * SNAPSHOT_LOG_RATIO ||
        this.largeLogSlotsCopied >= this.lastSnapshotLength * LARGE_LOG_SLOTS_PER_SNAPSHOT_BYTE)
    ) {
      const data = this.kv.snapshot()
      this.countFromSnapshot(data.length)
      // As an InstallSnapshot it travels as a JSON string, where one character takes at most 6 bytes (\u001f):
      // measured exactly only when that bound does not already show it fits a frame.
      const wireBytes = data.length * 6 <= MAX_SNAPSHOT_BYTES ? data.length : Buffer.byteLength(JSON.stringify(data))
      if (wireBytes > MAX_SNAPSHOT_BYTES) {
        // Too large for one InstallSnapshot frame: keep the log (as without compaction) and try again later.
        this.snapshotRefusedAt = this.kv.index
        this.log.warn(`not compacting at ${this.kv.index}: the key space snapshot takes ${wireBytes} bytes on the wire, over ${MAX_SNAPSHOT_BYTES}`)
      } else {
        this.pendingSnapshot = { index: this.kv.index, data, at: this.pendingSnapshot?.at ?? this.clock.now() }
      }
    }
    const p = this.pendingSnapshot
    if (p === undefined) return
    if (s.role === "Leader" && this.clock.now() - p.at < SNAPSHOT_CATCH_UP_MS && this.host.ctx.peers.some((peer) => (s.matchIndex[peer] ?? 0) < p.index)) return
    this.pendingSnapshot = undefined
    this.compactQueued = true
    const action = { name: COMPACT, arg: compactArg(p.index, p.data) }
    let encoded: string | undefined
    const compact = (): void => this.host.deliver({ _tag: "Internal", action }, encoded)
    const prepare = this.options.prepareSnapshot
    const term = termAt(s, p.index)
    if (prepare === undefined || term === undefined) return compact()
    // While the file is written, a turn of its own encodes the step's event line (the key space JSON-escaped:
    // ~5 ms for 20,000 keys), so the compact step's turn — in which the node answers nobody — does not.
    if (this.host.recording) this.clock.setTimeout(() => (encoded = JSON.stringify(action)), 0)
    prepare({ index: p.index, term, data: p.data }).then(compact, (error: unknown) => {
      // Not compacted: the log stays whole, and the next snapshot is due as if this one had been taken.
      this.compactQueued = false
      this.snapshotRefusedAt = this.kv.index
      this.log.warn(`not compacting at ${p.index}: writing the snapshot file failed: ${(error as Error).message}`)
    })
  }

  /**
   * Every heartbeat asks to send a peer that needs a compacted entry the whole snapshot again; a peer still
   * receiving or installing the last one (an answer takes a parse and an O_DSYNC write of the key space) gets
   * it again only after `SNAPSHOT_RESEND_MS` — the others are dropped, as a network may drop them.
   */
  private resendsSnapshot(to: NodeId, msg: Message): boolean {
    if (msg._tag !== "InstallSnapshot") return false
    const now = this.clock.now()
    const last = this.snapshotSent.get(to)
    if (last !== undefined && last.index === msg.lastIncludedIndex && now - last.at < SNAPSHOT_RESEND_MS) return true
    this.snapshotSent.set(to, { index: msg.lastIncludedIndex, at: now })
    return false
  }

  /**
   * The key space becomes the snapshot's when the snapshot is ahead of it (installed from the leader, or
   * recovered from disk). Data that is not a key-space snapshot stops the node: it cannot serve from it.
   */
  private restoreSnapshot(s: RaftState): void {
    const snap = s.snapshot
    if (snap === undefined || snap.index <= this.kv.index) return
    try {
      this.kv.restore(snap.data, snap.index)
    } catch (error) {
      this.log.error(`snapshot at index ${snap.index} is unusable: ${(error as Error).message}; stopping this node`)
      this.crash()
      this.options.onFatal?.(error)
      return
    }
    this.countFromSnapshot(snap.data.length)
    this.log.info(`key space restored from the snapshot at index ${snap.index} (term ${snap.term})`)
  }

  /** A snapshot of `length` characters was taken (or found too large) or restored: what makes the next one due starts over. */
  private countFromSnapshot(length: number): void {
    this.entryBytesSinceSnapshot = 0
    this.largeLogSlotsCopied = 0
    this.lastSnapshotLength = length
  }

  /** Applies the commits of steps that are now durable (`undurableCommits`). */
  private applyDurableCommits(): void {
    const durable = this.host.durablePersists
    let upTo = this.kv.index
    while (this.undurableCommits.length > 0 && this.undurableCommits[0]!.need <= durable) {
      upTo = Math.max(upTo, this.undurableCommits.shift()!.commitIndex)
    }
    if (upTo === this.kv.index) return
    this.applyUpTo(upTo)
    this.maybeCompact()
    this.checkWaiters()
  }

  /** Applies committed entries in order up to `commitIndex`, answering the proposals that landed there. */
  private applyUpTo(commitIndex: number): void {
    const s = this.state
    while (this.kv.index < commitIndex) {
      const index = this.kv.index + 1
      // Snapshots cover applied entries only, or are restored into the key space first (restoreSnapshot).
      const entry = entryAt(s, index)
      if (entry === undefined) throw new Error(`raft-node: entry ${index} to apply is not in the log (snapshot at ${snapshotIndex(s)})`)
      const p = this.proposals.get(index)
      const result = this.kv.apply(index, entry.value, p !== undefined && p.value === entry.value ? p.command : undefined)
      this.entryBytesSinceSnapshot += entry.value.length
      if (p !== undefined) {
        this.proposals.delete(index)
        this.settled(p)
        if (entry.term === p.term) p.resolve(result)
        else p.reject(new RequestFailed("dropped", `entry ${index} of term ${p.term} was replaced by a later leader; not applied`))
      }
    }
  }

  /**
   * Leader: fire the heartbeat now if a peer is behind and has nothing outstanding — unless it is worth
   * waiting to fill the message. An AppendEntries costs its receiver a fixed few hundred µs of CPU (a step, an
   * fsync, socket calls, a log copy; `npm run bench:follower`) besides ~10 µs per entry, so under load many small
   * messages cost more than the entries they carry. Like Nagle's algorithm, but sized by the load: when many
   * clients write at once, the message waits until it holds most of their writes (`worthWaiting`), is full, or
   * `coalesceMs` has passed; meanwhile new writes wait too (`submitBatch`), so the leader appends them in one step
   * and one fsync. One writer at a time never waits. Measured with `npm run bench:cluster` (64 in flight):
   * follower CPU per write 40 → 25 µs, leader 100 → 80 µs, lower latency under load.
   */
  private maybeKick(s: RaftState): void {
    const waiting = this.unsentToIdlePeer(s)
    if (waiting === undefined) return
    if (this.worthWaiting(waiting)) {
      if (this.coalescing === undefined) {
        const wait = { timer: this.clock.setTimeout(() => this.coalescingRanOut(wait), this.timings.coalesceMs), expired: false }
        this.coalescing = wait
      }
      return
    }
    this.endCoalescing()
    // At once (the host queues it right behind this step), not at the end of the turn: the AppendEntries
    // then leaves before this turn's replies to clients are written.
    this.host.fireTimerNow(HEARTBEAT)
  }

  /**
   * The fewest entries a peer lacks among the peers with no AppendEntries outstanding (or only a stale one),
   * or undefined when no peer is behind and idle.
   */
  private unsentToIdlePeer(s: RaftState): number | undefined {
    const now = this.clock.now()
    const stale = 2 * this.timings.heartbeatMs
    const last = lastLogIndex(s)
    let waiting: number | undefined
    for (const p of this.host.ctx.peers) {
      const next = s.nextIndex[p] ?? 0
      if (next > last) continue
      const o = this.outstanding.get(p)
      if (o !== undefined && o.count > 0 && now - o.lastSent <= stale) continue
      waiting = Math.min(waiting ?? Number.POSITIVE_INFINITY, last + 1 - next)
    }
    return waiting
  }

  /** The wait is over: what it held goes now (the held batch's step sends the AppendEntries, see above). */
  private coalescingRanOut(wait: { expired: boolean }): void {
    if (this.coalescing !== wait) return
    wait.expired = true
    // The message did not fill: fewer clients write now than the remembered peak, so the peak is forgotten —
    // else a lone writer after a burst waited out this timer on every write for the rest of the window.
    this.concurrency = this.writesHeld
    this.concurrencyAt = this.clock.now()
    if (this.batch.length > 0 && !this.host.appending) this.submitBatch()
    if (this.isLeader) this.maybeKick(this.state)
    this.endCoalescing()
  }

  private endCoalescing(): void {
    if (this.coalescing === undefined) return
    this.clock.clearTimeout(this.coalescing.timer)
    this.coalescing = undefined
  }

  /** Writes this leader holds: proposed, and neither applied nor failed yet. */
  private get writesHeld(): number {
    return this.proposals.size + this.batch.length + this.submitting
  }

  /** Whether `waiting` unsent entries should wait for more (see `maybeKick`). */
  private worthWaiting(waiting: number): boolean {
    if (this.timings.coalesceMs <= 0 || this.coalescing?.expired === true) return false
    // Their recent peak is how many clients write at once.
    const now = this.clock.now()
    const held = this.writesHeld
    if (held >= this.concurrency || now - this.concurrencyAt > CONCURRENCY_WINDOW_MS) {
      this.concurrency = held
      this.concurrencyAt = now
    }
    const target = Math.min(this.host.ctx.config.maxEntriesPerMessage, Math.floor(this.concurrency * COALESCE_SHARE))
    return waiting < target
  }

  private onControl(from: NodeId, ctl: Control): void {
    if (this.host.isStopped) return
    switch (ctl._tag) {
      case "Probe":
        this.host.sendControl(from, { _tag: "ProbeAck", seq: ctl.seq, term: this.state.currentTerm })
        return
      case "ProbeAck": {
        const r = this.rounds.get(ctl.seq)
        if (r === undefined || ctl.term !== r.term) return
        const s = this.state
        if (s.role !== "Leader" || s.currentTerm !== r.term) return
        r.acks.add(from)
        if (r.acks.size >= this.host.ctx.quorum) this.completeRound(r)
        return
      }
    }
  }

  // ---- read-index rounds --------------------------------------------------------------------------------

  private scheduleRound(): void {
    if (this.roundScheduled) return
    this.roundScheduled = true
    this.clock.setTimeout(() => {
      this.roundScheduled = false
      this.startRound()
    }, 0)
  }

  private startRound(): void {
    const s = this.state
    const now = this.clock.now()
    const waiters: Round["waiters"] = []
    for (const w of this.confirmQueue) {
      if (s.role !== "Leader" || s.currentTerm !== w.term) w.reject(new NotLeaderError(this.leader))
      else if (now > w.deadline) w.reject(new RequestFailed("timeout", "leadership could not be confirmed in time"))
      else waiters.push(w)
    }
    const retry = this.confirmQueue.filter((w) => waiters.includes(w))
    this.confirmQueue = []
    if (waiters.length === 0) return
    const seq = ++this.probeSeq
    const timer = this.clock.setTimeout(() => {
      // No majority in time: try again with a fresh round (the deadline check above ends it).
      if (!this.rounds.delete(seq)) return
      this.confirmQueue.push(...retry)
      this.scheduleRound()
    }, 4 * this.timings.heartbeatMs)
    const r: Round = { seq, term: s.currentTerm, acks: new Set([this.id]), waiters, timer }
    this.rounds.set(seq, r)
    if (r.acks.size >= this.host.ctx.quorum) {
      this.completeRound(r)
      return
    }
    for (const p of this.host.ctx.peers) this.host.sendControl(p, { _tag: "Probe", seq, term: r.term })
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

  // ---- waiting ------------------------------------------------------------------------------------------

  private waitUntil(check: () => boolean | Error, deadline: number): Promise<void> {
    const first = check()
    if (first === true) return Promise.resolve()
    if (first instanceof Error) return Promise.reject(first)
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        check,
        resolve,
        reject,
        timer: this.clock.setTimeout(() => {
          if (this.waiters.delete(w)) reject(new RequestFailed("timeout", "the node could not serve the request in time"))
        }, Math.max(0, deadline - this.clock.now())),
      }
      this.waiters.add(w)
    })
  }

  private checkWaiters(): void {
    if (this.waiters.size === 0) return
    for (const w of [...this.waiters]) {
      const r = w.check()
      if (r === false) continue
      this.waiters.delete(w)
      this.clock.clearTimeout(w.timer)
      if (r === true) w.resolve()
      else w.reject(r)
    }
  }

  private failAll(error: Error): void {
    this.endCoalescing()
    for (const p of this.batch) p.reject(error)
    this.batch = []
    for (const p of this.proposals.values()) {
      this.clock.clearTimeout(p.deadline.timer)
      p.reject(error)
    }
    this.proposals.clear()
    for (const w of this.waiters) {
      this.clock.clearTimeout(w.timer)
      w.reject(error)
    }
    this.waiters.clear()
    this.failRounds(error)
    for (const w of this.confirmQueue) w.reject(error)
    this.confirmQueue = []
  }
}
