/**
 * Replaying a trace file against the spec: is every step a transition the checker itself could have taken,
 * under the recorded model and variant, and does the last state break the recorded property?
 *
 * Each decoded trace state becomes a checker world (`Instance.worldOf`); step k is legal when one successor of
 * step k−1's world (`expand`, so ghost variables and the state constraint are as the checker has them) has
 * both the canonical encoding of step k's world and the recorded action text. When none does, the reason
 * names the nearest successor with the same action and how it differs, field by field.
 */
import type { Action, AnyProtocol } from "../spec/kernel/protocol.ts"
import { fieldPath, ItfReadError } from "../traces/itf.ts"
import { formatMessage, formatValue } from "../traces/pretty.ts"
import type { QuorumTrace, TraceState } from "../traces/trace.ts"
import { canonical } from "./canonical.ts"
import { expand } from "./search.ts"
import { describeAction, faultFields, Instance, type World } from "./world.ts"

export type ReplayResult =
  /** Every step is legal and the last one, `violatedAt`, breaks `property` for `reason` (as the spec says it). */
  | { readonly ok: true; readonly violatedAt: number; readonly property: string; readonly reason: string }
  /** `step` is the first step that is not a legal transition (or the last state does not break the property). */
  | { readonly ok: false; readonly step: number; readonly reason: string }

/** How many differences an explanation lists before it says how many more there are. */
const MAX_DIFFERENCES = 4

/**
 * Replays `trace` (decoded by `traces/trace.ts`, so its protocol, model and variant exist). Throws
 * `ItfReadError` for input that cannot be replayed at all: an unknown property, nodes that are not the model's.
 */
export const replay = (trace: QuorumTrace): ReplayResult => {
  const { protocol, meta, states } = trace
  const model = protocol.models[meta.model]!
  const instance = new Instance(protocol, meta.model, model, meta.variant)
  const property = findProperty(protocol, meta.property, model.checkDeadlock === true)
  const worlds = states.map((s, i) => worldFrom(instance, s, i))

  const initial = instance.initial()
  if (instance.encode(worlds[0]!) !== instance.encode(initial)) {
    return { ok: false, step: 0, reason: `step 0 is not the initial state of ${protocol.name}/${meta.model}: ${explain(instance, worlds[0]!, initial)}` }
  }
  if (states[0]!.action !== "init") {
    return { ok: false, step: 0, reason: `step 0 records the action '${states[0]!.action}'; the initial state's action is 'init'` }
  }

  let world = initial
  let before = initial
  let lastAction: Action<unknown, unknown> | undefined
  for (let k = 1; k < states.length; k++) {
    const recorded = states[k]!.action
    const target = worlds[k]!
    const wanted = instance.encode(target)
    let match: { action: Action<unknown, unknown>; world: World; inside: boolean } | undefined
    let sameStateVia: string | undefined
    const sameAction: World[] = []
    const possible: string[] = []
    expand(instance, world, (action, next, inside) => {
      const text = describeAction(protocol, action)
      const same = instance.encode(next) === wanted
      if (text === recorded) {
        if (same) match ??= { action, world: next, inside }
        else sameAction.push(next)
      } else if (same) sameStateVia ??= text
      if (inside && !possible.includes(text)) possible.push(text)
    })
    const from = `step ${k - 1}`
    if (match !== undefined) {
      if (!match.inside) {
        return {
          ok: false,
          step: k,
          reason: `step ${k}: '${recorded}' leaves the bounds of model ${meta.model} (its state constraint), which the checker never explores`,
        }
      }
      before = world
      world = match.world
      lastAction = match.action
      continue
    }
    if (sameStateVia !== undefined) {
      return { ok: false, step: k, reason: `step ${k}: this state follows ${from} via '${sameStateVia}', but the trace records '${recorded}'` }
    }
    if (sameAction.length > 0) {
      // The nearest candidate is the one with the fewest differences.
      let best: ReadonlyArray<string> | undefined
      for (const candidate of sameAction) {
        const d = differences(instance, target, candidate)
        if (best === undefined || d.length < best.length) best = d
      }
      return {
        ok: false,
        step: k,
        reason: `step ${k}: no successor of ${from} via '${recorded}' produces this state; ${summarize(best!)}`,
      }
    }
    const listed = possible.slice(0, 8).map((t) => `'${t}'`).join(", ")
    const more = possible.length > 8 ? ` and ${possible.length - 8} more` : ""
    return {
      ok: false,
      step: k,
      reason:
        possible.length === 0
          ? `step ${k}: '${recorded}' is not possible after ${from}, where no action is enabled`
          : `step ${k}: '${recorded}' is not possible after ${from}; possible there: ${listed}${more}`,
    }
  }

  const last = states.length - 1
  const broken = property.check(before, lastAction, world, instance)
  if (broken === undefined) {
    return { ok: false, step: last, reason: `the last state (step ${last}) does not violate ${meta.property}` }
  }
  return { ok: true, violatedAt: last, property: meta.property, reason: broken }
}

interface PropertyCheck {
  /** Why the property is broken at the last step, or undefined when it holds. */
  readonly check: (before: World, action: Action<unknown, unknown> | undefined, after: World, instance: Instance) => string | undefined
}

