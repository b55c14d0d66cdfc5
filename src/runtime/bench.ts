/**
 * `npm run bench:cluster [-- --writes N --inflight K --sequential M --warmup W --client-warmup C --rounds R --no-events --keep --compare --only raft|zab]`: a 3-node
 * Raft cluster on loopback, started exactly as a user would (`quorum cluster raft`), measured through its etcd
 * v2 API:
 *
 * 1. throughput: N writes (default 20,000) of 128-byte values, K (64) in flight, sent to the leader;
 * 2. sequential write latency, one write at a time (p50 / p99);
 * 3. failover: kill -9 of the leader → the first write acknowledged by a surviving node (every survivor gets a
 *    fresh PUT every 10 ms, each on its own connection and abandoned after 2 s, so one write stuck on a dead
 *    leader does not hide a later success).
 *
 * `--compare` runs the same workload, with the same client code, against a 3-member etcd 3.4 cluster (Debian's
 * `etcd-server`, /usr/bin/etcd, v2 API enabled; see `bench-etcd.ts`) after ours, and prints one table with a
 * column per system. Both keep their default durability: our nodes fdatasync their log per group commit, etcd
 * fsyncs its WAL. `--etcd-heartbeat-ms H --etcd-election-ms T` change etcd's timers (defaults 100 / 1000 ms).
 *
 * The same workload runs on a 3-node ZAB cluster (`quorum cluster zab`) through its znode API: each key is a znode
 * under the root, created by its first write and set by later ones; failover probes create fresh znodes. With
 * `--compare`, a 3-server ZooKeeper 3.8 ensemble (Debian's `zookeeper`; see `bench-zookeeper.ts`) runs it through
 * `node-zookeeper-client` (create, then setData; one session per server opened beforehand, the failover probes go
 * through the survivors' sessions). `--only raft` / `--only zab` runs one protocol (and its comparison).
 *
 * Before any system, the client sends `--client-warmup` (5,000) writes to an in-process stub (`warmClient`).
 * Our Raft nodes warm up their own JIT before serving (`--warmup-writes`, raft/warmup.ts); `--node-warmup-writes
 * N` passes another count (0: none). The table's "start → first acknowledged write" shows what each system's
 * start-up takes, that warm-up included.
 * `--rounds R` measures each system R times (default 4 with `--compare`, in ABBA order, else 1).
 *
 * Everything runs on this machine; data directories are removed afterwards unless --keep.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as http from "node:http"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { ETCD_BIN, etcdLeader, etcdVersion, startEtcd } from "./bench-etcd.ts"
import { textFlag, wholeFlag } from "./bench-flags.ts"
import { freeBase, portFree } from "./ports.ts"
import { processCpuSeconds } from "./proc-cpu.ts"
import { startZookeeper, zkConnect, zkLeader, zkWrite, zookeeperAvailable, zookeeperVersion, type ZkClient } from "./bench-zookeeper.ts"

const args = process.argv.slice(2)
const flag = (name: string, fallback: number, min = 0): number => wholeFlag(args, name, fallback, min)
const optionalFlag = (name: string): number | undefined => (args.includes(`--${name}`) ? flag(name, NaN) : undefined)
const WRITES = flag("writes", 20_000, 1)
const INFLIGHT = flag("inflight", 64, 1)
const SEQUENTIAL = flag("sequential", 1000)
/** Writes of the same workload before the measured ones (JIT compilers, caches and connections warm up). */
const WARMUP = flag("warmup", 0)
/** Writes this client sends to a stub server before any system is measured (`warmClient`). */
const CLIENT_WARMUP = flag("client-warmup", 5000)
/**
 * Rounds of each system; with --compare, in ABBA order (`main`), four by default: the machine switches between
 * speeds minute to minute (a system's own CPU per write moved 75-119 µs between rounds of one run), and with two
 * rounds one comparison in seven of the fifth session fell to 88 % while the others were 103-127 %, our two
 * rounds meeting the slow minutes.
 */
