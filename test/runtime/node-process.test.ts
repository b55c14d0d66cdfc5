/**
 * One `quorum node raft` process: a torn tail of its log is truncated with a warning and the node starts with
 * the complete records; corruption inside the log makes it refuse to start (exit 2) naming the file and
 * offset (before its JIT warm-up); garbage at its peer and client ports is refused while the node keeps serving.
 */
import { spawn } from "node:child_process"
import fc from "fast-check"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { nodeId } from "../../spec/kernel/protocol.ts"
import { Durable } from "../../spec/raft/schema.ts"
import { freePorts } from "../../src/runtime/ports.ts"
import { FileStore, RECORD_HEADER_BYTES, scanRecords } from "../../src/runtime/storage.ts"

const repo = path.resolve(import.meta.dirname, "../..")
const bin = path.join(repo, "src/cli/quorum.mjs")
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const root = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-node-"))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

/** Writes three durable values for n1 in `<dir>/n1` and returns the log file and record end offsets. */
const seed = async (dir: string): Promise<{ file: string; ends: number[]; values: Durable[] }> => {
  const store = FileStore.open(path.join(dir, "n1"), Durable)
  const values: Durable[] = []
  let d: Durable = { currentTerm: 1, votedFor: nodeId("n1"), log: [] }
  for (let i = 0; i < 3; i++) {
    d = { ...d, log: [...d.log, { term: 1, value: `v${i}` }] }
    values.push(d)
    await store.append(d)
  }
  await store.close()
  const file = path.join(dir, "n1", fs.readdirSync(path.join(dir, "n1")).find((f) => f.endsWith(".log"))!)
  let at = 0
  const ends = scanRecords(file, fs.readFileSync(file), true).payloads.map((p) => (at += RECORD_HEADER_BYTES + p.length))
  return { file, ends, values }
}

interface Running {
  output: () => string
  exit: Promise<number | null>
  kill: (signal: NodeJS.Signals) => void
}

const startNode = (dir: string, peerPort: number, clientPort: number): Running => {
  const peers = `n1=127.0.0.1:${peerPort},n2=127.0.0.1:${peerPort + 1},n3=127.0.0.1:${peerPort + 2}`
  const child = spawn(process.execPath, [bin, "node", "raft", "--id", "n1", "--peers", peers, "--client-port", String(clientPort), "--dir", dir, "--seed", "1"], {
    stdio: ["ignore", "pipe", "pipe"],
  })
  let out = ""
  child.stdout.on("data", (c: Buffer) => (out += c.toString()))
  child.stderr.on("data", (c: Buffer) => (out += c.toString()))
  return {
    output: () => out,
    exit: new Promise((resolve) => child.on("exit", (code) => resolve(code))),
    kill: (s) => child.kill(s),
  }
}

const status = async (port: number): Promise<Record<string, unknown> | undefined> => {
  try {
    return (await (await fetch(`http://127.0.0.1:${port}/quorum/status`)).json()) as Record<string, unknown>
  } catch {
    return undefined
  }
}

const waitStatus = async (port: number): Promise<Record<string, unknown>> => {
  for (let i = 0; i < 600; i++) {
    const s = await status(port)
    if (s !== undefined) return s
    await sleep(100)
  }
  throw new Error("the node never answered")
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => {
      s.destroy()
      resolve(true)
    })
    s.on("error", () => resolve(false))
  })

const rawSend = (port: number, bytes: Uint8Array): Promise<void> =>
  new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => s.end(bytes))
    s.setTimeout(2000, () => s.destroy())
    s.on("error", () => resolve())
    s.on("close", () => resolve())
  })

describe("quorum node raft (one process)", () => {
  it("truncates a torn tail, then survives garbage at its peer and client ports", async () => {
    const dir = path.join(root, "torn")
    const { file, ends } = await seed(dir)
    fs.truncateSync(file, ends[2]! - 3) // the last record loses its last bytes
    const [peerPort, clientPort] = await freePorts(2)
    const node = startNode(dir, peerPort, clientPort)
    try {
      // The client port opens before the warm-up, and a request made meanwhile is held until the node serves.
      while (!(await accepts(clientPort))) await sleep(20)
      expect(node.output()).not.toContain("JIT warm-up")
      const s = await waitStatus(clientPort)
      expect(node.output()).toMatch(/JIT warm-up[^\n]*\n[^]*peer 127\.0\.0\.1:\d+ · client/)
      expect(s).toMatchObject({ id: "n1", term: 1, votedFor: "n1", logLength: 2 })
      expect(node.output()).toMatch(/truncating a torn final record at byte offset \d+/)
      // The JIT warm-up ran after recovery, in a cluster of its own: the node's log and directory are its own.
      expect(node.output()).toMatch(/JIT warm-up: 6000 writes through a throw-away in-process cluster in \d+ ms\n/)
      expect(fs.statSync(file).size).toBe(ends[1])
      expect(fs.readdirSync(path.join(dir, "n1")).filter((f) => !/^(wal-\d+\.log|events\.ndjson)$/.test(f))).toEqual([])
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 200 }), async (bytes) => {
          await rawSend(peerPort, bytes)
          await rawSend(clientPort, bytes)
        }),
        { numRuns: 25 },
      )
      await rawSend(clientPort, Buffer.from("PUT /v2/keys/a HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\nvalue=1"))
      await rawSend(clientPort, Buffer.from("GET /v2/keys/%E0%A4%A HTTP/1.1\r\n\r\n"))
      expect(await status(clientPort)).toMatchObject({ id: "n1" })
      node.kill("SIGTERM")
      expect(await node.exit).toBe(0)
    } finally {
      node.kill("SIGKILL")
    }
  })

  it("refuses to start (exit 2) when a record inside the log is corrupt, naming the file and offset", async () => {
    const dir = path.join(root, "corrupt")
    const { file, ends } = await seed(dir)
    const buf = fs.readFileSync(file)
    const at = ends[0]! + RECORD_HEADER_BYTES + 3 // inside the second of three records
    buf[at] = buf[at]! ^ 0x55
    fs.writeFileSync(file, buf)
    const [peerPort, clientPort] = await freePorts(2)
    const node = startNode(dir, peerPort, clientPort)
    const code = await node.exit
    expect(code).toBe(2)
    expect(node.output()).toContain(`${file}: the record at byte offset ${ends[0]} is corrupt (CRC32C mismatch)`)
    expect(fs.readFileSync(file)).toEqual(buf) // nothing was "repaired"
    expect(node.output()).not.toContain("JIT warm-up") // refused before spending seconds warming up
  })
})
