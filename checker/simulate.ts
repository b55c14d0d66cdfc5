/**
 * Simulation: seeded random walks for models too big to explore exhaustively, and shrinking of the
 * behaviour that breaks a property down to a short trace.
 *
 * Each walk has its own seed derived from the run's seed and the walk's number, so any single walk can be
 * repeated. A violation is shrunk by delta debugging over its schedule (the list of actions taken): a
 * candidate schedule is replayed from the initial world against the spec, skipping actions that are not
 * enabled at that point, and kept if it still breaks the same property. Every shrunk trace is therefore a
 * real behaviour of the spec, re-validated step by step.
 */
import { uniformInt } from "pure-rand/distribution/uniformInt"
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus"
import type { Action } from "../spec/kernel/protocol.ts"
import { canonical } from "./canonical.ts"
import { brokenInvariant, brokenTransition, type Broken as BrokenProperty } from "./properties.ts"
import { expand, type TraceStep, type Violation } from "./search.ts"
import { actionKind, describeAction, possibleKinds, type Instance, type World } from "./world.ts"

export interface SimulateOptions {
  readonly seed: number
  /** Steps per walk. */
  readonly depth: number
  /** Stop after this many walks… */
  readonly runs?: number
  /** …or after this many seconds, whichever comes first. At least one walk always runs. */
  readonly seconds?: number
  readonly shouldStop?: () => boolean
  readonly onProgress?: (p: SimulationProgress) => void
}

export interface SimulationProgress {
  readonly runs: number
  readonly steps: number
  readonly seconds: number
}

export interface SimulationReport {
  readonly result: "ok" | "violation"
  readonly seed: number
  readonly runs: number
  readonly steps: number
  readonly seconds: number
  readonly coverage: Readonly<Record<string, number>>
  /** The walk (0-based) that found the violation; repeat it with the same seed and `firstRun`. */
  readonly violatingRun?: number
  /** Length of the walk as found, before shrinking. */
  readonly foundLength?: number
  /** Schedules replayed while shrinking. */
  readonly shrinkCandidates?: number
  readonly violation?: Violation
}

interface Broken extends BrokenProperty {
  readonly kind: "invariant" | "transition"
}

/** The first property a transition breaks: transition properties on the step, then invariants on its target. */
const brokenBy = (instance: Instance, before: World, action: Action<unknown, unknown>, after: World): Broken | undefined => {
  const step = brokenTransition(instance.protocol, before, action, after)
  if (step !== undefined) return { ...step, kind: "transition" }
  // A walk reports real violations only; what the model expects to be broken is the exhaustive search's to show.
  const state = brokenInvariant(instance.protocol, after, instance.expectedViolations)
  return state === undefined ? undefined : { ...state, kind: "invariant" }
}

interface Choice {
  readonly action: Action<unknown, unknown>
  readonly world: World
}

/** Successors inside the state constraint, in the checker's fixed order. */
const choicesOf = (instance: Instance, world: World): Choice[] => {
  const out: Choice[] = []
  expand(instance, world, (action, next, inside) => {
    if (inside) out.push({ action, world: next })
  })
  return out
}

/** A walk's own seed, so that walk k of seed S can be repeated alone. */
export const walkSeed = (seed: number, walk: number): number => (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(walk + 1, 0xc2b2ae35)) | 0

interface Walk {
  readonly steps: TraceStep[]
  readonly broken?: Broken
}

const walk = (instance: Instance, seed: number, depth: number, coverage: Record<string, number>): Walk => {
  const rng = xoroshiro128plus(seed)
  let world = instance.initial()
  const steps: TraceStep[] = [{ action: undefined, world }]
  const initiallyBroken = brokenInvariant(instance.protocol, world, instance.expectedViolations)
  if (initiallyBroken !== undefined) return { steps, broken: { ...initiallyBroken, kind: "invariant" } }
  for (let d = 0; d < depth; d++) {
    const choices = choicesOf(instance, world)
    if (choices.length === 0) break
    const chosen = choices[uniformInt(rng, 0, choices.length - 1)]!
    const kind = actionKind(instance.protocol, chosen.action)
    coverage[kind] = (coverage[kind] ?? 0) + 1
    steps.push({ action: chosen.action, world: chosen.world })
    const broken = brokenBy(instance, world, chosen.action, chosen.world)
    if (broken !== undefined) return { steps, broken }
    world = chosen.world
  }
  return { steps }
}

/** What identifies an action when a schedule is replayed: exactly, else by its one-line description. */
interface ScheduledAction {
  readonly exact: string
  readonly described: string
}

