/**
 * Symmetry reduction: one representative per orbit of server renamings. With 3 interchangeable servers an
 * orbit has at most 3! = 6 worlds, so the reduced counts sit just above a sixth of the plain ones (worlds
 * that some renaming maps to themselves make the difference), and every flawed variant is still caught with
 * a counterexample of the same length.
 */
import { describe, expect, it } from "vitest"
import { check } from "../../checker/search.ts"
import { permutations, renameIds } from "../../checker/symmetry.ts"
import { Instance } from "../../checker/world.ts"
import { raft } from "../../spec/raft/index.ts"

const symmetric = (model: string, variant = "faithful") =>
  check(new Instance(raft, model, { ...raft.models[model]!, symmetry: true }, variant))

describe("permutations and renaming", () => {
  it("lists every permutation once", () => {
    const perms = permutations(4)
    expect(perms.length).toBe(24)
    expect(new Set(perms.map((p) => p.join())).size).toBe(24)
  })
  it("renames ids in values and keys, and leaves everything else untouched", () => {
    const names = new Map([
      ["n1", "n2"],
      ["n2", "n1"],
    ])
    const value = { votedFor: "n1", votes: ["n1", "n3"], next: { n1: 2, n2: 1 }, log: [{ term: 1, value: "n1x" }] }
    expect(renameIds(value, names)).toEqual({ votedFor: "n2", votes: ["n2", "n3"], next: { n2: 2, n1: 1 }, log: [{ term: 1, value: "n1x" }] })
    const untouched = { log: [{ term: 1, value: "v1" }] }
    expect(renameIds(untouched, names)).toBe(untouched)
  })
})

describe("raft with symmetry reduction", () => {
  const counts = [
    { model: "elect", plain: 5014, reduced: 839 },
    { model: "small", plain: 50659, reduced: 8453 },
  ] as const
  for (const c of counts) {
    it(`${c.model}: ${c.reduced} orbits instead of ${c.plain} states`, () => {
      const r = symmetric(c.model)
      expect(r.result).toBe("ok")
      expect(r.distinctStates).toBe(c.reduced)
      expect(r.distinctStates * 6).toBeGreaterThanOrEqual(c.plain)
      expect(r.unreachedWitnesses).toEqual([])
    })
  }

  const variants = [
    { variant: "vote-without-log-check", property: "leaderCompleteness", length: 12 },
    { variant: "volatile-voted-for", property: "electionSafety", length: 8 },
    { variant: "commit-previous-term", property: "leaderCompleteness", length: 28 },
  ] as const
  for (const v of variants) {
    it(`still finds ${v.variant} breaking ${v.property} in ${v.length} steps`, () => {
      const r = symmetric(raft.variants[v.variant]!.breaks!.model, v.variant)
      expect(r.result).toBe("violation")
      expect(r.violation!.property).toBe(v.property)
      expect(r.violation!.trace.length - 1).toBe(v.length)
    })
  }
})
