/**
 * The etcd side of `npm run bench:cluster -- --compare`: a 3-member etcd cluster (the `etcd` binary of Debian's
 * `etcd-server` package, 3.4) started as 3 processes on 127.0.0.1 with fresh data directories and the v2 API
 * enabled, so the benchmark drives it with the same etcd v2 keys requests as our Raft nodes.
 *
 * etcd runs with its defaults except for what a local 3-member cluster needs (names, URLs, initial cluster,
 * `--enable-v2=true`, quieter logging): it fsyncs its WAL on every Raft ready batch, heartbeat 100 ms, election
 * timeout 1000 ms (both overridable with `--etcd-heartbeat-ms` / `--etcd-election-ms`).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"

export const ETCD_BIN = "/usr/bin/etcd"

export interface EtcdMember {
  readonly name: string
  readonly clientUrl: string
  readonly peerUrl: string
  readonly proc: ChildProcess
  readonly exited: Promise<void>
}

export interface EtcdCluster {
  readonly version: string
  readonly members: ReadonlyArray<EtcdMember>
  /** The members' combined output (warnings and errors), for diagnosing a failed run. */
  readonly log: () => string
  readonly stop: () => Promise<void>
}

export type Get = (url: string) => Promise<{ status: number; body: string }>

export interface EtcdOptions {
  readonly dir: string
  /** Peer ports base+1..3, client ports base+1001..1003. */
  readonly base: number
  readonly heartbeatMs?: number
  readonly electionMs?: number
}

/** `etcd --version`'s first line ("etcd Version: 3.4.23") → "3.4.23"; undefined if the binary is missing. */
export const etcdVersion = (): string | undefined => {
  if (!fs.existsSync(ETCD_BIN)) return undefined
  try {
    const out = execFileSync(ETCD_BIN, ["--version"], { encoding: "utf8", timeout: 10_000 })
    return /etcd Version:\s*(\S+)/.exec(out)?.[1] ?? out.split("\n")[0] ?? "unknown"
  } catch {
    return undefined
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const startEtcd = (options: EtcdOptions): EtcdCluster => {
  const version = etcdVersion()
  if (version === undefined) throw new Error(`${ETCD_BIN} not found or not runnable`)
  const ids = [1, 2, 3]
  const peerUrl = (i: number) => `http://127.0.0.1:${options.base + i}`
  const clientUrl = (i: number) => `http://127.0.0.1:${options.base + 1000 + i}`
  const initialCluster = ids.map((i) => `e${i}=${peerUrl(i)}`).join(",")
  const token = `quorum-bench-${process.pid}-${Date.now()}`
  // etcd reads ETCD_* variables as flags; do not let the caller's environment change the setup.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ETCD_")))
  let log = ""
  const append = (name: string) => (c: Buffer) => {
    if (log.length < 1_000_000) log += c.toString().replace(/^(?=.)/gm, `[${name}] `)
  }
  const members = ids.map((i): EtcdMember => {
    const name = `e${i}`
    const dataDir = path.join(options.dir, name)
    const proc = spawn(
      ETCD_BIN,
      [
        "--name", name,
        "--data-dir", dataDir,
        "--listen-peer-urls", peerUrl(i),
        "--initial-advertise-peer-urls", peerUrl(i),
        "--listen-client-urls", clientUrl(i),
        "--advertise-client-urls", clientUrl(i),
        "--initial-cluster", initialCluster,
        "--initial-cluster-token", token,
        "--initial-cluster-state", "new",
        "--enable-v2=true",
        "--logger=zap",
        "--log-outputs=stderr",
        "--log-level=warn",
        ...(options.heartbeatMs === undefined ? [] : ["--heartbeat-interval", String(options.heartbeatMs)]),
        ...(options.electionMs === undefined ? [] : ["--election-timeout", String(options.electionMs)]),
      ],
      { stdio: ["ignore", "pipe", "pipe"], env },
    )
    proc.stdout?.on("data", append(name))
    proc.stderr?.on("data", append(name))
    const exited = new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) resolve()
      else proc.once("exit", () => resolve())
    })
    proc.once("error", (e) => (log += `[${name}] spawn error: ${e.message}\n`))
    return { name, clientUrl: clientUrl(i), peerUrl: peerUrl(i), proc, exited }
  })
  const stop = async (): Promise<void> => {
    for (const m of members) if (m.proc.exitCode === null && m.proc.signalCode === null) m.proc.kill("SIGTERM")
    const all = Promise.all(members.map((m) => m.exited))
    const timedOut = await Promise.race([all.then(() => false), sleep(5000).then(() => true)])
    if (timedOut) for (const m of members) if (m.proc.exitCode === null && m.proc.signalCode === null) m.proc.kill("SIGKILL")
    await all
  }
  return { version, members, log: () => log, stop }
}

/**
 * The member whose `/v2/stats/self` says "StateLeader" and whose leadership another live member confirms (its
 * `leaderInfo.leader` names it), skipping `exclude`; polled up to `timeoutMs`. The confirmation keeps a deposed
 * leader that has not noticed yet from being taken for the current one.
 */
export const etcdLeader = async (cluster: EtcdCluster, get: Get, exclude?: string, timeoutMs = 60_000): Promise<EtcdMember> => {
  interface Self {
    id?: string
    state?: string
    leaderInfo?: { leader?: string }
  }
  const alive = (m: EtcdMember) => m.proc.exitCode === null && m.proc.signalCode === null
  const deadline = performance.now() + timeoutMs
  while (performance.now() < deadline) {
    const stats = await Promise.all(
      cluster.members.map(async (m): Promise<readonly [EtcdMember, Self | undefined]> => {
        if (!alive(m)) return [m, undefined]
        try {
          const r = await get(`${m.clientUrl}/v2/stats/self`)
          return [m, r.status === 200 ? (JSON.parse(r.body) as Self) : undefined]
        } catch {
          return [m, undefined] // not up yet
        }
      }),
    )
    for (const [m, self] of stats) {
      if (m.name === exclude || self?.state !== "StateLeader" || self.id === undefined) continue
      if (stats.some(([o, s]) => o !== m && s?.leaderInfo?.leader === self.id)) return m
    }
    if (!cluster.members.some(alive)) throw new Error("every etcd member exited")
    await sleep(20)
  }
  throw new Error("etcd elected no leader")
}