const ROUNDS = flag("rounds", args.includes("--compare") ? 4 : 1, 1)
const EVENTS = !args.includes("--no-events")
const KEEP = args.includes("--keep")
const FAILOVER = !args.includes("--no-failover")
const COMPARE = args.includes("--compare")
/** `--only raft` or `--only zab`: one protocol (and its comparison) instead of both. */
const ONLY = textFlag(args, "only")
const RAFT = ONLY === undefined || ONLY === "raft"
const ZAB = ONLY === undefined || ONLY === "zab"
const ETCD_HEARTBEAT_MS = optionalFlag("etcd-heartbeat-ms")
/** Our Raft leader's `--coalesce-ms` (default: the node's own). */
const COALESCE_MS = optionalFlag("coalesce-ms")
const ETCD_ELECTION_MS = optionalFlag("etcd-election-ms")
/** Our Raft nodes' `--warmup-writes` (default: the nodes' own). */
const NODE_WARMUP_WRITES = optionalFlag("node-warmup-writes")
/** Our Raft nodes' `--variant` (default: the nodes' own, parallel-append). */
const RAFT_VARIANT = textFlag(args, "variant")

const bin = fileURLToPath(new URL("../cli/quorum.mjs", import.meta.url))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const FORM = { "content-type": "application/x-www-form-urlencoded" }

type Response = { status: number; body: string }

const request = (agent: http.Agent, method: string, url: string, body?: string): Promise<Response> =>
  new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent, headers: body === undefined ? {} : { ...FORM, "content-length": Buffer.byteLength(body) } },
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

const percentile = (sorted: ReadonlyArray<number>, p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!
const ms = (x: number): string => `${x.toFixed(2)} ms`
/** "p50 / p99" of sorted samples; "skipped" when there are none (`--sequential 0`). */
const p50p99 = (sorted: ReadonlyArray<number>): string => (sorted.length === 0 ? "skipped" : `${ms(percentile(sorted, 50))} / ${ms(percentile(sorted, 99))}`)
const value = (i: number): string => `v${i}-`.padEnd(128, "x")

/** What the workload needs from a running cluster. */
interface Leader {
  readonly id: string
  readonly url: string
  readonly pid: number
}
interface Target {
  readonly name: string
  /** `performance.now()` when the system's processes were started (for its start → first acknowledged write). */
  readonly startedAt: number
  readonly urls: ReadonlyArray<string>
  readonly leader: (exclude?: string) => Promise<Leader>
  /** One write of `v` at `key` through the node at `url`: true once acknowledged (default: etcd v2 PUT). */
  readonly write?: (url: string, key: string, v: string) => Promise<boolean>
  /** Time from now until a write through one of `urls` is acknowledged (default: etcd v2 PUTs, `firstAck`). */
  readonly firstAck?: (urls: ReadonlyArray<string>) => Promise<number>
  /** The process ids of every member, for the CPU they spend during the throughput run. */
  readonly pids: () => Promise<ReadonlyArray<number>>
}

interface Result {
  /** Milliseconds from starting the system's processes to its first acknowledged write. */
  readonly readyMs: number
  readonly seconds: number
  readonly throughput: number
  readonly load: ReadonlyArray<number>
  readonly seq: ReadonlyArray<number>
  readonly failoverMs: number
  /** The leader when the load started, the one killed, the one after. */
  readonly startLeader: string
  readonly leader: string
  readonly newLeader: string
  readonly failed: number
  /** CPU seconds (user + system) spent during the throughput run by all members together, and by this client. */
  readonly serverCpu: number
  readonly clientCpu: number
}

/** CPU seconds of `pid` so far; 0 where /proc cannot tell (the table then shows NaN, not a made-up figure). */
const cpuSeconds = (pid: number): number => processCpuSeconds(pid) ?? Number.NaN

/**
 * Time from now until a PUT to one of `urls` is acknowledged (2xx): every url gets a fresh request every 10 ms,
 * each on its own connection and given up after 2 s. NaN if nothing is acknowledged within 60 s.
 */
const firstAck = (
  urls: ReadonlyArray<string>,
  probeRequest: () => { path: string; method: string; body: string; headers: http.OutgoingHttpHeaders } = () => ({
    path: "/v2/keys/failover",
    method: "PUT",
    body: "value=1",
    headers: FORM,
  }),
): Promise<number> =>
  new Promise((resolve) => {
    const t0 = performance.now()
    const pending = new Set<http.ClientRequest>()
    let done = false
    const finish = (result: number) => {
      if (done) return
      done = true
      clearInterval(timer)
      clearTimeout(deadline)
      for (const req of pending) req.destroy()
      resolve(result)
    }
    const probe = (url: string) => {
      const { path: where, method, body, headers } = probeRequest()
      const req = http.request(
        `${url}${where}`,
        { method, agent: false, headers: { ...headers, "content-length": Buffer.byteLength(body) } },
        (res) => {
          res.resume()
          res.on("end", () => {
            pending.delete(req)
            if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) finish(performance.now() - t0)
          })
          res.on("error", () => pending.delete(req))
        },
      )
      req.on("error", () => pending.delete(req))
      req.setTimeout(2000, () => req.destroy())
      pending.add(req)
      req.end(body)
    }
    const round = () => {
      for (const url of urls) probe(url)
    }
    const timer = setInterval(round, 10)
    const deadline = setTimeout(() => finish(NaN), 60_000)
    round()
  })

