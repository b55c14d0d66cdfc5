/**
 * One Raft node as an OS process: durable storage in `<dir>/<id>/`, the TCP transport to its peers, the
 * RaftNode and its etcd v2 HTTP API, and the NDJSON event log.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fingerprintHex } from "../../../checker/canonical.ts"
import { nodeId, NodeId } from "../../../spec/kernel/protocol.ts"
import { Message } from "../../../spec/raft/schema.ts"
import { Schema } from "effect"
import { realClock } from "../clock.ts"
import { FileEvents, noEvents } from "../events.ts"
import type { Logger } from "../host.ts"
import { TcpTransport, type Address } from "../tcp.ts"
import { messageDecoder } from "../transport.ts"
import { defaultTimings, RUNTIME_VARIANT, runtimeFlags, type RaftTimings } from "./config.ts"
import { EtcdHttpApi } from "./http.ts"
import { RaftNode } from "./raft-node.ts"
import { RaftStore } from "./raft-store.ts"
import { warmUpRaft } from "./warmup.ts"

export interface RaftServerConfig {
  readonly id: NodeId
  /** Every member's peer address, this node's included. */
  readonly peers: ReadonlyMap<NodeId, Address>
  /** Client URLs of other members, if known up front (otherwise learnt from their Hello). */
  readonly clientUrls?: ReadonlyMap<NodeId, string>
  readonly clientHost: string
  readonly clientPort: number
  /** The cluster's data directory; this node uses `<dir>/<id>/`. */
  readonly dir: string
  readonly seed: number
  /** The variant whose rules the node runs (default `RUNTIME_VARIANT`). */
  readonly variant?: string
  /** Variants with compaction: applied entries between snapshots. */
  readonly snapshotEvery?: number
  readonly timings?: RaftTimings
  readonly events?: boolean
  /** Rotate the event log past this many bytes (default `EVENTS_ROTATE_BYTES`). */
  readonly eventsRotateBytes?: number
  /** Milliseconds between state digests in the event log (default `DEFAULT_DIGEST_EVERY_MS`; 0: every step). */
  readonly eventsDigestMs?: number
  readonly compactBytes?: number
  readonly logger: Logger
  /**
   * Writes sent through a throw-away in-process cluster (warmup.ts) after recovery and before this node starts
   * (its client port is open by then, holding requests), so V8 has compiled its paths before clients come;
   * 0 or absent: none.
   */
  readonly warmupWrites?: number
  /** After a failed durable write, besides stopping the node (default: exit code 4 for the process). */
  readonly onFatal?: () => void
}

export interface RunningServer {
  readonly node: RaftNode
  readonly api: EtcdHttpApi
  readonly transport: TcpTransport<Message>
  readonly nodeDir: string
  stop(): Promise<void>
}

/** Bad command-line input: exit code 2 with this message. */
export class ConfigError extends Error {}

const decodeNodeId = Schema.decodeUnknownSync(NodeId)

/** Parses `n1=127.0.0.1:7001,n2=127.0.0.1:7002`. */
export const parsePeers = (text: string): Map<NodeId, Address> => {
  const out = new Map<NodeId, Address>()
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const m = /^([^=]+)=(.+):(\d{1,5})$/.exec(part)
    if (m === null) throw new ConfigError(`--peers: "${part}" is not id=host:port`)
    let id: NodeId
    try {
      id = decodeNodeId(m[1])
    } catch {
      throw new ConfigError(`--peers: "${m[1]}" is not a node id (letters, digits, _ and -, at most 64)`)
    }
    const port = Number(m[3])
    if (port < 1 || port > 65535) throw new ConfigError(`--peers: port ${port} of ${id} is out of range`)
    if (out.has(id)) throw new ConfigError(`--peers: ${id} is listed twice`)
    out.set(id, { host: m[2]!, port })
  }
  if (out.size === 0) throw new ConfigError("--peers: no members given")
  return out
}

/** Parses `n2=http://127.0.0.1:8002,…`. */
export const parseClientUrls = (text: string): Map<NodeId, string> => {
  const out = new Map<NodeId, string>()
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const i = part.indexOf("=")
    if (i <= 0) throw new ConfigError(`--client-urls: "${part}" is not id=url`)
    out.set(nodeId(part.slice(0, i)), part.slice(i + 1))
  }
  return out
}

/** A cluster's name, from its membership: nodes of different clusters refuse each other's connections. */
export const clusterName = (peers: ReadonlyMap<NodeId, Address>): string =>
  "raft-" +
  fingerprintHex(
    [...peers.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([id, a]) => `${id}=${a.host}:${a.port}`)
      .join(","),
  )

