/**
 * JIT warm-up for a Raft node process, before it starts (its client port is open, holding requests meanwhile;
 * server.ts): three throw-away nodes in this process
 * — the same `startRaftServer` code, real TCP between them on ephemeral loopback ports, real log files and
 * event logs in a temporary directory, the real etcd API — take a burst of client writes and are stopped; the
 * directory is deleted. Nothing of the node's own state is touched.
 *
 * Why: V8 compiles a function with its optimizing compiler only once it has run hot, and a fresh node's first
 * ~20,000 writes paid for that compiling on the same two cores that serve them (`--trace-opt`: the leader
 * spent ~500 ms compiling ~150 functions during a 20,000-write load, the followers ~90 ms each — about the
 * difference between a fresh cluster's CPU per write and one that had already served 20,000; README,
 * "JIT warm-up"). One process plays leader and followers here, so whichever role the node takes later, its
 * paths are compiled already: class methods and closures share their optimized code across instances.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { nodeId, type NodeId } from "../../../spec/kernel/protocol.ts"
import type { Logger } from "../host.ts"
import { ephemeralPort } from "../ports.ts"
import type { Address } from "../tcp.ts"
import { defaultTimings } from "./config.ts"
import type { RaftServerConfig, RunningServer } from "./server.ts"

export interface WarmUpResult {
  readonly writes: number
  /** Writes answered with anything but 2xx (none, unless something is wrong). */
  readonly failed: number
  readonly ms: number
  /** The temporary directory the throw-away cluster used (deleted by then). */
  readonly dir: string
}

/** Writes a node sends through the throw-away cluster by default (`quorum node raft --warmup-writes`). */
export const DEFAULT_WARMUP_WRITES = 6_000

/** Client connections of the warm-up load: the benchmark's, and enough to fill AppendEntries as a busy leader does. */
const WARMUP_INFLIGHT = 64

/**
 * The rest of the writes go with this few in flight: small batches mean many more steps, AppendEntries and
 * answers per write, and V8 optimizes a function only once it has run enough — those run once per batch.
 */
const FEW_INFLIGHT = 4

/** The share of the writes sent with `WARMUP_INFLIGHT` in flight (full batches: the per-entry paths). */
const BUSY_SHARE = 0.5

/** Snapshots every this many entries in the throw-away cluster, so compaction's paths are compiled too. */
const WARMUP_SNAPSHOT_EVERY = 2_000

const silent: Logger = { info: () => {}, warn: () => {}, error: () => {} }

/** A warm-up that answers nothing for this long is given up (the node then starts without it). */
const STALL_MS = 10_000

/**
 * Sends `writes` PUTs of 128-byte values over `inflight` keep-alive connections, each sending its next request
 * when the answer to the last has come (answers are delimited by their Content-Length, which the API always
 * sends). Resolves with the number of answers that were not 2xx; rejects if a connection fails or closes with
 * a request unanswered, or nothing is answered for `STALL_MS`.
 */
