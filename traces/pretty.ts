/**
 * Traces for people: each step as its action line followed by only what changed — per node a diff of its
 * state fields, its disk writes and its timers; messages sent and consumed; ghost variables and fault counts.
 * The full states are in the ITF file; this is the reading aid.
 *
 * `renderTrace` prints a quorum trace, `renderGenericTrace` one written by another tool (Quint's, variable by
 * variable). Both can keep to some steps (`from`/`to`), and wrap to a terminal's width: a line breaks after
 * a ", " or "; " between changes, else after a "," inside a value, and its continuation is indented under the
 * text after its label (`n1: `, `+ `), so a 30-step trace stays readable in 100 columns.
 */
import type { InFlight } from "../spec/kernel/protocol.ts"
import type { ItfValue } from "./itf.ts"
import type { GenericState, TraceNode, TraceState } from "./trace.ts"

/** How to emphasise parts of the output; the identity for plain text, ANSI codes on a colour terminal. */
export interface TraceStyle {
  readonly step: (text: string) => string
  readonly action: (text: string) => string
  readonly node: (text: string) => string
  readonly added: (text: string) => string
  readonly removed: (text: string) => string
  readonly note: (text: string) => string
}

const same = (text: string): string => text
export const plainStyle: TraceStyle = { step: same, action: same, node: same, added: same, removed: same, note: same }

const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/** A value already rendered for people (Protocol.display): printed as its text, unquoted. */
export class Shown {
  constructor(readonly text: string) {}
}

/**
 * A copy of `value` in which every number a protocol's `display` renders differently, judged by the name of the
 * field holding it (array elements take their array's field), is a `Shown` text.
 */
export const withDisplay = (value: unknown, display: (field: string, value: number) => string | undefined, field = ""): unknown => {
  if (typeof value === "number") {
    const text = display(field, value)
    return text === undefined ? value : new Shown(text)
  }
  if (Array.isArray(value)) return value.map((v) => withDisplay(v, display, field))
  if (typeof value === "object" && value !== null && !(value instanceof Map) && !(value instanceof Set)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withDisplay(v, display, k)]))
  }
  return value
}

