/**
 * Ports for local clusters that benchmarks and tests start. Servers' ports stay below the kernel's ephemeral
 * range: one picked inside it, free when checked, could be taken by an outgoing connection before the node bound
 * it (EADDRINUSE, a failed run) — and a Raft node's JIT warm-up opens dozens of connections just before it binds.
 * The warm-up's own throw-away nodes take ports inside the range (`ephemeralPort`), never one a node may bind.
 */
import * as fs from "node:fs"
import * as net from "node:net"

/** The lowest port the kernel gives outgoing connections (and `listen(0)`). */
export const ephemeralLow = (): number => {
  try {
    return Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || 32768
  } catch {
    return 32768
  }
}

/** Whether `port` can be bound on 127.0.0.1 right now. */
export const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.createServer()
    s.once("error", () => resolve(false))
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)))
  })

/** A random port from `from` up to `reserve` below the ephemeral range (a span of at least 1,000); not checked. */
const randomBelowEphemeral = (from: number, reserve: number): number =>
  from + Math.floor(Math.random() * Math.max(1000, ephemeralLow() - reserve - from))

/** A base port B with B+1..3 (peers) and B+1001..1003 (clients) free, all below the ephemeral range. */
export const freeBase = async (): Promise<number> => {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const base = randomBelowEphemeral(10000, 1004)
    if ((await Promise.all([1, 2, 3, 1001, 1002, 1003].map((d) => portFree(base + d)))).every(Boolean)) return base
  }
  throw new Error("no free ports below the ephemeral range")
}

type Ports<N extends number, T extends number[] = []> = T["length"] extends N ? T : Ports<N, [...T, number]>

/** `n` distinct free ports below the ephemeral range. */
export const freePorts = async <N extends number>(n: N): Promise<Ports<N>> => {
  const out: number[] = []
  for (let attempt = 0; out.length < n && attempt < 1000; attempt++) {
    const port = randomBelowEphemeral(10000, 1)
    if (!out.includes(port) && (await portFree(port))) out.push(port)
  }
  if (out.length < n) throw new Error("no free ports below the ephemeral range")
  return out as Ports<N>
}

/** A port the kernel picks from its ephemeral range, free when this returns. */
export const ephemeralPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = net.createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port
      s.close(() => resolve(port))
    })
  })
