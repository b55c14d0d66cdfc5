/**
 * `quorum cluster raft|zab --nodes 3 --dir ./data [--base-port 7000] [--seed S] [--restart]`: starts the nodes as
 * child processes (`quorum node …`) on 127.0.0.1, prints every endpoint, streams one merged log with each line
 * prefixed by its node's id in its own colour, and on Ctrl-C (SIGINT) or SIGTERM sends SIGTERM to every node
 * and waits for them to stop (a second Ctrl-C kills them).
 *
 * Ports: node i (1-based) listens for peers on base+i and for clients on base+1000+i.
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { nodeIds } from "../../spec/kernel/protocol.ts"
import { freshSeed, nodeSeed } from "../runtime/prng.ts"
import { ExitCode } from "./exit-codes.ts"
import { runtimeFlags } from "../runtime/raft/config.ts"
import { coalesceMsFlag, eventsDigestMsFlag, eventsRotateMbFlag, raftVariantFlag, snapshotEveryFlag, warmupWritesFlag } from "./node-command.ts"
import { canColor } from "./render.ts"
import { UsageError } from "./resolve.ts"

/** The Node.js flag `quorum cluster` starts its nodes with (see `launch`). */
const CO_LOCATED_NODE_FLAG = "--v8-pool-size=1"

export interface ClusterCommandOptions {
  readonly protocol: string
  readonly nodes: number
  readonly dir: string
  readonly basePort: number
  readonly seed: number | undefined
  readonly restart: boolean
  readonly electionMs: number
  readonly heartbeatMs: number
  /** Raft: passed to every node as --coalesce-ms when given. */
  readonly coalesceMs?: number | undefined
  /** Raft: passed to every node as --variant when given. */
  readonly variant?: string | undefined
  /** Raft: passed to every node as --snapshot-every when given. */
  readonly snapshotEvery?: number | undefined
  /** Passed to every node as --events-rotate-mb when given. */
  readonly eventsRotateMb?: number | undefined
  /** Passed to every node as --events-digest-ms when given. */
  readonly eventsDigestMs?: number | undefined
  /** Raft: passed to every node as --warmup-writes when given. */
  readonly warmupWrites?: number | undefined
  /** ZAB: the TIMEOUT timer. */
  readonly timeoutMs?: number | undefined
  readonly events: boolean
}

export interface ClusterMember {
  readonly id: string
  readonly peerPort: number
  readonly clientPort: number
  readonly clientUrl: string
  readonly seed: number
}

const quorumBin = fileURLToPath(new URL("./quorum.mjs", import.meta.url))
const palette = [36, 33, 35, 32, 34, 91, 96, 93, 95]

export const clusterMembers = (nodes: number, basePort: number, seed: number): ClusterMember[] =>
  nodeIds(nodes).map((id, i) => ({
    id,
    peerPort: basePort + i + 1,
    clientPort: basePort + 1000 + i + 1,
    clientUrl: `http://127.0.0.1:${basePort + 1000 + i + 1}`,
    seed: nodeSeed(seed, i),
  }))