/** One-line rendering of plain data: `{term:1,value:"v1"}`, `[n1,n2]` style, undefined members left out. */
export const formatValue = (value: unknown): string => {
  if (value instanceof Shown) return value.text
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "number":
    case "boolean":
    case "bigint":
    case "undefined":
      return String(value)
    case "object": {
      if (value === null) return "null"
      if (Array.isArray(value)) return `[${value.map(formatValue).join(",")}]`
      if (value instanceof Map) return `Map{${[...value].map(([k, v]) => `${formatValue(k)}:${formatValue(v)}`).join(",")}}`
      if (value instanceof Set) return `Set{${[...value].map(formatValue).join(",")}}`
      const fields = Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${identifier.test(k) ? k : JSON.stringify(k)}:${formatValue(v)}`)
      return `{${fields.join(",")}}`
    }
    default:
      return `<${typeof value}>`
  }
}

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" &&
  value !== null &&
  !Array.isArray(value) &&
  !(value instanceof Map) &&
  !(value instanceof Set) &&
  !(value instanceof Shown)

// ——— Lines: segments of styled text, wrapped before they are styled ———

type StyleName = keyof TraceStyle
/** A piece of a line and how to emphasise it. */
type Segment = readonly [text: string, style?: StyleName]

/** One logical line of a step: its segments, the nodes it concerns (for `nodes` filtering) and its hanging indent. */
interface Entry {
  readonly segments: ReadonlyArray<Segment>
  /** Continuation lines start this many columns in: under the text after the line's label. */
  readonly hang: number
  /** The nodes the line is about; undefined for the system as a whole (ghost variables, fault counts). */
  readonly nodes?: ReadonlyArray<string>
  /** A sentence rather than a list of changes: it breaks at the last space that fits. */
  readonly prose?: boolean
}

const entry = (label: Segment | undefined, body: ReadonlyArray<Segment>, nodes?: ReadonlyArray<string>): Entry => ({
  segments: label === undefined ? body : [label, ...body],
  // Continuation lines hang under the text after the label (and after the space that follows it).
  hang: label === undefined ? 0 : label[0].length + (body[0]?.[0].startsWith(" ") === true ? 1 : 0),
  ...(nodes === undefined ? {} : { nodes }),
})

const textOf = (segments: ReadonlyArray<Segment>): string => segments.map(([text]) => text).join("")

/** Styles the part [start, end) of the text the segments make up. */
const styleRange = (segments: ReadonlyArray<Segment>, start: number, end: number, style: TraceStyle): string => {
  let out = ""
  let at = 0
  for (const [text, name] of segments) {
    const from = Math.max(start, at)
    const to = Math.min(end, at + text.length)
    if (from < to) {
      const piece = text.slice(from - at, to - at)
      out += name === undefined ? piece : style[name](piece)
    }
    at += text.length
  }
  return out
}

/**
 * Where to break `text` so its first line holds at most `room` columns: after ", " or "; " between changes,
 * else after a "," inside a value, else at a space, else anywhere; never before `least`.
 */
const breakPoint = (text: string, room: number, least: number, prose: boolean): number => {
  const lowest = Math.max(least, Math.floor(room / 3))
  if (!prose) {
    for (let p = room; p > lowest; p--) {
      if (text[p] === " " && (text[p - 1] === "," || text[p - 1] === ";")) return p + 1
    }
    for (let p = room; p > lowest; p--) if (text[p - 1] === "," || text[p - 1] === "→") return p
  }
  for (let p = room; p > lowest; p--) if (text[p] === " ") return p + 1
  return room
}

/** The [start, end) ranges of the lines `text` wraps into at `width` columns, continuations indented by `hang`. */
const wrapRanges = (text: string, width: number, hang: number, prose: boolean): ReadonlyArray<readonly [number, number]> => {
  const ranges: Array<readonly [number, number]> = []
  let start = 0
  let room = width
  // A label too long to hang under leaves too little room; then continuations hang by two columns only.
  const indent = width - hang < 24 ? 2 : hang
  while (text.length - start > room) {
    const cut = start + breakPoint(text.slice(start), room, ranges.length === 0 ? hang : 0, prose)
    let end = cut
    while (end > start && text[end - 1] === " ") end--
    ranges.push([start, end])
    start = cut
    while (text[start] === " ") start++
    room = Math.max(width - indent, 16)
  }
  ranges.push([start, text.length])
  return ranges
}

/** The physical lines of an entry, each prefixed by `prefix` (continuations also by the entry's hang). */
const layout = (e: Entry, prefix: string, width: number, style: TraceStyle): ReadonlyArray<string> => {
  const text = textOf(e.segments)
  const room = width - prefix.length
  const ranges = Number.isFinite(width) ? wrapRanges(text, Math.max(room, 24), e.hang, e.prose === true) : [[0, text.length] as const]
  const indent = " ".repeat(Math.max(room, 24) - e.hang < 24 ? 2 : e.hang)
  return ranges.map(([start, end], i) => `${prefix}${i === 0 ? "" : indent}${styleRange(e.segments, start, end, style)}`)
}

// ——— What changed ———

/** One changed field, rendered: `currentTerm 0→1`, `log +[{term:1,value:"v1"}]`, `nextIndex.n2 1→2`. */
interface FieldChange {
  readonly field: string
  /** The new value, rendered. */
  readonly to: string
  /** The change after the field's name: ` 0→1` or ` +[…]` (appended to a non-empty list). */
  readonly change: string
}

const sameKeys = (a: Readonly<Record<string, unknown>>, b: Readonly<Record<string, unknown>>): boolean => {
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length > 0 && ka.length === kb.length && ka.every((k) => k in b)
}

/** The change of one value, or undefined when its rendering did not change. */
const leafChange = (before: unknown, after: unknown): { readonly to: string; readonly change: string } | undefined => {
  const from = formatValue(before)
  const to = formatValue(after)
  if (from === to) return undefined
  if (Array.isArray(before) && Array.isArray(after) && before.length > 0 && after.length > before.length) {
    const added = after.slice(before.length)
    if (formatValue(after.slice(0, before.length)) === from) return { to, change: `+${formatValue(added)}` }
  }
  return { to, change: `${from}→${to}` }
}

/**
 * The fields whose rendering changed, in the order of the newer value's fields. Nested records with the same
 * keys (a leader's `nextIndex`) are followed down, so only the entry that moved is named.
 */
const fieldChanges = (before: unknown, after: unknown, path = "", out: FieldChange[] = []): FieldChange[] => {
  if (isRecord(before) && isRecord(after) && (path === "" || sameKeys(before, after))) {
    const fields = [...Object.keys(after), ...Object.keys(before).filter((k) => !(k in after))]
    for (const field of fields) fieldChanges(before[field], after[field], path === "" ? field : `${path}.${field}`, out)
    return out
  }
  const c = leafChange(before, after)
  if (c !== undefined) out.push({ field: path, to: c.to, change: c.change })
  return out
}

const describeChanges = (changes: ReadonlyArray<FieldChange>): string =>
  changes.map((c) => (c.field === "" ? c.change : `${c.field} ${c.change}`)).join(", ")

/** A message in a line: `RequestVote n1→n2 {term:1,lastLogIndex:0,lastLogTerm:0}`. */
export const formatMessage = (m: InFlight<unknown>, withFields = true): string => {
  const msg = m.msg
  const tag = isRecord(msg) && typeof msg._tag === "string" ? msg._tag : undefined
  const route = `${m.from}→${m.to}`
  const copies = m.copies > 1 ? ` ×${m.copies}` : ""
  if (tag === undefined) return `${route} ${formatValue(msg)}${copies}`
  if (!withFields) return `${tag} ${route}${copies}`
  const { _tag: _, ...fields } = msg as Record<string, unknown>
  return `${tag} ${route} ${formatValue(fields)}${copies}`
}

/** Copies in flight after the step and not before (sent), and before and not after (delivered or lost). */
const networkChanges = (
  before: ReadonlyArray<InFlight<unknown>>,
  after: ReadonlyArray<InFlight<unknown>>,
): { readonly sent: ReadonlyArray<InFlight<unknown>>; readonly consumed: ReadonlyArray<InFlight<unknown>> } => {
  // Summed per (from, to, msg): a bag merges equal messages into one entry, a FIFO queue may repeat them.
  const balance = new Map<string, { readonly message: InFlight<unknown>; copies: number }>()
  const tally = (messages: ReadonlyArray<InFlight<unknown>>, sign: 1 | -1): void => {
    for (const m of messages) {
      const key = `${m.from}|${m.to}|${formatValue(m.msg)}`
      const entry = balance.get(key)
      if (entry === undefined) balance.set(key, { message: m, copies: sign * m.copies })
      else entry.copies += sign * m.copies
    }
  }
  tally(after, 1)
  tally(before, -1)
  const entries = [...balance.values()]
  return {
    sent: entries.filter((e) => e.copies > 0).map((e) => ({ ...e.message, copies: e.copies })),
    consumed: entries.filter((e) => e.copies < 0).map((e) => ({ ...e.message, copies: -e.copies })),
  }
}

const timerChanges = (before: TraceNode, after: TraceNode): string => {
  const armed = after.timers.filter((t) => !before.timers.includes(t)).map((t) => `+${t}`)
  const disarmed = before.timers.filter((t) => !after.timers.includes(t)).map((t) => `−${t}`)
  return [...armed, ...disarmed].join(" ")
}

/** What a node's disk write changed; fields persisted with the value the node now holds are only named. */
const diskChanges = (before: TraceNode, after: TraceNode): string => {
  // A first write is shown field by field, like any later one.
  const previous = before.disk === undefined && isRecord(after.disk) ? {} : before.disk
  const changes: FieldChange[] = []
  if (isRecord(previous) && isRecord(after.disk)) {
    for (const field of Object.keys(after.disk)) {
      const c = leafChange(previous[field], after.disk[field])
      if (c !== undefined) changes.push({ field, ...c })
    }
  } else {
    const c = leafChange(previous, after.disk)
    if (c !== undefined) changes.push({ field: "", ...c })
  }
  if (changes.length === 0) return ""
  const state = isRecord(after.state) ? after.state : {}
  const mirrored = changes.filter((c) => c.field !== "" && c.field in state && formatValue(state[c.field]) === c.to)
  const other = changes.filter((c) => !mirrored.includes(c))
  return [
    ...(mirrored.length > 0 ? [`persisted ${mirrored.map((c) => c.field).join(", ")}`] : []),
    ...(other.length > 0 ? [`disk ${describeChanges(other)}`] : []),
  ].join("; ")
}

const nodeLabel = (ids: string): Segment => [`${ids}:`, "node"]

const nodeEntries = (before: TraceNode, after: TraceNode): ReadonlyArray<Entry> => {
  const label = nodeLabel(after.id)
  const about = [after.id]
  if (before.up && !after.up) return [entry(label, [[" "], ["crashed", "removed"], [` (disk keeps ${formatValue(after.disk)})`]], about)]
  if (!before.up && after.up) return [entry(label, [[" "], ["restarted", "added"], [` as ${formatValue(after.state)}`]], about)]
  const parts = [describeChanges(fieldChanges(before.state, after.state)), diskChanges(before, after), timerChanges(before, after)]
    .filter((p) => p !== "")
  if (parts.length === 0) return []
  return [entry(label, [[` ${parts.join("; ")}`]], about)]
}

/** A node in full: its state's fields, the disk fields that differ from them, its timers. */
const nodeInFull = (n: TraceNode): string => {
  if (!n.up) return `down, disk ${formatValue(n.disk)}`
  const state = isRecord(n.state)
    ? Object.entries(n.state)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k} ${formatValue(v)}`)
        .join(", ")
    : formatValue(n.state)
  const parts = [state]
  if (n.disk !== undefined) {
    const s = isRecord(n.state) ? n.state : {}
    const unlike = isRecord(n.disk) ? Object.entries(n.disk).filter(([k, v]) => formatValue(s[k]) !== formatValue(v)) : [["", n.disk] as const]
    if (unlike.length > 0) parts.push(`disk ${unlike.map(([k, v]) => (k === "" ? formatValue(v) : `${k} ${formatValue(v)}`)).join(", ")}`)
  }
  if (n.timers.length > 0) parts.push(`timers ${n.timers.join(",")}`)
  return parts.join("; ")
}

