/**
 * `quorum node raft|zab --id n1 --peers n1=127.0.0.1:7001,… --client-port 8001 --dir DIR [--seed S]`: runs one
 * node in this process until SIGINT or SIGTERM, then stops cleanly (HTTP closed, the write in flight made
 * durable, the event log flushed).
 */
import { Effect, Option } from "effect"
import { Command, Flag, Argument } from "effect/cli"
import { nodeId } from "../../spec/kernel/protocol.ts"
import type { Logger } from "../runtime/host.ts"
import { freshSeed } from "../runtime/prng.ts"
import { DEFAULT_SNAPSHOT_EVERY, defaultTimings as raftTimings, deployableVariants, RUNTIME_VARIANT } from "../runtime/raft/config.ts"
import { ConfigError, parseClientUrls, parsePeers, startRaftServer } from "../runtime/raft/server.ts"
import { DEFAULT_WARMUP_WRITES } from "../runtime/raft/warmup.ts"
import { CorruptLogError } from "../runtime/storage.ts"
import { defaultTimings as zabTimings } from "../runtime/zab/config.ts"
import { startZabServer } from "../runtime/zab/server.ts"
import { DEFAULT_DIGEST_EVERY_MS, EVENTS_ROTATE_BYTES } from "../runtime/events.ts"
import { ExitCode } from "./exit-codes.ts"
import { colorsFor } from "./render.ts"
import { UsageError } from "./resolve.ts"

export interface NodeCommandOptions {
  readonly protocol: string
  readonly id: string
  readonly peers: string
  readonly clientPort: number
  readonly clientHost: string
  readonly clientUrls: string | undefined
  readonly dir: string
  readonly seed: number | undefined
  readonly electionMs: number
  readonly heartbeatMs: number
  /** Raft: the longest a leader waits to fill an AppendEntries under load (default 3 ms, 0: never). */
  readonly coalesceMs?: number | undefined
  /** Raft: the variant of the spec the node runs (a deployable one; default `RUNTIME_VARIANT`). */
  readonly variant?: string | undefined
  /** Raft, variants with compaction: applied entries between snapshots. */
  readonly snapshotEvery?: number | undefined
  /** ZAB: the TIMEOUT timer (default 2000 ms). */
  readonly timeoutMs?: number | undefined
  readonly events: boolean
  /** Rotate each event log past this many MiB. */
  readonly eventsRotateMb?: number | undefined
  /** Milliseconds between state digests in the event log (0: every step). */
  readonly eventsDigestMs?: number | undefined
  /** Raft: writes through a throw-away in-process cluster before serving (warmup.ts); 0 skips it. */
  readonly warmupWrites?: number | undefined
}

const stamp = (): string => new Date().toISOString().slice(11, 23)

/** Log lines on stdout: time, level, message (colours only on a terminal). */
export const consoleLogger = (): Logger => {
  const c = colorsFor(process.stdout)
  const line = (level: string, message: string) => process.stdout.write(`${c.dim(stamp())} ${level}${message}\n`)
  return {
    info: (m) => line("", m),
    warn: (m) => line(c.yellow("warn "), m),
    error: (m) => line(c.red("error "), m),
  }
}

