/**
 * Breadth-first exploration of every reachable world, with invariants checked on each new world and
 * transition properties on every transition. BFS makes the first violation found a shortest one. Only two
 * levels of worlds are held in memory; the rest of the graph is a fingerprint table plus, per state, its
 * parent and the ordinal of the successor that produced it, from which the trace is rebuilt at the end.
 */
import { getHeapStatistics } from "node:v8"
import type { Action } from "../spec/kernel/protocol.ts"
import type { Fingerprint } from "./canonical.ts"
import { FingerprintSet, IntColumn } from "./fingerprint-set.ts"
import { brokenInvariant, brokenTransition, ExpectedViolations, WitnessTracker } from "./properties.ts"
import { actionKind, possibleKinds, type Instance, type World } from "./world.ts"

export interface Limits {
  readonly maxStates?: number
  readonly maxSeconds?: number
  readonly maxDepth?: number
  /** Heap plus typed arrays; reaching it ends the run as incomplete rather than in an out-of-memory crash. */
  readonly maxMemoryBytes?: number
}

export interface Progress {
  readonly distinctStates: number
  readonly statesGenerated: number
  readonly depth: number
  readonly queue: number
  readonly seconds: number
  readonly heapBytes: number
}

export interface CheckOptions extends Limits {
  readonly onProgress?: (p: Progress) => void
  readonly progressIntervalMs?: number
  /** Polled regularly; true stops the run as incomplete (Ctrl-C). */
  readonly shouldStop?: () => boolean
}

export interface TraceStep {
  /** Undefined for the initial world. */
  readonly action: Action<unknown, unknown> | undefined
  readonly world: World
}

export type StopReason = "max-states" | "max-seconds" | "max-depth" | "memory" | "interrupted"

export interface Violation {
  readonly property: string
  readonly kind: "invariant" | "transition" | "deadlock"
  readonly reason: string
  readonly trace: ReadonlyArray<TraceStep>
}

export interface CheckReport {
  readonly result: "ok" | "violation" | "incomplete"
  readonly violation?: Violation
  readonly stoppedBy?: StopReason
  readonly distinctStates: number
  readonly statesGenerated: number
  /** Deepest BFS level reached. */
  readonly depth: number
  /** Every world at this distance or closer to the initial one is known. */
  readonly completeDepth: number
  readonly seconds: number
  readonly coverage: Readonly<Record<string, number>>
  readonly neverFired: ReadonlyArray<string>
  readonly witnesses: Readonly<Record<string, boolean>>
  /** Bytes held by the seen-set and the parent links (the frontier excluded). */
  readonly indexBytes: number
  /** Witnesses the model must reach that no explored world reached, on a complete run: a vacuous run. */
  readonly unreachedWitnesses: ReadonlyArray<string>
  /** The shortest counterexample of each invariant the model expects to be broken, as found. */
  readonly expectedViolations: ReadonlyArray<Violation>
  /** Expected violations a complete run never found: the model no longer shows them. */
  readonly unrefutedExpectations: ReadonlyArray<string>
}

/**
 * Every successor of `world` with the ghost variables updated, in the fixed order trace rebuilding relies on.
 * Successors outside the state constraint are still emitted (with `inside` false) so ordinals stay stable.
 */
export const expand = (
  instance: Instance,
  world: World,
  emit: (action: Action<unknown, unknown>, next: World, inside: boolean) => void,
): void => {
  const protocol = instance.protocol
  const config = instance.model.config
  const maxInFlight = instance.model.maxInFlight ?? Infinity
  const maxCopies = instance.model.maxCopiesPerMessage ?? Infinity
  instance.successors(world, (action, succ) => {
    const ghost = protocol.ghost.update(world.ghost, { before: world, action, after: succ })
    const next = ghost === succ.ghost ? succ : { ...succ, ghost }
    let inside = next.network.length <= maxInFlight
    if (inside && maxCopies !== Infinity) {
      for (const p of next.network) if (p.copies > maxCopies) inside = false
    }
    if (inside) inside = protocol.constraint(next, config)
    emit(action, next, inside)
  })
}

/** Per-state links, wherever they are stored (a growable column, or shared memory in a parallel run). */
export interface Links {
  get(id: number): number
}

/** Rebuilds the path to state `id` by replaying successor ordinals from the initial world. */
export const rebuild = (instance: Instance, parents: Links, ordinals: Links, id: number): TraceStep[] => {
  const chain: number[] = []
  for (let at = id; at > 0; at = parents.get(at)) chain.push(ordinals.get(at))
  chain.reverse()
  let world = instance.initial()
  const steps: TraceStep[] = [{ action: undefined, world }]
  for (const wanted of chain) {
    let k = 0
    let found: TraceStep | undefined
    expand(instance, world, (action, next) => {
      if (k++ === wanted) found = { action, world: next }
    })
    if (found === undefined) throw new Error("trace rebuild lost its way: successor order is not deterministic")
    steps.push(found)
    world = found.world
  }
  return steps
}

