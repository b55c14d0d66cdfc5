/**
 * ZAB's dataDir (src/runtime/zab/storage.ts) and torn writes:
 * - fast-check: any sequence of durable values (log growth, TRUNC cuts, SNAP replacements, snapshots, epochs)
 *   reads back as the last one written; cutting the last log segment at any byte recovers a prefix of the log;
 * - one `quorum node zab` process: a torn tail of its txn log is truncated with a warning and the node starts
 *   with the complete records; a damaged record inside the log, or a damaged epoch file, makes it refuse to start
 *   (exit 2) naming the file and byte offset, and nothing is "repaired".
 */
import { spawn } from "node:child_process"
import fc from "fast-check"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import type { Durable, Txn } from "../../spec/zab/schema.ts"
import { makeZxid } from "../../spec/zab/zxid.ts"
import { freePorts } from "../../src/runtime/ports.ts"
import { RECORD_HEADER_BYTES, scanRecords } from "../../src/runtime/storage.ts"
import { ZabFileStore } from "../../src/runtime/zab/storage.ts"
import { bin, sleep } from "./zab-cluster.ts"

const root = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-zab-torn-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
let fresh = 0
const newDir = () => path.join(root, `d${++fresh}`)

const txn = (epoch: number, counter: number): Txn => ({ zxid: makeZxid(epoch, counter), value: `v${epoch}.${counter}` })

/** One change to the durable value, as the spec makes them. */
const change = fc.oneof(
  fc.integer({ min: 1, max: 5 }).map((n) => (d: Durable): Durable => {
    const last = d.log.at(-1)?.zxid ?? makeZxid(Math.max(1, d.currentEpoch), 0)
    return { ...d, log: [...d.log, ...Array.from({ length: n }, (_, i) => ({ zxid: last + i + 1, value: `x${last + i + 1}` }))] }
  }),
  fc.nat(4).map((k) => (d: Durable): Durable => ({ ...d, log: d.log.slice(0, Math.max(0, d.log.length - k)) })), // TRUNC
  fc.constant((d: Durable): Durable => ({ ...d, log: d.log.length > 1 ? d.log.slice(1) : d.log })), // SNAP replacing the log
  fc.constant((d: Durable): Durable => ({ ...d, snapshot: { zxid: d.log.at(-1)?.zxid ?? 0, tree: d.log } })),
  fc.constant((d: Durable): Durable => ({ ...d, acceptedEpoch: d.acceptedEpoch + 1 })),
  fc.constant((d: Durable): Durable => ({ ...d, currentEpoch: d.acceptedEpoch })),
)

describe("ZabFileStore", () => {
  it("reads back the last durable value written, whatever the sequence of changes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(change, { minLength: 1, maxLength: 12 }), async (changes) => {
        const dir = newDir()
        let d: Durable = { acceptedEpoch: 0, currentEpoch: 0, log: [], snapshot: null }
        let store = ZabFileStore.open(dir)
        expect(store.recovered).toBeUndefined()
        await store.append(d)
        for (const [i, f] of changes.entries()) {
          d = f(d)
          await store.append(d)
          if (i % 3 === 2) {
            // Reopen midway: appends continue where recovery left off.
            await store.close()
            store = ZabFileStore.open(dir)
            expect(store.recovered).toEqual(d)
          }
        }
        await store.close()
        expect(ZabFileStore.open(dir).recovered).toEqual(d)
        const names = fs.readdirSync(path.join(dir, "version-2"))
        expect(names).toContain("acceptedEpoch")
        for (const n of names) expect(n).toMatch(/^(acceptedEpoch|currentEpoch|log\.[0-9a-f]+|snapshot\.[0-9a-f]+)$/)
      }),
      { numRuns: 60 },
    )
  })

  it("recovers a prefix of the log when the last segment is cut at any byte", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.double({ min: 0, max: 1, noNaN: true }), async (n, where) => {
        const dir = newDir()
        const store = ZabFileStore.open(dir)
        const log = Array.from({ length: n }, (_, i) => txn(1, i + 1))
        let d: Durable = { acceptedEpoch: 1, currentEpoch: 1, log: [], snapshot: null }
        await store.append(d)
        for (const t of log) await store.append((d = { ...d, log: [...d.log, t] }))
        await store.close()
        const file = path.join(dir, "version-2", "log.100000001")
        const size = fs.statSync(file).size
        fs.truncateSync(file, Math.floor(where * size))
        const r = ZabFileStore.open(dir).recovered!
        expect(log.slice(0, r.log.length)).toEqual(r.log)
        expect(r.acceptedEpoch).toBe(1)
      }),
      { numRuns: 60 },
    )
  })
})