export const nodeCommand = async (o: NodeCommandOptions): Promise<number> => {
  if (o.protocol !== "raft" && o.protocol !== "zab") throw new UsageError(`quorum node runs "raft" or "zab", not "${o.protocol}"`)
  const log = consoleLogger()
  const supervised = process.connected
  let peers
  let clientUrls
  try {
    peers = parsePeers(o.peers)
    clientUrls = o.clientUrls === undefined ? undefined : parseClientUrls(o.clientUrls)
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  const seed = o.seed ?? freshSeed()
  const coalesceMs = o.coalesceMs ?? raftTimings.coalesceMs
  const eventLog = {
    events: o.events,
    ...(o.eventsRotateMb === undefined ? {} : { eventsRotateBytes: o.eventsRotateMb * 2 ** 20 }),
    ...(o.eventsDigestMs === undefined ? {} : { eventsDigestMs: o.eventsDigestMs }),
  }
  let server: { stop(): Promise<void> }
  try {
    server = o.protocol === "zab" ? await startZabServer({
      id: nodeId(o.id),
      peers,
      clientHost: o.clientHost,
      clientPort: o.clientPort,
      dir: o.dir,
      seed,
      timings: { ...zabTimings, heartbeatMs: o.heartbeatMs, ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }) },
      ...eventLog,
      logger: log,
    }) : await startRaftServer({
      id: nodeId(o.id),
      peers,
      ...(clientUrls === undefined ? {} : { clientUrls }),
      clientHost: o.clientHost,
      clientPort: o.clientPort,
      dir: o.dir,
      seed,
      ...(o.variant === undefined ? {} : { variant: o.variant }),
      ...(o.snapshotEvery === undefined ? {} : { snapshotEvery: o.snapshotEvery }),
      timings: { electionMs: o.electionMs, heartbeatMs: o.heartbeatMs, coalesceMs },
      warmupWrites: o.warmupWrites ?? DEFAULT_WARMUP_WRITES,
      ...eventLog,
      logger: log,
    })
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message)
    if (e instanceof CorruptLogError) {
      log.error(e.message)
      return ExitCode.usage
    }
    if ((e as NodeJS.ErrnoException).code === "EADDRINUSE") {
      log.error(`${(e as Error).message}: another process uses this port; choose other ports`)
      return ExitCode.usage
    }
    throw e
  }
  log.info(
    o.protocol === "zab"
      ? `seed ${seed} (repeat with --seed ${seed}) · timeout ${o.timeoutMs ?? zabTimings.timeoutMs} ms · heartbeat ${o.heartbeatMs} ms · finalizeWait ${zabTimings.finalizeMs} ms`
      : `seed ${seed} (repeat with --seed ${seed}) · election timeout ${o.electionMs}-${2 * o.electionMs} ms · heartbeat ${o.heartbeatMs} ms · coalesce ≤ ${coalesceMs} ms`,
  )
  const running = server
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal)
      process.off("SIGTERM", onSignal)
      log.info(`${signal}: stopping`)
      void running.stop().then(resolve)
    }
    process.on("SIGINT", onSignal)
    process.on("SIGTERM", onSignal)
    // Started by `quorum cluster` (an IPC channel to it): if the cluster process dies, even by SIGKILL, the
    // channel closes and this node stops rather than live on as an orphan holding its ports.
    if (process.connected) process.once("disconnect", () => onSignal("SIGTERM"))
    // …or died while this node was still starting (a Raft node's warm-up takes seconds).
    else if (supervised) onSignal("SIGTERM")
  })
  log.info("stopped")
  // The open IPC channel would keep this process alive until the cluster's 10 s SIGKILL (which also loses
  // --cpu-prof output); close it so the process ends on its own.
  if (process.connected) process.disconnect()
  return typeof process.exitCode === "number" ? process.exitCode : ExitCode.ok
}

const positive = (name: string) =>
  Flag.Int(name).pipe(
    Flag.filter(
      (n) => n >= 1,
      () => "a whole number ≥ 1",
    ),
  )

/** `--coalesce-ms`, shared with `quorum cluster`, which passes it on to its nodes. */
export const coalesceMsFlag = Flag.Int("coalesce-ms").pipe(
  Flag.filter(
    (n) => n >= 0,
    () => "a whole number ≥ 0",
  ),
  Flag.withDescription(`Raft: longest a busy leader waits to fill an AppendEntries, in ms; 0 sends at once (default ${raftTimings.coalesceMs})`),
  Flag.optional,
)

/** `--events-rotate-mb`, shared with `quorum cluster`, which passes it on to its nodes. */
export const eventsRotateMbFlag = positive("events-rotate-mb").pipe(
  Flag.withDescription(
    `Start a new event log (the old one kept as events.1.ndjson, the one before deleted) once it holds this many MiB (default ${EVENTS_ROTATE_BYTES / 2 ** 20})`,
  ),
  Flag.optional,
)

/** `--events-digest-ms`, shared with `quorum cluster`, which passes it on to its nodes. */
export const eventsDigestMsFlag = Flag.Int("events-digest-ms").pipe(
  Flag.filter(
    (n) => n >= 0,
    () => "a whole number ≥ 0",
  ),
  Flag.withDescription(
    `Log a digest of the node's state on a step at most every this many ms (default ${DEFAULT_DIGEST_EVERY_MS}); 0 logs one on every step, for the finest conformance checking at some CPU`,
  ),
  Flag.optional,
)

/** `--warmup-writes`, shared with `quorum cluster`, which passes it on to its nodes. */
export const warmupWritesFlag = Flag.Int("warmup-writes").pipe(
  Flag.filter(
    (n) => n >= 0,
    () => "a whole number ≥ 0",
  ),
  Flag.withDescription(
    `Raft: before serving, send this many writes through a throw-away 3-node cluster inside the process (temporary directory, ephemeral loopback ports) so V8 has compiled the node's paths before real clients come (default ${DEFAULT_WARMUP_WRITES}; 0 starts at once)`,
  ),
  Flag.optional,
)