/** Every node (of `only`, when given) in full; nodes that look alike share one line (`n1, n2, n3: …`). */
const fullEntries = (state: TraceState, only: ReadonlyArray<string> | undefined): ReadonlyArray<Entry> => {
  const groups = new Map<string, string[]>()
  for (const n of state.nodes) {
    if (only !== undefined && !only.includes(n.id)) continue
    const text = nodeInFull(n)
    const ids = groups.get(text)
    if (ids === undefined) groups.set(text, [n.id])
    else ids.push(n.id)
  }
  return [...groups].map(([text, ids]) => entry(nodeLabel(ids.join(", ")), [[` ${text}`]], ids))
}

const faultEntries = (before: TraceState, after: TraceState): ReadonlyArray<Entry> => {
  const { cut: cutBefore, ...countsBefore } = before.faults
  const { cut: cutAfter, ...countsAfter } = after.faults
  const out: Entry[] = []
  const counts = describeChanges(fieldChanges(countsBefore, countsAfter))
  if (counts !== "") out.push(entry(["faults:", "note"], [[` ${counts}`]]))
  if (formatValue(cutBefore) !== formatValue(cutAfter)) {
    const all = after.nodes.map((n) => n.id)
    const text =
      cutAfter.length === 0
        ? " whole again"
        : ` cut {${cutAfter.join(",")}} | {${all.filter((id) => !cutAfter.includes(id)).join(",")}}`
    // A partition or a heal concerns every node.
    out.push(entry(["network:", "note"], [[text]], all))
  }
  return out
}

