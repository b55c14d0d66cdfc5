/**
 * Durable storage (src/runtime/storage.ts): recovery yields the last complete record whatever the truncation
 * point, a torn tail is cut with a warning, and a damaged record followed by valid ones stops the node with an
 * error naming the file and offset.
 */
import fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { nodeId } from "../../spec/kernel/protocol.ts"
import { Durable } from "../../spec/raft/schema.ts"
import {
  CorruptLogError,
  decodePayload,
  encodePayload,
  FileStore,
  PREALLOCATE_BYTES,
  RECORD_HEADER_BYTES,
  scanRecords,
} from "../../src/runtime/storage.ts"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-storage-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
let dirs = 0
const freshDir = (): string => path.join(root, `d${dirs++}`)

/** A step of a Raft node's durable life: new term, a vote, appended entries, or a truncated suffix. */
const opArb = fc.oneof(
  fc.record({ op: fc.constant("term" as const) }),
  fc.record({ op: fc.constant("vote" as const), who: fc.constantFrom("n1", "n2", "n3") }),
  fc.record({ op: fc.constant("append" as const), values: fc.array(fc.string({ maxLength: 12 }), { minLength: 1, maxLength: 4 }) }),
  fc.record({ op: fc.constant("truncate" as const), keep: fc.nat({ max: 6 }) }),
)

type Op = typeof opArb extends fc.Arbitrary<infer T> ? T : never

/** Builds the sequence of durable values, sharing entries between consecutive logs as the spec does. */
const valuesOf = (ops: ReadonlyArray<Op>): Durable[] => {
  let d: Durable = { currentTerm: 0, votedFor: null, log: [] }
  const out: Durable[] = []
  for (const o of ops) {
    switch (o.op) {
      case "term":
        d = { ...d, currentTerm: d.currentTerm + 1, votedFor: null }
        break
      case "vote":
        d = { ...d, votedFor: nodeId(o.who) }
        break
      case "append":
        d = { ...d, log: [...d.log, ...o.values.map((value) => ({ term: d.currentTerm, value }))] }
        break
      case "truncate":
        d = { ...d, log: d.log.slice(0, Math.min(o.keep, d.log.length)) }
        break
    }
    out.push(d)
  }
  return out
}

const writeAll = async (dir: string, values: ReadonlyArray<Durable>, compactBytes?: number): Promise<void> => {
  const store = FileStore.open(dir, Durable, compactBytes === undefined ? {} : { compactBytes })
  for (const v of values) await store.append(v)
  await store.close()
}

const onlyWal = (dir: string): string => {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".log"))
  expect(files).toHaveLength(1)
  return path.join(dir, files[0]!)
}

/** End offsets of the records of a log file. */
const recordEnds = (file: string): number[] => {
  const buf = fs.readFileSync(file)
  const ends: number[] = []
  let at = 0
  for (const p of scanRecords(file, buf, true).payloads) {
    at += RECORD_HEADER_BYTES + p.length
    ends.push(at)
  }
  return ends
}

describe("record payloads", () => {
  it("prefix-sharing payloads decode to the value they spell", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 15 }), (ops) => {
        const values = valuesOf(ops)
        let previous: Durable | undefined
        let decoded: Durable | undefined
        for (const v of values) {
          const payload = encodePayload(Durable, v, previous)
          decoded = decodePayload(Durable, payload, decoded)
          expect(decoded).toEqual(v)
          previous = v
        }
      }),
    )
  })

  it("a snapshot is written once: records that keep the same snapshot object leave it out", () => {
    const snapshot = { index: 40, term: 2, data: "x".repeat(10_000) }
    const first: Durable = { currentTerm: 2, votedFor: null, log: [{ term: 2, value: "a" }], snapshot }
    const second: Durable = { ...first, log: [...first.log, { term: 2, value: "b" }] }
    const full = encodePayload(Durable, first, undefined)
    const next = encodePayload(Durable, second, first)
    expect(full.length).toBeGreaterThan(10_000)
    expect(next.length).toBeLessThan(200)
    expect(decodePayload(Durable, next, decodePayload(Durable, full, undefined))).toEqual(second)
    // A new snapshot (another object) is written in full; a record naming a field the previous value lacks is refused.
    const compacted: Durable = { ...second, log: [], snapshot: { index: 42, term: 2, data: "y" } }
    expect(decodePayload(Durable, encodePayload(Durable, compacted, second), second)).toEqual(compacted)
    const forged = Buffer.from(JSON.stringify({ k: {}, u: ["snapshot"], d: { currentTerm: 2, votedFor: null, log: [] } }))
    expect(() => decodePayload(Durable, forged, { currentTerm: 2, votedFor: null, log: [] })).toThrow(/unchanged field "snapshot"/)
  })

  it("an appended entry costs only its own bytes", () => {
    const log = Array.from({ length: 1000 }, (_, i) => ({ term: 1, value: `value-${i}` }))
    const before: Durable = { currentTerm: 1, votedFor: null, log }
    const after: Durable = { ...before, log: [...log, { term: 1, value: "new" }] }
    expect(encodePayload(Durable, after, before).length).toBeLessThan(120)
  })
})

