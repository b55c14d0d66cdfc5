/**
 * Hosts one node of a protocol: holds its state, feeds it events one at a time through the spec's pure
 * `handle`, and carries out each `Step`'s effects.
 *
 * Rules (see README.md):
 * - **Persist-before-send.** A step's `persist` is appended durably (write + fdatasync) before any `Send` or
 *   `Reply` of that step — and of every later step, whose state includes it — takes effect.
 * - **Group commit.** While an append is in flight, later steps keep running in memory; their persists are
 *   coalesced into the next single append (only the newest durable value is written: each record is a whole
 *   value), and their sends and replies wait, in order, until that append is durable.
 * - **Timers** are local and invisible to peers, so `SetTimer` / `CancelTimer` apply at once. A fired timer is
 *   disarmed and delivered as a `Timeout` event, exactly as the checker models it. The host may *postpone* an
 *   armed timer or fire it *early*: in the model a timer may fire at any moment while it is armed, so both
 *   keep every run a behaviour of the spec.
 * - **Replies** of a step that handled a client request go to that request's caller.
 */
import type { Event, InternalAction, NodeContext, NodeId, Protocol, Step } from "../../spec/kernel/protocol.ts"
import { makeContext } from "../../spec/kernel/protocol.ts"
import type { Clock, TimerHandle } from "./clock.ts"
import { plainEncoder } from "./codec.ts"
import { DigestCache, stateDigest } from "./digest.ts"
import { noEvents, type EventSink } from "./events.ts"
import type { DurableStore } from "./storage.ts"
import { messageEncoder, type Control, type Transport } from "./transport.ts"

export interface Logger {
  info(message: string): void
  warn(message: string): void
  error(message: string): void
}

export const silentLogger: Logger = { info: () => {}, warn: () => {}, error: () => {} }

/** What the host tells an observer after each step (state already updated; sends/replies may be held). */
export interface StepInfo<S, M, D, C, R> {
  readonly event: Event<M, C>
  readonly before: S
  readonly after: S
  readonly step: Step<S, M, D, R>
}

export interface HostOptions<S, M, D, C, R, Cfg, V> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly protocol: Protocol<S, M, D, C, R, any, Cfg, V>
  readonly self: NodeId
  readonly nodes: ReadonlyArray<NodeId>
  readonly config: Cfg
  readonly variant: V
  /** The variant's name, written on the restart line so a validator replays the same rules. */
  readonly variantName: string
  readonly store: DurableStore<D>
  readonly transport: Transport<M>
  readonly clock: Clock
  /** Milliseconds until `timer` fires once armed (randomization, e.g. of election timeouts, goes here). */
  readonly timerDelay: (timer: string) => number
  readonly events?: EventSink
  readonly logger?: Logger
  /** Seed printed in the restart event, for the record. */
  readonly seed?: number
  readonly onStep?: (info: StepInfo<S, M, D, C, R>) => void
  readonly onControl?: (from: NodeId, ctl: Control) => void
  /** A message left (its step's persists are durable). */
  readonly onSend?: (to: NodeId, msg: M) => void
  /**
   * Whether to drop a message instead of sending it — a loss, which the protocol must tolerate and the model
   * explores. Raft nodes use it not to resend a whole snapshot to a peer that is still installing it.
   */
  readonly dropSend?: (to: NodeId, msg: M) => boolean
  /** A reply produced by a step that did not handle a client request. */
  readonly onReply?: (reply: R) => void
  /** A durable write failed: the node must stop (it cannot keep its promises). */
  readonly onFatal?: (error: unknown) => void
  /** An append became durable and the sends and replies waiting for it are out. */
  readonly onDurable?: () => void
  /**
   * Runs the protocol's enabled internal actions on their own: milliseconds after one becomes enabled (0: at
   * once), or undefined to leave it alone. Enabled actions are re-read after every step; one that is no longer
   * enabled when its time comes does not run (an enabled action may be taken at any moment in the model).
   */
  readonly internalDelay?: (action: InternalAction) => number | undefined
}

