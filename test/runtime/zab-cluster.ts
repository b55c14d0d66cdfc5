/**
 * Helpers for the ZAB process tests: start `quorum cluster zab` on free loopback ports, talk to its znode API,
 * find the established leader. Every wait polls with a generous retry count (no wall-clock limits).
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as net from "node:net"
import * as path from "node:path"

export const repo = path.resolve(import.meta.dirname, "../..")
export const bin = path.join(repo, "src/cli/quorum.mjs")
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.createServer()
    s.once("error", () => resolve(false))
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)))
  })

/** A base port whose peer (base+1..3) and client (base+1001..1003) ports are all free. */
export const freeBase = async (): Promise<number> => {
  for (let attempt = 0; attempt < 200; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000)
    const ports = [1, 2, 3, 1001, 1002, 1003].map((d) => base + d)
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base
  }
  throw new Error("no free ports")
}

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

export interface Reply {
  status: number
  json: Record<string, unknown>
}

export const call = async (method: string, url: string, body?: unknown): Promise<Reply | undefined> => {
  try {
    const res = await fetch(url, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }) })
    return { status: res.status, json: (await res.json()) as Record<string, unknown> }
  } catch {
    return undefined
  }
}

export const retry = async <T>(what: string, attempt: () => Promise<T | undefined>, tries = 600, pauseMs = 100): Promise<T> => {
  for (let i = 0; i < tries; i++) {
    const r = await attempt()
    if (r !== undefined) return r
    await sleep(pauseMs)
  }
  throw new Error(`gave up waiting for ${what}`)
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
