/**
 * The model checker's thread. `check` is synchronous and may run for hours; running it here keeps the main
 * thread's event loop free to receive Ctrl-C, which it passes on through a shared flag `check` polls.
 */
import { parentPort, workerData } from "node:worker_threads"
import { checkParallel } from "../../checker/parallel.ts"
import { check } from "../../checker/search.ts"
import { Instance } from "../../checker/world.ts"
import { protocols } from "../../spec/registry.ts"
import type { Progress } from "../../checker/search.ts"
import { STOP_REQUESTED, type CheckJob, type WorkerMessage } from "./check-job.ts"

const job = workerData as CheckJob
const port = parentPort
if (port === null) throw new Error("check-worker.ts must run as a worker thread")

const protocol = protocols[job.protocol]
const model = protocol?.models[job.model]
if (protocol === undefined || model === undefined) throw new Error(`the CLI sent an unresolved job: ${job.protocol}/${job.model}`)

const stop = new Int32Array(job.stop)
const post = (message: WorkerMessage): void => port.postMessage(message)

const explored = job.symmetry ? { ...model, symmetry: true } : model
const instance = new Instance(protocol, job.model, explored, job.variant)
const options = {
  ...job.limits,
  progressIntervalMs: job.progressIntervalMs,
  shouldStop: () => Atomics.load(stop, 0) === STOP_REQUESTED,
  ...(job.reportProgress ? { onProgress: (progress: Progress) => post({ kind: "progress", progress }) } : {}),
}
const report = job.workers > 1 ? await checkParallel(instance, { ...options, workers: job.workers }) : check(instance, options)
post({ kind: "done", report })
