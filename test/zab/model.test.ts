/**
 * Model-checking tests of `zab`: exact distinct-state counts of two small models, the exact length of each flawed
 * variant's shortest counterexample, and the findings of ZooKeeper's storage semantics. A change to the spec or the
 * checker that moves these numbers must be explained, not absorbed.
 */
import { describe, expect, it } from "vitest"
import { check } from "../../checker/search.ts"
import { replays } from "../checker/replays.ts"
import { Instance } from "../../checker/world.ts"
import type { AnyProtocol } from "../../spec/kernel/protocol.ts"
import { zab } from "../../spec/zab/index.ts"

const p = zab as unknown as AnyProtocol
const run = (model: string, variant = "zab") => check(new Instance(p, model, p.models[model]!, variant))

describe("zab models explored exhaustively", () => {
  it("small: 1789 distinct states from empty disks; a write committed and delivered", () => {
    const r = run("small")
    expect(r.result).toBe("ok")
    expect(r.distinctStates).toBe(1789)
    expect(r.depth).toBe(24)
    expect(r.unreachedWitnesses).toEqual([])
  })
  it("recovery: 1357 distinct states after epoch 1; DIFF, TRUNC and SNAP all exercised", () => {
    const r = run("recovery")
    expect(r.result).toBe("ok")
    expect(r.distinctStates).toBe(1357)
    expect(r.unreachedWitnesses).toEqual([])
    for (const mode of ["DIFF", "TRUNC", "SNAP"]) expect(r.coverage[`deliver SYNC ${mode}`]).toBeGreaterThan(0)
  })
})

describe("flawed variants are caught with their shortest counterexample", () => {
  const cases = [
    { variant: "diff-without-membership", property: "totalOrder", length: 20 },
    { variant: "commit-without-quorum", property: "leaderLogCompleteness", length: 20 },
  ] as const
  for (const c of cases) {
    it(`${c.variant} breaks ${c.property} in ${c.length} steps`, () => {
      const info = p.variants[c.variant]!
      const r = run(info.breaks!.model, c.variant)
      expect(r.result).toBe("violation")
      expect(r.violation!.property).toBe(c.property)
      expect(info.breaks!.property).toBe(c.property)
      expect(r.violation!.trace.length - 1).toBe(c.length)
      expect(replays(p, info.breaks!.model, c.variant, r.violation!.trace)).toBe(true)
    })
  }
})

describe("ZooKeeper's storage (variant zk-storage)", () => {
  it("stale-log: 778 distinct states; TRUNC+DIFF from a stale log, no property broken", () => {
    const r = run("stale-log", "zk-storage")
    expect(r.result).toBe("ok")
    expect(r.distinctStates).toBe(778)
    expect(r.witnesses.syncTRUNCDIFF).toBe(true)
  })
  it("default: a snapshot taken by a leader that never got established survives TRUNC (18 steps, primaryIntegrity)", () => {
    const r = run("default", "zk-storage")
    expect(r.result).toBe("violation")
    expect(r.violation!.property).toBe("primaryIntegrity")
    expect(r.violation!.trace.length - 1).toBe(18)
  })
})