describe("FileStore", () => {
  it("recovers the last complete record after truncation at any point", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), fc.double({ min: 0, max: 1, noNaN: true }), async (ops, cutAt) => {
        const values = valuesOf(ops)
        const dir = freshDir()
        await writeAll(dir, values)
        const file = onlyWal(dir)
        const ends = recordEnds(file)
        expect(ends).toHaveLength(values.length)
        // The file holds the records, then zeros allocated ahead (PREALLOCATE_BYTES): cut in either.
        const dataEnd = ends.at(-1)!
        expect(fs.statSync(file).size).toBeGreaterThanOrEqual(dataEnd)
        const cut = Math.floor(cutAt * (dataEnd + 64))
        fs.truncateSync(file, cut)
        const complete = ends.filter((e) => e <= cut).length
        const warnings: string[] = []
        const store = FileStore.open(dir, Durable, { logger: { warn: (m) => warnings.push(m) } })
        expect(store.recovered).toEqual(complete === 0 ? undefined : values[complete - 1])
        const validEnd = complete === 0 ? 0 : ends[complete - 1]!
        // A torn record is cut off with a warning; zeros after the last record are kept, silently.
        const torn = cut > validEnd && cut < dataEnd
        expect(fs.statSync(file).size).toBe(torn ? validEnd : cut)
        expect(warnings.length).toBe(torn ? 1 : 0)
        // Appending after a truncated tail continues the log.
        const next: Durable = { currentTerm: 99, votedFor: null, log: store.recovered?.log ?? [] }
        await store.append(next)
        await store.close()
        expect(FileStore.open(dir, Durable).recovered).toEqual(next)
      }),
      { numRuns: 60 },
    )
  })

  it("refuses to start when a record before the last is damaged, naming the file and offset", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 2, maxLength: 10 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (ops, pick, at, xor) => {
          const values = valuesOf(ops)
          const dir = freshDir()
          await writeAll(dir, values)
          const file = onlyWal(dir)
          const ends = recordEnds(file)
          const victim = pick % (ends.length - 1) // never the last record
          const start = victim === 0 ? 0 : ends[victim - 1]!
          const offset = start + (at % (ends[victim]! - start))
          const buf = fs.readFileSync(file)
          buf[offset] = buf[offset]! ^ xor
          fs.writeFileSync(file, buf)
          let error: unknown
          try {
            FileStore.open(dir, Durable)
          } catch (e) {
            error = e
          }
          expect(error).toBeInstanceOf(CorruptLogError)
          const c = error as CorruptLogError
          expect(c.file).toBe(file)
          expect(c.offset).toBe(start)
          expect(c.message).toContain(`${file}: the record at byte offset ${start} is corrupt`)
          expect(c.code).toBe("corrupt-log")
        },
      ),
      { numRuns: 60 },
    )
  })

  it("appends over zeros it allocated ahead, chunk after chunk, and recovers the last value", async () => {
    // Entries of ~100 KB: the log passes two chunks of zeros (PREALLOCATE_BYTES) within 60 appends.
    const big = (i: number) => ({ term: 1, value: `${i}`.padEnd(100_000, "x") })
    const values: Durable[] = []
    for (let i = 0; i < 60; i++) values.push({ currentTerm: 1, votedFor: null, log: [...(values.at(-1)?.log ?? []), big(i)] })
    const dir = freshDir()
    await writeAll(dir, values)
    const file = onlyWal(dir)
    const dataEnd = recordEnds(file).at(-1)!
    expect(dataEnd).toBeGreaterThan(2 * PREALLOCATE_BYTES)
    // The zeros ahead are there (an append that extends the file would leave none) and stay after the records.
    const size = fs.statSync(file).size
    expect(size).toBeGreaterThan(dataEnd)
    expect(fs.readFileSync(file).subarray(dataEnd).every((b) => b === 0)).toBe(true)
    const warnings: string[] = []
    const store = FileStore.open(dir, Durable, { logger: { warn: (m) => warnings.push(m) } })
    expect(store.recovered).toEqual(values.at(-1))
    expect(warnings).toEqual([])
    await store.close()
  })

  it("tells zeros allocated ahead from a torn write, and only a FileStore expects them", async () => {
    const dir = freshDir()
    await writeAll(dir, valuesOf([{ op: "term" }, { op: "append", values: ["a"] }]))
    const file = onlyWal(dir)
    const records = fs.readFileSync(file).subarray(0, recordEnds(file).at(-1)!)
    const zeros = (n: number) => Buffer.alloc(n)
    // Zeros after the last record: space allocated ahead for a FileStore, a torn tail for anyone else (ZAB).
    const ahead = scanRecords(file, Buffer.concat([records, zeros(100)]), true)
    expect(ahead).toMatchObject({ validBytes: records.length, preallocated: true })
    expect(ahead.tornReason).toBeUndefined()
    expect(scanRecords(file, Buffer.concat([records, zeros(100)])).tornReason).toBe("a record length of 0")
    // A write that landed in part (its header still zeros, a later sector written) is torn, not allocated space.
    const partial = scanRecords(file, Buffer.concat([records, zeros(8), Buffer.from("garbage"), zeros(100)]), true)
    expect(partial).toMatchObject({ validBytes: records.length, tornReason: "a record length of 0" })
    expect(partial.preallocated).toBeUndefined()
    // A valid record after zeros is not a tail at all: the durable prefix is damaged.
    expect(() => scanRecords(file, Buffer.concat([records, zeros(8), records]), true)).toThrow(CorruptLogError)
  })

  it("treats a damaged last record as a torn write and truncates it", async () => {
    const values = valuesOf([{ op: "term" }, { op: "append", values: ["a", "b"] }, { op: "append", values: ["c"] }])
    const dir = freshDir()
    await writeAll(dir, values)
    const file = onlyWal(dir)
    const ends = recordEnds(file)
    const buf = fs.readFileSync(file)
    const at = ends[1]! + RECORD_HEADER_BYTES + 2
    buf[at] = buf[at]! ^ 0xff
    fs.writeFileSync(file, buf)
    const warnings: string[] = []
    const store = FileStore.open(dir, Durable, { logger: { warn: (m) => warnings.push(m) } })
    expect(store.recovered).toEqual(values[1])
    expect(warnings[0]).toMatch(/truncating a torn final record at byte offset \d+ \(CRC32C mismatch\)/)
    await store.close()
  })

  it("compacts into a new generation and recovers the latest value from it", async () => {
    const ops: Op[] = Array.from({ length: 60 }, (_, i) =>
      i % 7 === 0 ? { op: "term" } : i % 11 === 0 ? { op: "truncate", keep: 3 } : { op: "append", values: [`v${i}`.repeat(20)] },
    )
    const values = valuesOf(ops)
    const dir = freshDir()
    const store = FileStore.open(dir, Durable, { compactBytes: 2000 })
    let compactions = 0
    for (const v of values) if ((await store.append(v)).compacted) compactions++
    await store.close()
    expect(compactions).toBeGreaterThan(0)
    expect(store.generation).toBe(compactions + 1)
    onlyWal(dir)
    expect(FileStore.open(dir, Durable).recovered).toEqual(values.at(-1))
  })

  it("an empty directory recovers nothing", () => {
    const store = FileStore.open(freshDir(), Durable)
    expect(store.recovered).toBeUndefined()
    expect(store.report.records).toBe(0)
  })
})
