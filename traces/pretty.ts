/**
 * Traces for people: each step as its action line followed by only what changed — per node a diff of its
 * state fields, its disk writes and its timers; messages sent and consumed; ghost variables and fault counts.
 * The full states are in the ITF file; this is the reading aid.
 */
import type { InFlight } from "../spec/kernel/protocol.ts"
import type { TraceNode, TraceState } from "./trace.ts"

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

/** One-line rendering of plain data: `{term:1,value:"v1"}`, `[n1,n2]` style, undefined members left out. */
export const formatValue = (value: unknown): string => {
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
  typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Map) && !(value instanceof Set)

/** One changed field, rendered; `field` is "" when the values are not records and changed as a whole. */
interface FieldChange {
  readonly field: string
  readonly from: string
  readonly to: string
}

/** The fields whose rendering changed, in the order of the newer value's fields. */
const fieldChanges = (before: unknown, after: unknown): ReadonlyArray<FieldChange> => {
  if (!isRecord(before) || !isRecord(after)) {
    const from = formatValue(before)
    const to = formatValue(after)
    return from === to ? [] : [{ field: "", from, to }]
  }
  const fields = [...Object.keys(after), ...Object.keys(before).filter((k) => !(k in after))]
  const changes: FieldChange[] = []
  for (const field of fields) {
    const from = formatValue(before[field])
    const to = formatValue(after[field])
    if (from !== to) changes.push({ field, from, to })
  }
  return changes
}

const describeChanges = (changes: ReadonlyArray<FieldChange>): string =>
  changes.map((c) => (c.field === "" ? `${c.from}→${c.to}` : `${c.field} ${c.from}→${c.to}`)).join(", ")

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
  const changes = fieldChanges(previous, after.disk)
  if (changes.length === 0) return ""
  const state = isRecord(after.state) ? after.state : {}
  const mirrored = changes.filter((c) => c.field !== "" && c.field in state && formatValue(state[c.field]) === c.to)
  const other = changes.filter((c) => !mirrored.includes(c))
  return [
    ...(mirrored.length > 0 ? [`persisted ${mirrored.map((c) => c.field).join(", ")}`] : []),
    ...(other.length > 0 ? [`disk ${describeChanges(other)}`] : []),
  ].join("; ")
}

const nodeLines = (before: TraceNode, after: TraceNode, style: TraceStyle): ReadonlyArray<string> => {
  const label = style.node(after.id)
  if (before.up && !after.up) return [`${label}: ${style.removed("crashed")} (disk keeps ${formatValue(after.disk)})`]
  if (!before.up && after.up) return [`${label}: ${style.added("restarted")} as ${formatValue(after.state)}`]
  const parts = [describeChanges(fieldChanges(before.state, after.state)), diskChanges(before, after), timerChanges(before, after)]
    .filter((p) => p !== "")
  if (parts.length === 0) return []
  return [`${label}: ${parts.join("; ")}`]
}

const initialLines = (state: TraceState, style: TraceStyle): ReadonlyArray<string> =>
  state.nodes.map((n) =>
    n.up
      ? `${style.node(n.id)}: ${formatValue(n.state)}${n.timers.length > 0 ? ` timers ${n.timers.join(",")}` : ""}`
      : `${style.node(n.id)}: down, disk ${formatValue(n.disk)}`,
  )

const faultLines = (before: TraceState, after: TraceState, style: TraceStyle): ReadonlyArray<string> => {
  const { cut: cutBefore, ...countsBefore } = before.faults
  const { cut: cutAfter, ...countsAfter } = after.faults
  const lines: string[] = []
  const counts = describeChanges(fieldChanges(countsBefore, countsAfter))
  if (counts !== "") lines.push(`${style.note("faults")}: ${counts}`)
  if (formatValue(cutBefore) !== formatValue(cutAfter)) {
    const all = after.nodes.map((n) => n.id)
    lines.push(
      cutAfter.length === 0
        ? `${style.note("network")}: whole again`
        : `${style.note("network")}: cut {${cutAfter.join(",")}} | {${all.filter((id) => !cutAfter.includes(id)).join(",")}}`,
    )
  }
  return lines
}

/** The lines describing one step: what changed from `before` to `after`, indented under the action line. */
export const stepChanges = (before: TraceState, after: TraceState, style: TraceStyle = plainStyle): ReadonlyArray<string> => {
  const lines: string[] = []
  after.nodes.forEach((node, i) => {
    const previous = before.nodes[i]
    if (previous !== undefined) lines.push(...nodeLines(previous, node, style))
  })
  const { sent, consumed } = networkChanges(before.network, after.network)
  for (const m of sent) lines.push(style.added(`+ ${formatMessage(m)}`))
  for (const m of consumed) lines.push(style.removed(`− ${formatMessage(m, false)}`))
  for (const c of fieldChanges(before.ghost, after.ghost)) {
    lines.push(`${style.note(c.field === "" ? "ghost" : `ghost.${c.field}`)} = ${c.to}`)
  }
  lines.push(...faultLines(before, after, style))
  return lines
}

/** The whole trace, step by step: `  3. deliver RequestVote n1→n2` followed by its indented changes. */
export const renderTrace = (states: ReadonlyArray<TraceState>, style: TraceStyle = plainStyle): ReadonlyArray<string> => {
  const width = String(states.length - 1).length
  const lines: string[] = []
  states.forEach((state, i) => {
    lines.push(`${style.step(`${String(i).padStart(width)}.`)} ${style.action(state.action)}`)
    const previous = states[i - 1]
    const changes = previous === undefined ? initialLines(state, style) : stepChanges(previous, state, style)
    for (const line of changes) lines.push(`${" ".repeat(width + 2)}  ${line}`)
  })
  return lines
}
