/**
 * Reliable FIFO channels between the incarnations of two ZAB servers, over `TcpTransport`.
 *
 * Why: the spec's network (the checker's "fifo") loses nothing while both ends live — a message sent to a peer
 * that has not connected yet is delivered once it does (FastLeaderElection sends each notification once and
 * never resends) — and a crash loses exactly the packets of the crashed incarnation's connections. A bare TCP
 * connection loses what was in flight when it breaks, and `TcpTransport` drops what is sent while no connection
 * is up. This layer numbers every message per (sender incarnation, receiver), keeps it until acknowledged, and
 * resends what the peer has not received whenever a connection (re)opens or the peer reports a gap. A peer that
 * comes back as a new incarnation (a restart: it says HELLO and ignores us until our RESET anyway) gets nothing
 * that was queued for the old one.
 *
 * Frames carried as `TcpTransport` messages (each decoded by `Envelope` at the edge, the ZAB message included):
 *   R {inc, seen, upTo}  first frame on every connection, and a resend request after a gap: "I am incarnation
 *                        `inc`; of your incarnation `seen` I have everything up to `upTo`"
 *   M {seq, m}           message number `seq` (1, 2, …) of the sender's incarnation to this peer
 *   P {seq, k, n, d}     part k of n of message `seq` whose frame would exceed the frame limit (a large SYNC)
 *   A {inc, upTo}        cumulative acknowledgement of the messages of incarnation `inc`
 * Host-level `Control` frames (keepalive probes) pass through unnumbered: they are not protocol messages.
 */
import { Schema } from "effect"
import { randomBytes } from "node:crypto"
import type { NodeId } from "../../../spec/kernel/protocol.ts"
import { Message } from "../../../spec/zab/schema.ts"
import { silentLogger, type Logger } from "../host.ts"
import { TcpTransport, type Address } from "../tcp.ts"
import { messageEncoder, type Control, type PeerInfo, type Transport, type TransportHandlers } from "../transport.ts"

const Seq = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Inc = Schema.String.check(Schema.isPattern(/^[0-9a-f]{1,32}$/))

export const Envelope = Schema.Union([
  Schema.TaggedStruct("R", { inc: Inc, seen: Schema.NullOr(Inc), upTo: Seq }),
  Schema.TaggedStruct("M", { seq: Seq, m: Message }),
  Schema.TaggedStruct("P", { seq: Seq, k: Seq, n: Seq, d: Schema.String }),
  Schema.TaggedStruct("A", { inc: Inc, upTo: Seq }),
])
export type Envelope = typeof Envelope.Type

/** Characters of message JSON per part: even if every one needed a 6-character escape, a part fits a frame. */
const PART_CHARS = 128 * 1024
const decodeEnvelope = Schema.decodeUnknownSync(Envelope)
const decodeMessage = Schema.decodeUnknownSync(Message)
const encodeMessage = messageEncoder(Message)

interface Outgoing {
  readonly seq: number
  readonly frames: ReadonlyArray<string>
  readonly bytes: number
}

interface PeerSession {
  /** The peer's incarnation, once it said who it is. */
  inc: string | undefined
  /** Messages of the peer's incarnation `inc` received in order. */
  recvUpTo: number
  ackedUpTo: number
  /** Gap already reported at this position (one resend request per gap). */
  nackedAt: number
  parts: { seq: number; pieces: string[] } | undefined
  /** Our messages to it, not yet acknowledged. */
  out: Outgoing[]
  outBytes: number
  nextSeq: number
  /** Connected and the peer's R received: messages go out at once. */
  live: boolean
}

export interface SessionTransportOptions {
  readonly self: NodeId
  readonly cluster: string
  readonly listen: Address
  readonly peers: ReadonlyMap<NodeId, Address>
  readonly clientUrl: string | null
  readonly logger?: Logger
  /** Unacknowledged bytes queued for one peer beyond which the oldest are dropped (with an error logged). */
  readonly maxQueuedBytes?: number
  readonly ackEveryMs?: number
}

export class SessionTransport implements Transport<Message> {
  /** This process's incarnation: fresh at every start. */
  readonly inc = randomBytes(8).toString("hex")
  private readonly tcp: TcpTransport<Envelope>
  private readonly sessions = new Map<NodeId, PeerSession>()
  private handlers: TransportHandlers<Message> | undefined
  private readonly log: Logger
  private ackTimer: NodeJS.Timeout | undefined
  readonly stats = { resent: 0, gaps: 0, dropped: 0 }

  constructor(private readonly options: SessionTransportOptions) {
    this.log = options.logger ?? silentLogger
    for (const p of options.peers.keys()) {
      this.sessions.set(p, { inc: undefined, recvUpTo: 0, ackedUpTo: 0, nackedAt: -1, parts: undefined, out: [], outBytes: 0, nextSeq: 1, live: false })
    }
    this.tcp = new TcpTransport<Envelope>({
      self: options.self,
      cluster: options.cluster,
      listen: options.listen,
      peers: options.peers,
      clientUrl: options.clientUrl,
      decode: decodeEnvelope,
      logger: this.log,
      // Never drop at the socket: what is queued here is bounded by maxQueuedBytes.
      maxBufferedBytes: Number.MAX_SAFE_INTEGER,
    })
  }

  get tcpStats() {
    return this.tcp.stats
  }

  connected(): NodeId[] {
    return this.tcp.connected()
  }