/** n1's dataDir with three logged transactions; returns the log file and its record end offsets. */
const seed = async (dir: string): Promise<{ file: string; ends: number[] }> => {
  const store = ZabFileStore.open(path.join(dir, "n1"))
  let d: Durable = { acceptedEpoch: 1, currentEpoch: 1, log: [], snapshot: null }
  await store.append(d)
  for (let i = 1; i <= 3; i++) await store.append((d = { ...d, log: [...d.log, txn(1, i)] }))
  await store.close()
  const file = path.join(dir, "n1", "version-2", "log.100000001")
  let at = 0
  const ends = scanRecords(file, fs.readFileSync(file)).payloads.map((p) => (at += RECORD_HEADER_BYTES + p.length))
  return { file, ends }
}

const startNode = async (dir: string) => {
  const [p, c] = await freePorts(2)
  const peers = `n1=127.0.0.1:${p},n2=127.0.0.1:${p + 1},n3=127.0.0.1:${p + 2}`
  const child = spawn(process.execPath, [bin, "node", "zab", "--id", "n1", "--peers", peers, "--client-port", String(c), "--dir", dir, "--seed", "1"], {
    stdio: ["ignore", "pipe", "pipe"],
  })
  let out = ""
  child.stdout.on("data", (b: Buffer) => (out += b.toString()))
  child.stderr.on("data", (b: Buffer) => (out += b.toString()))
  return { port: c, output: () => out, exit: new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code))), kill: (s: NodeJS.Signals) => child.kill(s) }
}

describe("quorum node zab (one process) and a damaged dataDir", () => {
  it("truncates a torn tail of its txn log and starts with the complete records", async () => {
    const dir = newDir()
    const { file, ends } = await seed(dir)
    fs.truncateSync(file, ends[2]! - 3)
    const node = await startNode(dir)
    try {
      let s: Record<string, unknown> | undefined
      for (let i = 0; i < 600 && s === undefined; i++) {
        s = await fetch(`http://127.0.0.1:${node.port}/quorum/status`).then((r) => r.json() as Promise<Record<string, unknown>>, () => undefined)
        if (s === undefined) await sleep(100)
      }
      expect(s).toMatchObject({ id: "n1", role: "LOOKING", acceptedEpoch: 1, logLength: 2, lastZxid: "(1,2)" })
      expect(node.output()).toMatch(/log\.100000001: truncating a torn final record at byte offset \d+/)
      expect(fs.statSync(file).size).toBe(ends[1])
      node.kill("SIGTERM")
      expect(await node.exit).toBe(0)
    } finally {
      node.kill("SIGKILL")
    }
  })

  it("refuses to start (exit 2) when a record inside the txn log is corrupt, naming the file and offset", async () => {
    const dir = newDir()
    const { file, ends } = await seed(dir)
    const buf = fs.readFileSync(file)
    const at = ends[0]! + RECORD_HEADER_BYTES + 3 // inside the second of three records
    buf[at] = buf[at]! ^ 0x55
    fs.writeFileSync(file, buf)
    const node = await startNode(dir)
    expect(await node.exit).toBe(2)
    expect(node.output()).toContain(`${file}: the record at byte offset ${ends[0]} is corrupt (CRC32C mismatch)`)
    expect(fs.readFileSync(file)).toEqual(buf)
  })

  it("refuses to start (exit 2) when an epoch file is damaged", async () => {
    const dir = newDir()
    await seed(dir)
    const file = path.join(dir, "n1", "version-2", "currentEpoch")
    fs.writeFileSync(file, "1x")
    const node = await startNode(dir)
    expect(await node.exit).toBe(2)
    expect(node.output()).toContain(`${file}: the record at byte offset 0 is corrupt`)
  })
})
