/**
 * One ZAB node as an OS process: the dataDir in `<dir>/<id>/version-2/` (storage.ts), reliable channels to its
 * peers (session.ts over TCP), the ZabPeer and its znode HTTP API, and the NDJSON event log
 * `<dir>/<id>/events.ndjson`.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { fingerprintHex } from "../../../checker/canonical.ts"
import type { NodeId } from "../../../spec/kernel/protocol.ts"
import { realClock } from "../clock.ts"
import { FileEvents, noEvents } from "../events.ts"
import type { Logger } from "../host.ts"
import { ConfigError } from "../raft/server.ts"
import type { Address } from "../tcp.ts"
import { defaultTimings, type ZabTimings } from "./config.ts"
import { ZabHttpApi } from "./http.ts"
import { SessionTransport } from "./session.ts"
import { ZabFileStore } from "./storage.ts"
import { ZabPeer } from "./zab-node.ts"

export interface ZabServerConfig {
  readonly id: NodeId
  readonly peers: ReadonlyMap<NodeId, Address>
  readonly clientHost: string
  readonly clientPort: number
  readonly dir: string
  readonly seed: number
  readonly timings?: ZabTimings
  readonly events?: boolean
  /** Rotate the event log past this many bytes (default `EVENTS_ROTATE_BYTES`). */
  readonly eventsRotateBytes?: number
  /** Milliseconds between state digests in the event log (default `DEFAULT_DIGEST_EVERY_MS`; 0: every step). */
  readonly eventsDigestMs?: number
  readonly logger: Logger
}

export interface RunningZabServer {
  readonly node: ZabPeer
  readonly api: ZabHttpApi
  readonly transport: SessionTransport
  readonly nodeDir: string
  stop(): Promise<void>
}

/** A cluster's name, from its membership: nodes of different clusters refuse each other's connections. */
export const zabClusterName = (peers: ReadonlyMap<NodeId, Address>): string =>
  "zab-" +
  fingerprintHex(
    [...peers.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([id, a]) => `${id}=${a.host}:${a.port}`)
      .join(","),
  )

export const startZabServer = async (config: ZabServerConfig): Promise<RunningZabServer> => {
  const self = config.peers.get(config.id)
  if (self === undefined) throw new ConfigError(`--id ${config.id} is not one of --peers (${[...config.peers.keys()].join(", ")})`)
  for (const id of config.peers.keys()) {
    // FastLeaderElection votes with numeric server ids (myid): n1 → 1.
    if (!/^n[1-9]\d{0,8}$/.test(id)) throw new ConfigError(`ZAB node ids must be n<number> (n1, n2, …), as FastLeaderElection votes by number; got ${id}`)
  }
  const nodeDir = path.join(config.dir, config.id)
  fs.mkdirSync(nodeDir, { recursive: true })
  const log = config.logger
  const store = ZabFileStore.open(nodeDir, { warn: (m) => log.warn(m) })
  const r = store.recovered
  log.info(
    r === undefined
      ? `no durable state in ${store.report.dir}: starting empty`
      : `recovered from ${store.report.dir}: acceptedEpoch ${r.acceptedEpoch}, currentEpoch ${r.currentEpoch}, ${r.log.length} logged transactions in ${store.report.logFiles} file(s), snapshot ${store.report.snapshot ?? "none"}`,
  )
  const clientUrl = `http://${config.clientHost}:${config.clientPort}`
  const transport = new SessionTransport({
    self: config.id,
    cluster: zabClusterName(config.peers),
    listen: self,
    peers: new Map([...config.peers].filter(([id]) => id !== config.id)),
    clientUrl,
    logger: log,
  })
  const events = config.events === false ? noEvents : new FileEvents(path.join(nodeDir, "events.ndjson"), config.eventsRotateBytes, config.eventsDigestMs)
  let stopping: Promise<void> | undefined
  const node: ZabPeer = new ZabPeer({
    self: config.id,
    nodes: [...config.peers.keys()].sort(),
    store,
    transport,
    clock: realClock(),
    seed: config.seed,
    timings: config.timings ?? defaultTimings,
    events,
    logger: log,
    onFatal: () => {
      log.error("stopping after a failed durable write")
      process.exitCode = 4
      void stop()
    },
  })
  const api = new ZabHttpApi({ node, host: config.clientHost, port: config.clientPort, logger: log })
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await api.close()
      await node.stop()
    })()
    return stopping
  }
  try {
    await node.start()
    await api.start()
  } catch (e) {
    await stop()
    throw e
  }
  log.info(`peer ${self.host}:${self.port} · client ${clientUrl} · data ${nodeDir} · seed ${config.seed}`)
  return { node, api, transport, nodeDir, stop }
}
