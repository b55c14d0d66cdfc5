/**
 * A trace in the form trace files and trace printing share: each state with the action that led to it, every
 * node with its timers named, the partition as the list of nodes on the first node's side. The checker's
 * compact worlds (timer bitmasks, packets with hashes) are turned into it by `traceStates`; trace files are
 * read back into it by `readTrace` (or, for traces of other tools, into `GenericState`s).
 */
import { Cause, Exit, Schema, SchemaIssue } from "effect"
import type { AnyProtocol, InFlight, NodeId } from "../spec/kernel/protocol.ts"
import { protocols } from "../spec/registry.ts"
import { fieldPath, fromItf, ItfReadError, readItf, TRACE_VARS, type ItfDocument, type ItfState, type ItfValue } from "./itf.ts"

/** One node of one state of a trace, in the checker-independent form traces are written from. */
export interface TraceNode {
  readonly id: NodeId
  readonly up: boolean
  /** Undefined while the node is down. */
  readonly state: unknown
  /** Undefined until the node first persists. */
  readonly disk: unknown
  /** Names of the armed timers, in the protocol's declaration order. */
  readonly timers: ReadonlyArray<string>
}

export interface TraceFaults {
  readonly crashes: number
  readonly partitions: number
  readonly losses: number
  readonly duplications: number
  /** The nodes on n1's side of the current partition; empty while the network is whole. */
  readonly cut: ReadonlyArray<NodeId>
}

/** One state of a trace and the action that led to it. */
export interface TraceState {
  /** The action's one-line description; "init" for the initial state. */
  readonly action: string
  /** The action's kind in lowerCamel case (`deliver`, `timeout`, `crash`…); "init" for the initial state. */
  readonly actionTaken: string
  readonly nodes: ReadonlyArray<TraceNode>
  readonly network: ReadonlyArray<InFlight<unknown>>
  readonly ghost: unknown
  readonly faults: TraceFaults
}

/** What the checker's worlds look like to this module; `checker/world.ts`'s `World` satisfies it. */
export interface CheckedWorld {
  readonly nodes: ReadonlyArray<CheckedNode>
  readonly network: ReadonlyArray<InFlight<unknown>>
  readonly ghost: unknown
  /** Bitmask of the side of the partition holding the first node; 0 when the network is whole. */
  readonly cut: number
  readonly crashes: number
  readonly partitions: number
  readonly losses: number
  readonly duplications: number
}

export interface CheckedNode {
  readonly id: NodeId
  readonly up: boolean
  readonly state: unknown
  readonly disk: unknown
  /** Armed timers as a bitmask; the instance names them. */
  readonly timers: number
}

/** A trace step as the checker reports it (`checker/search.ts`'s `TraceStep` satisfies it). */
export interface CheckedStep<A extends { readonly _tag: string }> {
  /** Undefined for the initial world. */
  readonly action: A | undefined
  readonly world: CheckedWorld
}

/** The parts of a checker instance a trace needs (`checker/world.ts`'s `Instance` satisfies it). */
export interface TraceInstance {
  readonly ids: ReadonlyArray<NodeId>
  armedTimers(node: CheckedNode): ReadonlyArray<string>
}

const lowerCamel = (name: string): string => name.charAt(0).toLowerCase() + name.slice(1)

/** Turns the checker's trace into the checker-independent form; `describe` names each action in one line. */
export const traceStates = <A extends { readonly _tag: string }>(
  instance: TraceInstance,
  steps: ReadonlyArray<CheckedStep<A>>,
  describe: (action: A) => string,
): ReadonlyArray<TraceState> =>
  steps.map(({ action, world }) => ({
    action: action === undefined ? "init" : describe(action),
    actionTaken: action === undefined ? "init" : lowerCamel(action._tag),
    nodes: world.nodes.map((n) => ({ id: n.id, up: n.up, state: n.state, disk: n.disk, timers: instance.armedTimers(n) })),
    // Only the four fields of an in-flight message: the checker's packets also carry sort keys and hashes.
    network: world.network.map((p) => ({ from: p.from, to: p.to, msg: p.msg, copies: p.copies })),
    ghost: world.ghost,
    faults: {
      crashes: world.crashes,
      partitions: world.partitions,
      losses: world.losses,
      duplications: world.duplications,
      cut: instance.ids.filter((_, i) => ((world.cut >> i) & 1) === 1),
    },
  }))

