/**
 * The runtime's one seeded PRNG (DESIGN convention 8), the same generator the checker's simulator uses.
 * A node prints its seed at start; the same seed gives the same sequence of election timeouts.
 */
import { uniformInt } from "pure-rand/distribution/uniformInt"
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus"

export interface Rng {
  readonly seed: number
  /** A uniform integer in [from, to]. */
  int(from: number, to: number): number
}

export const makeRng = (seed: number): Rng => {
  const g = xoroshiro128plus(seed | 0)
  return { seed: seed | 0, int: (from, to) => uniformInt(g, from, to) }
}

/** A fresh seed when the user gave none (printed, so the run can be repeated). */
export const freshSeed = (): number => (Math.random() * 0x7fffffff) | 0

/** A per-node seed derived from a cluster seed, so `--seed` on `quorum cluster` fixes every node. */
export const nodeSeed = (seed: number, index: number): number =>
  (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) | 0