/** Every node's pid, from its status page (asked again until all answer: one missing would hide its CPU). */
const allPids = async (urls: ReadonlyArray<string>, status: (url: string) => Promise<{ pid: number } | undefined>): Promise<number[]> => {
  for (let i = 0; i < 100; i++) {
    const all = await Promise.all(urls.map(status))
    if (all.every((s) => s !== undefined)) return all.map((s) => s!.pid)
    await sleep(20)
  }
  throw new Error(`not every node of ${urls.join(", ")} answered its status page`)
}

const runWorkload = async (target: Target): Promise<Result> => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: INFLIGHT })
  try {
    const put =
      target.write ??
      ((url: string, key: string, v: string) =>
        request(agent, "PUT", `${url}/v2/keys/${key}`, `value=${v}`).then((r) => r.status >= 200 && r.status < 300))
    const leader = await target.leader()
    // Let the first entries commit and every connection settle.
    let readyMs = Number.NaN
    for (let i = 0; i < 500; i++) {
      if (await put(leader.url, "warmup", "1").catch(() => false)) {
        readyMs = performance.now() - target.startedAt
        break
      }
      await sleep(20)
    }
    if (WARMUP > 0) {
      process.stderr.write(`[${target.name}] warm-up: ${WARMUP} writes, ${INFLIGHT} in flight, not measured…\n`)
      let w = 0
      await Promise.all(
        Array.from({ length: INFLIGHT }, async () => {
          while (w < WARMUP) {
            const i = w++
            await put(leader.url, `warmup/${i}`, value(i)).catch(() => false)
          }
        }),
      )
    }

    process.stderr.write(`[${target.name}] throughput: ${WRITES} writes, ${INFLIGHT} in flight, to leader ${leader.id}…\n`)
    const load: number[] = []
    let next = 0
    let failed = 0
    const pids = await target.pids()
    const serverCpu0 = pids.map(cpuSeconds)
    const clientCpu0 = process.cpuUsage()
    const t0 = performance.now()
    const worker = async (): Promise<void> => {
      while (next < WRITES) {
        const i = next++
        const s = performance.now()
        if (!(await put(leader.url, `bench/${i}`, value(i)).catch(() => false))) failed++
        load.push(performance.now() - s)
      }
    }
    await Promise.all(Array.from({ length: INFLIGHT }, worker))
    const seconds = (performance.now() - t0) / 1000
    const serverCpus = pids.map((pid, i) => cpuSeconds(pid) - serverCpu0[i]!)
    const serverCpu = serverCpus.reduce((a, b) => a + b, 0)
    process.stderr.write(
      `[${target.name}] CPU per write by member (µs): ${serverCpus.map((c, i) => `${pids[i] === leader.pid ? "leader " : ""}${Math.round((c / WRITES) * 1e6)}`).join(", ")}\n`,
    )
    const clientUsage = process.cpuUsage(clientCpu0)
    const clientCpu = (clientUsage.user + clientUsage.system) / 1e6
    load.sort((a, b) => a - b)

    const seqLeader = await target.leader()
    process.stderr.write(`[${target.name}] sequential: ${SEQUENTIAL} writes one at a time, to leader ${seqLeader.id}…\n`)
    const seq: number[] = []
    for (let i = 0; i < SEQUENTIAL; i++) {
      const s = performance.now()
      if (!(await put(seqLeader.url, `seq/${i % 100}`, value(i)).catch(() => false))) failed++
      seq.push(performance.now() - s)
    }
    seq.sort((a, b) => a - b)

    let failoverMs = NaN
    let newLeader = "-"
    let victim = leader
    if (FAILOVER) {
      // Leadership may have moved during the load: kill the leader of now.
      victim = await target.leader()
      if (victim.id !== leader.id) process.stderr.write(`[${target.name}] leadership moved during the run: ${leader.id} → ${victim.id}\n`)
      process.stderr.write(`[${target.name}] failover: kill -9 of leader ${victim.id}…\n`)
      const survivors = target.urls.filter((u) => u !== victim.url)
      process.kill(victim.pid, "SIGKILL")
      failoverMs = await (target.firstAck ?? firstAck)(survivors)
      newLeader = (await target.leader(victim.id)).id
    }
    return {
      readyMs,
      seconds,
      throughput: WRITES / seconds,
      load,
      seq,
      failoverMs,
      startLeader: leader.id,
      leader: victim.id,
      newLeader,
      failed,
      serverCpu,
      clientCpu,
    }
  } finally {
    agent.destroy()
  }
}

