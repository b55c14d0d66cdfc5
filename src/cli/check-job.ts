/** What the CLI's main thread and the checker's worker thread say to each other. */
import type { CheckReport, Limits, Progress } from "../../checker/search.ts"

export interface CheckJob {
  readonly protocol: string
  readonly model: string
  readonly variant: string
  readonly limits: Limits
  /** Explore with symmetry reduction whatever the model says. */
  readonly symmetry: boolean
  /** Threads of the search; 1 runs the sequential checker in this worker. */
  readonly workers: number
  /** One Int32 the main thread sets to STOP_REQUESTED on Ctrl-C. */
  readonly stop: SharedArrayBuffer
  readonly reportProgress: boolean
  readonly progressIntervalMs: number
}

export const STOP_REQUESTED = 1

export type WorkerMessage =
  | { readonly kind: "progress"; readonly progress: Progress }
  | { readonly kind: "done"; readonly report: CheckReport }