const changeEntries = (before: TraceState, after: TraceState): ReadonlyArray<Entry> => {
  const out: Entry[] = []
  after.nodes.forEach((node, i) => {
    const previous = before.nodes[i]
    if (previous !== undefined) out.push(...nodeEntries(previous, node))
  })
  const { sent, consumed } = networkChanges(before.network, after.network)
  for (const m of sent) out.push(entry(["+ ", "added"], [[formatMessage(m), "added"]], [m.from, m.to]))
  for (const m of consumed) out.push(entry(["− ", "removed"], [[formatMessage(m, false), "removed"]], [m.from, m.to]))
  for (const c of fieldChanges(before.ghost, after.ghost)) {
    const label = c.field === "" ? "ghost" : `ghost.${c.field}`
    out.push(entry([label, "note"], [[c.change.startsWith("+") ? ` ${c.change}` : ` = ${c.to}`]]))
  }
  out.push(...faultEntries(before, after))
  return out
}

const flatten = (entries: ReadonlyArray<Entry>, style: TraceStyle): ReadonlyArray<string> =>
  entries.map((e) => styleRange(e.segments, 0, textOf(e.segments).length, style))

/** The lines describing one step: what changed from `before` to `after`, unwrapped. */
export const stepChanges = (before: TraceState, after: TraceState, style: TraceStyle = plainStyle): ReadonlyArray<string> =>
  flatten(changeEntries(before, after), style)