interface Status {
  id: string
  role: string
  term: number
  leader: string | null
  pid: number
}

/** Our cluster, started as `quorum cluster raft`, measured, stopped. */
const benchQuorum = async (): Promise<Result> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-bench-"))
  const base = await freeBase()
  const urls = [1, 2, 3].map((i) => `http://127.0.0.1:${base + 1000 + i}`)
  const startedAt = performance.now()
  const cluster = spawn(
    process.execPath,
    [
      bin,
      "cluster",
      "raft",
      "--nodes",
      "3",
      "--dir",
      dir,
      "--base-port",
      String(base),
      "--seed",
      "1",
      ...(EVENTS ? [] : ["--no-events"]),
      ...(COALESCE_MS === undefined ? [] : ["--coalesce-ms", String(COALESCE_MS)]),
      ...(RAFT_VARIANT === undefined ? [] : ["--variant", RAFT_VARIANT]),
      ...(NODE_WARMUP_WRITES === undefined ? [] : ["--warmup-writes", String(NODE_WARMUP_WRITES)]),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  )
  let log = ""
  cluster.stdout.on("data", (c: Buffer) => (log += c.toString()))
  cluster.stderr.on("data", (c: Buffer) => (log += c.toString()))
  const exited = new Promise<void>((resolve) => cluster.on("exit", () => resolve()))
  const statusAgent = new http.Agent({ keepAlive: true })
  const status = async (url: string): Promise<Status | undefined> => {
    try {
      return JSON.parse((await request(statusAgent, "GET", `${url}/quorum/status`)).body) as Status
    } catch {
      return undefined
    }
  }
  try {
    process.stderr.write(`[quorum raft] starting a 3-node cluster in ${dir} (events ${EVENTS ? "on" : "off"})…\n`)
    return await runWorkload({
      name: "quorum raft",
      startedAt,
      urls,
      pids: () => allPids(urls, status),
      // The node that says Leader in the highest term and that another node follows in that term (a deposed
      // leader that has not heard of the new term yet still says Leader).
      leader: async (exclude) => {
        for (let i = 0; i < 3000; i++) {
          const all = await Promise.all(urls.map(async (url) => [url, await status(url)] as const))
          const leaders = all
            .filter(([, s]) => s?.role === "Leader" && s.id !== exclude)
            .filter(([, s]) => all.some(([, o]) => o !== undefined && o.id !== s!.id && o.leader === s!.id && o.term === s!.term))
            .sort(([, a], [, b]) => b!.term - a!.term)
          const [url, s] = leaders[0] ?? []
          if (url !== undefined && s !== undefined) return { id: s.id, url, pid: s.pid }
          await sleep(20)
        }
        throw new Error("no leader")
      },
    })
  } catch (e) {
    process.stderr.write(`cluster log:\n${log}\n`)
    throw e
  } finally {
    statusAgent.destroy()
    cluster.kill("SIGTERM")
    await exited
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true })
    else process.stderr.write(`data kept in ${dir}\n`)
  }
}

