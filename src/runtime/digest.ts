/**
 * A short digest of a node's state for the NDJSON event log, cheap enough to compute on every step it is asked for.
 *
 * Definition (so a validator can recompute it): `stateDigest(s) = fingerprintHex(canonical(s'))`, where `s'`
 * is `s` with every top-level array field longer than `LONG_ARRAY` elements — and every such array field of a
 * top-level object field (one level down: ZAB's `snapshot.tree`) — replaced by the object
 * `{"@len": n, "@chain": h}`. The array is cut into blocks of `CHAIN_BLOCK` elements from its start;
 * `c_0 = "0000000000000000"`, `c_{j+1}` = the first 16 hex digits of SHA-1(`c_j + canonical(block_j)`) for each
 * full block, and `h` is `c_m` after the last full block, or SHA-1(`c_m + canonical(tail)`) likewise when
 * elements are left over (`canonical` of a block is that of the sub-array). Native hashing of whole blocks:
 * a per-element hash cost each node about as much as the rest of its event log. For small states this is
 * exactly the checker's fingerprint of the state. The full blocks are cached per array and reused by the next
 * array of that field while it shares their elements (the spec appends by copying, so entries keep their
 * identity): a digest costs the new full blocks, the tail, and one identity scan of the shared prefix (per
 * node: `DigestCache`).
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
export const CHAIN_BLOCK = 64
const ZERO = "0000000000000000"

/** Blocks hashed so far in this process (tests check that digests reuse their cached blocks). */
export const digestWork = { blocksHashed: 0 }

const sha16 = (text: string): string => hash("sha1", text, "hex").slice(0, 16)

interface Chain {
  readonly arr: ReadonlyArray<unknown>
  /** blocks[j] = c_{j+1}; may hold more than this array's full blocks when a later array extended it. */
  readonly blocks: string[]
  readonly full: number
  readonly h: string
}

const byArray = new WeakMap<ReadonlyArray<unknown>, Chain>()

/**
 * What one node's digests remember to reuse: its last chain per field, as the base for that field's next array,
 * and its last long string per field. Each host keeps its own: with one cache per process, nodes sharing it
 * (simulations, tests, `bench:inprocess`) hashed one another's whole logs on every digest (141 against 38 µs
 * of CPU per write for three in-process nodes).
 */
export class DigestCache {
  readonly chains = new Map<string, Chain>()
  readonly strings = new Map<string, { readonly text: string; readonly view: unknown }>()
}

/** For digests taken outside a node (tests, one-off checks). */
const sharedCache = new DigestCache()

const chainOf = (cache: DigestCache, field: string, arr: ReadonlyArray<unknown>): string => {
  const hit = byArray.get(arr)
  if (hit !== undefined) return hit.h
  const full = Math.floor(arr.length / CHAIN_BLOCK)
  const base = cache.chains.get(field)
  let reused = 0
  let blocks: string[]
  if (base !== undefined) {
    reused = Math.min(Math.floor(sharedPrefix(arr, base.arr) / CHAIN_BLOCK), base.full)
    // Extending the base's blocks in place keeps them valid for the base (it reads only its first `full`).
    blocks = reused === base.full && base.blocks.length === base.full ? base.blocks : base.blocks.slice(0, reused)
  } else {
    blocks = []
  }
  let c = reused === 0 ? ZERO : blocks[reused - 1]!
  for (let j = reused; j < full; j++) {
    c = sha16(c + canonical(arr.slice(j * CHAIN_BLOCK, (j + 1) * CHAIN_BLOCK)))
    blocks[j] = c
    digestWork.blocksHashed++
  }
  const h = arr.length === full * CHAIN_BLOCK ? c : sha16(c + canonical(arr.slice(full * CHAIN_BLOCK)))
  const entry: Chain = { arr, blocks, full, h }
  byArray.set(arr, entry)
  cache.chains.set(field, entry)
  return h
}

const stringView = (cache: DigestCache, field: string, text: string): unknown => {
  const hit = cache.strings.get(field)
  // Comparing the very same string is a pointer comparison; a different one of equal length is rare.
  if (hit !== undefined && hit.text === text) return hit.view
  const view = { "@len": text.length, "@sha1": hash("sha1", text, "hex").slice(0, 16) }
  cache.strings.set(field, { text, view })
  return view
}

/** `s'` of the definition above. */
export const digestView = (state: unknown, cache: DigestCache = sharedCache): unknown => {
  if (typeof state !== "object" || state === null || Array.isArray(state)) return state
  let out: Record<string, unknown> | undefined
  for (const [field, v] of Object.entries(state)) {
    if (Array.isArray(v)) {
      if (v.length <= LONG_ARRAY) continue
      out ??= { ...(state as Record<string, unknown>) }
      out[field] = { "@len": v.length, "@chain": chainOf(cache, field, v) }
    } else if (typeof v === "object" && v !== null) {
      // One level down too (ZAB's snapshot tree, a leader's outstanding proposals); Raft has no such arrays.
      const inner = nestedView(cache, field, v as Record<string, unknown>)
      if (inner === v) continue
      out ??= { ...(state as Record<string, unknown>) }
      out[field] = inner
    }
  }
  return out ?? state
}

const nestedView = (cache: DigestCache, field: string, obj: Record<string, unknown>): Record<string, unknown> => {
  let out: Record<string, unknown> | undefined
  for (const [sub, v] of Object.entries(obj)) {
    if (typeof v === "string" && v.length > LONG_STRING) {
      out ??= { ...obj }
      out[sub] = stringView(cache, `${field}.${sub}`, v)
      continue
    }
    if (!Array.isArray(v) || v.length <= LONG_ARRAY) continue
    out ??= { ...obj }
    out[sub] = { "@len": v.length, "@chain": chainOf(cache, `${field}.${sub}`, v) }
  }
  return out ?? obj
}

export const stateDigest = (state: unknown, cache: DigestCache = sharedCache): string => fingerprintHex(canonical(digestView(state, cache)))
