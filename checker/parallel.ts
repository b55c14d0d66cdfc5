/**
 * Breadth-first search on several threads. The threads share the seen-set and the parent links (shared
 * memory, lock-free inserts); each expands its own part of the current level, and between levels the
 * coordinator moves surplus worlds from busy threads to idle ones. Levels stay synchronous, so the first
 * violation found is still a shortest one, and the set of distinct states — hence its count — is the same
 * as with one thread.
 */
import { Worker } from "node:worker_threads"
import type { ModelConfig } from "../spec/kernel/protocol.ts"
import type { Fingerprint } from "./canonical.ts"
import { brokenInvariant, ExpectedViolations } from "./properties.ts"
import { allocateShared, CONTROL_FULL, CONTROL_STOP, SharedSeen } from "./parallel-shared.ts"
import type { FromWorker, LevelReport, ParallelJob, ToWorker } from "./parallel-worker.ts"
import { possibleKinds, type Instance } from "./world.ts"
import { expand, rebuild, type Links, type CheckOptions, type CheckReport, type StopReason, type TraceStep, type Violation } from "./search.ts"

export interface ParallelOptions extends CheckOptions {
  readonly workers: number
  /** Slots of the shared seen-set (a power of two); at most half of them hold states. */
  readonly tableSlots?: number
}

const workerEntry = new URL("./parallel-worker.mjs", import.meta.url)

/** One worker and a way to ask it something and await the answer (it answers in order). */
class Thread {
  private readonly waiting: Array<(m: FromWorker) => void> = []
  constructor(readonly worker: Worker) {
    worker.on("message", (m: FromWorker) => this.waiting.shift()?.(m))
  }
  ask(message: ToWorker): Promise<FromWorker> {
    return new Promise((resolve) => {
      this.waiting.push(resolve)
      this.worker.postMessage(message)
    })
  }
}

const defaultSlots = (options: ParallelOptions): number => {
  // 12 bytes a slot (8 of fingerprint, 4 of links per state at half load); a quarter of a memory budget.
  const fromBudget = options.maxMemoryBytes !== undefined ? options.maxMemoryBytes / 4 / 12 : 1 << 25
  const wanted = options.maxStates !== undefined ? Math.min(options.maxStates * 2, fromBudget) : fromBudget
  let slots = 1 << 16
  while (slots < wanted) slots *= 2
  return options.tableSlots ?? slots
}

