/**
 * A Raft node's store (src/runtime/raft/raft-store.ts): snapshots live in files of their own, which log records
 * name. Recovery gives back the last value appended — snapshot data included — whatever mix of compactions
 * (file written first), installed snapshots (file written by the append) and reopenings; a record that names a
 * prepared file holds only the name; files no record needs are removed; a missing or damaged file that the
 * log names stops the node with an error naming the file; and logs that held snapshots inline still recover.
 */
import fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { nodeId } from "../../spec/kernel/protocol.ts"
import { Durable, type Snapshot } from "../../spec/raft/schema.ts"
import { CorruptSnapshotError, RaftStore, snapshotFileName } from "../../src/runtime/raft/raft-store.ts"
import { FileStore, RECORD_HEADER_BYTES, scanRecords } from "../../src/runtime/storage.ts"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-raft-store-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
let dirs = 0
const freshDir = (): string => {
  const d = path.join(root, `d${dirs++}`)
  fs.mkdirSync(d, { recursive: true })
  return d
}

const snapFiles = (dir: string): string[] => fs.readdirSync(dir).filter((n) => n.endsWith(".snap")).sort()
const walFile = (dir: string): string => path.join(dir, fs.readdirSync(dir).find((n) => n.endsWith(".log"))!)
const recordSizes = (dir: string): number[] => scanRecords(walFile(dir), fs.readFileSync(walFile(dir)), true).payloads.map((p) => p.length)

const base: Durable = { currentTerm: 2, votedFor: nodeId("n1"), log: [{ term: 1, value: "a" }, { term: 2, value: "b" }, { term: 2, value: "c" }] }
const bigData = JSON.stringify({ v: 1, keys: Array.from({ length: 2000 }, (_, i) => [`/k/${i}`, "x".repeat(40)]) })

/** The value after compacting `d` up to `index` (its entries up to there become `data`). */
const compacted = (d: Durable, index: number, data: string): Durable => {
  const from = d.snapshot?.index ?? 0
  const snapshot: Snapshot = { index, term: d.log[index - from - 1]!.term, data }
  return { ...d, log: d.log.slice(index - from), snapshot }
}