/** A 3-member etcd cluster (bench-etcd.ts), measured with the same workload, stopped. */
const benchEtcd = async (): Promise<Result> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-bench-etcd-"))
  const base = await freeBase()
  const startedAt = performance.now()
  const cluster = startEtcd({
    dir,
    base,
    ...(ETCD_HEARTBEAT_MS === undefined ? {} : { heartbeatMs: ETCD_HEARTBEAT_MS }),
    ...(ETCD_ELECTION_MS === undefined ? {} : { electionMs: ETCD_ELECTION_MS }),
  })
  const statusAgent = new http.Agent({ keepAlive: true })
  const get = (url: string) => request(statusAgent, "GET", url)
  try {
    process.stderr.write(`[etcd ${cluster.version}] starting a 3-member cluster in ${dir}…\n`)
    return await runWorkload({
      name: `etcd ${cluster.version}`,
      startedAt,
      urls: cluster.members.map((m) => m.clientUrl),
      pids: async () => cluster.members.flatMap((m) => (m.proc.pid === undefined ? [] : [m.proc.pid])),
      leader: async (exclude) => {
        const m = await etcdLeader(cluster, get, exclude)
        const pid = m.proc.pid
        if (pid === undefined) throw new Error(`etcd member ${m.name} has no pid`)
        return { id: m.name, url: m.clientUrl, pid }
      },
    })
  } catch (e) {
    process.stderr.write(`etcd log:\n${cluster.log()}\n`)
    throw e
  } finally {
    statusAgent.destroy()
    await cluster.stop()
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true })
    else process.stderr.write(`data kept in ${dir}\n`)
  }
}

/** Our ZAB cluster, started as `quorum cluster zab`, measured through its znode API, stopped. */
const benchZab = async (): Promise<Result> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-bench-zab-"))
  const base = await freeBase()
  const urls = [1, 2, 3].map((i) => `http://127.0.0.1:${base + 1000 + i}`)
  const startedAt = performance.now()
  const cluster = spawn(
    process.execPath,
    [bin, "cluster", "zab", "--nodes", "3", "--dir", dir, "--base-port", String(base), "--seed", "1", ...(EVENTS ? [] : ["--no-events"])],
    { stdio: ["ignore", "pipe", "pipe"] },
  )
  let log = ""
  cluster.stdout.on("data", (c: Buffer) => (log += c.toString()))
  cluster.stderr.on("data", (c: Buffer) => (log += c.toString()))
  const exited = new Promise<void>((resolve) => cluster.on("exit", () => resolve()))
  const agent = new http.Agent({ keepAlive: true, maxSockets: INFLIGHT })
  interface ZabStatus {
    id: string
    role: string
    phase: string | null
    serving: boolean
    leader: string | null
    pid: number
  }
  const status = async (url: string): Promise<ZabStatus | undefined> => {
    try {
      return JSON.parse((await request(agent, "GET", `${url}/quorum/status`)).body) as ZabStatus
    } catch {
      return undefined
    }
  }
  const known = new Set<string>()
  const json = (method: string, url: string, body: unknown) =>
    new Promise<number>((resolve, reject) => {
      const text = JSON.stringify(body)
      const req = http.request(url, { method, agent, headers: { "content-type": "application/json", "content-length": Buffer.byteLength(text) } }, (res) => {
        res.resume()
        res.on("end", () => resolve(res.statusCode ?? 0))
        res.on("error", reject)
      })
      req.on("error", reject)
      req.setTimeout(10_000, () => req.destroy(new Error("timeout")))
      req.end(text)
    })
  // A key is a znode under the root; a write creates it, or sets it once it exists (one round trip either way).
  const write = async (url: string, key: string, v: string): Promise<boolean> => {
    const p = `/znodes/${key.replaceAll("/", "-")}`
    if (known.has(p)) return (await json("PUT", url + p, { data: v })) === 200
    const created = await json("POST", url + p, { data: v })
    if (created === 201) return known.add(p), true
    if (created !== 409) return false
    known.add(p)
    return (await json("PUT", url + p, { data: v })) === 200
  }
  let probes = 0
  try {
    process.stderr.write(`[quorum zab] starting a 3-node cluster in ${dir} (events ${EVENTS ? "on" : "off"})…\n`)
    return await runWorkload({
      name: "quorum zab",
      startedAt,
      urls,
      pids: () => allPids(urls, status),
      write,
      firstAck: (survivors) =>
        firstAck(survivors, () => ({
          path: `/znodes/failover-${++probes}`,
          method: "POST",
          body: JSON.stringify({ data: "1" }),
          headers: { "content-type": "application/json" },
        })),
      // An established leader that a serving follower follows.
      leader: async (exclude) => {
        for (let i = 0; i < 3000; i++) {
          const all = await Promise.all(urls.map(async (url) => [url, await status(url)] as const))
          for (const [url, s] of all) {
            if (s === undefined || s.id === exclude || s.role !== "LEADING" || s.phase !== "BROADCAST") continue
            if (all.some(([, o]) => o !== undefined && o.id !== s.id && o.leader === s.id && o.serving)) return { id: s.id, url, pid: s.pid }
          }
          await sleep(20)
        }
        throw new Error("no leader")
      },
    })
  } catch (e) {
    process.stderr.write(`cluster log:\n${log.slice(-20000)}\n`)
    throw e
  } finally {
    agent.destroy()
    cluster.kill("SIGTERM")
    await exited
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true })
    else process.stderr.write(`data kept in ${dir}\n`)
  }
}

