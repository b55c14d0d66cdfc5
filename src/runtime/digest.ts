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
 * identity): a digest costs the new full blocks, the tail, and one identity scan of the shared prefix. Nodes
 * sharing a process keep their own bases (`lastByField`): with one base per field, three simulated nodes
 * hashed one another's whole logs on every digest (an in-process cluster: 141 against 38 µs of CPU per write).
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

/**
 * The last chains computed per field name, newest first, as bases for the next array of that field. Several:
 * nodes sharing a process (simulations, tests) take turns, and one node's log is no base for another's.
 */
const lastByField = new Map<string, Chain[]>()
// Three simulated nodes and a spare; each keeps an old log alive, so not many more.
const BASES_PER_FIELD = 4
const byArray = new WeakMap<ReadonlyArray<unknown>, Chain>()

/** The remembered chain whose array starts with the same element as `arr`, else the newest. */
const baseFor = (field: string, arr: ReadonlyArray<unknown>): Chain | undefined => {
  const bases = lastByField.get(field)
  if (bases === undefined || bases.length === 0) return undefined
  const i = bases.findIndex((b) => b.arr.length > 0 && b.arr[0] === arr[0])
  return bases[i < 0 ? 0 : i]
}

const remember = (field: string, chain: Chain, replacing: Chain | undefined): void => {
  const bases = lastByField.get(field) ?? []
  const kept = bases.filter((b) => b !== replacing)
  kept.unshift(chain)
  if (kept.length > BASES_PER_FIELD) kept.length = BASES_PER_FIELD
  lastByField.set(field, kept)
}

const chainOf = (field: string, arr: ReadonlyArray<unknown>): string => {
  const hit = byArray.get(arr)
  if (hit !== undefined) return hit.h
  const full = Math.floor(arr.length / CHAIN_BLOCK)
  const base = baseFor(field, arr)
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
  // The new chain takes its base's place only when it grew from it: another node's chain stays a base.
  remember(field, entry, reused > 0 ? base : undefined)
  return h
}

const lastString = new Map<string, { readonly text: string; readonly view: unknown }>()

const stringView = (field: string, text: string): unknown => {
  const hit = lastString.get(field)
  // Comparing the very same string is a pointer comparison; a different one of equal length is rare.
  // One per field (not one per node, as the chains): older snapshots, megabytes each, are not kept alive.
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