/** The JIT warm-up (warmup.ts), logged; an optimization, never a condition of serving. */
const warmUp = async (writes: number, log: Logger): Promise<void> => {
  if (writes <= 0) return
  try {
    const w = await warmUpRaft(writes, startRaftServer)
    log.info(`JIT warm-up: ${w.writes} writes through a throw-away in-process cluster in ${Math.round(w.ms)} ms${w.failed > 0 ? ` (${w.failed} not acknowledged)` : ""}`)
  } catch (e) {
    log.warn(`JIT warm-up skipped: ${(e as Error).message}`)
  }
}

export const startRaftServer = async (config: RaftServerConfig): Promise<RunningServer> => {
  const self = config.peers.get(config.id)
  if (self === undefined) throw new ConfigError(`--id ${config.id} is not one of --peers (${[...config.peers.keys()].join(", ")})`)
  const variant = config.variant ?? RUNTIME_VARIANT
  try {
    runtimeFlags(variant)
  } catch (e) {
    throw new ConfigError(`--variant: ${(e as Error).message}`)
  }
  const nodeDir = path.join(config.dir, config.id)
  fs.mkdirSync(nodeDir, { recursive: true })
  const log = config.logger
  const store = RaftStore.open(nodeDir, {
    logger: { warn: (m) => log.warn(m) },
    ...(config.compactBytes === undefined ? {} : { compactBytes: config.compactBytes }),
  })
  const r = store.recovered
  log.info(
    r === undefined
      ? `no durable state in ${nodeDir}: starting empty`
      : `recovered from ${store.report.file}: term ${r.currentTerm}, voted for ${r.votedFor ?? "nobody"}, ${r.snapshot === undefined ? "" : `a snapshot to index ${r.snapshot.index}, `}${r.log.length} log entries (${store.report.records} records)`,
  )
  const clientUrl = `http://${config.clientHost}:${config.clientPort}`
  const cluster = clusterName(config.peers)
  const peers = new Map([...config.peers].filter(([id]) => id !== config.id))
  const transport = new TcpTransport<Message>({
    self: config.id,
    cluster,
    listen: self,
    peers,
    clientUrl,
    decode: messageDecoder(Message),
    logger: log,
  })
  const events = config.events === false ? noEvents : new FileEvents(path.join(nodeDir, "events.ndjson"), config.eventsRotateBytes, config.eventsDigestMs)
  const clock = realClock()
  let stopping: Promise<void> | undefined
  const node: RaftNode = new RaftNode({
    self: config.id,
    nodes: [...config.peers.keys()].sort(),
    store,
    prepareSnapshot: async (snapshot) => {
      const began = performance.now()
      const written = await store.prepareSnapshot(snapshot)
      log.info(`snapshot at index ${snapshot.index} durable in ${written.file} (${written.bytes} bytes, ${Math.round(performance.now() - began)} ms); compacting the log`)
    },
    transport,
    clock,
    seed: config.seed,
    variant,
    ...(config.snapshotEvery === undefined ? {} : { snapshotEvery: config.snapshotEvery }),
    timings: config.timings ?? defaultTimings,
    events,
    logger: log,
    onFatal: () => {
      log.error("stopping after a failed durable write")
      if (config.onFatal === undefined) process.exitCode = 4
      else config.onFatal()
      void stop()
    },
  })
  let markReady!: () => void
  let markFailed!: (error: unknown) => void
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve
    markFailed = reject
  })
  ready.catch(() => {}) // held requests see the failure; nobody else waits on it
  const api = new EtcdHttpApi({
    node,
    ready,
    host: config.clientHost,
    port: config.clientPort,
    clusterId: cluster,
    members: [...config.peers].map(([id, a]) => ({
      id,
      peerUrl: `tcp://${a.host}:${a.port}`,
      clientUrl: id === config.id ? clientUrl : (config.clientUrls?.get(id) ?? null),
    })),
    logger: log,
  })
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await api.close()
      await node.stop()
    })()
    return stopping
  }
  try {
    // The client port first: a client that comes while the node warms up is held, not refused (requests wait
    // for `ready`), so the nodes of a cluster, whose warm-ups end at different times, answer from the start.
    await api.start()
    await warmUp(config.warmupWrites ?? 0, log)
    await node.start()
    markReady()
  } catch (e) {
    markFailed(e)
    await stop()
    throw e
  }
  log.info(`peer ${self.host}:${self.port} · client ${clientUrl} · data ${nodeDir} · seed ${config.seed} · variant ${variant}`)
  return { node, api, transport, nodeDir, stop }
}