/** A 3-server ZooKeeper ensemble (bench-zookeeper.ts) driven by node-zookeeper-client, measured, stopped. */
const benchZookeeper = async (): Promise<Result> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-bench-zk-"))
  let base = await freeBase()
  while (!(await Promise.all([101, 102, 103].map((d) => portFree(base + d)))).every(Boolean)) base = await freeBase()
  const startedAt = performance.now()
  const ensemble = startZookeeper(dir, base)
  const urls = ensemble.servers.map((s) => `127.0.0.1:${s.clientPort}`)
  const clients = new Map<string, ZkClient>()
  const known = new Set<string>()
  try {
    process.stderr.write(`[zookeeper ${ensemble.version}] starting a 3-server ensemble in ${dir}…\n`)
    await zkLeader(ensemble)
    // One session per server, opened before the measurements (the load uses the leader's; failover the others').
    for (const u of urls) clients.set(u, await zkConnect(u))
    let probes = 0
    return await runWorkload({
      name: `zookeeper ${ensemble.version}`,
      startedAt,
      urls,
      pids: async () => ensemble.servers.flatMap((s) => (s.proc.pid === undefined ? [] : [s.proc.pid])),
      write: (url, key, v) => zkWrite(clients.get(url)!, `/${key.replaceAll("/", "-")}`, v, known),
      firstAck: (survivors) =>
        new Promise((resolve) => {
          const t0 = performance.now()
          let done = false
          const finish = (result: number) => {
            if (done) return
            done = true
            clearInterval(timer)
            clearTimeout(deadline)
            resolve(result)
          }
          const timer = setInterval(() => {
            for (const u of survivors) {
              void zkWrite(clients.get(u)!, `/failover-${++probes}`, "1", known).then((ok) => {
                if (ok) finish(performance.now() - t0)
              })
            }
          }, 10)
          const deadline = setTimeout(() => finish(NaN), 60_000)
        }),
      leader: async (exclude) => {
        const s = await zkLeader(ensemble, exclude === undefined ? undefined : Number(exclude.slice(2)))
        const pid = s.proc.pid
        if (pid === undefined) throw new Error(`ZooKeeper server ${s.id} has no pid`)
        return { id: `zk${s.id}`, url: `127.0.0.1:${s.clientPort}`, pid }
      },
    })
  } catch (e) {
    process.stderr.write(`zookeeper log:\n${ensemble.log().slice(-8000)}\n`)
    throw e
  } finally {
    for (const c of clients.values()) c.close()
    await ensemble.stop()
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true })
    else process.stderr.write(`data kept in ${dir}\n`)
  }
}

/** A cell's figure over the rounds: their mean, then each round's, when there were several. */
const overRounds = (rs: ReadonlyArray<Result>, figure: (r: Result) => number, show: (x: number) => string, unit = ""): string => {
  const all = rs.map(figure)
  const mean = all.reduce((a, b) => a + b, 0) / all.length
  return all.length === 1 ? `${show(mean)}${unit}` : `${show(mean)}${unit} (${all.map(show).join(" / ")})`
}

