/**
 * How hosts talk: a `Transport` moves encoded protocol messages (and host-level control frames) between
 * nodes. The TCP implementation is in tcp.ts; `MemoryNetwork` here is the simulated network of the
 * deterministic tests (latency and partitions on a `SimClock`).
 *
 * Messages cross every transport as JSON text produced by the protocol's message Schema, and every inbound
 * message is decoded by it: bad input is rejected at the edge, in one place.
 */
import { Schema } from "effect"
import { plainEncoder } from "./codec.ts"
import type { NodeId } from "../../spec/kernel/protocol.ts"
import type { Clock } from "./clock.ts"

/** Host-level frames that are not protocol messages: the Raft host's read-index probes. */
export const Control = Schema.Union([
  Schema.TaggedStruct("Probe", { seq: Schema.Int, term: Schema.Int }),
  Schema.TaggedStruct("ProbeAck", { seq: Schema.Int, term: Schema.Int }),
])
export type Control = typeof Control.Type

/** What a peer tells about itself when a connection opens. */
export const Hello = Schema.Struct({
  cluster: Schema.String,
  from: Schema.String,
  clientUrl: Schema.NullOr(Schema.String),
})
export type Hello = typeof Hello.Type

export interface PeerInfo {
  readonly clientUrl: string | null
}

export interface TransportHandlers<M> {
  /** A decoded message; `raw` is its JSON text as received (for the event log). */
  onMessage(from: NodeId, msg: M, raw: string): void
  onControl(from: NodeId, ctl: Control): void
  onPeer?(id: NodeId, info: PeerInfo, up: boolean): void
}

export interface Transport<M> {
  start(handlers: TransportHandlers<M>): Promise<void>
  /** Sends an already encoded message (JSON text of the message Schema's encoding). Best effort. */
  send(to: NodeId, json: string): void
  sendControl(to: NodeId, ctl: Control): void
  /** Writes out now what this turn's sends gathered (a transport may hold them to the end of the turn). */
  flush?(): void
  peer(id: NodeId): PeerInfo | undefined
  close(): Promise<void>
}

/** Builds the decoder for a protocol's messages: JSON text → message, throwing on anything else. */
export const messageDecoder = <M>(schema: Schema.Codec<M, unknown>): ((json: unknown) => M) => Schema.decodeUnknownSync(schema)
export const messageEncoder =
  <M>(schema: Schema.Codec<M, unknown>): ((msg: M) => string) => {
    const encode = plainEncoder(schema)
    return (msg) => JSON.stringify(encode(msg))
  }

/**
 * A simulated network: every message is delivered `latency` ms later on the shared clock, in send order per
 * pair, unless a node is down or the pair is cut. Messages go through JSON and the message Schema exactly as
 * over TCP.
 */
export class MemoryNetwork {
  private readonly endpoints = new Map<NodeId, MemoryEndpoint<unknown>>()
  private readonly cut = new Set<string>()
  delivered = 0
  dropped = 0

  constructor(
    readonly clock: Clock,
    readonly latency = 1,
  ) {}

  endpoint<M>(id: NodeId, schema: Schema.Codec<M, unknown>, clientUrl: string | null = null): Transport<M> {
    const e = new MemoryEndpoint<M>(this, id, messageDecoder(schema), clientUrl)
    this.endpoints.set(id, e as MemoryEndpoint<unknown>)
    return e
  }

  /** Cuts (or heals) both directions between a and b. */
  partition(a: NodeId, b: NodeId, cut = true): void {
    for (const k of [`${a}>${b}`, `${b}>${a}`]) {
      if (cut) this.cut.add(k)
      else this.cut.delete(k)
    }
  }

  isolate(id: NodeId, cut = true): void {
    for (const other of this.endpoints.keys()) if (other !== id) this.partition(id, other, cut)
  }

  /** @internal */
  route(from: NodeId, to: NodeId, deliver: (e: MemoryEndpoint<unknown>) => void): void {
    if (this.cut.has(`${from}>${to}`)) {
      this.dropped++
      return
    }
    this.clock.setTimeout(() => {
      const target = this.endpoints.get(to)
      if (target === undefined || target.handlers === undefined || this.cut.has(`${from}>${to}`)) {
        this.dropped++
        return
      }
      this.delivered++
      deliver(target)
    }, this.latency)
  }

  /** @internal */
  info(id: NodeId): PeerInfo | undefined {
    const e = this.endpoints.get(id)
    return e === undefined ? undefined : { clientUrl: e.clientUrl }
  }
}

class MemoryEndpoint<M> implements Transport<M> {
  handlers: TransportHandlers<M> | undefined
  constructor(
    private readonly net: MemoryNetwork,
    readonly id: NodeId,
    private readonly decode: (json: unknown) => M,
    readonly clientUrl: string | null,
  ) {}

  async start(handlers: TransportHandlers<M>): Promise<void> {
    this.handlers = handlers
  }

  send(to: NodeId, json: string): void {
    if (this.handlers === undefined) return
    const from = this.id
    this.net.route(from, to, (target) => {
      const t = target as MemoryEndpoint<unknown>
      t.handlers?.onMessage(from, t.decode(JSON.parse(json)), json)
    })
  }

  sendControl(to: NodeId, ctl: Control): void {
    if (this.handlers === undefined) return
    const from = this.id
    this.net.route(from, to, (target) => target.handlers?.onControl(from, ctl))
  }

  peer(id: NodeId): PeerInfo | undefined {
    return this.net.info(id)
  }

  async close(): Promise<void> {
    this.handlers = undefined
  }
}