export const putLoad = (port: number, writes: number, inflight: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const body = `value=${"w".repeat(128)}`
    let sent = 0
    let answered = 0
    let failed = 0
    const sockets: net.Socket[] = []
    let settled = false
    const settle = (error: Error | undefined): void => {
      if (settled) return
      settled = true
      clearInterval(watch)
      for (const s of sockets) s.destroy()
      if (error === undefined) resolve(failed)
      else reject(error)
    }
    let seen = -1
    const watch = setInterval(() => {
      if (answered === seen) settle(new Error(`no answer for ${STALL_MS / 1000} s (${answered} of ${writes} writes answered)`))
      seen = answered
    }, STALL_MS)
    const open = Math.min(inflight, writes)
    for (let c = 0; c < open; c++) {
      const socket = net.connect(port, "127.0.0.1")
      sockets.push(socket)
      socket.setEncoding("latin1")
      let pending = ""
      let waiting = false
      const next = (): void => {
        if (sent >= writes) return
        waiting = true
        const i = sent++
        socket.write(
          `PUT /v2/keys/warmup/${i} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
            `Content-Length: ${body.length}\r\n\r\n${body}`,
        )
      }
      socket.on("connect", next)
      socket.on("data", (chunk: string) => {
        pending += chunk
        for (;;) {
          const headEnd = pending.indexOf("\r\n\r\n")
          if (headEnd < 0) return
          const length = /\r\ncontent-length: *(\d+)/i.exec(pending.slice(0, headEnd))
          const end = headEnd + 4 + (length === null ? 0 : Number(length[1]))
          if (pending.length < end) return
          if (!pending.startsWith("HTTP/1.1 2")) failed++
          pending = pending.slice(end)
          waiting = false
          if (++answered === writes) return settle(undefined)
          next()
        }
      })
      socket.on("error", (e) => settle(e))
      socket.on("close", () => {
        if (waiting) settle(new Error("a warm-up connection closed with its request unanswered"))
      })
    }
  })

/**
 * Runs the warm-up: starts the throw-away cluster, waits for its leader, sends `writes` writes to it, stops it
 * and deletes its directory. Throws if the cluster could not be started or lost its writes (the caller logs it
 * and starts the node anyway: a warm-up is an optimization, never a condition of serving).
 */
export const warmUpRaft = async (
  writes: number,
  startRaftServer: (config: RaftServerConfig) => Promise<RunningServer>,
): Promise<WarmUpResult> => {
  const began = performance.now()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-warmup-"))
  // Stopped meanwhile (Ctrl-C in `quorum cluster`): leave no temporary directory behind, then stop as asked.
  const onSignal = (signal: NodeJS.Signals): void => {
    fs.rmSync(dir, { recursive: true, force: true })
    process.kill(process.pid, signal)
  }
  process.once("SIGINT", onSignal)
  process.once("SIGTERM", onSignal)
  const ids: NodeId[] = [nodeId("w1"), nodeId("w2"), nodeId("w3")]
  const servers: RunningServer[] = []
  try {
    const peers = new Map<NodeId, Address>()
    const clientPorts = new Map<NodeId, number>()
    for (const id of ids) {
      peers.set(id, { host: "127.0.0.1", port: await ephemeralPort() })
      clientPorts.set(id, await ephemeralPort())
    }
    for (const id of ids) {
      servers.push(
        await startRaftServer({
          id,
          peers,
          clientUrls: new Map(ids.map((m) => [m, `http://127.0.0.1:${clientPorts.get(m)!}`])),
          clientHost: "127.0.0.1",
          clientPort: clientPorts.get(id)!,
          dir,
          seed: ids.indexOf(id) + 1,
          snapshotEvery: WARMUP_SNAPSHOT_EVERY,
          // Short election timeouts: the throw-away cluster should have a leader at once (not so short that a
          // busy leader on a machine shared with two more warm-ups is voted out).
          timings: { ...defaultTimings, electionMs: 100, heartbeatMs: 20 },
          logger: silent,
          onFatal: () => {},
        }),
      )
    }
    let leader: RunningServer | undefined
    for (let i = 0; i < 500 && leader === undefined; i++) {
      leader = servers.find((s) => s.node.isLeader)
      if (leader === undefined) await new Promise((r) => setTimeout(r, 10))
    }
    if (leader === undefined) throw new Error("the warm-up cluster elected no leader in 5 s")
    const port = clientPorts.get(leader.node.id)!
    const busy = Math.ceil(writes * BUSY_SHARE)
    const failed = (await putLoad(port, busy, WARMUP_INFLIGHT)) + (await putLoad(port, writes - busy, FEW_INFLIGHT))
    return { writes, failed, ms: performance.now() - began, dir }
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
    fs.rmSync(dir, { recursive: true, force: true })
    process.off("SIGINT", onSignal)
    process.off("SIGTERM", onSignal)
  }
}