// ——— Whole traces ———

export interface RenderOptions {
  readonly style?: TraceStyle
  /** Wrap lines at this many columns; no wrapping when absent. */
  readonly width?: number
  /** Show only what concerns these nodes: their changes, the messages they send and receive, partitions. */
  readonly nodes?: ReadonlyArray<string>
  /** The first step shown (default 0); when it is not 0 the state before it is shown in full. */
  readonly from?: number
  /** The last step shown (default: the last step of the trace). */
  readonly to?: number
  /** After each step, list every message in flight. */
  readonly network?: boolean
  /** What broke at the last step, said there. */
  readonly violation?: { readonly property: string; readonly reason: string; readonly description?: string }
  /** The protocol's way of showing some numbers (Protocol.display). */
  readonly display?: (field: string, value: number) => string | undefined
}

const displayed = (s: TraceState, display: (field: string, value: number) => string | undefined): TraceState => ({
  ...s,
  nodes: s.nodes.map((n) => ({ ...n, state: withDisplay(n.state, display), disk: withDisplay(n.disk, display) })),
  network: s.network.map((m) => ({ ...m, msg: withDisplay(m.msg, display) })),
  ghost: withDisplay(s.ghost, display),
})

/** The steps `from..to` of the trace, each as its action line then its entries, laid out to `width`. */
const renderSteps = (
  count: number,
  options: RenderOptions,
  block: (i: number, inFull: boolean) => { readonly action: string; readonly entries: ReadonlyArray<Entry> },
): ReadonlyArray<string> => {
  const style = options.style ?? plainStyle
  const width = options.width ?? Infinity
  const last = count - 1
  const from = Math.max(0, Math.min(options.from ?? 0, last))
  const to = Math.max(from, Math.min(options.to ?? last, last))
  const digits = String(last).length
  const indent = " ".repeat(digits + 4)
  const lines: string[] = []
  const emit = (i: number, inFull: boolean): void => {
    const { action, entries } = block(i, inFull)
    const head: Entry = entry([`${String(i).padStart(digits)}.`, "step"], [[" "], [action, "action"], ...(inFull && i > 0 ? [[" (state in full)", "note"] as Segment] : [])])
    lines.push(...layout({ ...head, hang: digits + 2 }, "", width, style))
    for (const e of entries) lines.push(...layout(e, indent, width, style))
  }
  if (from > 0) emit(from - 1, true)
  for (let i = from; i <= to; i++) emit(i, i === 0)
  return lines
}

const isStyle = (o: RenderOptions | TraceStyle): o is TraceStyle => typeof (o as Partial<TraceStyle>).step === "function"

const concerns = (e: Entry, nodes: ReadonlyArray<string> | undefined): boolean =>
  nodes === undefined || (e.nodes !== undefined && e.nodes.some((id) => nodes.includes(id)))

const violationEntries = (v: NonNullable<RenderOptions["violation"]>): ReadonlyArray<Entry> => [
  { ...entry(["✗ ", "removed"], [[`violates ${v.property}`, "removed"], [`: ${v.reason}`]]), prose: true },
  ...(v.description === undefined ? [] : [{ ...entry(["  ", undefined], [[v.description, "note"]]), prose: true }]),
]

