/**
 * digest.ts: the cached, incremental state digest must always equal its definition computed from scratch,
 * whatever sequence of appends, truncations and compactions produced the arrays it sees.
 */
import { createHash } from "node:crypto"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { canonical, fingerprintHex } from "../../checker/canonical.ts"
import { CHAIN_BLOCK, DigestCache, digestWork, LONG_ARRAY, stateDigest } from "../../src/runtime/digest.ts"

const sha16 = (text: string) => createHash("sha1").update(text).digest("hex").slice(0, 16)

/** The definition in digest.ts's header, for top-level arrays (what these states hold), with no caching. */
const definedDigest = (state: Record<string, unknown>): string => {
  const view: Record<string, unknown> = { ...state }
  for (const [field, v] of Object.entries(state)) {
    if (!Array.isArray(v) || v.length <= LONG_ARRAY) continue
    let c = "0000000000000000"
    const full = Math.floor(v.length / CHAIN_BLOCK)
    for (let j = 0; j < full; j++) c = sha16(c + canonical(v.slice(j * CHAIN_BLOCK, (j + 1) * CHAIN_BLOCK)))
    const h = v.length === full * CHAIN_BLOCK ? c : sha16(c + canonical(v.slice(full * CHAIN_BLOCK)))
    view[field] = { "@len": v.length, "@chain": h }
  }
  return fingerprintHex(canonical(view))
}

type Op = { readonly kind: "append"; readonly n: number; readonly term: number } | { readonly kind: "truncate" | "compact"; readonly at: number }

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("append" as const), n: fc.integer({ min: 1, max: 150 }), term: fc.integer({ min: 1, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom("truncate" as const, "compact" as const), at: fc.nat() }) },
)

describe("state digests", () => {
  it("equal the definition after any appends, truncations and compactions (the spec copies, entries keep identity)", () => {
    let serial = 0
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), fc.boolean(), (ops, skipSome) => {
        let log: ReadonlyArray<{ term: number; value: string }> = []
        ops.forEach((o, i) => {
          if (o.kind === "append") log = [...log, ...Array.from({ length: o.n }, () => ({ term: o.term, value: `v${serial++}` }))]
          else if (o.kind === "truncate") log = log.slice(0, o.at % (log.length + 1))
          else log = log.slice(o.at % (log.length + 1))
          // Digests are sampled on running nodes: the cache must also hold when some arrays are never digested.
          if (skipSome && i % 3 === 1) return
          const state = { currentTerm: 1, log }
          expect(stateDigest(state)).toBe(definedDigest(state))
          // An equal state built from other objects has the same digest.
          expect(stateDigest({ currentTerm: 1, log: log.map((e) => ({ ...e })) })).toBe(definedDigest(state))
        })
      }),
      { numRuns: 150 },
    )
  })

  it("reuse each node's cached blocks when several nodes' logs are digested in turn in one process", () => {
    // Three nodes of a simulation, each appending to its own log (its own entry objects), digested in turn,
    // each with its own cache as each host keeps one.
    const logs: Array<ReadonlyArray<{ term: number; value: string }>> = [[], [], []]
    const caches = logs.map(() => new DigestCache())
    const before = digestWork.blocksHashed
    for (let round = 0; round < 60; round++) {
      logs.forEach((log, n) => {
        const next = [...log, ...Array.from({ length: 16 }, (_, i) => ({ term: 1, value: `n${n}-${round}-${i}` }))]
        logs[n] = next
        const state = { currentTerm: 1, log: next }
        expect(stateDigest(state, caches[n])).toBe(definedDigest(state))
      })
    }
    // Each full block hashed once per node (60 × 16 / 64 = 15 blocks each), not the whole log per digest.
    expect(digestWork.blocksHashed - before).toBe(3 * 15)
  })

  it("tells a log from the same log with one entry changed, in a full block or in the tail", () => {
    const log = Array.from({ length: 3 * CHAIN_BLOCK + 5 }, (_, i) => ({ term: 1, value: `v${i}` }))
    const digest = stateDigest({ log })
    for (const at of [0, CHAIN_BLOCK + 3, 3 * CHAIN_BLOCK + 2]) {
      const changed = log.map((e, i) => (i === at ? { ...e, term: 2 } : e))
      expect(stateDigest({ log: changed })).not.toBe(digest)
    }
  })
})
