/**
 * Replays a counterexample trace on running nodes: the trace's protocol, model and variant hosted by the
 * runtime's `NodeHost` — real durable storage (`FileStore`: write + fdatasync, in a temporary directory) and the
 * protocol's wire codec — under a scheduler that does only what the trace says:
 *
 * - the network (`HeldNetwork`, in the scheduler) holds every message a node sends, as wire JSON, until the
 *   trace delivers it; it drops and duplicates where the trace does;
 * - timers never fire on their own (a clock that never runs them); the scheduler fires one where the trace
 *   fires it (`fireTimerNow`, which refuses a timer the running node did not arm);
 * - a crash kills the node — SIGKILL of its process in process mode, the host discarded in-process — and a
 *   restart boots a new one from what its store recovers from disk.
 *
 * Nodes run as OS processes (`processes: true`: node-process.ts, one per node, driven over IPC) or inside this
 * process (the default: a `Replica` per node; the same code, without process start-up costs).
 *
 * After each step every node is compared with the trace (canonical equality of up/down, state, durable value,
 * armed timers) and so is the network (as a multiset); the first difference is the divergence. The trace's
 * property is evaluated on the running cluster's world after every step (ghost variables updated from the
 * running nodes' transitions), so the report says whether — and at which step — the running code broke it.
 */
import { fork, type ChildProcess } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { canonical } from "../../checker/canonical.ts"
import { expand } from "../../checker/search.ts"
import { describeAction, Instance, type World } from "../../checker/world.ts"
import type { Action, AnyProtocol, InFlight, NodeId, NodeView, WorldView } from "../../spec/kernel/protocol.ts"
import { ItfReadError } from "../../traces/itf.ts"
import { formatMessage, formatValue } from "../../traces/pretty.ts"
import type { QuorumTrace } from "../../traces/trace.ts"
import { forwardEvents, type EventSink } from "../runtime/events.ts"
import { messageDecoder } from "../runtime/transport.ts"
import { Replica, type ReplicaOp, type Snapshot } from "./replica.ts"

type AnyAction = Action<unknown, unknown>

/** Bad input that is not the trace's fault (an unknown --node-variant): exit 2. */
export class ReplayInputError extends Error {
  override readonly name = "ReplayInputError"
}

/** One replayed step as the report lists it. */
export interface ReplayStep {
  readonly step: number
  readonly action: string
  /** Differences between the running cluster and the trace after this step (empty: they agree). */
  readonly differences: ReadonlyArray<string>
  /** The trace's property broken on the running cluster after this step, if it is. */
  readonly violated?: string
}

export interface RuntimeReplayResult {
  readonly protocol: string
  readonly model: string
  readonly variant: string
  /** The variant whose rules the running nodes used. */
  readonly nodeVariant: string
  readonly property: string
  readonly processes: boolean
  readonly steps: ReadonlyArray<ReplayStep>
  /** The first step where the running cluster and the trace differ. */
  readonly divergence: { readonly step: number; readonly action: string; readonly differences: ReadonlyArray<string> } | undefined
  /** The first step where the running cluster broke the trace's property, and why. */
  readonly violation: { readonly step: number; readonly reason: string } | undefined
  /** Whether the spec says the trace's last state breaks the property (false for a clean prefix). */
  readonly predicted: boolean
  /** Running code and trace agree: no divergence, and the property broke on the running cluster iff the spec says so. */
  readonly agrees: boolean
  readonly dir: string
}

export interface RuntimeReplayOptions {
  /** Where the nodes keep their data (`<dir>/<id>/`); default a fresh temporary directory, removed afterwards. */
  readonly dir?: string
  /** Receives every node's NDJSON event lines (restart, deliver, timer, send, persist…). */
  readonly events?: EventSink
  /**
   * Run the nodes with this variant's rules instead of the trace's (say, the faithful rules against a flawed
   * variant's counterexample, to see where the fix makes the running code leave the trace). Default: the trace's.
   */
  readonly nodeVariant?: string
  /** One OS process per node (crash = SIGKILL). Default false: every node in this process. */
  readonly processes?: boolean
  /** Called after each step (progress output). */
  readonly onStep?: (step: ReplayStep) => void
}

interface HeldMessage {
  readonly from: NodeId
  readonly to: NodeId
  readonly json: string
  /** canonical([from, to, decoded message]): the same key the checker gives a packet. */
  readonly key: string
}