export const clusterCommand = async (o: ClusterCommandOptions): Promise<number> => {
  if (o.protocol !== "raft" && o.protocol !== "zab") throw new UsageError(`quorum cluster runs "raft" or "zab", not "${o.protocol}"`)
  const zab = o.protocol === "zab"
  if (o.basePort + 1000 + o.nodes > 65535) throw new UsageError(`--base-port ${o.basePort} leaves no room for ${o.nodes} client ports`)
  if (o.variant !== undefined) {
    if (zab) throw new UsageError("--variant is for raft nodes; ZAB servers run the zab variant")
    try {
      runtimeFlags(o.variant)
    } catch (e) {
      throw new UsageError(`--variant: ${(e as Error).message}`)
    }
  }
  const seed = o.seed ?? freshSeed()
  const members = clusterMembers(o.nodes, o.basePort, seed)
  const dir = path.resolve(o.dir)
  const peers = members.map((m) => `${m.id}=127.0.0.1:${m.peerPort}`).join(",")
  const clientUrls = members.map((m) => `${m.id}=${m.clientUrl}`).join(",")
  const color = canColor(process.stdout)
  const tag = (i: number, id: string): string => {
    const label = id.padEnd(Math.max(...members.map((m) => m.id.length)))
    return color ? `\x1b[${palette[i % palette.length]}m${label} │\x1b[39m ` : `${label} │ `
  }
  const out = (text: string) => process.stdout.write(text + "\n")

  out(`${zab ? "ZAB" : "Raft"} cluster of ${o.nodes} · data ${dir} · seed ${seed} (repeat with --seed ${seed})`)
  for (const m of members) {
    out(`  ${m.id}  peer 127.0.0.1:${m.peerPort}  client ${m.clientUrl}  data ${path.join(dir, m.id)}`)
  }
  out(
    zab
      ? `Try: curl -XPOST ${members[0]!.clientUrl}/znodes/a -d '{"data":"1"}' ; curl ${members.at(-1)!.clientUrl}/znodes/a`
      : `Try: curl -XPUT ${members[0]!.clientUrl}/v2/keys/a -d value=1 ; curl ${members.at(-1)!.clientUrl}/v2/keys/a`,
  )
  if (!zab && o.warmupWrites !== 0) out("Each node warms up its JIT for a few seconds before it serves; requests sent meanwhile wait (--warmup-writes 0 skips it).")
  out("Ctrl-C stops every node.")

  const children = new Map<string, ChildProcess>()
  let stopping = false
  let resolveDone: (code: number) => void = () => {}
  const done = new Promise<number>((resolve) => (resolveDone = resolve))

  const pipeLines = (stream: NodeJS.ReadableStream | null, prefix: string) => {
    if (stream === null) return
    let rest = ""
    stream.setEncoding("utf8")
    stream.on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n")
      rest = lines.pop() ?? ""
      for (const l of lines) out(prefix + l)
    })
    stream.on("end", () => {
      if (rest !== "") out(prefix + rest)
    })
  }

  const launch = (m: ClusterMember, i: number): void => {
    const args = [
      quorumBin,
      "node",
      o.protocol,
      "--id",
      m.id,
      "--peers",
      peers,
      "--client-urls",
      clientUrls,
      "--client-port",
      String(m.clientPort),
      "--dir",
      dir,
      "--seed",
      String(m.seed),
      ...(zab ? [] : ["--election-ms", String(o.electionMs)]),
      "--heartbeat-ms",
      String(o.heartbeatMs),
      ...(zab && o.timeoutMs !== undefined ? ["--timeout-ms", String(o.timeoutMs)] : []),
      ...(!zab && o.coalesceMs !== undefined ? ["--coalesce-ms", String(o.coalesceMs)] : []),
      ...(!zab && o.variant !== undefined ? ["--variant", o.variant] : []),
      ...(!zab && o.snapshotEvery !== undefined ? ["--snapshot-every", String(o.snapshotEvery)] : []),
      ...(o.eventsRotateMb !== undefined ? ["--events-rotate-mb", String(o.eventsRotateMb)] : []),
      ...(o.eventsDigestMs !== undefined ? ["--events-digest-ms", String(o.eventsDigestMs)] : []),
      ...(!zab && o.warmupWrites !== undefined ? ["--warmup-writes", String(o.warmupWrites)] : []),
      ...(o.events ? [] : ["--no-events"]),
    ]
    // Every node of a cluster shares this machine's cores: one V8 worker thread each (for concurrent GC and
    // compiling) instead of V8's default four, which a 3-node cluster on 2 cores ran against one another —
    // `npm run bench:cluster`, six paired runs: servers' CPU per write 104-118 µs against 113-134, writes/s
    // 10,266 against 9,655 on average. QUORUM_NODE_FLAGS: extra Node.js flags for every node process (say,
    // --cpu-prof for profiling).
    const nodeFlags = [CO_LOCATED_NODE_FLAG, ...(process.env.QUORUM_NODE_FLAGS ?? "").split(" ").filter((f) => f !== "")]
    const child = spawn(process.execPath, [...nodeFlags, ...args], { stdio: ["ignore", "pipe", "pipe", "ipc"], env: { ...process.env, NO_COLOR: "1" } })
    children.set(m.id, child)
    pipeLines(child.stdout, tag(i, m.id))
    pipeLines(child.stderr, tag(i, m.id))
    out(`${tag(i, m.id)}started, pid ${child.pid}`)
    child.on("exit", (code, signal) => {
      out(`${tag(i, m.id)}exited (${signal ?? `code ${code}`})`)
      if (children.get(m.id) === child) children.delete(m.id)
      if (!stopping && o.restart) {
        setTimeout(() => {
          if (!stopping) launch(m, i)
        }, 500)
        return
      }
      if (children.size === 0 && (stopping || !o.restart)) resolveDone(stopping ? ExitCode.ok : 1)
    })
  }

  members.forEach(launch)

  let forceTimer: NodeJS.Timeout | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      out(`${signal} again: killing every node`)
      for (const c of children.values()) c.kill("SIGKILL")
      return
    }
    stopping = true
    out(`${signal}: stopping ${children.size} node(s)…`)
    for (const c of children.values()) c.kill("SIGTERM")
    forceTimer = setTimeout(() => {
      out("nodes did not stop within 10 s: killing them")
      for (const c of children.values()) c.kill("SIGKILL")
    }, 10_000)
    if (children.size === 0) resolveDone(ExitCode.ok)
  }
  process.on("SIGINT", onSignal)
  process.on("SIGTERM", onSignal)
  const code = await done
  if (forceTimer !== undefined) clearTimeout(forceTimer)
  process.off("SIGINT", onSignal)
  process.off("SIGTERM", onSignal)
  out(stopping ? "cluster stopped" : "every node exited")
  return code
}