// ——— Reading trace files back ———

/** What `#meta` of a trace written by quorum says: the protocol, model and variant, and what broke. */
export interface QuorumTraceMeta {
  readonly protocol: string
  readonly model: string
  readonly variant: string
  readonly property: string
  readonly reason: string
}

/** A trace file written by quorum (its `#meta` names a protocol), decoded with that protocol's Schemas. */
export interface QuorumTrace {
  readonly kind: "quorum"
  readonly meta: QuorumTraceMeta
  readonly protocol: AnyProtocol
  readonly states: ReadonlyArray<TraceState>
}

/**
 * One state of a trace written by another tool (Quint, Apalache…): the action that led to it when the trace
 * says (Quint's `mbt::actionTaken`), the nondeterministic picks (`mbt::nondetPicks`), and every other
 * variable as an ITF value, in the order of `vars` and then of the state's own keys.
 */
export interface GenericState {
  readonly action: string | undefined
  readonly picks: ItfValue | undefined
  readonly vars: ReadonlyArray<readonly [string, ItfValue]>
}

export interface GenericTrace {
  readonly kind: "generic"
  readonly meta: Readonly<Record<string, unknown>>
  readonly states: ReadonlyArray<GenericState>
}

export type TraceFile = QuorumTrace | GenericTrace

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const shown = (value: unknown): string =>
  Array.isArray(value) ? "a list" : isRecord(value) ? "a record" : JSON.stringify(value)

const fail = (path: string, problem: string): never => {
  throw new ItfReadError(path, problem)
}

const metaString = (meta: Readonly<Record<string, unknown>>, key: string): string => {
  const value = meta[key]
  if (value === undefined) return fail(fieldPath("$", "#meta"), `missing ${key}: a quorum trace names its protocol, model, variant, property and reason`)
  if (typeof value !== "string") return fail(fieldPath(fieldPath("$", "#meta"), key), `expected a string, found ${shown(value)}`)
  return value
}

const integer = (value: unknown, path: string, min: number): number => {
  const n = isRecord(value) && typeof value["#bigint"] === "string" ? Number(value["#bigint"]) : value
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < min) return fail(path, `expected an integer ≥ ${min}, found ${shown(value)}`)
  return n
}

const text = (value: unknown, path: string): string => (typeof value === "string" ? value : fail(path, `expected a string, found ${shown(value)}`))

/**
 * Plain data from an ITF value, or the path of what plain data cannot hold: a `#map`, a `#set`, an integer
 * beyond 2^53, an `#unserializable` that is not one of the texts `toItf` writes.
 */
const plainData = (value: ItfValue, path: string): unknown => {
  const check = (v: ItfValue, at: string): void => {
    if (typeof v !== "object") return
    if (Array.isArray(v)) {
      v.forEach((item, i) => check(item, `${at}[${i}]`))
      return
    }
    const r = v as Readonly<Record<string, ItfValue>>
    if ("#map" in r || "#set" in r) fail(at, "a #map or #set cannot be checked state, which is plain data")
    if ("#bigint" in r) {
      if (!Number.isSafeInteger(Number(r["#bigint"]))) fail(at, `the integer ${String(r["#bigint"])} is beyond 2^53`)
      return
    }
    if ("#tup" in r) {
      check(r["#tup"]!, fieldPath(at, "#tup"))
      return
    }
    if ("#unserializable" in r) {
      const u = r["#unserializable"] as string
      if (u !== "null" && u !== "undefined" && !Number.isFinite(Number(u))) fail(at, `cannot decode #unserializable ${JSON.stringify(u)}`)
      return
    }
    for (const [key, member] of Object.entries(r)) check(member, fieldPath(at, key))
  }
  check(value, path)
  return fromItf(value)
}

/** Decodes `value` with a protocol Schema, or fails naming the path of the first problem inside it. */
const decodeWith = <A>(schema: Schema.Codec<A, unknown>, value: unknown, path: string, what: string): A => {
  const result = Schema.decodeUnknownExit(schema, { onExcessProperty: "error" })(value)
  if (Exit.isSuccess(result)) return result.value
  const error = Cause.squash(result.cause)
  const issue = Schema.isSchemaError(error) ? formatIssue(error.issue).issues[0] : undefined
  if (issue === undefined) return fail(path, `not a valid ${what}: ${String(error)}`)
  let at = path
  for (const segment of issue.path ?? []) {
    const key = typeof segment === "object" && segment !== null && "key" in segment ? segment.key : segment
    at = typeof key === "number" ? `${at}[${key}]` : fieldPath(at, String(key))
  }
  return fail(at, `not a valid ${what}: ${issue.message}`)
}
const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