/** The network under the trace's control: messages wait here until the trace delivers, drops or duplicates them. */
class HeldNetwork {
  readonly held: HeldMessage[] = []
  readonly decode: (json: unknown) => unknown

  constructor(readonly protocol: AnyProtocol) {
    this.decode = messageDecoder(protocol.schemas.message)
  }

  keyOf(from: NodeId, to: NodeId, msg: unknown): string {
    return canonical([from, to, msg])
  }

  /** A node sent a message: decoded by the protocol's Schema (bad wire data throws here) and held. */
  sent(from: NodeId, to: NodeId, json: string): void {
    this.held.push({ from, to, json, key: this.keyOf(from, to, this.decode(JSON.parse(json))) })
  }

  /** Takes one copy of a held message out, for delivery; undefined if none is held. */
  take(from: NodeId, to: NodeId, msg: unknown): HeldMessage | undefined {
    const at = this.held.findIndex((m) => m.key === this.keyOf(from, to, msg))
    return at < 0 ? undefined : this.held.splice(at, 1)[0]
  }

  duplicate(from: NodeId, to: NodeId, msg: unknown): boolean {
    const m = this.held.find((h) => h.key === this.keyOf(from, to, msg))
    if (m !== undefined) this.held.push(m)
    return m !== undefined
  }

  /** A FIFO (TCP) network loses what a crash or a partition cuts, as the model says. */
  discard(keep: (m: HeldMessage) => boolean): void {
    const kept = this.held.filter(keep)
    this.held.length = 0
    this.held.push(...kept)
  }

  /** The held messages as the checker's multiset: key → copies. */
  multiset(): Map<string, number> {
    const m = new Map<string, number>()
    for (const h of this.held) m.set(h.key, (m.get(h.key) ?? 0) + 1)
    return m
  }

  inFlight(): ReadonlyArray<InFlight<unknown>> {
    const byKey = new Map<string, { from: NodeId; to: NodeId; msg: unknown; copies: number }>()
    for (const h of this.held) {
      const e = byKey.get(h.key)
      if (e !== undefined) e.copies++
      else byKey.set(h.key, { from: h.from, to: h.to, msg: this.decode(JSON.parse(h.json)), copies: 1 })
    }
    return [...byKey.values()]
  }
}

/** A running node as the scheduler drives it, in this process or in its own. */
interface NodeHandle {
  start(): Promise<Snapshot>
  apply(op: ReplicaOp): Promise<{ readonly refused?: string; readonly snapshot: Snapshot }>
  /** Kills the node; what it made durable stays on disk. */
  kill(): Promise<void>
}

interface HandleOptions {
  readonly protocol: AnyProtocol
  readonly model: string
  readonly variant: string
  readonly self: NodeId
  readonly nodes: ReadonlyArray<NodeId>
  readonly dir: string
  readonly onSend: (to: NodeId, json: string) => void
  readonly events: EventSink | undefined
}

const inProcess = (o: HandleOptions): NodeHandle => {
  const replica = new Replica({
    protocol: o.protocol,
    model: o.model,
    variant: o.variant,
    self: o.self,
    nodes: o.nodes,
    dir: o.dir,
    onSend: o.onSend,
    // The host closes its sink on stop; the replay closes the shared one once, at the end.
    ...(o.events === undefined ? {} : { events: forwardEvents((l) => o.events!.line(l)) }),
  })
  return { start: () => replica.start(), apply: (op) => replica.apply(op), kill: () => replica.crash() }
}

const childEntry = fileURLToPath(new URL("./node-process.mjs", import.meta.url))

interface ChildReply {
  readonly kind: "send" | "event" | "done" | "error"
  readonly to?: NodeId
  readonly json?: string
  readonly line?: string
  readonly seq?: number
  readonly refused?: string
  readonly snapshot?: Snapshot
  readonly message?: string
}

