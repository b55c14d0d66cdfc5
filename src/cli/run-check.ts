/**
 * Runs one check on a worker thread (see check-worker.ts) and turns Ctrl-C into a clean stop: the first
 * interrupt asks the checker to stop and report what it has; a second one abandons the run.
 */
import { Worker } from "node:worker_threads"
import type { CheckReport, Limits, Progress } from "../../checker/search.ts"
import { STOP_REQUESTED, type CheckJob, type WorkerMessage } from "./check-job.ts"
import type { Selection } from "./resolve.ts"

/** The user interrupted twice: the run was abandoned without a report. */
export class RunAbandoned extends Error {
  override readonly name = "RunAbandoned"
}

export interface RunHooks {
  /** Called at most every `progressIntervalMs`; when absent the checker does not measure progress at all. */
  readonly onProgress?: (progress: Progress) => void
  readonly progressIntervalMs?: number
  /** Called once Ctrl-C is handled, so anything it prints tells the user (or a test) it is safe to press. */
  readonly onStart?: () => void
  /** Called on the first Ctrl-C, once the checker has been asked to stop. */
  readonly onInterrupt?: () => void
}

const workerEntry = new URL("./check-worker.mjs", import.meta.url)

export const runCheck = (
  selection: Selection,
  limits: Limits,
  hooks: RunHooks = {},
  symmetry = false,
  workers = 1,
): Promise<CheckReport> =>
  new Promise((resolve, reject) => {
    const stop = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT)
    const job: CheckJob = {
      protocol: selection.protocol.name,
      model: selection.modelName,
      variant: selection.variantName,
      limits,
      symmetry,
      workers,
      stop,
      reportProgress: hooks.onProgress !== undefined,
      progressIntervalMs: hooks.progressIntervalMs ?? 250,
    }
    // The checker's heap is sized to the memory budget, so a large budget is usable and a small one binds;
    // the checker itself stops at the budget before V8 would abort.
    const resourceLimits =
      limits.maxMemoryBytes === undefined ? undefined : { maxOldGenerationSizeMb: Math.max(64, Math.ceil(limits.maxMemoryBytes / 2 ** 20)) }
    const worker = new Worker(workerEntry, { workerData: job, ...(resourceLimits === undefined ? {} : { resourceLimits }) })
    let settled = false
    let interrupts = 0

    const finish = (outcome: () => void): void => {
      if (settled) return
      settled = true
      process.removeListener("SIGINT", onInterrupt)
      void worker.terminate()
      outcome()
    }
    const onInterrupt = (): void => {
      interrupts++
      if (interrupts === 1) {
        Atomics.store(new Int32Array(stop), 0, STOP_REQUESTED)
        hooks.onInterrupt?.()
      } else {
        finish(() => reject(new RunAbandoned("interrupted twice; the run was abandoned without a report")))
      }
    }
    process.on("SIGINT", onInterrupt)
    hooks.onStart?.()

    worker.on("message", (message: WorkerMessage) => {
      if (message.kind === "progress") hooks.onProgress?.(message.progress)
      else finish(() => resolve(message.report))
    })
    worker.on("error", (error) => finish(() => reject(error)))
    worker.on("exit", (code) => finish(() => reject(new Error(`the checker's worker stopped (exit code ${code}) before reporting`))))
  })