/**
 * The whole trace, step by step: `  3. deliver RequestVote n1→n2` followed by its indented changes; with
 * `network`, the messages in flight after each step; with `violation`, what broke, under the last step.
 */
export const renderTrace = (raw: ReadonlyArray<TraceState>, optionsOrStyle: RenderOptions | TraceStyle = {}): ReadonlyArray<string> => {
  // A style alone is what callers passed before there were options.
  const options: RenderOptions = isStyle(optionsOrStyle) ? { style: optionsOrStyle } : optionsOrStyle
  const display = options.display
  const states = display === undefined ? raw : raw.map((s) => displayed(s, display))
  const nodes = options.nodes
  const last = states.length - 1
  return renderSteps(states.length, options, (i, inFull) => {
    const state = states[i]!
    const previous = states[i - 1]
    const changes = inFull || previous === undefined ? fullEntries(state, nodes) : changeEntries(previous, state)
    const entries = changes.filter((e) => concerns(e, nodes))
    if (options.network === true) {
      const flying = state.network.filter((m) => nodes === undefined || nodes.includes(m.from) || nodes.includes(m.to))
      entries.push(entry(["in flight:", "note"], [[flying.length === 0 ? " nothing" : ` ${flying.length}`]]))
      for (const m of flying) entries.push(entry(["  · ", undefined], [[formatMessage(m)]]))
    }
    if (i === last && !inFull && options.violation !== undefined) entries.push(...violationEntries(options.violation))
    return { action: state.action, entries }
  })
}

// ——— Traces of other tools: ITF values shown as Quint writes them ———

const isVariant = (r: Readonly<Record<string, ItfValue>>): boolean => {
  const keys = Object.keys(r)
  return keys.length === 2 && typeof r.tag === "string" && "value" in r
}

const isUnit = (v: ItfValue | undefined): boolean =>
  typeof v === "object" && v !== null && !Array.isArray(v) && Array.isArray((v as Record<string, unknown>)["#tup"]) && ((v as Record<string, ItfValue[]>)["#tup"]!.length === 0)

/**
 * One-line rendering of an ITF value in Quint's notation: integers as digits, tuples `(a,b)`, sets
 * `Set(a,b)`, maps `Map(k->v)`, variants `Some(3)` or `None`, records `{a:1}`, lists `[1,2]`.
 */
export const formatItf = (value: ItfValue): string => {
  if (typeof value !== "object") return typeof value === "string" ? JSON.stringify(value) : String(value)
  if (Array.isArray(value)) return `[${value.map(formatItf).join(",")}]`
  const r = value as Readonly<Record<string, ItfValue>>
  if ("#bigint" in r) return String(r["#bigint"])
  if ("#tup" in r) return `(${(r["#tup"] as ReadonlyArray<ItfValue>).map(formatItf).join(",")})`
  if ("#set" in r) return `Set(${(r["#set"] as ReadonlyArray<ItfValue>).map(formatItf).join(",")})`
  if ("#map" in r) return `Map(${(r["#map"] as ReadonlyArray<readonly [ItfValue, ItfValue]>).map(([k, v]) => `${formatItf(k)}->${formatItf(v)}`).join(",")})`
  if ("#unserializable" in r) return `<${String(r["#unserializable"])}>`
  if (isVariant(r)) {
    const payload = r.value!
    if (isUnit(payload)) return String(r.tag)
    const inner = formatItf(payload)
    return `${String(r.tag)}${inner.startsWith("(") ? inner : `(${inner})`}`
  }
  return `{${Object.entries(r)
    .map(([k, v]) => `${identifier.test(k) ? k : JSON.stringify(k)}:${formatItf(v)}`)
    .join(",")}}`
}

const isPlainRecord = (v: ItfValue | undefined): v is Readonly<Record<string, ItfValue>> =>
  typeof v === "object" && v !== null && !Array.isArray(v) && !Object.keys(v).some((k) => k.startsWith("#")) && !isVariant(v as Record<string, ItfValue>)

const mapEntries = (v: ItfValue | undefined): ReadonlyArray<readonly [ItfValue, ItfValue]> | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) && "#map" in v ? ((v as Record<string, unknown>)["#map"] as ReadonlyArray<readonly [ItfValue, ItfValue]>) : undefined

