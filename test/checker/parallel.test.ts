/**
 * Parallel search: with several threads sharing the seen-set, the distinct-state count and the shortest
 * counterexample length are exactly those of the single-threaded search.
 */
import { describe, expect, it } from "vitest"
import { checkParallel } from "../../checker/parallel.ts"
import { Instance } from "../../checker/world.ts"
import { raft } from "../../spec/raft/index.ts"
import { fle } from "../../spec/zab/fle/index.ts"
import type { AnyProtocol } from "../../spec/kernel/protocol.ts"

const instanceOf = (model: string, variant = "faithful") => new Instance(raft, model, raft.models[model]!, variant)

describe("parallel BFS on 2 threads", () => {
  it("elect and small: the same distinct-state counts as one thread", async () => {
    const elect = await checkParallel(instanceOf("elect"), { workers: 2, tableSlots: 1 << 16 })
    expect(elect.result).toBe("ok")
    expect(elect.distinctStates).toBe(5014)
    expect(elect.depth).toBe(23)
    const small = await checkParallel(instanceOf("small"), { workers: 2, tableSlots: 1 << 18 })
    expect(small.result).toBe("ok")
    expect(small.distinctStates).toBe(50659)
    expect(small.unreachedWitnesses).toEqual([])
  })

  it("finds each flawed variant's counterexample with the same length", async () => {
    for (const [variant, length] of [
      ["vote-without-log-check", 12],
      ["volatile-voted-for", 8],
    ] as const) {
      const model = raft.variants[variant]!.breaks!.model
      const r = await checkParallel(instanceOf(model, variant), { workers: 2, tableSlots: 1 << 18 })
      expect(r.result).toBe("violation")
      expect(r.violation!.property).toBe(raft.variants[variant]!.breaks!.property)
      expect(r.violation!.trace.length - 1).toBe(length)
    }
  })

  it("records an expected violation at its shortest length and explores on, as one thread does", async () => {
    const p = fle as unknown as AnyProtocol
    const r = await checkParallel(new Instance(p, "small", p.models.small!, "fle"), { workers: 2, tableSlots: 1 << 16 })
    expect(r.result).toBe("ok")
    expect(r.distinctStates).toBe(23423)
    expect(r.expectedViolations.map((v) => [v.property, v.trace.length - 1])).toEqual([["atMostOneLeadingPerRound", 9]])
    expect(r.unrefutedExpectations).toEqual([])
  })

  it("stops as incomplete when the shared table is full", async () => {
    const r = await checkParallel(instanceOf("small"), { workers: 2, tableSlots: 1 << 12 })
    expect(r.result).toBe("incomplete")
    expect(r.stoppedBy).toBe("memory")
  })
})