describe("RaftStore", () => {
  it("writes a prepared snapshot once, to its file: the compaction's record only names it", async () => {
    const dir = freshDir()
    const store = RaftStore.open(dir)
    await store.append(base)
    const next = compacted(base, 2, bigData)
    await store.prepareSnapshot({ index: 2, term: 2, data: bigData })
    expect(snapFiles(dir)).toEqual([snapshotFileName(2)])
    await store.append(next)
    const later = { ...next, log: [...next.log, { term: 2, value: "d" }] }
    await store.append(later)
    await store.close()
    const sizes = recordSizes(dir)
    expect(Math.max(...sizes)).toBeLessThan(400)
    expect(fs.statSync(path.join(dir, snapshotFileName(2))).size).toBeGreaterThan(bigData.length)
    const reopened = RaftStore.open(dir)
    expect(reopened.recovered).toEqual(later)
  })

  it("writes an installed snapshot's file in the append that holds it, and drops older files once a newer one is named", async () => {
    const dir = freshDir()
    const store = RaftStore.open(dir)
    const first = compacted(base, 1, "first")
    await store.append(first)
    expect(snapFiles(dir)).toEqual([snapshotFileName(1)])
    const installed: Durable = { ...first, log: [], snapshot: { index: 7, term: 3, data: bigData } }
    await store.append(installed)
    await store.close()
    expect(snapFiles(dir)).toEqual([snapshotFileName(7)])
    expect(RaftStore.open(dir).recovered).toEqual(installed)
  })

  it("removes, when it opens, a prepared file whose compaction never reached the log (a crash in between)", async () => {
    const dir = freshDir()
    const store = RaftStore.open(dir)
    const first = compacted(base, 1, "first")
    await store.append(first)
    await store.prepareSnapshot({ index: 3, term: 2, data: bigData })
    expect(snapFiles(dir)).toEqual([snapshotFileName(1), snapshotFileName(3)])
    // No append naming index 3: the node stopped before its compact step was durable.
    const reopened = RaftStore.open(dir)
    expect(reopened.recovered).toEqual(first)
    expect(snapFiles(dir)).toEqual([snapshotFileName(1)])
  })

  it("keeps data that UTF-8 cannot hold (unpaired surrogates) exactly", async () => {
    const dir = freshDir()
    const store = RaftStore.open(dir)
    const odd = compacted(base, 2, "a\ud800b\udc00c")
    await store.append(odd)
    await store.close()
    expect(RaftStore.open(dir).recovered).toEqual(odd)
  })

  it("recovers a log that held its snapshot inline, and moves that snapshot into a file on its next append", async () => {
    const dir = freshDir()
    const old = FileStore.open(dir, Durable)
    const inline = compacted(base, 2, bigData)
    await old.append(inline)
    await old.close()
    const store = RaftStore.open(dir)
    expect(store.recovered).toEqual(inline)
    const next = { ...inline, currentTerm: 3 }
    await store.append(next)
    await store.close()
    expect(snapFiles(dir)).toEqual([snapshotFileName(2)])
    expect(recordSizes(dir).at(-1)!).toBeLessThan(400)
    expect(RaftStore.open(dir).recovered).toEqual(next)
  })

  describe("refuses to start when the snapshot file the log names is", () => {
    const withSnapshot = async (): Promise<{ dir: string; file: string }> => {
      const dir = freshDir()
      const store = RaftStore.open(dir)
      await store.append(compacted(base, 2, bigData))
      await store.close()
      return { dir, file: path.join(dir, snapshotFileName(2)) }
    }
    const refusal = (dir: string): CorruptSnapshotError => {
      try {
        RaftStore.open(dir)
      } catch (e) {
        if (e instanceof CorruptSnapshotError) return e
        throw e
      }
      throw new Error("the store opened")
    }

    it("missing", async () => {
      const { dir, file } = await withSnapshot()
      fs.rmSync(file)
      const e = refusal(dir)
      expect(e.message).toContain(file)
      expect(e.message).toContain("cannot be read (ENOENT)")
      expect(e.code).toBe("corrupt-log")
    })

    it("damaged in its data (any byte)", async () => {
      const { dir, file } = await withSnapshot()
      const size = fs.statSync(file).size
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: size - 1 }), fc.integer({ min: 1, max: 255 }), async (at, flip) => {
          const good = fs.readFileSync(file)
          const bad = Buffer.from(good)
          bad[at] = bad[at]! ^ flip
          fs.writeFileSync(file, bad)
          try {
            expect(refusal(dir).message).toContain(file)
          } finally {
            fs.writeFileSync(file, good)
          }
        }),
        { numRuns: 40 },
      )
      expect(RaftStore.open(dir).recovered?.snapshot?.data).toBe(bigData)
    })

    it("cut short", async () => {
      const { dir, file } = await withSnapshot()
      fs.truncateSync(file, RECORD_HEADER_BYTES + 10)
      expect(refusal(dir).message).toMatch(/header is cut short|holds \d+ bytes of data/)
    })
  })

  // Any life of a node — appends, compactions through a prepared file, snapshots installed from a leader,
  // stops and restarts — recovers the last value it appended.
  const opArb = fc.oneof(
    fc.record({ op: fc.constant("append" as const), values: fc.array(fc.string({ maxLength: 8 }), { minLength: 1, maxLength: 3 }) }),
    fc.record({ op: fc.constant("term" as const) }),
    fc.record({ op: fc.constant("compact" as const), keep: fc.nat({ max: 3 }), data: fc.string({ maxLength: 30 }) }),
    fc.record({ op: fc.constant("install" as const), ahead: fc.integer({ min: 1, max: 5 }), data: fc.string({ maxLength: 30 }) }),
    fc.record({ op: fc.constant("reopen" as const) }),
  )

  it("recovers the last value appended, whatever the history", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const dir = freshDir()
        let store = RaftStore.open(dir)
        let d: Durable = { currentTerm: 1, votedFor: null, log: [] }
        let last: Durable | undefined
        const lastIndex = (): number => (d.snapshot?.index ?? 0) + d.log.length
        for (const o of ops) {
          switch (o.op) {
            case "append":
              d = { ...d, log: [...d.log, ...o.values.map((value) => ({ term: d.currentTerm, value }))] }
              break
            case "term":
              d = { ...d, currentTerm: d.currentTerm + 1 }
              break
            case "compact": {
              const index = lastIndex() - Math.min(o.keep, d.log.length)
              if (index <= (d.snapshot?.index ?? 0)) continue
              const next = compacted(d, index, o.data)
              await store.prepareSnapshot(next.snapshot!)
              d = next
              break
            }
            case "install":
              d = { ...d, log: [], snapshot: { index: lastIndex() + o.ahead, term: d.currentTerm, data: o.data } }
              break
            case "reopen":
              await store.close()
              store = RaftStore.open(dir)
              expect(store.recovered).toEqual(last)
              continue
          }
          await store.append(d)
          last = d
        }
        await store.close()
        expect(RaftStore.open(dir).recovered).toEqual(last)
        expect(snapFiles(dir)).toEqual(last?.snapshot === undefined ? [] : [snapshotFileName(last.snapshot.index)])
      }),
      { numRuns: 60 },
    )
  })
})