const setItems = (v: ItfValue | undefined): ReadonlyArray<ItfValue> | undefined =>
  typeof v === "object" && v !== null && !Array.isArray(v) && "#set" in v ? ((v as Record<string, unknown>)["#set"] as ReadonlyArray<ItfValue>) : undefined

/** How an ITF value changed under `path`: records and maps followed down to what moved, sets as +/−. */
const itfChanges = (path: string, before: ItfValue | undefined, after: ItfValue | undefined, out: Entry[]): void => {
  const from = before === undefined ? undefined : formatItf(before)
  const to = after === undefined ? undefined : formatItf(after)
  if (from === to) return
  const label: Segment = [path, "node"]
  if (isPlainRecord(before) && isPlainRecord(after)) {
    for (const key of new Set([...Object.keys(after), ...Object.keys(before)])) itfChanges(`${path}.${key}`, before[key], after[key], out)
    return
  }
  const mb = mapEntries(before)
  const ma = mapEntries(after)
  if (mb !== undefined && ma !== undefined) {
    const old = new Map(mb.map(([k, v]) => [formatItf(k), v] as const))
    const now = new Map(ma.map(([k, v]) => [formatItf(k), v] as const))
    for (const key of new Set([...now.keys(), ...old.keys()])) itfChanges(`${path}[${key}]`, old.get(key), now.get(key), out)
    return
  }
  const sb = setItems(before)
  const sa = setItems(after)
  if (sb !== undefined && sa !== undefined) {
    const old = new Set(sb.map(formatItf))
    const now = new Set(sa.map(formatItf))
    const added = [...now].filter((x) => !old.has(x)).map((x) => `+${x}`)
    const removed = [...old].filter((x) => !now.has(x)).map((x) => `−${x}`)
    out.push(entry(label, [[` ${[...added, ...removed].join(" ")}`]]))
    return
  }
  if (from === undefined) out.push(entry(label, [[" = "], [to!, "added"]]))
  else if (to === undefined) out.push(entry(label, [[" "], ["removed", "removed"]]))
  else if (Array.isArray(before) && Array.isArray(after) && before.length > 0 && after.length > before.length && formatItf(after.slice(0, before.length)) === from) {
    out.push(entry(label, [[` +${formatItf(after.slice(before.length))}`]]))
  } else out.push(entry(label, [[` ${from}→${to}`]]))
}

/** The action line of a generic state: Quint's action name, then the nondeterministic picks it made. */
const genericAction = (state: GenericState, i: number): string => {
  const name = state.action ?? (i === 0 ? "init" : "step")
  const picks = state.picks
  if (picks === undefined) return name
  if (isPlainRecord(picks)) {
    // Quint writes each pick as an Option: Some(value) when the action chose it, None otherwise.
    const chosen = Object.entries(picks)
      .filter(([, v]) => !(isRecord(v) && v.tag === "None"))
      .map(([k, v]) => {
        const inner = isRecord(v) && v.tag === "Some" ? (v as Record<string, ItfValue>).value! : v
        return `${k}: ${formatItf(inner)}`
      })
    return chosen.length === 0 ? name : `${name} (${chosen.join(", ")})`
  }
  return `${name} ${formatItf(picks)}`
}

/**
 * A trace of another tool, state by state: the action (`mbt::actionTaken`) with its nondeterministic picks,
 * then every variable of the first state and afterwards only what changed.
 */
export const renderGenericTrace = (states: ReadonlyArray<GenericState>, options: RenderOptions = {}): ReadonlyArray<string> =>
  renderSteps(states.length, options, (i, inFull) => {
    const state = states[i]!
    const previous = states[i - 1]
    const entries: Entry[] = []
    if (inFull || previous === undefined) {
      for (const [name, value] of state.vars) entries.push(entry([name, "node"], [[` = ${formatItf(value)}`]]))
    } else {
      const old = new Map(previous.vars)
      const now = new Map(state.vars)
      for (const name of new Set([...now.keys(), ...old.keys()])) itfChanges(name, old.get(name), now.get(name), entries)
    }
    if (i === states.length - 1 && !inFull && options.violation !== undefined) entries.push(...violationEntries(options.violation))
    return { action: genericAction(state, i), entries }
  })
