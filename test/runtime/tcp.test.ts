/**
 * The TCP transport (src/runtime/tcp.ts) on loopback: two nodes exchange Schema-decoded messages over one
 * connection; garbage, oversized, undecodable and unintroduced frames close only the offending connection,
 * and the nodes keep talking (the dialer reconnects).
 */
import fc from "fast-check"
import * as net from "node:net"
import { afterAll, describe, expect, it } from "vitest"
import { nodeId, type NodeId } from "../../spec/kernel/protocol.ts"
import { Message } from "../../spec/raft/schema.ts"
import { encodeFrame, FrameKind, HEADER_BYTES, MAX_FRAME_BYTES } from "../../src/runtime/frame.ts"
import type { Logger } from "../../src/runtime/host.ts"
import { TcpTransport } from "../../src/runtime/tcp.ts"
import { messageDecoder, messageEncoder } from "../../src/runtime/transport.ts"

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const n1 = nodeId("n1")
const n2 = nodeId("n2")

const freePort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = net.createServer()
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })

const until = async (cond: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return
    await sleep(10)
  }
  throw new Error(`gave up waiting for ${what}`)
}

const encode = messageEncoder(Message)
const transports: Array<TcpTransport<Message>> = []
afterAll(async () => {
  for (const t of transports) await t.close()
})

const pair = async () => {
  const ports = [await freePort(), await freePort()]
  const peers = new Map<NodeId, { host: string; port: number }>([
    [n1, { host: "127.0.0.1", port: ports[0]! }],
    [n2, { host: "127.0.0.1", port: ports[1]! }],
  ])
  const received: Record<string, Message[]> = { n1: [], n2: [] }
  const errors: string[] = []
  const logger: Logger = { info: () => {}, warn: () => {}, error: (m) => errors.push(m) }
  const make = async (self: NodeId) => {
    const t = new TcpTransport<Message>({
      self,
      cluster: "test",
      listen: peers.get(self)!,
      peers: new Map([...peers].filter(([id]) => id !== self)),
      clientUrl: `http://${self}`,
      decode: messageDecoder(Message),
      logger,
    })
    transports.push(t)
    await t.start({ onMessage: (_from, msg) => received[self]!.push(msg), onControl: () => {} })
    return t
  }
  const a = await make(n1)
  const b = await make(n2)
  await until(() => a.connected().includes(n2) && b.connected().includes(n1), "the connection")
  return { a, b, ports, received, errors }
}

const rv = (term: number): Message => ({ _tag: "RequestVote", term, lastLogIndex: 0, lastLogTerm: 0 })

const rawSend = (port: number, bytes: Buffer): Promise<void> =>
  new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => s.end(bytes))
    s.on("error", () => resolve())
    s.on("close", () => resolve())
  })

describe("TCP transport", () => {
  it("delivers messages both ways and learns the peer's client URL", async () => {
    const { a, b, received } = await pair()
    a.send(n2, encode(rv(1)))
    b.send(n1, encode(rv(2)))
    await until(() => received.n1!.length === 1 && received.n2!.length === 1, "both messages")
    expect(received.n2).toEqual([rv(1)])
    expect(received.n1).toEqual([rv(2)])
    expect(a.peer(n2)).toEqual({ clientUrl: "http://n2" })
  })

  it("holds a turn's sends until the turn ends, and flush() writes them out at once", async () => {
    // Observed through a close in the same turn: it discards what is still held and keeps what was written.
    const held = await pair()
    held.a.send(n2, encode(rv(4)))
    void held.a.close()
    await sleep(100)
    expect(held.received.n2).toEqual([])
    const flushed = await pair()
    flushed.a.send(n2, encode(rv(5)))
    flushed.a.flush()
    void flushed.a.close()
    await until(() => flushed.received.n2!.length === 1, "the flushed message")
    expect(flushed.received.n2).toEqual([rv(5)])
  })

  it("closes a connection that sends an undecodable message, then reconnects and keeps delivering", async () => {
    const { a, b, received, errors } = await pair()
    // A frame the Schema rejects, sent on the real peer connection.
    a.send(n2, JSON.stringify({ _tag: "RequestVote", term: -1 }))
    await until(() => errors.some((e) => e.includes("undecodable message")), "the decode error")
    await until(() => a.connected().includes(n2) && b.connected().includes(n1), "the reconnection")
    a.send(n2, encode(rv(3)))
    await until(() => received.n2!.some((m) => m.term === 3), "a message after reconnecting")
  })

  it("strangers sending garbage, oversized frames or no Hello are cut off; the nodes keep talking", async () => {
    const { a, b, ports, received, errors } = await pair()
    const oversized = Buffer.alloc(HEADER_BYTES)
    oversized.writeUInt32BE(MAX_FRAME_BYTES + 1, 0)
    oversized.writeUInt8(FrameKind.Message, 4)
    await rawSend(ports[1]!, oversized)
    await rawSend(ports[1]!, encodeFrame(FrameKind.Message, encode(rv(9))))
    await rawSend(ports[1]!, encodeFrame(FrameKind.Hello, JSON.stringify({ cluster: "other", from: "n1", clientUrl: null })))
    await rawSend(ports[1]!, encodeFrame(FrameKind.Hello, JSON.stringify({ cluster: "test", from: "mallory", clientUrl: null })))
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), async (bytes) => {
        await rawSend(ports[1]!, Buffer.from(bytes))
      }),
      { numRuns: 30 },
    )
    await until(() => errors.some((e) => e.includes("oversized")), "the oversized error")
    expect(errors.some((e) => e.includes("expected a Hello frame first"))).toBe(true)
    expect(errors.some((e) => e.includes('cluster "other"'))).toBe(true)
    expect(errors.some((e) => e.includes('unknown node "mallory"'))).toBe(true)
    expect(received.n2!.some((m) => m.term === 9)).toBe(false)
    a.send(n2, encode(rv(4)))
    await until(() => received.n2!.some((m) => m.term === 4), "a message after the attacks")
    expect(b.connected()).toContain(n1)
  })
})