type Held<M, R> =
  | { readonly need: number; readonly kind: "send"; readonly to: NodeId; readonly msg: M; readonly json: string }
  | { readonly need: number; readonly kind: "reply"; readonly reply: R | undefined; readonly to: ((r: R | undefined) => void) | undefined }

interface ArmedTimer {
  handle: TimerHandle
  /** When it is due; a postponed timer wakes at its old time and re-sleeps until this. */
  deadline: number
}

interface Queued<M, C, R> {
  readonly event: Event<M, C>
  /** The event's payload as its event line writes it, already encoded: a message as received, an internal action. */
  readonly raw?: string
  readonly replyTo?: (r: R | undefined) => void
}

/**
 * Whether two messages are equal as plain data, looking one level into arrays (elements compared by
 * identity): equal messages encode to equal text, so one may reuse the other's encoding. False when unsure.
 */
const sameMessage = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false
    const x = (a as Record<string, unknown>)[k]
    const y = (b as Record<string, unknown>)[k]
    if (x === y) continue
    if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
  }
  return true
}

export class NodeHost<S, M, D, C, R, Cfg, V> {
  readonly ctx: NodeContext<Cfg, V>
  private current: S | undefined
  private readonly encodeMessage: (m: M) => string
  private readonly encodeRequest: (c: C) => unknown
  private readonly encodeDurable: (d: D) => unknown
  private readonly events: EventSink
  /** False with `noEvents`: no digests or event lines are built at all. */
  readonly recording: boolean
  private readonly log: Logger
  private readonly started: number

  private readonly queue: Array<Queued<M, C, R>> = []
  private processing = false

  private persistSeq = 0
  private durableSeq = 0
  private pending: { value: D } | undefined
  private writing: Promise<void> | undefined
  private held: Array<Held<M, R>> = []

  private readonly timers = new Map<string, ArmedTimer>()
  /** Internal actions scheduled by `internalDelay`, by name and arg. */
  private readonly internals = new Map<string, { handle: TimerHandle }>()
  private stopped = false
  /** When the last step line with a state digest was logged (digests are sampled, events.ts). */
  private lastDigestAt = Number.NEGATIVE_INFINITY
  /** This node's digest cache (digest.ts): the blocks of its log already hashed. */
  private readonly digests = new DigestCache()

  /** Counters, for status pages and the benchmark. */
  readonly stats = { steps: 0, appends: 0, persists: 0, sent: 0, dropped: 0, delivered: 0, bytesPersisted: 0, appendMsTotal: 0, appendMsMax: 0 }

  constructor(readonly options: HostOptions<S, M, D, C, R, Cfg, V>) {
    this.ctx = makeContext(options.self, options.nodes, options.config, options.variant)
    this.encodeMessage = messageEncoder(options.protocol.schemas.message)
    this.encodeRequest = plainEncoder(options.protocol.schemas.clientRequest)
    this.encodeDurable = plainEncoder(options.protocol.schemas.durable)
    this.events = options.events ?? noEvents
    this.recording = this.events !== noEvents
    this.log = options.logger ?? silentLogger
    this.started = options.clock.now()
  }

  get state(): S {
    if (this.current === undefined) throw new Error("host not started")
    return this.current
  }

  get id(): NodeId {
    return this.options.self
  }

  get isStopped(): boolean {
    return this.stopped
  }

  /** Boots the node from what its store recovered (`recover`), then starts listening. */
  async start(): Promise<void> {
    const { protocol, store } = this.options
    const step = protocol.recover(this.ctx, store.recovered)
    this.current = step.state
    this.emit(
      `"ev":"restart","protocol":${JSON.stringify(protocol.name)},"variant":${JSON.stringify(this.options.variantName)},"seed":${this.options.seed ?? null},"disk":${
        store.recovered === undefined ? "null" : JSON.stringify(this.encodeDurable(store.recovered))
      },"digest":"${stateDigest(step.state, this.digests)}"${step.persist === undefined ? "" : `,"persist":true`}`,
    )
    this.apply(step, undefined)
    this.scheduleInternal()
    await this.options.transport.start({
      onMessage: (from, msg, raw) => {
        this.stats.delivered++
        this.dispatch({ event: { _tag: "Deliver", from, msg }, raw })
      },
      onControl: (from, ctl) => this.options.onControl?.(from, ctl),
    })
  }

