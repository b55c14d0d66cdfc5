/**
 * prefix.ts: the remembered shared-prefix lengths that the digest and the store use instead of rescanning a
 * long log — never more than the true shared prefix, and exact for a pair never linked before.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { sharedPrefix } from "../../src/runtime/prefix.ts"

const truth = (a: ReadonlyArray<unknown>, b: ReadonlyArray<unknown>): number => {
  let k = 0
  while (k < Math.min(a.length, b.length) && a[k] === b[k]) k++
  return k
}

describe("sharedPrefix", () => {
  it("is exact for arrays it has not linked, and a lower bound along remembered links", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ keep: fc.nat(8), add: fc.nat(4) }), { minLength: 1, maxLength: 12 }),
        fc.array(fc.tuple(fc.nat(), fc.nat())),
        (edits, asks) => {
          // A lineage of arrays, each a prefix of the one before plus fresh objects (as the spec builds logs).
          const arrays: Array<ReadonlyArray<object>> = [[]]
          for (const { keep, add } of edits) {
            const prev = arrays.at(-1)!
            const next = prev.slice(0, Math.min(keep, prev.length)).concat(Array.from({ length: add }, () => ({})))
            expect(sharedPrefix(next, prev)).toBe(truth(next, prev))
            arrays.push(next)
          }
          for (const [i, j] of asks) {
            const a = arrays[i % arrays.length]!
            const b = arrays[j % arrays.length]!
            const k = sharedPrefix(a, b)
            expect(k).toBeLessThanOrEqual(truth(a, b))
          }
        },
      ),
    )
  })

  it("answers a pure extension along a chain of links without losing the prefix", () => {
    const a0 = Array.from({ length: 1000 }, () => ({}))
    const a1 = a0.concat([{}])
    const a2 = a1.concat([{}, {}])
    expect(sharedPrefix(a1, a0)).toBe(1000)
    expect(sharedPrefix(a2, a1)).toBe(1001)
    expect(sharedPrefix(a2, a0)).toBe(1000)
  })
})
