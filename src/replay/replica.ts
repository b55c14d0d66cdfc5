/**
 * One replayed node: the runtime's `NodeHost` over a real `FileStore` in `<dir>/<id>/`, with a clock whose timers
 * never fire by themselves and a transport that hands every outgoing message (as wire JSON) to the scheduler.
 * The same class runs inside the replaying process (in-process mode) and inside a child process
 * (node-process.ts, process mode), where the scheduler talks to it over IPC.
 */
import * as path from "node:path"
import type { AnyProtocol, Event, InternalAction, NodeId } from "../../spec/kernel/protocol.ts"
import { settle, type Clock } from "../runtime/clock.ts"
import type { EventSink } from "../runtime/events.ts"
import { NodeHost } from "../runtime/host.ts"
import { FileStore, type AppendInfo, type DurableStore } from "../runtime/storage.ts"
import { messageDecoder, type Control, type PeerInfo, type Transport, type TransportHandlers } from "../runtime/transport.ts"

/** What the scheduler asks a node to do: one event of the trace. */
export type ReplicaOp =
  | { readonly op: "deliver"; readonly from: NodeId; readonly json: string }
  | { readonly op: "timeout"; readonly timer: string }
  | { readonly op: "client"; readonly request: unknown }
  | { readonly op: "internal"; readonly action: InternalAction }

/** A node as the comparison sees it, after it has quiesced. */
export interface Snapshot {
  readonly state: unknown
  /** What is durable: what a crash would keep (undefined if it never persisted). */
  readonly disk: unknown
  readonly armed: ReadonlyArray<string>
}

export interface ReplicaOptions {
  readonly protocol: AnyProtocol
  readonly model: string
  /** The variant whose rules this node runs. */
  readonly variant: string
  readonly self: NodeId
  readonly nodes: ReadonlyArray<NodeId>
  /** The replay's data directory; this node uses `<dir>/<id>/`. */
  readonly dir: string
  readonly onSend: (to: NodeId, json: string) => void
  readonly events?: EventSink
}

/** A clock whose timers never fire by themselves: the scheduler fires them where the trace does. */
const heldClock = (): Clock => {
  let next = 0
  let time = 0
  return {
    now: () => time++,
    setTimeout: () => ({ id: ++next }),
    clearTimeout: () => {},
  }
}

/** A store that says when its appends are done, and what is durable. */
class TrackedStore<D> implements DurableStore<D> {
  inflight = 0
  durable: D | undefined
  constructor(private readonly inner: FileStore<D>) {
    this.durable = inner.recovered
  }
  get recovered(): D | undefined {
    return this.inner.recovered
  }
  async append(value: D): Promise<AppendInfo> {
    this.inflight++
    try {
      const info = await this.inner.append(value)
      this.durable = value
      return info
    } finally {
      this.inflight--
    }
  }
  close(): Promise<void> {
    return this.inner.close()
  }
}

export class Replica {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private readonly host: NodeHost<any, any, any, any, any, any, any>
  private readonly store: TrackedStore<unknown>
  private handlers: TransportHandlers<unknown> | undefined
  private readonly decode: (json: unknown) => unknown
  private open = true

  constructor(private readonly o: ReplicaOptions) {
    const variant = o.protocol.variants[o.variant]
    const model = o.protocol.models[o.model]
    if (variant === undefined || model === undefined) throw new Error(`no ${o.protocol.name} model ${o.model} or variant ${o.variant}`)
    this.decode = messageDecoder(o.protocol.schemas.message)
    this.store = new TrackedStore(FileStore.open(path.join(o.dir, o.self), o.protocol.schemas.durable))
    const transport: Transport<unknown> = {
      start: async (h) => {
        this.handlers = h
      },
      send: (to, json) => {
        if (this.open) o.onSend(to, json)
      },
      sendControl: (_to: NodeId, _ctl: Control) => {},
      peer: (): PeerInfo | undefined => undefined,
      close: async () => {
        this.open = false
        this.handlers = undefined
      },
    }
    this.host = new NodeHost({
      protocol: o.protocol,
      self: o.self,
      nodes: o.nodes,
      config: model.config,
      variant: variant.flags,
      variantName: o.variant,
      store: this.store,
      transport,
      clock: heldClock(),
      timerDelay: () => 1,
      ...(o.events === undefined ? {} : { events: o.events }),
    })
  }

  /** Boots from what the store recovered (recover), and quiesces. */
  async start(): Promise<Snapshot> {
    await this.host.start()
    await this.quiesce()
    return this.snapshot()
  }

  /** Handles one event; `refused` says why it could not be (a timer this node did not arm…). */
  async apply(op: ReplicaOp): Promise<{ readonly refused?: string; readonly snapshot: Snapshot }> {
    let refused: string | undefined
    switch (op.op) {
      case "deliver":
        if (this.handlers === undefined) refused = `${this.o.self} is not listening`
        else this.handlers.onMessage(op.from, this.decode(JSON.parse(op.json)), op.json)
        break
      case "timeout":
        if (!this.host.fireTimerNow(op.timer)) refused = `the running ${this.o.self} has no ${op.timer} timer armed`
        break
      case "client":
        void this.host.request(op.request)
        break
      case "internal":
        this.host.deliver({ _tag: "Internal", action: op.action } as Event<unknown, unknown>)
        break
    }
    await this.quiesce()
    return refused === undefined ? { snapshot: this.snapshot() } : { refused, snapshot: this.snapshot() }
  }

  snapshot(): Snapshot {
    return { state: this.host.state, disk: this.store.durable, armed: this.o.protocol.timers.filter((t) => this.host.isArmed(t)) }
  }

  /** In-process crash: everything not durable is lost (after `quiesce` there is nothing), nothing held leaves. */
  async crash(): Promise<void> {
    this.host.crash()
    await this.store.close()
  }

  /** Lets every durable write in flight finish and the sends it held leave. */
  private async quiesce(): Promise<void> {
    for (;;) {
      await settle()
      if (this.store.inflight === 0) break
    }
    await settle()
  }
}