  /**
   * Handles one event (queued behind the one being handled, if any). `raw`: an internal action already encoded
   * as JSON, for its event line — a Raft compaction's holds the whole key space, encoded beforehand so that
   * its step does not (raft-node.ts `maybeCompact`).
   */
  deliver(event: Event<M, C>, raw?: string): void {
    this.dispatch(raw === undefined ? { event } : { event, raw })
  }

  /** Submits a client request; resolves with the reply of the step that handled it (after it is durable). */
  request(request: C): Promise<R | undefined> {
    return new Promise((resolve) => this.dispatch({ event: { _tag: "Client", request }, replyTo: resolve }))
  }

  /** Persists the steps so far asked for; a step's effects are out once `durablePersists` reaches this. */
  get persistsTaken(): number {
    return this.persistSeq
  }

  /** Persists already durable. */
  get durablePersists(): number {
    return this.durableSeq
  }

  /** Whether an append is in flight (steps handled now are made durable by the next one). */
  get appending(): boolean {
    return this.writing !== undefined
  }

  isArmed(timer: string): boolean {
    return this.timers.has(timer)
  }

  /** Pushes an armed timer's deadline to a fresh delay from now (a follower hearing from its leader). */
  postponeTimer(timer: string): void {
    const t = this.timers.get(timer)
    if (t !== undefined) t.deadline = this.options.clock.now() + this.options.timerDelay(timer)
  }

  /** Fires an armed timer now (a leader with new entries need not wait for its heartbeat). */
  fireTimerNow(timer: string): boolean {
    const t = this.timers.get(timer)
    if (t === undefined || this.stopped) return false
    this.options.clock.clearTimeout(t.handle)
    this.timers.delete(timer)
    this.dispatch({ event: { _tag: "Timeout", timer } })
    return true
  }

  sendControl(to: NodeId, ctl: Control): void {
    if (!this.stopped) this.options.transport.sendControl(to, ctl)
  }

  /** Stops cleanly: no more events; waits for the append in flight; closes the store and the transport. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.clearTimers()
    await this.options.transport.close()
    while (this.writing !== undefined) await this.writing
    await this.options.store.close()
    await this.events.close()
  }

  /** Simulated crash: everything not yet durable is lost, nothing held leaves. */
  crash(): void {
    this.stopped = true
    this.clearTimers()
    this.held = []
    this.queue.length = 0
    void this.options.transport.close()
  }

  // -------------------------------------------------------------------------------------------------------

  private dispatch(q: Queued<M, C, R>): void {
    if (this.stopped) return
    this.queue.push(q)
    if (this.processing) return
    this.processing = true
    try {
      for (let next = this.queue.shift(); next !== undefined && !this.stopped; next = this.queue.shift()) this.process(next)
    } finally {
      this.processing = false
    }
  }

  private process(q: Queued<M, C, R>): void {
    // Between steps, so every send of the steps so far is either logged or held (and named in the checkpoint).
    if (this.recording && this.events.full) this.checkpoint()
    const before = this.state
    const step = this.options.protocol.handle(this.ctx, before, q.event)
    this.current = step.state
    this.stats.steps++
    this.persist(step)
    if (this.recording) this.record(q, step)
    const sent = this.stats.sent
    this.carryOut(step, q.replyTo)
    // What this step sent leaves now, not at the end of the turn: a Raft leader's AppendEntries otherwise waited
    // for its flushLog step and the rest of the turn. Sequential writes, event-log timestamps in µs: leader send
    // → follower deliver 214 → 133 µs at the median, client request → first answer from a follower 848 → 733.
    if (this.stats.sent !== sent) this.options.transport.flush?.()
    this.options.onStep?.({ event: q.event, before, after: step.state, step })
    this.scheduleInternal()
    // The append starts once the step's other work is done, not first: the thread-pool thread it wakes queues
    // on this thread's core (the kernel places it there) and waited there, while the other core sat idle, for
    // as long as this step went on (`perf sched`: 40 % of a loaded cluster's idle time). ABBA pairs of `npm run
    // bench:cluster -- --only raft --no-failover`: 10,050 against 9,627 writes/s, 15 pairs of 22 faster; with
    // `--only zab`: 7,984 against 7,624, 3 of 4.
    this.startAppend()
  }