/** A node in its own OS process (node-process.ts), driven over IPC; a crash is SIGKILL. */
const childProcess = (o: HandleOptions): NodeHandle => {
  let child: ChildProcess | undefined
  let seq = 0
  const waiting = new Map<number, { resolve: (r: ChildReply) => void; reject: (e: Error) => void }>()
  let failure: Error | undefined
  const fail = (e: Error) => {
    failure ??= e
    for (const w of waiting.values()) w.reject(e)
    waiting.clear()
  }
  const call = (message: Record<string, unknown>, n: number): Promise<ChildReply> =>
    new Promise((resolve, reject) => {
      if (failure !== undefined) return reject(failure)
      waiting.set(n, { resolve, reject })
      child!.send(message)
    })
  const snapshotOf = (r: ChildReply): Snapshot => ({ state: r.snapshot!.state, disk: r.snapshot!.disk, armed: r.snapshot!.armed })
  return {
    async start() {
      failure = undefined
      seq = 0
      const c = fork(childEntry, [], { stdio: ["ignore", "inherit", "inherit", "ipc"], env: { ...process.env, NO_COLOR: "1" } })
      child = c
      c.on("message", (raw) => {
        const m = raw as ChildReply
        switch (m.kind) {
          case "send":
            o.onSend(m.to!, m.json!)
            break
          case "event":
            o.events?.line(m.line!)
            break
          case "done": {
            const w = waiting.get(m.seq!)
            waiting.delete(m.seq!)
            w?.resolve(m)
            break
          }
          case "error":
            fail(new Error(`node ${o.self} (pid ${c.pid}) failed: ${m.message}`))
            break
        }
      })
      c.on("exit", (code, signal) => {
        if (child === c) fail(new Error(`node ${o.self} (pid ${c.pid}) exited (${signal ?? `code ${code}`})`))
      })
      const r = await call({ kind: "init", protocol: o.protocol.name, model: o.model, variant: o.variant, self: o.self, nodes: o.nodes, dir: o.dir }, 0)
      return snapshotOf(r)
    },
    async apply(op) {
      const n = ++seq
      const r = await call({ kind: "op", seq: n, op }, n)
      return r.refused === undefined ? { snapshot: snapshotOf(r) } : { refused: r.refused, snapshot: snapshotOf(r) }
    },
    async kill() {
      const c = child
      child = undefined
      if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise<void>((resolve) => c.once("exit", () => resolve()))
      c.kill("SIGKILL")
      await exited
    },
  }
}

const isRecord = (v: unknown): v is Readonly<Record<string, unknown>> => typeof v === "object" && v !== null && !Array.isArray(v)

/** Field by field (one level into records): `n1.votedFor: running null, trace "n3"`. */
const fieldDifferences = (at: string, running: unknown, traced: unknown, out: string[]): void => {
  if (canonical(running) === canonical(traced)) return
  if (isRecord(running) && isRecord(traced)) {
    for (const key of new Set([...Object.keys(traced), ...Object.keys(running)])) {
      if (canonical(running[key]) !== canonical(traced[key])) out.push(`${at}.${key}: running ${formatValue(running[key])}, trace ${formatValue(traced[key])}`)
    }
    return
  }
  out.push(`${at}: running ${running === undefined ? "nothing" : formatValue(running)}, trace ${traced === undefined ? "nothing" : formatValue(traced)}`)
}

/** The structured actions of a trace, recovered by matching each step with the spec's own successors. */
const traceActions = (instance: Instance, trace: QuorumTrace, worlds: ReadonlyArray<World>): ReadonlyArray<AnyAction> => {
  const actions: AnyAction[] = []
  for (let k = 1; k < worlds.length; k++) {
    const recorded = trace.states[k]!.action
    const wanted = instance.encode(worlds[k]!)
    let found: AnyAction | undefined
    expand(instance, worlds[k - 1]!, (action, next) => {
      if (found === undefined && describeAction(instance.protocol, action) === recorded && instance.encode(next) === wanted) found = action
    })
    if (found === undefined) {
      throw new ItfReadError(`$.states[${k}]`, `'${recorded}' is not a step of the spec here; run \`quorum trace validate\` on this file`)
    }
    actions.push(found)
  }
  return actions
}

const findCheck = (
  protocol: AnyProtocol,
  name: string,
): ((before: WorldView<unknown, unknown, unknown, unknown>, action: AnyAction, after: WorldView<unknown, unknown, unknown, unknown>) => string | undefined) => {
  const inv = protocol.invariants.find((p) => p.name === name)
  if (inv !== undefined) return (_b, _a, after) => inv.check(after)
  const tr = protocol.transitionProperties.find((p) => p.name === name)
  if (tr !== undefined) return (before, action, after) => tr.check({ before, action, after })
  throw new ItfReadError("$.#meta.property", `"${name}" is not an invariant or transition property of ${protocol.name}`)
}

