/**
 * Simulation: seeded walks are reproducible, a violation is shrunk to a real behaviour of the spec, and the
 * shrunk trace of Figure 8 stays within 1.5× of the BFS shortest (28 steps).
 */
import { describe, expect, it } from "vitest"
import { expand } from "../../checker/search.ts"
import { replaySchedule, simulate, walkSeed } from "../../checker/simulate.ts"
import { Instance } from "../../checker/world.ts"
import { raft } from "../../spec/raft/index.ts"

const instanceOf = (model: string, variant: string) => new Instance(raft, model, raft.models[model]!, variant)

describe("simulate", () => {
  it("finds commit-previous-term's violation and shrinks it to at most 1.5× the shortest trace", () => {
    const inst = instanceOf("figure8", "commit-previous-term")
    const r = simulate(inst, { seed: 1, depth: 100, runs: 5000 })
    expect(r.result).toBe("violation")
    expect(r.violation!.property).toBe("leaderCompleteness")
    const length = r.violation!.trace.length - 1
    expect(length).toBeLessThanOrEqual(42)
    expect(length).toBeLessThanOrEqual(r.foundLength!)
    // Every step of the shrunk trace is a transition of the spec.
    const trace = r.violation!.trace
    for (let k = 1; k < trace.length; k++) {
      const wanted = inst.encode(trace[k]!.world)
      let found = false
      expand(inst, trace[k - 1]!.world, (_a, next, inside) => {
        if (inside && inst.encode(next) === wanted) found = true
      })
      expect(found, `step ${k}`).toBe(true)
    }
  })

  it("is reproducible: the same seed gives the same walks and the same shrunk trace", () => {
    const a = simulate(instanceOf("small", "vote-without-log-check"), { seed: 42, depth: 60, runs: 2000 })
    const b = simulate(instanceOf("small", "vote-without-log-check"), { seed: 42, depth: 60, runs: 2000 })
    expect(a.result).toBe("violation")
    expect(b.runs).toBe(a.runs)
    expect(b.steps).toBe(a.steps)
    expect(b.violation!.trace.map((s) => s.action)).toEqual(a.violation!.trace.map((s) => s.action))
  })

  it("walk seeds differ per walk and per run seed", () => {
    const seeds = new Set<number>()
    for (let s = 0; s < 20; s++) for (let w = 0; w < 50; w++) seeds.add(walkSeed(s, w))
    expect(seeds.size).toBe(1000)
  })

  it("replaying an empty schedule breaks nothing", () => {
    expect(replaySchedule(instanceOf("small", "faithful"), [], "electionSafety")).toBeUndefined()
  })

  it("runs clean on five servers with every fault kind", () => {
    const r = simulate(instanceOf("five-servers", "faithful"), { seed: 7, depth: 80, runs: 100 })
    expect(r.result).toBe("ok")
    expect(r.runs).toBe(100)
    for (const kind of ["crash", "restart", "partition", "heal", "drop message", "duplicate message", "client request"]) {
      expect(r.coverage[kind], kind).toBeGreaterThan(0)
    }
  })
})
