/**
 * `npm run bench:cluster [-- --writes N --inflight K --sequential M --no-events --keep]`: a 3-node Raft cluster
 * on loopback, started exactly as a user would (`quorum cluster raft`), measured through its etcd v2 API:
 *
 * 1. throughput: N writes (default 20,000) of 128-byte values, K (64) in flight, sent to the leader;
 * 2. sequential write latency, one write at a time (p50 / p99);
 * 3. failover: kill -9 of the leader → the next write acknowledged by a surviving node.
 *
 * Prints a table. Everything runs on this machine; the data directory is removed afterwards unless --keep.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const args = process.argv.slice(2)
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : fallback
}
const WRITES = flag("writes", 20_000)
const INFLIGHT = flag("inflight", 64)
const SEQUENTIAL = flag("sequential", 1000)
const EVENTS = !args.includes("--no-events")
const KEEP = args.includes("--keep")
const FAILOVER = !args.includes("--no-failover")

const bin = fileURLToPath(new URL("../cli/quorum.mjs", import.meta.url))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const agent = new http.Agent({ keepAlive: true, maxSockets: INFLIGHT })

const request = (method: string, url: string, body?: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent, headers: body === undefined ? {} : { "content-type": "application/x-www-form-urlencoded", "content-length": Buffer.byteLength(body) } },
      (res) => {
        let text = ""
        res.setEncoding("utf8")
        res.on("data", (c: string) => (text += c))
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
        res.on("error", reject)
      },
    )
    req.on("error", reject)
    req.setTimeout(10_000, () => req.destroy(new Error("timeout")))
    req.end(body)
  })

const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.createServer()
    s.once("error", () => resolve(false))
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)))
  })

const freeBase = async (): Promise<number> => {
  for (;;) {
    const base = 20000 + Math.floor(Math.random() * 30000)
    if ((await Promise.all([1, 2, 3, 1001, 1002, 1003].map((d) => portFree(base + d)))).every(Boolean)) return base
  }
}

interface Status {
  id: string
  role: string
  term: number
  leader: string | null
  pid: number
}

const status = async (url: string): Promise<Status | undefined> => {
  try {
    const r = await request("GET", `${url}/quorum/status`)
    return JSON.parse(r.body) as Status
  } catch {
    return undefined
  }
}

const waitLeader = async (urls: ReadonlyArray<string>, exclude?: string): Promise<{ url: string; status: Status }> => {
  for (let i = 0; i < 3000; i++) {
    for (const url of urls) {
      const s = await status(url)
      if (s?.role === "Leader" && s.id !== exclude) return { url, status: s }
    }
    await sleep(20)
  }
  throw new Error("no leader")
}

const percentile = (sorted: ReadonlyArray<number>, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
const ms = (x: number): string => `${x.toFixed(2)} ms`
const value = (i: number): string => `v${i}-`.padEnd(128, "x")

const main = async (): Promise<void> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-bench-"))
  const base = await freeBase()
  const urls = [1, 2, 3].map((i) => `http://127.0.0.1:${base + 1000 + i}`)
  const cluster = spawn(
    process.execPath,
    [bin, "cluster", "raft", "--nodes", "3", "--dir", dir, "--base-port", String(base), "--seed", "1", ...(EVENTS ? [] : ["--no-events"])],
    { stdio: ["ignore", "pipe", "pipe"] },
  )
  let log = ""
  cluster.stdout.on("data", (c: Buffer) => (log += c.toString()))
  cluster.stderr.on("data", (c: Buffer) => (log += c.toString()))
  const exited = new Promise<void>((resolve) => cluster.on("exit", () => resolve()))
  try {
    process.stderr.write(`starting a 3-node Raft cluster in ${dir} (events ${EVENTS ? "on" : "off"})…\n`)
    let { url: leaderUrl, status: leader } = await waitLeader(urls)
    // Let the no-op commit and every connection settle.
    for (let i = 0; i < 200; i++) {
      if ((await request("PUT", `${leaderUrl}/v2/keys/warmup`, "value=1")).status < 300) break
      await sleep(20)
    }

    process.stderr.write(`throughput: ${WRITES} writes, ${INFLIGHT} in flight, to leader ${leader.id}…\n`)
    const latencies: number[] = []
    let next = 0
    let failed = 0
    const t0 = performance.now()
    const worker = async (): Promise<void> => {
      while (next < WRITES) {
        const i = next++
        const s = performance.now()
        const r = await request("PUT", `${leaderUrl}/v2/keys/bench/${i}`, `value=${value(i)}`).catch(() => ({ status: 0, body: "" }))
        if (r.status >= 300) failed++
        latencies.push(performance.now() - s)
      }
    }
    await Promise.all(Array.from({ length: INFLIGHT }, worker))
    const seconds = (performance.now() - t0) / 1000
    latencies.sort((a, b) => a - b)

    process.stderr.write(`sequential: ${SEQUENTIAL} writes one at a time…\n`)
    const seq: number[] = []
    for (let i = 0; i < SEQUENTIAL; i++) {
      const s = performance.now()
      const r = await request("PUT", `${leaderUrl}/v2/keys/seq/${i % 100}`, `value=${value(i)}`)
      if (r.status >= 300) failed++
      seq.push(performance.now() - s)
    }
    seq.sort((a, b) => a - b)

    const survivors = urls.filter((u) => u !== leaderUrl)
    let failoverMs = NaN
    if (FAILOVER) {
      process.stderr.write(`failover: kill -9 of leader ${leader.id}…\n`)
      process.kill(leader.pid, "SIGKILL")
    }
    const k0 = performance.now()
    for (let i = 0; FAILOVER && i < 100_000; i++) {
      const target = survivors[i % survivors.length]!
      const r = await request("PUT", `${target}/v2/keys/failover`, "value=1").catch(() => ({ status: 0, body: "" }))
      if (r.status === 200 || r.status === 201) {
        failoverMs = performance.now() - k0
        break
      }
      await sleep(5)
    }
    if (FAILOVER) ({ url: leaderUrl, status: leader } = await waitLeader(survivors, leader.id))

    const rows: Array<[string, string]> = [
      ["writes (128-byte values)", `${WRITES.toLocaleString("en-US")}, ${INFLIGHT} in flight, to the leader`],
      ["throughput", `${Math.round(WRITES / seconds).toLocaleString("en-US")} writes/s (${seconds.toFixed(2)} s)`],
      ["latency under load p50 / p99", `${ms(percentile(latencies, 50))} / ${ms(percentile(latencies, 99))}`],
      ["sequential write latency p50 / p99", `${ms(percentile(seq, 50))} / ${ms(percentile(seq, 99))} (${SEQUENTIAL} writes)`],
      ["failover (kill -9 leader → next ack)", `${failoverMs.toFixed(0)} ms (new leader ${leader.id})`],
      ["failed requests", String(failed)],
      ["event logs", EVENTS ? "on" : "off"],
    ]
    const w = Math.max(...rows.map(([k]) => k.length))
    const line = `+-${"-".repeat(w)}-+-${"-".repeat(Math.max(...rows.map(([, v]) => v.length)))}-+`
    process.stdout.write(`\nRaft, 3 nodes on loopback (${os.cpus().length} cores, fdatasync per group commit)\n${line}\n`)
    for (const [k, v] of rows) process.stdout.write(`| ${k.padEnd(w)} | ${v.padEnd(line.length - w - 7)} |\n`)
    process.stdout.write(`${line}\n`)
  } catch (e) {
    process.stderr.write(`cluster log:\n${log}\n`)
    throw e
  } finally {
    agent.destroy()
    cluster.kill("SIGTERM")
    await exited
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true })
    else process.stderr.write(`data kept in ${dir}\n`)
  }
}

await main()