const table = (columns: ReadonlyArray<readonly [string, ReadonlyArray<Result>]>): string => {
  const int = (x: number) => Math.round(x).toLocaleString("en-US")
  // Latency percentiles over every round's samples together.
  const merged = (rs: ReadonlyArray<Result>, pick: (r: Result) => ReadonlyArray<number>) => rs.flatMap(pick).sort((a, b) => a - b)
  const rows: Array<[string, ...string[]]> = [
    ["throughput (writes/s)", ...columns.map(([, rs]) => overRounds(rs, (r) => r.throughput, int))],
    ["latency under load p50 / p99", ...columns.map(([, rs]) => p50p99(merged(rs, (r) => r.load)))],
    ["sequential latency p50 / p99", ...columns.map(([, rs]) => p50p99(merged(rs, (r) => r.seq)))],
    [
      "failover (kill -9 leader → next ack)",
      ...columns.map(([, rs]) => (FAILOVER ? rs.map((r) => `${r.failoverMs.toFixed(0)} ms (${r.leader} → ${r.newLeader})`).join(", ") : "skipped")),
    ],
    [
      "CPU per write: servers / client",
      ...columns.map(([, rs]) => `${overRounds(rs, (r) => (r.serverCpu / WRITES) * 1e6, int, " µs")} / ${overRounds(rs, (r) => (r.clientCpu / WRITES) * 1e6, int, " µs")}`),
    ],
    ["start → first acknowledged write", ...columns.map(([, rs]) => overRounds(rs, (r) => r.readyMs, int, " ms"))],
    ["failed requests", ...columns.map(([, rs]) => String(rs.reduce((a, r) => a + r.failed, 0)))],
  ]
  const all: Array<ReadonlyArray<string>> = [["", ...columns.map(([name]) => name)], ...rows]
  const widths = all[0]!.map((_, c) => Math.max(...all.map((row) => (row[c] ?? "").length)))
  const line = `+${widths.map((w) => "-".repeat(w + 2)).join("+")}+`
  const render = (row: ReadonlyArray<string>) => `| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(" | ")} |`
  return [line, render(all[0]!), line, ...rows.map(render), line].join("\n")
}

/**
 * Warms this process's HTTP client up against an in-process stub that answers like etcd's v2 API, before any
 * system is measured. Otherwise the first system measured pays for the client's JIT: its client CPU per write
 * was 61-68 µs with etcd run first against 47-48 µs second (two runs each way, `--compare --only raft`), on the
 * same 2 cores its servers need.
 */