const decodeMessage = (protocol: AnyProtocol, value: ItfValue, path: string): unknown => {
  const msg = plainData(value, path)
  const tag = isRecord(msg) ? msg._tag : undefined
  // A kind may refine its tag ("SYNC DIFF" for a SYNC of mode DIFF); the tag alone must name one.
  if (typeof tag === "string" && !protocol.messageKinds.some((k) => k === tag || k.startsWith(`${tag} `))) {
    fail(fieldPath(path, "_tag"), `unknown message kind ${JSON.stringify(tag)}; ${protocol.name} messages: ${protocol.messageKinds.join(", ")}`)
  }
  return decodeWith(protocol.schemas.message, msg, path, `${protocol.name} message`)
}

const decodeNode = (protocol: AnyProtocol, entry: ItfValue, path: string): TraceNode => {
  if (!Array.isArray(entry)) return fail(path, "expected a [node id, node] pair")
  const [id, node] = entry as ReadonlyArray<ItfValue>
  const idText = text(id, `${path}[0]`)
  const at = `${path}[1]`
  if (!isRecord(node) || "#map" in node || "#set" in node || "#tup" in node) return fail(at, `expected a record {up, state, disk, timers}, found ${shown(node)}`)
  const up = node.up
  if (typeof up !== "boolean") return fail(fieldPath(at, "up"), `expected a boolean, found ${shown(up)}`)
  if (up && node.state === undefined) fail(at, `node ${idText} is up but has no state`)
  if (!up && node.state !== undefined) fail(fieldPath(at, "state"), `node ${idText} is down, so it has no state`)
  const timers = node.timers
  if (!Array.isArray(timers)) return fail(fieldPath(at, "timers"), `expected a list of timer names, found ${shown(timers)}`)
  const names = timers.map((t, i) => {
    const name = text(t, `${fieldPath(at, "timers")}[${i}]`)
    if (!protocol.timers.includes(name)) fail(`${fieldPath(at, "timers")}[${i}]`, `unknown timer ${JSON.stringify(name)}; ${protocol.name} timers: ${protocol.timers.join(", ")}`)
    return name
  })
  for (const key of Object.keys(node)) {
    if (!["up", "state", "disk", "timers"].includes(key)) fail(fieldPath(at, key), "unexpected field; a node has up, state, disk and timers")
  }
  return {
    id: idText as NodeId,
    up,
    state: up ? plainData(node.state as ItfValue, fieldPath(at, "state")) : undefined,
    disk:
      node.disk === undefined
        ? undefined
        : decodeWith(protocol.schemas.durable, plainData(node.disk as ItfValue, fieldPath(at, "disk")), fieldPath(at, "disk"), `${protocol.name} durable state`),
    timers: names,
  }
}

