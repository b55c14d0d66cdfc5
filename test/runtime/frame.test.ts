/**
 * The peer frame codec (src/runtime/frame.ts): frames survive any split into chunks, oversized and unknown
 * frames are refused from their header alone, and garbage never produces a frame silently.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  encodeFrame,
  FrameDecoder,
  FrameError,
  FrameKind,
  HEADER_BYTES,
  MAX_FRAME_BYTES,
  MAX_PEER_FRAME_BYTES,
  parseJsonPayload,
} from "../../src/runtime/frame.ts"

const kindArb = fc.constantFrom(FrameKind.Hello, FrameKind.Message, FrameKind.Control)
const frameArb = fc.record({ kind: kindArb, payload: fc.uint8Array({ maxLength: 300 }) })

/** Splits `bytes` at the given cut points. */
const split = (bytes: Buffer, cuts: ReadonlyArray<number>): Buffer[] => {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Buffer[] = []
  let at = 0
  for (const p of points) {
    out.push(bytes.subarray(at, p))
    at = p
  }
  out.push(bytes.subarray(at))
  return out
}

describe("frame codec", () => {
  it("decodes every frame, in order, however the stream is split into chunks", () => {
    fc.assert(
      fc.property(fc.array(frameArb, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const stream = Buffer.concat(frames.map((f) => encodeFrame(f.kind, Buffer.from(f.payload))))
        const decoder = new FrameDecoder()
        const got = split(stream, cuts).flatMap((chunk) => decoder.push(chunk))
        expect(got.map((f) => ({ kind: f.kind, payload: new Uint8Array(f.payload) }))).toEqual(
          frames.map((f) => ({ kind: f.kind, payload: f.payload })),
        )
        expect(decoder.pending).toBe(0)
      }),
    )
  })

  it("decodes a frame delivered one byte at a time", () => {
    const frame = encodeFrame(FrameKind.Message, '{"_tag":"RequestVote","term":1,"lastLogIndex":0,"lastLogTerm":0}')
    const decoder = new FrameDecoder()
    const got = [...frame].flatMap((b) => decoder.push(Buffer.from([b])))
    expect(got).toHaveLength(1)
    expect(parseJsonPayload(got[0]!.payload)).toEqual({ _tag: "RequestVote", term: 1, lastLogIndex: 0, lastLogTerm: 0 })
  })

  it("accepts a payload of exactly the limit and refuses one byte more from the header alone", () => {
    const decoder = new FrameDecoder()
    const max = encodeFrame(FrameKind.Message, Buffer.alloc(MAX_FRAME_BYTES, 0x20))
    expect(decoder.push(max)).toHaveLength(1)
    const header = Buffer.alloc(HEADER_BYTES)
    header.writeUInt32BE(MAX_FRAME_BYTES + 1, 0)
    header.writeUInt8(FrameKind.Message, 4)
    expect(() => new FrameDecoder().push(header)).toThrow(FrameError)
    try {
      new FrameDecoder().push(header)
    } catch (e) {
      expect((e as FrameError).code).toBe("oversized")
    }
    expect(() => encodeFrame(FrameKind.Message, Buffer.alloc(MAX_FRAME_BYTES + 1))).toThrow(/exceeds the limit/)
  })

  it("a connection whose peer said Hello accepts frames up to MAX_PEER_FRAME_BYTES (a snapshot in one message)", () => {
    const big = encodeFrame(FrameKind.Message, Buffer.alloc(MAX_FRAME_BYTES + 1, 0x20), MAX_PEER_FRAME_BYTES)
    expect(() => new FrameDecoder().push(big)).toThrow(/exceeds the limit/)
    const decoder = new FrameDecoder()
    decoder.maxBytes = MAX_PEER_FRAME_BYTES
    expect(decoder.push(big)).toHaveLength(1)
    const header = Buffer.alloc(HEADER_BYTES)
    header.writeUInt32BE(MAX_PEER_FRAME_BYTES + 1, 0)
    header.writeUInt8(FrameKind.Message, 4)
    expect(() => decoder.push(header)).toThrow(/exceeds the limit/)
  })

  it("refuses an unknown frame kind", () => {
    const bad = Buffer.from([0, 0, 0, 1, 9, 0x7b])
    expect(() => new FrameDecoder().push(bad)).toThrow(/unknown frame kind 9/)
  })

  it("random bytes either wait for more input, yield frames, or throw a FrameError — nothing else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const decoder = new FrameDecoder()
        try {
          for (const f of decoder.push(Buffer.from(bytes))) {
            expect(f.payload.length).toBeLessThanOrEqual(MAX_FRAME_BYTES)
            try {
              parseJsonPayload(f.payload)
            } catch (e) {
              expect(e).toBeInstanceOf(FrameError)
            }
          }
        } catch (e) {
          expect(e).toBeInstanceOf(FrameError)
        }
      }),
    )
  })

  it("reports a non-JSON payload as bad-payload", () => {
    expect(() => parseJsonPayload(Buffer.from("{not json"))).toThrow(FrameError)
  })
})