  async start(handlers: TransportHandlers<Message>): Promise<void> {
    this.handlers = handlers
    await this.tcp.start({
      onMessage: (from, env) => this.onEnvelope(from, env),
      onControl: (from, ctl) => handlers.onControl(from, ctl),
      onPeer: (id, info, up) => {
        const s = this.sessions.get(id)
        if (s === undefined) return
        s.live = false
        if (up) this.tcp.send(id, this.resumeFrame(s))
        handlers.onPeer?.(id, info, up)
      },
    })
    this.ackTimer = setInterval(() => this.sendAcks(), this.options.ackEveryMs ?? 50)
    this.ackTimer.unref()
  }

  send(to: NodeId, json: string): void {
    const s = this.sessions.get(to)
    if (s === undefined) return
    const seq = s.nextSeq++
    let frames: string[]
    if (json.length <= PART_CHARS) frames = [`{"_tag":"M","seq":${seq},"m":${json}}`]
    else {
      const n = Math.ceil(json.length / PART_CHARS)
      frames = []
      for (let k = 0; k < n; k++) {
        frames.push(`{"_tag":"P","seq":${seq},"k":${k},"n":${n},"d":${JSON.stringify(json.slice(k * PART_CHARS, (k + 1) * PART_CHARS))}}`)
      }
    }
    const o: Outgoing = { seq, frames, bytes: json.length }
    s.out.push(o)
    s.outBytes += o.bytes
    const max = this.options.maxQueuedBytes ?? 256 * 1024 * 1024
    if (s.outBytes > max) {
      // The peer has been unreachable (while alive) for very long; memory must stay bounded.
      let dropped = 0
      while (s.outBytes > max / 2 && s.out.length > 1) {
        s.outBytes -= s.out.shift()!.bytes
        dropped++
      }
      this.stats.dropped += dropped
      this.log.error(`${to} has not acknowledged ${max} bytes of messages: dropping the oldest ${dropped}; that channel is no longer reliable`)
    }
    if (s.live) for (const f of frames) this.tcp.send(to, f)
  }

  sendControl(to: NodeId, ctl: Control): void {
    this.tcp.sendControl(to, ctl)
  }

  peer(id: NodeId): PeerInfo | undefined {
    return this.tcp.peer(id)
  }

  async close(): Promise<void> {
    if (this.ackTimer !== undefined) clearInterval(this.ackTimer)
    await this.tcp.close()
  }

  // -------------------------------------------------------------------------------------------------------

  private resumeFrame(s: PeerSession): string {
    return JSON.stringify({ _tag: "R", inc: this.inc, seen: s.inc ?? null, upTo: s.inc === undefined ? 0 : s.recvUpTo })
  }

  private onEnvelope(from: NodeId, env: Envelope): void {
    const s = this.sessions.get(from)
    if (s === undefined) return
    switch (env._tag) {
      case "R": {
        if (s.inc !== env.inc) {
          if (s.inc !== undefined) {
            // The peer restarted: what we queued was for its previous incarnation, and it numbers afresh.
            s.out = []
            s.outBytes = 0
            s.nextSeq = 1
          }
          s.inc = env.inc
          s.recvUpTo = 0
          s.ackedUpTo = 0
          s.nackedAt = -1
          s.parts = undefined
        }
        this.trim(s, env.seen === this.inc ? env.upTo : 0)
        for (const o of s.out) for (const f of o.frames) this.tcp.send(from, f)
        if (s.out.length > 0 && s.live) this.stats.resent += s.out.length
        s.live = true
        return
      }
      case "A":
        if (env.inc === this.inc) this.trim(s, env.upTo)
        return
      case "M":
      case "P": {
        if (s.inc === undefined) return // no R yet: cannot place it
        if (env.seq <= s.recvUpTo) return // a resent duplicate
        if (env.seq > s.recvUpTo + 1) {
          // A frame was lost: ask for everything after what we have, once per gap.
          this.stats.gaps++
          if (s.nackedAt !== s.recvUpTo) {
            s.nackedAt = s.recvUpTo
            this.tcp.send(from, this.resumeFrame(s))
          }
          return
        }
        if (env._tag === "M") {
          s.recvUpTo = env.seq
          this.deliver(from, env.m)
          return
        }
        if (env.k === 0) s.parts = { seq: env.seq, pieces: [] }
        if (s.parts === undefined || s.parts.seq !== env.seq || s.parts.pieces.length !== env.k) return
        s.parts.pieces.push(env.d)
        if (env.k + 1 < env.n) return
        const json = s.parts.pieces.join("")
        s.parts = undefined
        s.recvUpTo = env.seq
        let msg: Message
        try {
          msg = decodeMessage(JSON.parse(json))
        } catch (e) {
          this.log.error(`dropping an undecodable message ${env.seq} from ${from}: ${(e as Error).message.split("\n")[0]}`)
          return
        }
        this.deliver(from, msg)
        return
      }
    }
  }

  private deliver(from: NodeId, msg: Message): void {
    this.handlers?.onMessage(from, msg, encodeMessage(msg))
  }

  private trim(s: PeerSession, upTo: number): void {
    let i = 0
    while (i < s.out.length && s.out[i]!.seq <= upTo) s.outBytes -= s.out[i++]!.bytes
    if (i > 0) s.out = s.out.slice(i)
  }

  private sendAcks(): void {
    for (const [id, s] of this.sessions) {
      if (s.inc === undefined || s.recvUpTo === s.ackedUpTo) continue
      s.ackedUpTo = s.recvUpTo
      this.tcp.send(id, JSON.stringify({ _tag: "A", inc: s.inc, upTo: s.recvUpTo }))
    }
  }
}