const positive = (name: string) =>
  Flag.Int(name).pipe(
    Flag.filter(
      (n) => n >= 1,
      () => "a whole number ≥ 1",
    ),
  )

const exitWith = (body: () => Promise<number>) =>
  Effect.tryPromise({ try: body, catch: (error) => error }).pipe(
    Effect.map((code) => {
      process.exitCode = code
    }),
  )

export const clusterCli = Command.make(
  "cluster",
  {
    protocol: Argument.String("protocol").pipe(Argument.withDescription("The protocol to run (raft, zab)")),
    nodes: positive("nodes").pipe(Flag.withDescription("Number of nodes"), Flag.withDefault(3)),
    dir: Flag.String("dir").pipe(Flag.withDescription("Data directory (node i writes <dir>/n<i>/)"), Flag.withDefault("./data")),
    basePort: Flag.Int("base-port").pipe(
      Flag.filter(
        (n) => n >= 1 && n <= 64000,
        () => "a port number",
      ),
      Flag.withDescription("Node i listens for peers on base+i and for clients on base+1000+i"),
      Flag.withDefault(7000),
    ),
    seed: Flag.Int("seed").pipe(Flag.withDescription("Cluster seed; each node's seed derives from it (default: fresh, printed)"), Flag.optional),
    restart: Flag.Boolean("restart").pipe(Flag.withDescription("Restart a node that exits (for crash experiments)"), Flag.withDefault(false)),
    electionMs: positive("election-ms").pipe(Flag.withDescription("Election timeout T: each one is drawn from [T, 2T] ms"), Flag.withDefault(300)),
    heartbeatMs: positive("heartbeat-ms").pipe(Flag.withDescription("Leader heartbeat interval in ms"), Flag.withDefault(50)),
    coalesceMs: coalesceMsFlag,
    variant: raftVariantFlag,
    snapshotEvery: snapshotEveryFlag,
    eventsRotateMb: eventsRotateMbFlag,
    eventsDigestMs: eventsDigestMsFlag,
    warmupWrites: warmupWritesFlag,
    timeoutMs: positive("timeout-ms").pipe(Flag.withDescription("ZAB: the TIMEOUT after which a silent leader (or a leader without a quorum) is given up (default 2000)"), Flag.optional),
    noEvents: Flag.Boolean("no-events").pipe(Flag.withDescription("Nodes do not write events.ndjson"), Flag.withDefault(false)),
  },
  (input) =>
    exitWith(() =>
      clusterCommand({
        protocol: input.protocol,
        nodes: input.nodes,
        dir: input.dir,
        basePort: input.basePort,
        seed: Option.getOrUndefined(input.seed),
        restart: input.restart,
        electionMs: input.electionMs,
        heartbeatMs: input.heartbeatMs,
        coalesceMs: Option.getOrUndefined(input.coalesceMs),
        variant: Option.getOrUndefined(input.variant),
        snapshotEvery: Option.getOrUndefined(input.snapshotEvery),
        eventsRotateMb: Option.getOrUndefined(input.eventsRotateMb),
        eventsDigestMs: Option.getOrUndefined(input.eventsDigestMs),
        warmupWrites: Option.getOrUndefined(input.warmupWrites),
        timeoutMs: Option.getOrUndefined(input.timeoutMs),
        events: !input.noEvents,
      }),
    ),
).pipe(
  Command.withDescription("Start a local cluster of node processes on 127.0.0.1 with one merged log; Ctrl-C stops it"),
  Command.withExamples([
    { command: "quorum cluster raft --nodes 3 --dir ./data", description: "Three Raft nodes serving the etcd v2 API" },
    { command: "quorum cluster zab --nodes 3 --dir ./data", description: "Three ZAB servers serving a znode tree over HTTP+JSON" },
  ]),
)