const decodeState = (protocol: AnyProtocol, state: ItfState, path: string): TraceState => {
  for (const v of TRACE_VARS) {
    if (!(v in state) && v !== "mbt::actionTaken") fail(path, `missing the variable ${v}`)
  }
  const nodes = state.nodes as ItfValue
  if (!isRecord(nodes) || !Array.isArray(nodes["#map"])) return fail(fieldPath(path, "nodes"), `expected a #map from node id to node, found ${shown(nodes)}`)
  const mapPath = fieldPath(fieldPath(path, "nodes"), "#map")
  const network = state.network
  if (!Array.isArray(network)) return fail(fieldPath(path, "network"), `expected a list of messages in flight, found ${shown(network)}`)
  const faults = state.faults
  const faultsPath = fieldPath(path, "faults")
  if (!isRecord(faults)) return fail(faultsPath, `expected a record, found ${shown(faults)}`)
  const cut = faults.cut
  if (!Array.isArray(cut)) return fail(fieldPath(faultsPath, "cut"), `expected a list of node ids, found ${shown(cut)}`)
  return {
    action: text(state.action, fieldPath(path, "action")),
    actionTaken: state["mbt::actionTaken"] === undefined ? "" : text(state["mbt::actionTaken"], fieldPath(path, "mbt::actionTaken")),
    nodes: (nodes["#map"] as ReadonlyArray<ItfValue>).map((entry, i) => decodeNode(protocol, entry, `${mapPath}[${i}]`)),
    network: network.map((m, i): InFlight<unknown> => {
      const at = `${fieldPath(path, "network")}[${i}]`
      if (!isRecord(m)) return fail(at, `expected a record {from, to, msg, copies}, found ${shown(m)}`)
      return {
        from: text(m.from, fieldPath(at, "from")) as NodeId,
        to: text(m.to, fieldPath(at, "to")) as NodeId,
        msg: decodeMessage(protocol, m.msg as ItfValue, fieldPath(at, "msg")),
        copies: integer(m.copies, fieldPath(at, "copies"), 1),
      }
    }),
    ghost: plainData(state.ghost as ItfValue, fieldPath(path, "ghost")),
    faults: {
      crashes: integer(faults.crashes, fieldPath(faultsPath, "crashes"), 0),
      partitions: integer(faults.partitions, fieldPath(faultsPath, "partitions"), 0),
      losses: integer(faults.losses, fieldPath(faultsPath, "losses"), 0),
      duplications: integer(faults.duplications, fieldPath(faultsPath, "duplications"), 0),
      cut: cut.map((id, i) => text(id, `${fieldPath(faultsPath, "cut")}[${i}]`) as NodeId),
    },
  }
}

const ACTION_TAKEN = "mbt::actionTaken"
const NONDET_PICKS = "mbt::nondetPicks"

const decodeGeneric = (doc: ItfDocument): GenericTrace => ({
  kind: "generic",
  meta: doc["#meta"] ?? {},
  states: doc.states.map((state) => {
    // The variables are the state's keys (ITF readers should not trust `vars` alone), listed in vars order.
    const names = [...doc.vars.filter((v) => v in state), ...Object.keys(state).filter((k) => !doc.vars.includes(k))]
    const taken = state[ACTION_TAKEN]
    const action = typeof taken === "string" ? taken : typeof state.action === "string" ? state.action : undefined
    const hidden = new Set(["#meta", ACTION_TAKEN, NONDET_PICKS, ...(typeof taken !== "string" && action !== undefined ? ["action"] : [])])
    return {
      action,
      picks: state[NONDET_PICKS] as ItfValue | undefined,
      vars: names.filter((n) => !hidden.has(n)).map((n) => [n, state[n] as ItfValue] as const),
    }
  }),
})

/**
 * Decodes a checked ITF document. A trace whose `#meta` names a protocol is ours: the protocol, model and
 * variant must exist, and every state must decode (node states as plain data, disks and messages with the
 * protocol's Schemas, timers by name). Any other trace (Quint's, say) is read generically, variable by
 * variable. Throws `ItfReadError` naming the JSON path of the first problem.
 */
export const decodeTrace = (doc: ItfDocument): TraceFile => {
  const meta = doc["#meta"] ?? {}
  if (meta.protocol === undefined) return decodeGeneric(doc)
  const metaPath = fieldPath("$", "#meta")
  const protocolName = metaString(meta, "protocol")
  const protocol = protocols[protocolName]
  if (protocol === undefined) {
    return fail(fieldPath(metaPath, "protocol"), `unknown protocol "${protocolName}"; valid protocols: ${Object.keys(protocols).join(", ")}`)
  }
  const model = metaString(meta, "model")
  if (protocol.models[model] === undefined) {
    fail(fieldPath(metaPath, "model"), `unknown model "${model}" for ${protocol.name}; valid models: ${Object.keys(protocol.models).join(", ")}`)
  }
  const variant = metaString(meta, "variant")
  if (protocol.variants[variant] === undefined) {
    fail(fieldPath(metaPath, "variant"), `unknown variant "${variant}" for ${protocol.name}; valid variants: ${Object.keys(protocol.variants).join(", ")}`)
  }
  return {
    kind: "quorum",
    meta: { protocol: protocolName, model, variant, property: metaString(meta, "property"), reason: metaString(meta, "reason") },
    protocol,
    states: doc.states.map((state, i) => decodeState(protocol, state, `$.states[${i}]`)),
  }
}

/** Reads a trace file's text: `readItf`, then `decodeTrace`. */
export const readTrace = (text: string): TraceFile => decodeTrace(readItf(text))