export const replayOnRuntime = async (trace: QuorumTrace, options: RuntimeReplayOptions = {}): Promise<RuntimeReplayResult> => {
  const { protocol, meta } = trace
  const model = protocol.models[meta.model]!
  const instance = new Instance(protocol, meta.model, model, meta.variant)
  const nodeVariant = options.nodeVariant ?? meta.variant
  if (protocol.variants[nodeVariant] === undefined) {
    throw new ReplayInputError(`unknown variant "${nodeVariant}" for ${protocol.name}; valid variants: ${Object.keys(protocol.variants).join(", ")}`)
  }
  if (trace.states.length === 0) throw new ItfReadError("$.states", "the trace has no states")
  const worlds = trace.states.map((s) => instance.worldOf(s))
  const actions = traceActions(instance, trace, worlds)
  const check = findCheck(protocol, meta.property)
  const ids = instance.ids
  const fifo = model.network === "fifo"
  const processes = options.processes === true

  const ownDir = options.dir === undefined
  if (options.dir !== undefined && fs.existsSync(options.dir) && fs.readdirSync(options.dir).length > 0) {
    throw new ReplayInputError(`--dir ${options.dir} is not empty: a replay starts every node from an empty disk`)
  }
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "quorum-replay-"))
  const net = new HeldNetwork(protocol)
  /** Every node's handle, and its last snapshot while it runs (undefined: down). */
  const handles = new Map<NodeId, NodeHandle>()
  const snaps = new Map<NodeId, Snapshot | undefined>()
  /** What each node's disk holds, kept across crashes. */
  const disks = new Map<NodeId, unknown>()

  const boot = async (id: NodeId): Promise<void> => {
    const o: HandleOptions = {
      protocol,
      model: meta.model,
      variant: nodeVariant,
      self: id,
      nodes: ids,
      dir,
      onSend: (to, json) => net.sent(id, to, json),
      events: options.events,
    }
    const h = processes ? childProcess(o) : inProcess(o)
    handles.set(id, h)
    const snap = await h.start()
    snaps.set(id, snap)
    disks.set(id, snap.disk)
  }

  const runtimeWorld = (ghost: unknown, faults: { crashes: number; partitions: number; losses: number; duplications: number }): WorldView<unknown, unknown, unknown, unknown> => ({
    nodes: ids.map((id): NodeView<unknown, unknown> => {
      const s = snaps.get(id)
      return { id, up: s !== undefined, state: s?.state, disk: disks.get(id) }
    }),
    network: net.inFlight(),
    ghost,
    ...faults,
  })

  const compare = (k: number): string[] => {
    const out: string[] = []
    const w = worlds[k]!
    w.nodes.forEach((t) => {
      const s = snaps.get(t.id)
      const up = s !== undefined
      if (up !== t.up) {
        out.push(`${t.id} is ${up ? "up" : "down"} on the running cluster, ${t.up ? "up" : "down"} in the trace`)
        return
      }
      if (s !== undefined) {
        fieldDifferences(t.id, s.state, t.state, out)
        const want = instance.armedTimers(t)
        if (s.armed.join(",") !== want.join(",")) out.push(`${t.id}.timers: running [${s.armed.join(",")}], trace [${want.join(",")}]`)
      }
      fieldDifferences(`${t.id}.disk`, disks.get(t.id), t.disk, out)
    })
    const running = net.multiset()
    const traced = new Map<string, number>()
    const shown = new Map<string, string>()
    for (const p of w.network) {
      traced.set(p.key, (traced.get(p.key) ?? 0) + p.copies)
      shown.set(p.key, formatMessage({ ...p, copies: 1 }))
    }
    for (const m of net.inFlight()) shown.set(net.keyOf(m.from, m.to, m.msg), formatMessage({ ...m, copies: 1 }))
    for (const [key, c] of running) {
      const t = traced.get(key) ?? 0
      if (t !== c) out.push(`${shown.get(key) ?? key} is in flight ×${c} on the running cluster, ×${t} in the trace`)
    }
    for (const [key, c] of traced) if (!running.has(key)) out.push(`${shown.get(key) ?? key} is in flight ×${c} in the trace, not on the running cluster`)
    return out
  }

  const steps: ReplayStep[] = []
  let divergence: RuntimeReplayResult["divergence"]
  let violation: RuntimeReplayResult["violation"]
  const faults = { crashes: 0, partitions: 0, losses: 0, duplications: 0 }
  let cut = 0
  const severed = (a: NodeId, b: NodeId): boolean => cut !== 0 && ((cut >> ids.indexOf(a)) & 1) !== ((cut >> ids.indexOf(b)) & 1)

  /** Runs one op on a running node and records its snapshot; a refusal or a down node is a difference. */
  const run = async (id: NodeId, op: ReplicaOp): Promise<string | undefined> => {
    const h = handles.get(id)
    if (h === undefined || snaps.get(id) === undefined) return `${id} is not running`
    const r = await h.apply(op)
    snaps.set(id, r.snapshot)
    disks.set(id, r.snapshot.disk)
    return r.refused
  }

  try {
    await Promise.all(ids.map((id) => boot(id)))
    let ghost = protocol.ghost.init
    const initial = compare(0)
    const step0: ReplayStep = { step: 0, action: "init", differences: initial }
    steps.push(step0)
    options.onStep?.(step0)
    if (initial.length > 0) divergence = { step: 0, action: "init", differences: initial }

    for (let k = 1; k <= actions.length && divergence === undefined; k++) {
      const action = actions[k - 1]!
      const text = trace.states[k]!.action
      const before = runtimeWorld(ghost, { ...faults })
      let refused: string | undefined
      switch (action._tag) {
        case "Deliver": {
          const m = net.take(action.from, action.node, action.msg)
          refused =
            m === undefined
              ? `the running ${action.from} never sent this ${protocol.messageKind(action.msg)} to ${action.node} (or it was already delivered)`
              : await run(action.node, { op: "deliver", from: action.from, json: m.json })
          break
        }
        case "Timeout":
          refused = await run(action.node, { op: "timeout", timer: action.timer })
          break
        case "Client":
          refused = await run(action.node, { op: "client", request: action.request })
          break
        case "Internal":
          refused = await run(action.node, { op: "internal", action: action.action })
          break
        case "Crash":
          if (snaps.get(action.node) === undefined) refused = `${action.node} is not running`
          else {
            await handles.get(action.node)!.kill()
            snaps.set(action.node, undefined)
            faults.crashes++
            if (fifo) net.discard((m) => m.from !== action.node && m.to !== action.node)
          }
          break
        case "Restart":
          if (snaps.get(action.node) !== undefined) refused = `${action.node} is already running`
          else await boot(action.node)
          break
        case "Partition":
          cut = 0
          for (const id of action.side) cut |= 1 << ids.indexOf(id)
          faults.partitions++
          if (fifo) net.discard((m) => !severed(m.from, m.to))
          break
        case "Heal":
          cut = 0
          break
        case "Drop":
          if (net.take(action.from, action.to, action.msg) === undefined) refused = "no such message is held to drop"
          else faults.losses++
          break
        case "Duplicate":
          if (!net.duplicate(action.from, action.to, action.msg)) refused = "no such message is held to duplicate"
          else faults.duplications++
          break
      }
      const differences = refused !== undefined ? [refused] : compare(k)
      const after = runtimeWorld(ghost, { ...faults })
      ghost = protocol.ghost.update(ghost, { before, action, after })
      const broken = check(before, action, { ...after, ghost })
      const s: ReplayStep = { step: k, action: text, differences, ...(broken === undefined ? {} : { violated: broken }) }
      steps.push(s)
      options.onStep?.(s)
      if (broken !== undefined && violation === undefined) violation = { step: k, reason: broken }
      if (differences.length > 0) divergence = { step: k, action: text, differences }
    }
  } finally {
    for (const [id, h] of handles) if (snaps.get(id) !== undefined) await h.kill().catch(() => {})
    await options.events?.close()
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true })
  }

  // What the spec says of the trace's last state (the checker's own verdict, on the trace's worlds).
  const last = worlds.length - 1
  const predicted = last > 0 && check(worlds[last - 1]!, actions[last - 1]!, worlds[last]!) !== undefined
  return {
    protocol: protocol.name,
    model: meta.model,
    variant: meta.variant,
    nodeVariant,
    property: meta.property,
    processes,
    steps,
    divergence,
    violation,
    predicted,
    agrees: divergence === undefined && (violation !== undefined) === predicted,
    dir,
  }
}
