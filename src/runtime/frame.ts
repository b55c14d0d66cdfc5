/**
 * The peer wire format: length-prefixed frames over one TCP connection per pair of nodes.
 *
 *   [u32 big-endian payload length][u8 kind][payload: UTF-8 JSON]
 *
 * Kinds: 0 `Hello` (the first frame each side sends: who it is, which cluster, its client URL), 1 `Message`
 * (a protocol message encoded with the protocol's message Schema), 2 `Control` (host-level frames that are not
 * part of the protocol: the read-index probes of the Raft host). A payload longer than `MAX_FRAME_BYTES` or an
 * unknown kind is a `FrameError`; the connection that sent it is closed.
 */

export const MAX_FRAME_BYTES = 1024 * 1024
/**
 * The limit on a connection once its peer has said Hello: a Raft InstallSnapshot carries a whole key space
 * in one message. Before the Hello, a stranger gets `MAX_FRAME_BYTES`.
 */
export const MAX_PEER_FRAME_BYTES = 64 * 1024 * 1024
export const HEADER_BYTES = 5

export const FrameKind = { Hello: 0, Message: 1, Control: 2 } as const
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind]

export interface Frame {
  readonly kind: FrameKind
  readonly payload: Buffer
}

/** A frame that cannot be accepted; stable `code` for logs and tests. */
export class FrameError extends Error {
  constructor(
    readonly code: "oversized" | "bad-kind" | "bad-payload",
    message: string,
  ) {
    super(message)
    this.name = "FrameError"
  }
}

const isKind = (k: number): k is FrameKind => k === 0 || k === 1 || k === 2

/** Encodes one frame. Throws `FrameError("oversized")` rather than emitting a frame the peer would refuse. */
export const encodeFrame = (kind: FrameKind, payload: Buffer | string, maxBytes = MAX_FRAME_BYTES): Buffer => {
  const body = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload
  if (body.length > maxBytes) {
    throw new FrameError("oversized", `frame payload of ${body.length} bytes exceeds the limit of ${maxBytes}`)
  }
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length)
  out.writeUInt32BE(body.length, 0)
  out.writeUInt8(kind, 4)
  body.copy(out, HEADER_BYTES)
  return out
}

/**
 * Reassembles frames from arbitrary chunks of a byte stream. `push` returns the frames completed by a chunk and
 * throws `FrameError` as soon as a header is known to be bad (before buffering an oversized payload), after
 * which the decoder must not be used again.
 */
export class FrameDecoder {
  /** The largest payload accepted; raised once a connection is known (`MAX_PEER_FRAME_BYTES`). */
  maxBytes = MAX_FRAME_BYTES
  private chunks: Buffer[] = []
  private buffered = 0
  /** Header of the frame being assembled, once known. */
  private need: { kind: FrameKind; length: number } | undefined

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = []
    if (chunk.length > 0) {
      this.chunks.push(chunk)
      this.buffered += chunk.length
    }
    for (;;) {
      if (this.need === undefined) {
        if (this.buffered < HEADER_BYTES) return frames
        const header = this.take(HEADER_BYTES)
        const length = header.readUInt32BE(0)
        const kind = header.readUInt8(4)
        if (length > this.maxBytes) {
          throw new FrameError("oversized", `frame of ${length} bytes exceeds the limit of ${this.maxBytes}`)
        }
        if (!isKind(kind)) throw new FrameError("bad-kind", `unknown frame kind ${kind}`)
        this.need = { kind, length }
      }
      if (this.buffered < this.need.length) return frames
      frames.push({ kind: this.need.kind, payload: this.take(this.need.length) })
      this.need = undefined
    }
  }

  /** Bytes held for an incomplete frame. */
  get pending(): number {
    return this.buffered
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0)
    const first = this.chunks[0]!
    if (first.length >= n) {
      const out = first.subarray(0, n)
      if (first.length === n) this.chunks.shift()
      else this.chunks[0] = first.subarray(n)
      this.buffered -= n
      return out
    }
    const out = Buffer.allocUnsafe(n)
    let at = 0
    while (at < n) {
      const c = this.chunks[0]!
      const k = Math.min(c.length, n - at)
      c.copy(out, at, 0, k)
      at += k
      if (k === c.length) this.chunks.shift()
      else this.chunks[0] = c.subarray(k)
    }
    this.buffered -= n
    return out
  }
}

/** Parses a frame's JSON payload; malformed UTF-8/JSON is a `FrameError("bad-payload")`. */
export const parseJsonPayload = (payload: Buffer): unknown => {
  try {
    return JSON.parse(payload.toString("utf8"))
  } catch (e) {
    throw new FrameError("bad-payload", `frame payload is not JSON: ${(e as Error).message}`)
  }
}