const scheduleOf = (instance: Instance, steps: ReadonlyArray<TraceStep>): ScheduledAction[] =>
  steps.slice(1).map((s) => ({ exact: canonical(s.action), described: describeAction(instance.protocol, s.action!) }))

/**
 * Replays a schedule from the initial world. An action not enabled where it now falls is skipped (shrinking
 * removes the steps that enabled it). Returns the trace up to the first step that breaks `property`.
 */
export const replaySchedule = (
  instance: Instance,
  schedule: ReadonlyArray<ScheduledAction>,
  property: string,
): { steps: TraceStep[]; broken: Broken } | undefined => {
  let world = instance.initial()
  const steps: TraceStep[] = [{ action: undefined, world }]
  for (const wanted of schedule) {
    const choices = choicesOf(instance, world)
    const chosen =
      choices.find((c) => canonical(c.action) === wanted.exact) ??
      choices.find((c) => describeAction(instance.protocol, c.action) === wanted.described)
    if (chosen === undefined) continue
    steps.push({ action: chosen.action, world: chosen.world })
    const broken = brokenBy(instance, world, chosen.action, chosen.world)
    if (broken !== undefined) return broken.property === property ? { steps, broken } : undefined
    world = chosen.world
  }
  return undefined
}

/**
 * Delta debugging (ddmin) over the schedule, then single-step removal to a fixpoint: the result is a schedule
 * from which no single action can be removed without losing the violation.
 */
export const shrink = (
  instance: Instance,
  found: ReadonlyArray<TraceStep>,
  property: string,
): { steps: TraceStep[]; broken: Broken; candidates: number } => {
  let candidates = 0
  const attempt = (schedule: ReadonlyArray<ScheduledAction>) => {
    candidates++
    return replaySchedule(instance, schedule, property)
  }
  let best = attempt(scheduleOf(instance, found))
  if (best === undefined) throw new Error("a violating walk did not reproduce when replayed: successor order is not deterministic")
  let schedule = scheduleOf(instance, best.steps)
  let granularity = 2
  while (schedule.length >= 2) {
    const chunk = Math.ceil(schedule.length / granularity)
    let reduced = false
    for (let start = 0; start < schedule.length; start += chunk) {
      const complement = [...schedule.slice(0, start), ...schedule.slice(start + chunk)]
      const result = attempt(complement)
      if (result !== undefined) {
        best = result
        schedule = scheduleOf(instance, result.steps)
        granularity = Math.max(granularity - 1, 2)
        reduced = true
        break
      }
    }
    if (!reduced) {
      if (granularity >= schedule.length) break
      granularity = Math.min(granularity * 2, schedule.length)
    }
  }
  for (let changed = true; changed; ) {
    changed = false
    for (let k = schedule.length - 1; k >= 0; k--) {
      const result = attempt([...schedule.slice(0, k), ...schedule.slice(k + 1)])
      if (result !== undefined && result.steps.length - 1 < schedule.length) {
        best = result
        schedule = scheduleOf(instance, result.steps)
        changed = true
        break
      }
    }
  }
  return { ...best, candidates }
}

export const simulate = (instance: Instance, options: SimulateOptions): SimulationReport => {
  const started = performance.now()
  const elapsed = () => (performance.now() - started) / 1000
  const coverage: Record<string, number> = {}
  for (const kind of possibleKinds(instance)) coverage[kind] = 0
  const maxRuns = options.runs ?? Infinity
  const maxSeconds = options.seconds ?? Infinity
  let runs = 0
  let steps = 0
  let lastProgress = started
  while (runs < maxRuns) {
    const found = walk(instance, walkSeed(options.seed, runs), options.depth, coverage)
    runs++
    steps += found.steps.length - 1
    if (found.broken !== undefined) {
      const shrunk = shrink(instance, found.steps, found.broken.property)
      return {
        result: "violation",
        seed: options.seed,
        runs,
        steps,
        seconds: elapsed(),
        coverage,
        violatingRun: runs - 1,
        foundLength: found.steps.length - 1,
        shrinkCandidates: shrunk.candidates,
        violation: { ...shrunk.broken, trace: shrunk.steps },
      }
    }
    if (elapsed() >= maxSeconds || options.shouldStop?.() === true) break
    if (options.onProgress !== undefined && performance.now() - lastProgress >= 250) {
      lastProgress = performance.now()
      options.onProgress({ runs, steps, seconds: elapsed() })
    }
  }
  return { result: "ok", seed: options.seed, runs, steps, seconds: elapsed(), coverage }
}