  private clearTimers(): void {
    for (const t of this.timers.values()) this.options.clock.clearTimeout(t.handle)
    this.timers.clear()
    for (const t of this.internals.values()) this.options.clock.clearTimeout(t.handle)
    this.internals.clear()
  }

  /** Schedules newly enabled internal actions (`internalDelay`) and drops those no longer enabled. */
  private scheduleInternal(): void {
    const delayOf = this.options.internalDelay
    if (delayOf === undefined || this.stopped) return
    const enabled = this.options.protocol.enabledInternal(this.ctx, this.state)
    if (enabled.length === 0 && this.internals.size === 0) return
    const keys = new Set<string>()
    for (const action of enabled) {
      const key = action.arg === undefined ? action.name : `${action.name}\u0000${action.arg}`
      keys.add(key)
      if (this.internals.has(key)) continue
      const delay = delayOf(action)
      if (delay === undefined) continue
      const entry = { handle: { id: -1 } as TimerHandle }
      entry.handle = this.options.clock.setTimeout(() => {
        if (this.internals.get(key) !== entry || this.stopped) return
        this.internals.delete(key)
        this.dispatch({ event: { _tag: "Internal", action } })
      }, delay)
      this.internals.set(key, entry)
    }
    for (const [key, t] of this.internals) {
      if (keys.has(key)) continue
      this.options.clock.clearTimeout(t.handle)
      this.internals.delete(key)
    }
  }

  private record(q: Queued<M, C, R>, step: Step<S, M, D, R>): void {
    const e = q.event
    const persisted = step.persist === undefined ? "" : `,"persist":true`
    const now = this.options.clock.now()
    let digest = ""
    if (now - this.lastDigestAt >= this.events.digestEveryMs) {
      this.lastDigestAt = now
      digest = `,"digest":"${stateDigest(step.state, this.digests)}"`
    }
    switch (e._tag) {
      case "Deliver":
        this.emit(`"ev":"deliver","from":"${e.from}","msg":${q.raw ?? this.encodeMessage(e.msg)}${digest}${persisted}`)
        break
      case "Timeout":
        this.emit(`"ev":"timer","timer":${JSON.stringify(e.timer)}${digest}${persisted}`)
        break
      case "Client":
        this.emit(`"ev":"client","request":${JSON.stringify(this.encodeRequest(e.request))}${digest}${persisted}`)
        break
      case "Internal":
        this.emit(`"ev":"internal","action":${q.raw ?? JSON.stringify(e.action)}${digest}${persisted}`)
        break
    }
  }

  /** Rotates the event log and starts the new file with the node's state and its held sends (events.ts). */
  private checkpoint(): void {
    this.events.rotate()
    const held = this.held.flatMap((h) => (h.kind === "send" ? [`[${JSON.stringify(h.to)},${h.json}]`] : []))
    const { protocol } = this.options
    this.emit(
      `"ev":"checkpoint","protocol":${JSON.stringify(protocol.name)},"variant":${JSON.stringify(this.options.variantName)},"state":${JSON.stringify(this.state)},"digest":"${stateDigest(this.state, this.digests)}","held":[${held.join(",")}]`,
    )
  }

  private apply(step: Step<S, M, D, R>, replyTo: ((r: R | undefined) => void) | undefined): void {
    this.persist(step)
    this.carryOut(step, replyTo)
    this.startAppend()
  }

  /** Queues the step's persist (group commit): its effects wait for it from now on (`carryOut`). */
  private persist(step: Step<S, M, D, R>): void {
    if (step.persist === undefined) return
    this.persistSeq++
    this.stats.persists++
    this.pending = { value: step.persist }
  }

  /** Starts an append of what is queued unless one is in flight (which takes it up when done). */
  private startAppend(): void {
    if (this.pending !== undefined && this.writing === undefined) this.writing = this.writeLoop()
  }