const findProperty = (protocol: AnyProtocol, name: string, deadlockChecked: boolean): PropertyCheck => {
  const invariant = protocol.invariants.find((p) => p.name === name)
  if (invariant !== undefined) return { check: (_before, _action, after) => invariant.check(after) }
  const transition = protocol.transitionProperties.find((p) => p.name === name)
  if (transition !== undefined) {
    return {
      check: (before, action, after) => (action === undefined ? undefined : transition.check({ before, action, after })),
    }
  }
  if (name === "noDeadlock" && deadlockChecked) {
    return {
      check: (_before, _action, after, instance) => {
        let enabled = false
        expand(instance, after, () => (enabled = true))
        return enabled ? undefined : "no action is enabled in this state"
      },
    }
  }
  const names = [...protocol.invariants, ...protocol.transitionProperties].map((p) => p.name)
  throw new ItfReadError(fieldPath(fieldPath("$", "#meta"), "property"), `unknown property "${name}" for ${protocol.name}; properties: ${names.join(", ")}`)
}

/** The checker world of trace state `i`, once its node ids are known to be the model's. */
const worldFrom = (instance: Instance, state: TraceState, i: number): World => {
  const at = `$.states[${i}]`
  const ids = state.nodes.map((n) => n.id)
  if (ids.length !== instance.ids.length || ids.some((id, k) => id !== instance.ids[k])) {
    throw new ItfReadError(
      fieldPath(at, "nodes"),
      `expected the nodes ${instance.ids.join(", ")} of model ${instance.modelName}, found ${ids.join(", ") || "none"}`,
    )
  }
  const known = (id: string, path: string): void => {
    if (!instance.ids.includes(id as never)) throw new ItfReadError(path, `unknown node "${id}"; nodes of model ${instance.modelName}: ${instance.ids.join(", ")}`)
  }
  state.network.forEach((m, j) => {
    known(m.from, `${fieldPath(at, "network")}[${j}].from`)
    known(m.to, `${fieldPath(at, "network")}[${j}].to`)
  })
  state.faults.cut.forEach((id, j) => known(id, `${fieldPath(fieldPath(at, "faults"), "cut")}[${j}]`))
  return instance.worldOf(state)
}

const summarize = (diffs: ReadonlyArray<string>): string =>
  diffs.length <= MAX_DIFFERENCES
    ? diffs.join("; ")
    : `${diffs.slice(0, MAX_DIFFERENCES).join("; ")}; and ${diffs.length - MAX_DIFFERENCES} more differences`

const explain = (instance: Instance, trace: World, spec: World): string => summarize(differences(instance, trace, spec))

const isRecord = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Leaf differences of two plain values under `path`, recursing into records and equally long lists. */
const valueDifferences = (path: string, trace: unknown, spec: unknown, out: string[]): void => {
  if (canonical(trace) === canonical(spec)) return
  if (isRecord(trace) && isRecord(spec)) {
    for (const key of new Set([...Object.keys(spec), ...Object.keys(trace)])) valueDifferences(`${path}.${key}`, trace[key], spec[key], out)
    return
  }
  if (Array.isArray(trace) && Array.isArray(spec) && trace.length === spec.length) {
    trace.forEach((item, i) => valueDifferences(`${path}[${i}]`, item, spec[i], out))
    return
  }
  out.push(`${path} differs: trace has ${formatValue(trace)}, spec gives ${formatValue(spec)}`)
}

/** How the trace's world differs from the spec's, as readable sentences (node fields as `n2.currentTerm`). */
const differences = (instance: Instance, trace: World, spec: World): ReadonlyArray<string> => {
  const out: string[] = []
  trace.nodes.forEach((t, i) => {
    const s = spec.nodes[i]!
    if (t.up !== s.up) out.push(`${t.id} is ${t.up ? "up" : "down"} in the trace, ${s.up ? "up" : "down"} in the spec`)
    else valueDifferences(t.id, t.state, s.state, out)
    valueDifferences(`${t.id}.disk`, t.disk, s.disk, out)
    if (t.timers !== s.timers) {
      out.push(`${t.id}.timers differs: trace has [${instance.armedTimers(t).join(",")}], spec gives [${instance.armedTimers(s).join(",")}]`)
    }
  })
  const copies = (world: World): Map<string, { readonly text: string; count: number }> => {
    const m = new Map<string, { readonly text: string; count: number }>()
    for (const p of world.network) {
      const entry = m.get(p.key)
      if (entry === undefined) m.set(p.key, { text: formatMessage({ ...p, copies: 1 }), count: p.copies })
      else entry.count += p.copies
    }
    return m
  }
  const inTrace = copies(trace)
  const inSpec = copies(spec)
  for (const [key, { text, count }] of inTrace) {
    const other = inSpec.get(key)?.count ?? 0
    if (other === 0) out.push(`the trace has ${text} in flight, the spec does not`)
    else if (other !== count) out.push(`${text} is in flight ×${count} in the trace, ×${other} in the spec`)
  }
  for (const [key, { text }] of inSpec) if (!inTrace.has(key)) out.push(`the spec has ${text} in flight, the trace does not`)
  valueDifferences("ghost", trace.ghost, spec.ghost, out)
  for (const field of faultFields) valueDifferences(`faults.${field}`, trace[field], spec[field], out)
  if (trace.cut !== spec.cut) {
    const side = (w: World) => `[${instance.ids.filter((_, k) => ((w.cut >> k) & 1) === 1).join(",")}]`
    out.push(`faults.cut differs: trace has ${side(trace)}, spec gives ${side(spec)}`)
  }
  return out
}
