/**
 * The TCP transport: one connection per pair of nodes, length-prefixed frames (frame.ts).
 *
 * - The node whose id sorts first dials; the other accepts. Each side's first frame is a `Hello` (cluster name,
 *   node id, client URL); a connection whose Hello is missing, malformed, from another cluster or from an
 *   unknown node is closed, and so is an inbound one from a peer that this node dials. A newer connection from
 *   the same peer replaces the older one.
 * - The dialer reconnects with exponential backoff (50 ms doubling to 1 s) whenever the connection drops.
 * - Every inbound `Message` frame is JSON-parsed and decoded by the protocol's message Schema. A frame that
 *   is oversized, of an unknown kind, not JSON or not a valid message closes *that connection* with a logged
 *   error; the node keeps running (and the dialer reconnects).
 * - Sends are best effort, as the protocol allows: with no connection to the peer, or more than
 *   `maxBufferedBytes` waiting in the socket, the message is dropped (and counted).
 */
import * as net from "node:net"
import { Schema } from "effect"
import type { NodeId } from "../../spec/kernel/protocol.ts"
import { encodeFrame, FrameDecoder, FrameError, FrameKind, MAX_PEER_FRAME_BYTES, parseJsonPayload, type Frame } from "./frame.ts"
import { silentLogger, type Logger } from "./host.ts"
import { Control, Hello, type PeerInfo, type Transport, type TransportHandlers } from "./transport.ts"
import { plainEncoder } from "./codec.ts"

export interface Address {
  readonly host: string
  readonly port: number
}

export interface TcpTransportOptions<M> {
  readonly self: NodeId
  /** Nodes of other clusters are refused. */
  readonly cluster: string
  readonly listen: Address
  readonly peers: ReadonlyMap<NodeId, Address>
  readonly clientUrl: string | null
  readonly decode: (json: unknown) => M
  readonly logger?: Logger
  readonly maxBufferedBytes?: number
}

const decodeHello = Schema.decodeUnknownSync(Hello)
const decodeControl = Schema.decodeUnknownSync(Control)
const encodeControl = plainEncoder(Control)

interface Conn {
  readonly socket: net.Socket
  readonly decoder: FrameDecoder
  peer: NodeId | undefined
  readonly outbound: boolean
  corked: boolean
}

export class TcpTransport<M> implements Transport<M> {
  private server: net.Server | undefined
  private handlers: TransportHandlers<M> | undefined
  private readonly conns = new Map<NodeId, Conn>()
  private readonly infos = new Map<NodeId, PeerInfo>()
  private readonly backoff = new Map<NodeId, number>()
  private readonly redial = new Map<NodeId, NodeJS.Timeout>()
  private readonly all = new Set<net.Socket>()
  private closed = false
  private readonly log: Logger
  private readonly helloFrame: Buffer
  readonly stats = { dropped: 0, badFrames: 0, connections: 0 }

  constructor(private readonly options: TcpTransportOptions<M>) {
    this.log = options.logger ?? silentLogger
    this.helloFrame = encodeFrame(
      FrameKind.Hello,
      JSON.stringify({ cluster: options.cluster, from: options.self, clientUrl: options.clientUrl }),
    )
  }

