/**
 * A short digest of a node's state for the NDJSON event log, cheap enough to compute after every step.
 *
 * Definition (so a validator can recompute it): `stateDigest(s) = fingerprintHex(canonical(s'))`, where `s'`
 * is `s` with every top-level array field longer than `LONG_ARRAY` elements replaced by the object
 * `{"@len": n, "@chain": h_n}`, with `h_0 = "0000000000000000"` and
 * `h_i = fingerprintHex(h_{i-1} + canonical(element_i))`. For small states this is exactly the checker's
 * fingerprint of the state. The chain is cached per array and extended incrementally when the next array
 * shares its prefix (the spec appends by copying, so entries keep their identity), so a 100,000-entry Raft log
 * costs only its new entries per step.
 */
import { canonical, fingerprintHex } from "../../checker/canonical.ts"

export const LONG_ARRAY = 32
const ZERO = "0000000000000000"

interface Chain {
  readonly arr: ReadonlyArray<unknown>
  /** chain[i] = h_{i+1}; may be longer than arr when a later array extended it. */
  readonly chain: string[]
  readonly len: number
}

/** The last chain computed per field name, as the base for the next array of that field. */
const lastByField = new Map<string, Chain>()
const byArray = new WeakMap<ReadonlyArray<unknown>, Chain>()

const chainOf = (field: string, arr: ReadonlyArray<unknown>): string => {
  const hit = byArray.get(arr)
  if (hit !== undefined) return hit.len === 0 ? ZERO : hit.chain[hit.len - 1]!
  const base = lastByField.get(field)
  let k = 0
  let chain: string[]
  if (base !== undefined) {
    const limit = Math.min(base.len, arr.length)
    while (k < limit && arr[k] === base.arr[k]) k++
    // Extending the base's chain in place keeps it valid for the base (it reads only its first len).
    chain = k === base.len && base.chain.length === base.len ? base.chain : base.chain.slice(0, k)
  } else {
    chain = []
  }
  let h = k === 0 ? ZERO : chain[k - 1]!
  for (let i = k; i < arr.length; i++) {
    h = fingerprintHex(h + canonical(arr[i]))
    chain[i] = h
  }
  const entry: Chain = { arr, chain, len: arr.length }
  byArray.set(arr, entry)
  lastByField.set(field, entry)
  return arr.length === 0 ? ZERO : chain[arr.length - 1]!
}

/** `s'` of the definition above. */
export const digestView = (state: unknown): unknown => {
  if (typeof state !== "object" || state === null || Array.isArray(state)) return state
  let out: Record<string, unknown> | undefined
  for (const [field, v] of Object.entries(state)) {
    if (Array.isArray(v) && v.length > LONG_ARRAY) {
      out ??= { ...(state as Record<string, unknown>) }
      out[field] = { "@len": v.length, "@chain": chainOf(field, v) }
    }
  }
  return out ?? state
}

export const stateDigest = (state: unknown): string => fingerprintHex(canonical(digestView(state)))