const warmClient = async (): Promise<void> => {
  if (CLIENT_WARMUP <= 0) return
  let index = 0
  const server = http.createServer((req, res) => {
    req.resume()
    req.on("end", () => {
      index++
      const body = `${JSON.stringify({ action: "set", node: { key: req.url, value: value(index), modifiedIndex: index, createdIndex: index } })}\n`
      res.writeHead(201, { "content-type": "application/json", "x-etcd-index": String(index), "x-raft-index": String(index), "x-raft-term": "2", "content-length": Buffer.byteLength(body) })
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
  const agent = new http.Agent({ keepAlive: true, maxSockets: INFLIGHT })
  let sent = 0
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (sent < CLIENT_WARMUP) {
        const i = sent++
        await request(agent, "PUT", `${url}/v2/keys/warmup/${i}`, `value=${value(i)}`)
      }
    }),
  )
  agent.destroy()
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

const main = async (): Promise<void> => {
  let version: string | undefined
  if (COMPARE && ZAB && !zookeeperAvailable()) {
    process.stderr.write(
      `--compare needs ZooKeeper 3.8 (/usr/share/java/zookeeper.jar) and java, which are missing.\n` +
        `Install them: sudo apt-get install zookeeper (nothing is started; the benchmark runs its own ensemble)\n`,
    )
    process.exit(2)
  }
  if (COMPARE && RAFT) {
    version = etcdVersion()
    if (version === undefined) {
      process.stderr.write(
        `--compare needs etcd 3.4 at ${ETCD_BIN}, which is missing.\n` +
          `Install it: sudo apt-get install --no-install-recommends etcd-server (and stop the etcd service it may start: sudo systemctl disable --now etcd)\n`,
      )
      process.exit(2)
    }
  }
  await warmClient()
  const columns: Array<readonly [string, Result[]]> = []
  /**
   * Each system `ROUNDS` times, a fresh cluster each time. Compared systems alternate in ABBA order (ours, the
   * other, the other, ours, …): this machine's speed drifts within minutes, and a drift that favoured whichever
   * ran second moved single comparisons by 10-20 %; ABBA cancels a steady drift.
   */
  const compared = async (ours: readonly [string, () => Promise<Result>], other: readonly [string, () => Promise<Result>] | undefined) => {
    const a: Result[] = []
    const b: Result[] = []
    for (let round = 0; round < ROUNDS; round++) {
      if (other !== undefined && round % 2 === 1) {
        b.push(await other[1]())
        a.push(await ours[1]())
      } else {
        a.push(await ours[1]())
        if (other !== undefined) b.push(await other[1]())
      }
    }
    columns.push([ours[0], a])
    if (other !== undefined) columns.push([other[0], b])
  }
  if (RAFT) await compared(["quorum raft", benchQuorum], COMPARE ? [`etcd ${version}`, benchEtcd] : undefined)
  if (ZAB) await compared(["quorum zab", benchZab], COMPARE ? [`zookeeper ${zookeeperVersion()}`, benchZookeeper] : undefined)

  const out = [
    "",
    `3-node clusters on loopback, ${os.cpus().length} cores; ${WRITES.toLocaleString("en-US")} writes of 128-byte values, ${INFLIGHT} in flight, to the leader${WARMUP > 0 ? ` after ${WARMUP.toLocaleString("en-US")} unmeasured warm-up writes` : ""}; ${SEQUENTIAL} sequential writes`,
    ...(ROUNDS > 1 ? [`rounds: ${ROUNDS} of each system, a fresh cluster each${COMPARE ? ", compared systems in ABBA order" : ""}; throughput and CPU are their mean (each round's in brackets), latencies over all rounds' samples`] : []),
    `client: one Node.js process for every system${CLIENT_WARMUP > 0 ? `, warmed up first with ${CLIENT_WARMUP.toLocaleString("en-US")} writes to a stub server (no system gets a warm client the other lacks)` : ", not warmed up (the first system measured pays for its JIT)"}`,
    ...(RAFT ? ["raft/etcd: etcd v2 keys API, PUT /v2/keys/<k> value=…"] : []),
    ...(ZAB ? ["zab/zookeeper: create /<k> (setData once it exists) — znode HTTP API for quorum zab, node-zookeeper-client for ZooKeeper"] : []),
    `durability: defaults — quorum fdatasyncs its log per group commit${COMPARE ? (RAFT ? "; etcd fsyncs its WAL" : "") + (ZAB ? "; ZooKeeper fsyncs its txn log (forceSync)" : "") : ""}; quorum event logs ${EVENTS ? "on" : "off"}`,
    "timers: " +
      [
        ...(RAFT ? [`quorum raft election ${"300-600"} ms, heartbeat 50 ms`] : []),
        ...(COMPARE && RAFT
          ? [`etcd election ${ETCD_ELECTION_MS ?? 1000} ms, heartbeat ${ETCD_HEARTBEAT_MS ?? 100} ms${ETCD_ELECTION_MS === undefined && ETCD_HEARTBEAT_MS === undefined ? " (its defaults)" : ""}`]
          : []),
        ...(ZAB ? ["quorum zab timeout 2000 ms (and at once when the connection to the leader closes), probes 50 ms, finalizeWait 200 ms"] : []),
        ...(COMPARE && ZAB ? ["ZooKeeper tickTime 2000, syncLimit 5, finalizeWait 200 ms (its defaults)"] : []),
      ].join("; "),
    table(columns),
  ]
  for (const [name, rs] of columns)
    for (const r of rs) if (r.startLeader !== r.leader) out.push(`${name}: leadership moved during a run (${r.startLeader} at the start, ${r.leader} at the kill)`)
  // node-zookeeper-client keeps a closed session's reconnect timer to a killed server alive: end here.
  process.stdout.write(`${out.join("\n")}\n`, () => process.exit(0))
}

await main()