/** `--snapshot-every`, shared with `quorum cluster`, which passes it on to its nodes. */
export const snapshotEveryFlag = positive("snapshot-every").pipe(
  Flag.withDescription(`Raft: the fewest applied entries between two snapshots of the key space, which replace the log up to them (default ${DEFAULT_SNAPSHOT_EVERY}; more when the key space is larger than those entries' bytes)`),
  Flag.optional,
)

/** `--variant`, shared with `quorum cluster`, which passes it on to its nodes. */
export const raftVariantFlag = Flag.String("variant").pipe(
  Flag.withDescription(`Raft: the variant of the spec the nodes run (${deployableVariants().join(", ")}; default ${RUNTIME_VARIANT})`),
  Flag.optional,
)

const exitWith = (body: () => Promise<number>) =>
  Effect.tryPromise({ try: body, catch: (error) => error }).pipe(
    Effect.map((code) => {
      process.exitCode = code
    }),
  )

export const nodeCli = Command.make(
  "node",
  {
    protocol: Argument.String("protocol").pipe(Argument.withDescription("The protocol to run (raft, zab)")),
    id: Flag.String("id").pipe(Flag.withDescription("This node's id, one of --peers")),
    peers: Flag.String("peers").pipe(Flag.withDescription("Every member as id=host:port, comma-separated (this node included)")),
    clientPort: positive("client-port").pipe(Flag.withDescription("Port of the HTTP client API (raft: etcd v2 keys; zab: znodes)")),
    clientHost: Flag.String("client-host").pipe(Flag.withDescription("Address the client API binds to"), Flag.withDefault("127.0.0.1")),
    clientUrls: Flag.String("client-urls").pipe(
      Flag.withDescription("Other members' client URLs as id=url (otherwise learnt when peers connect)"),
      Flag.optional,
    ),
    dir: Flag.String("dir").pipe(Flag.withDescription("Data directory; this node writes <dir>/<id>/")),
    seed: Flag.Int("seed").pipe(Flag.withDescription("Seed of the election-timeout PRNG (default: fresh, and printed)"), Flag.optional),
    electionMs: positive("election-ms").pipe(Flag.withDescription("Election timeout T: each one is drawn from [T, 2T] ms"), Flag.withDefault(300)),
    heartbeatMs: positive("heartbeat-ms").pipe(Flag.withDescription("Leader heartbeat interval in ms"), Flag.withDefault(50)),
    coalesceMs: coalesceMsFlag,
    variant: raftVariantFlag,
    snapshotEvery: snapshotEveryFlag,
    timeoutMs: positive("timeout-ms").pipe(Flag.withDescription("ZAB: a follower not hearing from its leader (or a leader from a quorum) this long goes LOOKING (default 2000)"), Flag.optional),
    noEvents: Flag.Boolean("no-events").pipe(Flag.withDescription("Do not write <dir>/<id>/events.ndjson"), Flag.withDefault(false)),
    eventsRotateMb: eventsRotateMbFlag,
    eventsDigestMs: eventsDigestMsFlag,
    warmupWrites: warmupWritesFlag,
  },
  (input) =>
    exitWith(() =>
      nodeCommand({
        protocol: input.protocol,
        id: input.id,
        peers: input.peers,
        clientPort: input.clientPort,
        clientHost: input.clientHost,
        clientUrls: Option.getOrUndefined(input.clientUrls),
        dir: input.dir,
        seed: Option.getOrUndefined(input.seed),
        electionMs: input.electionMs,
        heartbeatMs: input.heartbeatMs,
        coalesceMs: Option.getOrUndefined(input.coalesceMs),
        variant: Option.getOrUndefined(input.variant),
        snapshotEvery: Option.getOrUndefined(input.snapshotEvery),
        timeoutMs: Option.getOrUndefined(input.timeoutMs),
        events: !input.noEvents,
        eventsRotateMb: Option.getOrUndefined(input.eventsRotateMb),
        eventsDigestMs: Option.getOrUndefined(input.eventsDigestMs),
        warmupWrites: Option.getOrUndefined(input.warmupWrites),
      }),
    ),
).pipe(
  Command.withDescription("Run one node of a protocol as this process (TCP to its peers, durable storage, client API)"),
  Command.withExamples([
    {
      command: "quorum node raft --id n1 --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003 --client-port 8001 --dir ./data",
      description: "Node n1 of a three-node Raft cluster",
    },
    {
      command: "quorum node zab --id n1 --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003 --client-port 8001 --dir ./data",
      description: "Server n1 of a three-server ZAB ensemble (znode API on port 8001)",
    },
  ]),
)