export const checkParallel = async (instance: Instance, options: ParallelOptions): Promise<CheckReport> => {
  const protocol = instance.protocol
  const started = performance.now()
  const elapsed = () => (performance.now() - started) / 1000
  const buffers = allocateShared(defaultSlots(options))
  const seen = new SharedSeen(buffers)
  const job: ParallelJob = {
    protocol: protocol.name,
    modelName: instance.modelName,
    model: instance.model as ModelConfig<unknown>,
    variant: instance.variantName,
    buffers,
    deadline: options.maxSeconds === undefined ? null : Date.now() + options.maxSeconds * 1000,
    maxStates: options.maxStates ?? null,
  }
  const threads = Array.from({ length: Math.max(1, options.workers) }, () => new Thread(new Worker(workerEntry, { workerData: job })))
  const coverage: Record<string, number> = {}
  for (const kind of possibleKinds(instance)) coverage[kind] = 0
  const witnesses: Record<string, boolean> = {}
  for (const w of protocol.witnesses) witnesses[w.name] = false
  let generated = 0
  let violation: Violation | undefined
  const expected = new ExpectedViolations(instance)
  const expectedFound: Violation[] = []
  let stoppedBy: StopReason | undefined
  let depth = 0
  let completeDepth = 0
  const links = {
    parents: { get: (id: number) => Atomics.load(seen.parents, id) },
    ordinals: { get: (id: number) => Atomics.load(seen.ordinals, id) },
  }
  // Threads poll the shared stop flag; the coordinator turns a stop request (Ctrl-C) into that flag even
  // while a level is being expanded.
  const poll = setInterval(() => {
    if (options.shouldStop?.() === true) Atomics.store(seen.control, CONTROL_STOP, 1)
  }, 100)
  try {
    const initial = instance.initial()
    const fp: Fingerprint = { hi: 0, lo: 0 }
    instance.fingerprint(initial, fp)
    seen.visit(fp.hi, fp.lo, -1, -1)
    for (const w of protocol.witnesses) if (w.holds(initial)) witnesses[w.name] = true
    const broken = brokenInvariant(protocol, initial, instance.expectedViolations)
    if (broken !== undefined) violation = { ...broken, kind: "invariant", trace: [{ action: undefined, world: initial }] }
    for (const b of expected.observe(initial)) expectedFound.push({ ...b, kind: "invariant", trace: [{ action: undefined, world: initial }] })
    await threads[0]!.ask({ kind: "take", worlds: JSON.stringify([initial]), ids: [0] })
    await Promise.all(threads.map((t) => t.ask({ kind: "advance" })))
    let levelSize = 1

    while (violation === undefined && levelSize > 0) {
      completeDepth = depth
      if (depth >= (options.maxDepth ?? Infinity)) {
        stoppedBy = "max-depth"
        break
      }
      if (options.shouldStop?.() === true) Atomics.store(seen.control, CONTROL_STOP, 1)
      const reports = (await Promise.all(threads.map((t) => t.ask({ kind: "expand" })))) as LevelReport[]
      for (const r of reports) {
        generated += r.generated
        for (const [kind, n] of Object.entries(r.coverage)) coverage[kind] = (coverage[kind] ?? 0) + n
        for (const name of r.witnesses) witnesses[name] = true
        // Threads work on the same level, so whichever saw an expected violation first, its trace is shortest.
        for (const e of r.expected) {
          if (expectedFound.some((v) => v.property === e.property)) continue
          expectedFound.push(toViolation(instance, { kind: "invariant", ...e }, links))
        }
      }
      const found = reports.map((r) => r.violation).find((v) => v !== undefined)
      if (found !== undefined) {
        violation = toViolation(instance, found, links)
        break
      }
      if (reports.some((r) => r.stopped)) {
        stoppedBy =
          Atomics.load(seen.control, CONTROL_FULL) !== 0
            ? "memory"
            : Atomics.load(seen.control, CONTROL_STOP) !== 0
              ? "interrupted"
              : options.maxStates !== undefined && seen.size >= options.maxStates
                ? "max-states"
                : "max-seconds"
        break
      }
      // Rebalance: threads above the mean give their surplus to threads below it.
      const counts = reports.map((r) => r.next)
      levelSize = counts.reduce((a, b) => a + b, 0)
      const mean = Math.ceil(levelSize / threads.length)
      for (let from = 0; from < threads.length; from++) {
        for (let to = 0; to < threads.length && counts[from]! > mean; to++) {
          const room = mean - counts[to]!
          if (room <= 0) continue
          const moved = Math.min(room, counts[from]! - mean)
          const given = (await threads[from]!.ask({ kind: "give", count: moved })) as Extract<FromWorker, { kind: "given" }>
          await threads[to]!.ask({ kind: "take", worlds: given.worlds, ids: given.ids })
          counts[from] = counts[from]! - moved
          counts[to] = counts[to]! + moved
        }
      }
      await Promise.all(threads.map((t) => t.ask({ kind: "advance" })))
      if (levelSize > 0) depth++
      options.onProgress?.({
        distinctStates: seen.size,
        statesGenerated: generated,
        depth,
        queue: levelSize,
        seconds: elapsed(),
        heapBytes: process.memoryUsage().heapUsed,
      })
    }
  } finally {
    clearInterval(poll)
    await Promise.all(threads.map((t) => t.worker.terminate()))
  }

  const complete = violation === undefined && stoppedBy === undefined
  const mustReach = instance.model.mustReach
  const base = {
    distinctStates: seen.size,
    statesGenerated: generated,
    depth: violation === undefined ? depth : violation.trace.length - 1,
    completeDepth: complete ? depth : completeDepth,
    seconds: elapsed(),
    coverage,
    neverFired: Object.keys(coverage).filter((k) => coverage[k] === 0),
    witnesses,
    indexBytes: buffers.table.byteLength + buffers.parents.byteLength + buffers.ordinals.byteLength,
    unreachedWitnesses: complete
      ? protocol.witnesses.map((w) => w.name).filter((n) => !witnesses[n] && (mustReach === "all" || mustReach.includes(n)))
      : [],
    expectedViolations: expectedFound,
    unrefutedExpectations: complete ? expected.outstanding.filter((n) => !expectedFound.some((v) => v.property === n)) : [],
  }
  if (violation !== undefined) return { result: "violation", violation, ...base }
  if (stoppedBy !== undefined) return { result: "incomplete", stoppedBy, ...base }
  return { result: "ok", ...base }
}

const toViolation = (
  instance: Instance,
  found: NonNullable<LevelReport["violation"]>,
  links: { readonly parents: Links; readonly ordinals: Links },
): Violation => {
  switch (found.kind) {
    case "invariant":
      return { property: found.property, kind: "invariant", reason: found.reason, trace: rebuild(instance, links.parents, links.ordinals, found.id) }
    case "deadlock":
      return {
        property: "noDeadlock",
        kind: "deadlock",
        reason: "no action is enabled in this state",
        trace: rebuild(instance, links.parents, links.ordinals, found.id),
      }
    case "transition": {
      const trace: TraceStep[] = rebuild(instance, links.parents, links.ordinals, found.parent)
      // The violating step is the parent's successor with the recorded ordinal.
      let k = 0
      expand(instance, trace[trace.length - 1]!.world, (action, world) => {
        if (k++ === found.ordinal) trace.push({ action, world })
      })
      return { property: found.property, kind: "transition", reason: found.reason, trace }
    }
  }
}