  async start(handlers: TransportHandlers<M>): Promise<void> {
    this.handlers = handlers
    const server = net.createServer((socket) => this.adopt(socket, false, undefined))
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject)
      server.listen(this.options.listen.port, this.options.listen.host, () => {
        server.off("error", reject)
        resolve()
      })
    })
    server.on("error", (e) => this.log.error(`peer listener: ${e.message}`))
    for (const peer of this.options.peers.keys()) if (this.options.self < peer) this.dial(peer)
  }

  send(to: NodeId, json: string): void {
    this.write(to, FrameKind.Message, json)
  }

  sendControl(to: NodeId, ctl: Control): void {
    this.write(to, FrameKind.Control, JSON.stringify(encodeControl(ctl)))
  }

  peer(id: NodeId): PeerInfo | undefined {
    return this.infos.get(id)
  }

  /** Peers with an open connection. */
  connected(): NodeId[] {
    return [...this.conns.keys()]
  }

  async close(): Promise<void> {
    this.closed = true
    for (const t of this.redial.values()) clearTimeout(t)
    this.redial.clear()
    for (const s of this.all) s.destroy()
    this.all.clear()
    this.conns.clear()
    const server = this.server
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  // -------------------------------------------------------------------------------------------------------

  private write(to: NodeId, kind: FrameKind, payload: string): void {
    const c = this.conns.get(to)
    if (c === undefined || c.socket.destroyed) {
      this.stats.dropped++
      return
    }
    if (c.socket.writableLength > (this.options.maxBufferedBytes ?? 16 * 1024 * 1024)) {
      this.stats.dropped++
      return
    }
    let frame: Buffer
    try {
      // Only connections that said Hello are in `conns`: their peer accepts `MAX_PEER_FRAME_BYTES`.
      frame = encodeFrame(kind, payload, MAX_PEER_FRAME_BYTES)
    } catch (e) {
      this.log.error(`not sending an oversized frame to ${to}: ${(e as Error).message}`)
      this.stats.dropped++
      return
    }
    if (!c.corked) {
      c.corked = true
      c.socket.cork()
      process.nextTick(() => this.uncork(c))
    }
    c.socket.write(frame)
  }

  flush(): void {
    for (const c of this.conns.values()) this.uncork(c)
  }

  private uncork(c: Conn): void {
    if (!c.corked) return
    c.corked = false
    c.socket.uncork()
  }

  private dial(peer: NodeId): void {
    if (this.closed) return
    const addr = this.options.peers.get(peer)!
    const socket = net.connect({ host: addr.host, port: addr.port })
    this.adopt(socket, true, peer)
  }

  private scheduleRedial(peer: NodeId): void {
    if (this.closed || this.redial.has(peer) || this.conns.has(peer)) return
    const delay = this.backoff.get(peer) ?? 50
    this.backoff.set(peer, Math.min(1000, delay * 2))
    this.redial.set(
      peer,
      setTimeout(() => {
        this.redial.delete(peer)
        this.dial(peer)
      }, delay),
    )
  }

  private adopt(socket: net.Socket, outbound: boolean, expected: NodeId | undefined): void {
    if (this.closed) {
      socket.destroy()
      return
    }
    this.all.add(socket)
    socket.setNoDelay(true)
    const c: Conn = { socket, decoder: new FrameDecoder(), peer: undefined, outbound, corked: false }
    const who = (): string => c.peer ?? expected ?? `${socket.remoteAddress}:${socket.remotePort}`
    // A connection must introduce itself promptly.
    const helloTimer = setTimeout(() => this.fail(c, who(), "no Hello within 5 s"), 5000)
    if (outbound) socket.once("connect", () => socket.write(this.helloFrame))
    socket.on("data", (chunk: Buffer) => {
      let frames: Frame[]
      try {
        frames = c.decoder.push(chunk)
      } catch (e) {
        this.fail(c, who(), e instanceof FrameError ? `${e.code}: ${e.message}` : String(e))
        return
      }
      for (const f of frames) {
        if (socket.destroyed) return
        // Only bad input closes the connection; an exception from the handlers is a bug and propagates.
        let deliver: (() => void) | undefined
        try {
          if (c.peer === undefined) {
            clearTimeout(helloTimer)
            this.onHello(c, f, expected)
          } else deliver = this.decodeFrame(c.peer, f)
        } catch (e) {
          this.fail(c, who(), e instanceof Error ? e.message : String(e))
          return
        }
        deliver?.()
      }
    })
    socket.on("error", () => {}) // "close" follows; connection errors are routine while peers restart
    socket.on("close", () => {
      clearTimeout(helloTimer)
      this.all.delete(socket)
      if (c.peer !== undefined && this.conns.get(c.peer) === c) {
        this.conns.delete(c.peer)
        this.handlers?.onPeer?.(c.peer, this.infos.get(c.peer) ?? { clientUrl: null }, false)
      }
      if (outbound && expected !== undefined) this.scheduleRedial(expected)
    })
  }

  private fail(c: Conn, who: string, why: string): void {
    this.stats.badFrames++
    this.log.error(`closing peer connection ${who}: ${why}`)
    c.socket.destroy()
  }

  private onHello(c: Conn, f: Frame, expected: NodeId | undefined): void {
    if (f.kind !== FrameKind.Hello) throw new Error(`expected a Hello frame first, got kind ${f.kind}`)
    let hello: Hello
    try {
      hello = decodeHello(parseJsonPayload(f.payload))
    } catch (e) {
      throw new Error(`malformed Hello: ${(e as Error).message}`)
    }
    if (hello.cluster !== this.options.cluster) throw new Error(`Hello from cluster "${hello.cluster}", this is "${this.options.cluster}"`)
    const from = hello.from as NodeId
    if (!this.options.peers.has(from)) throw new Error(`Hello from unknown node "${hello.from}"`)
    if (expected !== undefined && from !== expected) throw new Error(`dialed ${expected} but ${hello.from} answered`)
    // Only the node whose id sorts first dials, so a real peer that sorts after this node never connects to it.
    // Accepting such a Hello would replace this node's own connection to that peer, and when the impostor's
    // connection closed nobody would redial: the pair stayed cut off for good (found by raft-fuzz.test.ts).
    if (expected === undefined && this.options.self < from) throw new Error(`Hello from ${hello.from} on an inbound connection, but ${this.options.self} is the one that dials ${hello.from}`)
    c.peer = from
    c.decoder.maxBytes = MAX_PEER_FRAME_BYTES
    if (!c.outbound) c.socket.write(this.helloFrame)
    const old = this.conns.get(from)
    if (old !== undefined && old !== c) old.socket.destroy()
    this.conns.set(from, c)
    this.stats.connections++
    this.backoff.delete(from)
    const info: PeerInfo = { clientUrl: hello.clientUrl }
    this.infos.set(from, info)
    this.handlers?.onPeer?.(from, info, true)
  }

  /** Decodes a frame (throwing on bad input) into the call that delivers it. */
  private decodeFrame(from: NodeId, f: Frame): () => void {
    switch (f.kind) {
      case FrameKind.Message: {
        const raw = f.payload.toString("utf8")
        let msg: M
        try {
          msg = this.options.decode(JSON.parse(raw))
        } catch (e) {
          throw new Error(`undecodable message: ${(e as Error).message.split("\n").slice(0, 3).join(" ")}`)
        }
        return () => this.handlers?.onMessage(from, msg, raw)
      }
      case FrameKind.Control: {
        let ctl: Control
        try {
          ctl = decodeControl(parseJsonPayload(f.payload))
        } catch (e) {
          throw new Error(`undecodable control frame: ${(e as Error).message.split("\n")[0]}`)
        }
        return () => this.handlers?.onControl(from, ctl)
      }
      case FrameKind.Hello:
        throw new Error("a second Hello on an open connection")
    }
  }
}
