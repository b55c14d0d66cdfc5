/**
 * Helpers for the ZAB process tests: start `quorum cluster zab` on free loopback ports, talk to its znode API,
 * find the established leader. Every wait polls with a generous retry count (no wall-clock limits).
 */
import { spawn, type ChildProcess } from "node:child_process"
import { bin, call, freeBase } from "./cluster-helpers.ts"

export { bin, call, freeBase, repo, retry, sleep, type Reply } from "./cluster-helpers.ts"

export interface Status {
  id: string
  role: string
  phase: string | null
  serving: boolean
  leader: string | null
  acceptedEpoch: number
  currentEpoch: number
  pid: number
  applied: number
}

export interface Cluster {
  readonly urls: ReadonlyArray<string>
  readonly child: ChildProcess
  readonly exited: Promise<number | null>
  output(): string
  status(url: string): Promise<Status | undefined>
  /** The established leader every serving node agrees on (undefined while there is none). */
  leader(exclude?: string): Promise<Status | undefined>
}

export const startCluster = async (dir: string, seed: number, extra: ReadonlyArray<string> = []): Promise<Cluster> => {
  const base = await freeBase()
  const urls = [1, 2, 3].map((i) => `http://127.0.0.1:${base + 1000 + i}`)
  const child = spawn(process.execPath, [bin, "cluster", "zab", "--nodes", "3", "--dir", dir, "--base-port", String(base), "--seed", String(seed), ...extra], {
    stdio: ["ignore", "pipe", "pipe"],
  })
  let out = ""
  child.stdout.on("data", (c: Buffer) => (out += c.toString()))
  child.stderr.on("data", (c: Buffer) => (out += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const status = async (url: string) => (await call("GET", `${url}/quorum/status`))?.json as Status | undefined
  return {
    urls,
    child,
    exited,
    output: () => out,
    status,
    leader: async (exclude) => {
      const all = await Promise.all(urls.map(status))
      const leader = all.find((s) => s?.role === "LEADING" && s.phase === "BROADCAST" && s.id !== exclude)
      if (leader === undefined) return undefined
      return all.some((s) => s !== undefined && s.id !== leader.id && s.leader === leader.id && s.serving) ? leader : undefined
    },
  }
}