export const check = (instance: Instance, options: CheckOptions = {}): CheckReport => {
  const protocol = instance.protocol
  const started = performance.now()
  const seen = new FingerprintSet(1 << 20)
  const parents = new IntColumn()
  const ordinals = new IntColumn()
  const fp: Fingerprint = { hi: 0, lo: 0 }
  const coverage: Record<string, number> = {}
  for (const kind of possibleKinds(instance)) coverage[kind] = 0
  const tracker = new WitnessTracker(protocol)
  const expected = new ExpectedViolations(instance)
  const expectedFound: Violation[] = []
  const skipExpected = instance.expectedViolations

  let generated = 0
  let violation: Violation | undefined
  let stoppedBy: StopReason | undefined
  const maxStates = options.maxStates ?? Infinity
  const maxSeconds = options.maxSeconds ?? Infinity
  const maxDepth = options.maxDepth ?? Infinity
  // Whatever the budget, stay clear of this isolate's own heap limit: V8 aborts the process when it is hit.
  const heapCeiling = getHeapStatistics().heap_size_limit * 0.85
  const memoryBudget = options.maxMemoryBytes ?? Infinity
  const outOfMemory = (): boolean => {
    const m = process.memoryUsage()
    return m.heapUsed >= heapCeiling || m.heapUsed + m.arrayBuffers >= memoryBudget
  }
  const interval = options.progressIntervalMs ?? 250
  let lastProgress = started

  const elapsed = () => (performance.now() - started) / 1000

  /** Registers a newly found world; returns its id. */
  const visit = (world: World, parent: number, ordinal: number): number => {
    const id = parents.size
    parents.push(parent)
    ordinals.push(ordinal)
    tracker.observe(world)
    return id
  }

  const initial = instance.initial()
  instance.fingerprint(initial, fp)
  seen.add(fp.hi, fp.lo)
  visit(initial, -1, -1)
  const broken = brokenInvariant(protocol, initial, skipExpected)
  if (broken !== undefined) violation = { ...broken, kind: "invariant", trace: [{ action: undefined, world: initial }] }
  for (const b of expected.observe(initial)) expectedFound.push({ ...b, kind: "invariant", trace: [{ action: undefined, world: initial }] })

  let level: World[] = [initial]
  let levelIds: number[] = [0]
  let depth = 0
  let completeDepth = 0

  search: while (violation === undefined && level.length > 0) {
    completeDepth = depth
    if (depth >= maxDepth) {
      stoppedBy = "max-depth"
      break
    }
    const next: World[] = []
    const nextIds: number[] = []
    for (let s = 0; s < level.length; s++) {
      const world = level[s]!
      const worldId = levelIds[s]!
      let ordinal = 0
      let enabled = 0
      expand(instance, world, (action, after, inside) => {
        const k = ordinal++
        enabled++
        if (violation !== undefined) return
        generated++
        if (!inside) return
        // Coverage counts transitions the search actually took, not ones the constraint pruned.
        const kind = actionKind(protocol, action)
        coverage[kind] = (coverage[kind] ?? 0) + 1
        const brokenStep = brokenTransition(protocol, world, action, after)
        if (brokenStep !== undefined) {
          const trace = rebuild(instance, parents, ordinals, worldId)
          trace.push({ action, world: after })
          violation = { ...brokenStep, kind: "transition", trace }
          return
        }
        instance.fingerprint(after, fp)
        if (!seen.add(fp.hi, fp.lo)) return
        const id = visit(after, worldId, k)
        const bad = brokenInvariant(protocol, after, skipExpected)
        if (bad !== undefined) {
          violation = { ...bad, kind: "invariant", trace: rebuild(instance, parents, ordinals, id) }
          return
        }
        for (const b of expected.observe(after)) expectedFound.push({ ...b, kind: "invariant", trace: rebuild(instance, parents, ordinals, id) })
        next.push(after)
        nextIds.push(id)
      })
      if (violation !== undefined) break search
      if (enabled === 0 && instance.model.checkDeadlock === true) {
        violation = {
          property: "noDeadlock",
          kind: "deadlock",
          reason: "no action is enabled in this state",
          trace: rebuild(instance, parents, ordinals, worldId),
        }
        break search
      }
      if ((s & 255) === 0) {
        const now = performance.now()
        if (parents.size >= maxStates) stoppedBy = "max-states"
        else if ((now - started) / 1000 >= maxSeconds) stoppedBy = "max-seconds"
        else if ((s & 4095) === 0 && outOfMemory()) stoppedBy = "memory"
        else if (options.shouldStop?.() === true) stoppedBy = "interrupted"
        if (stoppedBy !== undefined) break search
        if (options.onProgress !== undefined && now - lastProgress >= interval) {
          lastProgress = now
          options.onProgress({
            distinctStates: parents.size,
            statesGenerated: generated,
            depth: depth + 1,
            queue: level.length - s + next.length,
            seconds: elapsed(),
            heapBytes: process.memoryUsage().heapUsed,
          })
        }
      }
    }
    if (next.length > 0) depth++
    level = next
    levelIds = nextIds
    if (level.length > 0 && parents.size >= maxStates) {
      completeDepth = depth
      stoppedBy = "max-states"
      break
    }
  }

  const mustReach = instance.model.mustReach
  const neverFired = Object.keys(coverage).filter((k) => coverage[k] === 0)
  const complete = violation === undefined && stoppedBy === undefined
  const base = {
    distinctStates: parents.size,
    statesGenerated: generated,
    depth: violation === undefined ? depth : violation.trace.length - 1,
    completeDepth: complete ? depth : completeDepth,
    seconds: elapsed(),
    coverage,
    neverFired,
    witnesses: Object.fromEntries(protocol.witnesses.map((w) => [w.name, tracker.reached.includes(w.name)])),
    indexBytes: seen.bytes + parents.bytes + ordinals.bytes,
    unreachedWitnesses: complete
      ? protocol.witnesses.map((w) => w.name).filter((name) => !tracker.reached.includes(name) && (mustReach === "all" || mustReach.includes(name)))
      : [],
    expectedViolations: expectedFound,
    unrefutedExpectations: complete ? expected.outstanding : [],
  }
  if (violation !== undefined) return { result: "violation", violation, ...base }
  if (stoppedBy !== undefined) return { result: "incomplete", stoppedBy, ...base }
  return { result: "ok", ...base }
}
