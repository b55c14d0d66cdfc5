/**
 * One thread of a parallel search. It keeps its share of the current BFS level, expands it on request,
 * records new worlds in the shared seen-set, and hands worlds to other threads when the coordinator
 * rebalances the next level. See parallel.ts.
 */
import { parentPort, workerData } from "node:worker_threads"
import type { Fingerprint } from "./canonical.ts"
import { SharedSeen, CONTROL_FULL, CONTROL_STOP, type SharedBuffers } from "./parallel-shared.ts"
import { brokenInvariant, brokenTransition, ExpectedViolations, WitnessTracker } from "./properties.ts"
import { expand } from "./search.ts"
import { actionKind, Instance, type World } from "./world.ts"
import { protocols } from "../spec/registry.ts"
import type { ModelConfig } from "../spec/kernel/protocol.ts"

export interface ParallelJob {
  readonly protocol: string
  readonly modelName: string
  readonly model: ModelConfig<unknown>
  readonly variant: string
  readonly buffers: SharedBuffers
  /** Absolute time (ms since epoch) after which the search stops, or null. */
  readonly deadline: number | null
  readonly maxStates: number | null
}

export type ToWorker =
  | { readonly kind: "take"; readonly worlds: string; readonly ids: ReadonlyArray<number> }
  | { readonly kind: "expand" }
  | { readonly kind: "give"; readonly count: number }
  | { readonly kind: "advance" }

export interface LevelReport {
  readonly kind: "expanded"
  readonly next: number
  readonly generated: number
  readonly coverage: Record<string, number>
  readonly witnesses: ReadonlyArray<string>
  readonly violation?: FoundViolation
  /** Expected violations this thread saw first (the coordinator keeps one per property). */
  readonly expected: ReadonlyArray<{ readonly property: string; readonly reason: string; readonly id: number }>
  readonly stopped: boolean
}

export type FoundViolation =
  | { readonly kind: "invariant"; readonly property: string; readonly reason: string; readonly id: number }
  | { readonly kind: "transition"; readonly property: string; readonly reason: string; readonly parent: number; readonly ordinal: number }
  | { readonly kind: "deadlock"; readonly id: number }

export type FromWorker =
  | LevelReport
  | { readonly kind: "given"; readonly worlds: string; readonly ids: ReadonlyArray<number> }
  | { readonly kind: "ok" }

const job = workerData as ParallelJob
const port = parentPort
if (port === null) throw new Error("parallel-worker.ts must run as a worker thread")
const protocol = protocols[job.protocol]
if (protocol === undefined) throw new Error(`unknown protocol ${job.protocol}`)
const instance = new Instance(protocol, job.modelName, job.model, job.variant)
const seen = new SharedSeen(job.buffers)
const fp: Fingerprint = { hi: 0, lo: 0 }
const tracker = new WitnessTracker(protocol)
const expectedViolations = new ExpectedViolations(instance)
const skipExpected = instance.expectedViolations

let level: World[] = []
let levelIds: number[] = []
let next: World[] = []
let nextIds: number[] = []

const stopRequested = (): boolean =>
  Atomics.load(seen.control, CONTROL_STOP) !== 0 ||
  Atomics.load(seen.control, CONTROL_FULL) !== 0 ||
  (job.deadline !== null && Date.now() >= job.deadline) ||
  (job.maxStates !== null && seen.size >= job.maxStates)

const expandLevel = (): LevelReport => {
  const coverage: Record<string, number> = {}
  const reachedBefore = tracker.reached.length
  let generated = 0
  let violation: FoundViolation | undefined
  const expected: Array<LevelReport["expected"][number]> = []
  let stopped = false
  for (let s = 0; s < level.length && violation === undefined; s++) {
    if ((s & 255) === 0 && stopRequested()) {
      stopped = true
      break
    }
    const world = level[s]!
    const worldId = levelIds[s]!
    let ordinal = 0
    expand(instance, world, (action, after, inside) => {
      const k = ordinal++
      if (violation !== undefined) return
      generated++
      if (!inside) return
      const kind = actionKind(protocol, action)
      coverage[kind] = (coverage[kind] ?? 0) + 1
      const brokenStep = brokenTransition(protocol, world, action, after)
      if (brokenStep !== undefined) {
        violation = { kind: "transition", ...brokenStep, parent: worldId, ordinal: k }
        return
      }
      instance.fingerprint(after, fp)
      const id = seen.visit(fp.hi, fp.lo, worldId, k)
      if (id === -1) return
      if (id === -2) {
        stopped = true
        return
      }
      const bad = brokenInvariant(protocol, after, skipExpected)
      if (bad !== undefined) {
        violation = { kind: "invariant", ...bad, id }
        return
      }
      for (const b of expectedViolations.observe(after)) expected.push({ ...b, id })
      tracker.observe(after)
      next.push(after)
      nextIds.push(id)
    })
    if (violation === undefined && ordinal === 0 && instance.model.checkDeadlock === true) {
      violation = { kind: "deadlock", id: worldId }
    }
  }
  return { kind: "expanded", next: next.length, generated, coverage, witnesses: tracker.reached.slice(reachedBefore), expected, stopped, ...(violation === undefined ? {} : { violation }) }
}

port.on("message", (message: ToWorker) => {
  switch (message.kind) {
    case "take": {
      const worlds = JSON.parse(message.worlds) as World[]
      for (let i = 0; i < worlds.length; i++) {
        next.push(worlds[i]!)
        nextIds.push(message.ids[i]!)
      }
      port.postMessage({ kind: "ok" } satisfies FromWorker)
      return
    }
    case "expand":
      port.postMessage(expandLevel() satisfies FromWorker)
      return
    case "give": {
      const from = next.length - message.count
      // Worlds are plain data (cached fingerprints included, still valid), so JSON carries them whole.
      const worlds = JSON.stringify(next.slice(from))
      const ids = nextIds.slice(from)
      next.length = from
      nextIds.length = from
      port.postMessage({ kind: "given", worlds, ids } satisfies FromWorker)
      return
    }
    case "advance":
      level = next
      levelIds = nextIds
      next = []
      nextIds = []
      port.postMessage({ kind: "ok" } satisfies FromWorker)
      return
  }
})
