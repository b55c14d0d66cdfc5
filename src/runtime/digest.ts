/**
 * A short digest of a node's state for the NDJSON event log, cheap enough to compute after every step.
 *
 * Definition (so a validator can recompute it): `stateDigest(s) = fingerprintHex(canonical(s'))`, where `s'`
 * is `s` with every top-level array field longer than `LONG_ARRAY` elements — and every such array field of a
 * top-level object field (one level down: ZAB's `snapshot.tree`) — replaced by the object
 * `{"@len": n, "@chain": h_n}`, with `h_0 = "0000000000000000"` and
 * `h_i` = the first 16 hex digits of SHA-1(`h_{i-1} + canonical(element_i)`) — native hashing, several times
 * faster than `fingerprintHex` on a log entry, and every node hashes each entry it appends. For small states
 * this is exactly the checker's fingerprint of the state. The chain is cached per array and extended
 * incrementally when the next array shares its prefix (the spec appends by copying, so entries keep their
 * identity): a step costs its new entries' hashes plus one identity scan of the shared prefix.
 *
 * Likewise every string longer than `LONG_STRING` characters in such a field (Raft's `snapshot.data`, a whole
 * key space) is replaced by `{"@len": n, "@sha1": the first 16 hex digits of SHA-1(string)}`, remembered for
 * the last string of each field, so a step that keeps its snapshot does not hash it again.
 */
import { hash } from "node:crypto"
import { canonical, fingerprintHex } from "../../checker/canonical.ts"
import { sharedPrefix } from "./prefix.ts"

export const LONG_ARRAY = 32
export const LONG_STRING = 4096
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
    k = sharedPrefix(arr, base.arr)
    // Extending the base's chain in place keeps it valid for the base (it reads only its first len).
    chain = k === base.len && base.chain.length === base.len ? base.chain : base.chain.slice(0, k)
  } else {
    chain = []
  }
  let h = k === 0 ? ZERO : chain[k - 1]!
  for (let i = k; i < arr.length; i++) {
    h = hash("sha1", h + canonical(arr[i]), "hex").slice(0, 16)
    chain[i] = h
  }
  const entry: Chain = { arr, chain, len: arr.length }
  byArray.set(arr, entry)
  lastByField.set(field, entry)
  return arr.length === 0 ? ZERO : chain[arr.length - 1]!
}

const lastString = new Map<string, { readonly text: string; readonly view: unknown }>()

const stringView = (field: string, text: string): unknown => {
  const hit = lastString.get(field)
  // Comparing the very same string is a pointer comparison; a different one of equal length is rare.
  if (hit !== undefined && hit.text === text) return hit.view
  const view = { "@len": text.length, "@sha1": hash("sha1", text, "hex").slice(0, 16) }
  lastString.set(field, { text, view })
  return view
}

/** `s'` of the definition above. */
export const digestView = (state: unknown): unknown => {
  if (typeof state !== "object" || state === null || Array.isArray(state)) return state
  let out: Record<string, unknown> | undefined
  for (const [field, v] of Object.entries(state)) {
    if (Array.isArray(v)) {
      if (v.length <= LONG_ARRAY) continue
      out ??= { ...(state as Record<string, unknown>) }
      out[field] = { "@len": v.length, "@chain": chainOf(field, v) }
    } else if (typeof v === "object" && v !== null) {
      // One level down too (ZAB's snapshot tree, a leader's outstanding proposals); Raft has no such arrays.
      const inner = nestedView(field, v as Record<string, unknown>)
      if (inner === v) continue
      out ??= { ...(state as Record<string, unknown>) }
      out[field] = inner
    }
  }
  return out ?? state
}

const nestedView = (field: string, obj: Record<string, unknown>): Record<string, unknown> => {
  let out: Record<string, unknown> | undefined
  for (const [sub, v] of Object.entries(obj)) {
    if (typeof v === "string" && v.length > LONG_STRING) {
      out ??= { ...obj }
      out[sub] = stringView(`${field}.${sub}`, v)
      continue
    }
    if (!Array.isArray(v) || v.length <= LONG_ARRAY) continue
    out ??= { ...obj }
    out[sub] = { "@len": v.length, "@chain": chainOf(`${field}.${sub}`, v) }
  }
  return out ?? obj
}

export const stateDigest = (state: unknown): string => fingerprintHex(canonical(digestView(state)))