  /** Timers now; sends and replies once everything persisted so far is durable. */
  private carryOut(step: Step<S, M, D, R>, replyTo: ((r: R | undefined) => void) | undefined): void {
    const need = this.persistSeq
    let encoded: Map<M, string> | undefined
    let replies = 0
    for (const fx of step.effects) {
      switch (fx._tag) {
        case "SetTimer":
          this.arm(fx.timer)
          break
        case "CancelTimer": {
          const t = this.timers.get(fx.timer)
          if (t !== undefined) {
            this.options.clock.clearTimeout(t.handle)
            this.timers.delete(fx.timer)
          }
          break
        }
        case "Send": {
          encoded ??= new Map()
          let json = encoded.get(fx.msg)
          if (json === undefined) {
            // A step often sends equal messages to several peers (a leader's AppendEntries): encode once.
            for (const [m, j] of encoded) if (sameMessage(m, fx.msg)) json = j
            json ??= this.encodeMessage(fx.msg)
            encoded.set(fx.msg, json)
          }
          this.release({ need, kind: "send", to: fx.to, msg: fx.msg, json })
          break
        }
        case "Reply":
          replies++
          this.release({ need, kind: "reply", reply: fx.reply, to: replyTo })
          break
      }
    }
    // A client request whose step replied nothing is answered `undefined` once that step's effects are out.
    if (replyTo !== undefined && replies === 0) this.release({ need, kind: "reply", reply: undefined, to: replyTo })
  }

  private release(h: Held<M, R>): void {
    if (this.held.length === 0 && h.need <= this.durableSeq) this.run(h)
    else this.held.push(h)
  }

  private run(h: Held<M, R>): void {
    if (h.kind === "send") {
      if (this.options.dropSend?.(h.to, h.msg) === true) {
        this.stats.dropped++
        return
      }
      this.stats.sent++
      this.options.transport.send(h.to, h.json)
      this.options.onSend?.(h.to, h.msg)
      if (this.recording) this.emit(`"ev":"send","to":"${h.to}","msg":${h.json}`)
    } else if (h.to !== undefined) h.to(h.reply)
    else if (h.reply !== undefined) this.options.onReply?.(h.reply)
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.pending !== undefined && !this.stopped) {
        const { value } = this.pending
        const seq = this.persistSeq
        this.pending = undefined
        let info
        const began = this.options.clock.now()
        try {
          info = await this.options.store.append(value)
          const took = this.options.clock.now() - began
          this.stats.appendMsTotal += took
          this.stats.appendMsMax = Math.max(this.stats.appendMsMax, took)
        } catch (error) {
          this.log.error(`durable write failed: ${(error as Error).message}; stopping this node`)
          this.crash()
          this.options.onFatal?.(error)
          return
        }
        if (this.stopped && this.held.length === 0) return
        this.stats.appends++
        this.stats.bytesPersisted += info.bytes
        this.durableSeq = seq
        if (this.recording) this.emit(`"ev":"persist","seq":${seq},"bytes":${info.bytes}`)
        let i = 0
        while (i < this.held.length && this.held[i]!.need <= this.durableSeq) i++
        const ready = this.held.slice(0, i)
        this.held = this.held.slice(i)
        for (const h of ready) this.run(h)
        this.options.onDurable?.()
      }
    } finally {
      this.writing = undefined
    }
  }

  private arm(timer: string): void {
    const clock = this.options.clock
    const existing = this.timers.get(timer)
    if (existing !== undefined) clock.clearTimeout(existing.handle)
    const delay = this.options.timerDelay(timer)
    const t: ArmedTimer = { handle: { id: -1 }, deadline: clock.now() + delay }
    const wake = (): void => {
      if (this.timers.get(timer) !== t || this.stopped) return
      const left = t.deadline - clock.now()
      if (left > 0) {
        t.handle = clock.setTimeout(wake, left)
        return
      }
      this.timers.delete(timer)
      this.dispatch({ event: { _tag: "Timeout", timer } })
    }
    t.handle = clock.setTimeout(wake, delay)
    this.timers.set(timer, t)
  }

  private emit(body: string): void {
    this.events.line(`{"t":${Math.round(this.options.clock.now() - this.started)},"node":"${this.options.self}",${body}}`)
  }
}
