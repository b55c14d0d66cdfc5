/**
 * Model-checking tests: exact distinct-state counts of small Raft models and the exact length of each flawed
 * variant's shortest counterexample. A change to the spec or the checker that moves these numbers must be
 * explained, not absorbed.
 */
import { describe, expect, it } from "vitest"
import { check, expand } from "../../checker/search.ts"
import { Instance } from "../../checker/world.ts"
import { raft } from "../../spec/raft/index.ts"

const run = (model: string, variant = "faithful") => check(new Instance(raft, model, raft.models[model]!, variant))

describe("raft models explored exhaustively", () => {
  it("elect: 5014 distinct states, no violation, a leader in two terms", () => {
    const r = run("elect")
    expect(r.result).toBe("ok")
    expect(r.distinctStates).toBe(5014)
    expect(r.depth).toBe(23)
    expect(r.witnesses.leadersInTwoTerms).toBe(true)
    expect(r.unreachedWitnesses).toEqual([])
  })

  it("small: 50659 distinct states, no violation, an entry committed and seen by a later leader", () => {
    const r = run("small")
    expect(r.result).toBe("ok")
    expect(r.distinctStates).toBe(50659)
    expect(r.witnesses.entryCommitted).toBe(true)
    expect(r.witnesses.laterLeaderAfterCommit).toBe(true)
    expect(r.neverFired).toEqual([])
  })

  // The correct variants, each with the actions only it takes (neverFired empty proves every kind fired).
  const correct = [
    { variant: "parallel-append", states: 85225, own: ["internal flushLog"] },
    { variant: "compaction", states: 188752, own: ["internal compact", "deliver InstallSnapshot"] },
    { variant: "parallel-append-compaction", states: 302263, own: ["internal flushLog", "internal compact", "deliver InstallSnapshot"] },
  ]
  for (const c of correct) {
    it(`small under ${c.variant}: ${c.states} distinct states, no violation, every action fired (${c.own.join(", ")} too)`, () => {
      const r = run("small", c.variant)
      expect(r.result).toBe("ok")
      expect(r.distinctStates).toBe(c.states)
      expect(r.unreachedWitnesses).toEqual([])
      for (const kind of c.own) expect(r.coverage[kind]).toBeGreaterThan(0)
      expect(r.neverFired).toEqual([])
    })
  }

  it("the faithful rules never send InstallSnapshot or compact, and coverage does not list them", () => {
    const r = run("elect")
    expect(Object.keys(r.coverage)).not.toContain("deliver InstallSnapshot")
    expect(Object.keys(r.coverage)).not.toContain("internal compact")
  })
})

describe("flawed variants are caught with their shortest counterexample", () => {
  const cases = [
    { variant: "vote-without-log-check", property: "leaderCompleteness", length: 12 },
    { variant: "volatile-voted-for", property: "electionSafety", length: 8 },
    { variant: "commit-previous-term", property: "leaderCompleteness", length: 28 },
    { variant: "parallel-append-counts-self", property: "committedEntriesNeverLost", length: 9 },
    { variant: "compact-uncommitted", property: "committedEntriesNeverLost", length: 5 },
    { variant: "snapshot-discards-log", property: "committedEntriesNeverLost", length: 20 },
  ] as const
  for (const c of cases) {
    it(`${c.variant} breaks ${c.property} in ${c.length} steps`, () => {
      const info = raft.variants[c.variant]!
      const r = run(info.breaks!.model, c.variant)
      expect(r.result).toBe("violation")
      expect(r.violation!.property).toBe(c.property)
      expect(info.breaks!.property).toBe(c.property)
      expect(r.violation!.trace.length - 1).toBe(c.length)
      // Every step of the rebuilt trace is a transition the checker itself would take.
      const inst = new Instance(raft, info.breaks!.model, raft.models[info.breaks!.model]!, c.variant)
      const trace = r.violation!.trace
      for (let k = 1; k < trace.length; k++) {
        const wanted = inst.encode(trace[k]!.world)
        let found = false
        expand(inst, trace[k - 1]!.world, (_a, next, inside) => {
          if (inside && inst.encode(next) === wanted) found = true
        })
        expect(found, `step ${k} is not a successor of step ${k - 1}`).toBe(true)
      }
    })
  }
})

describe("limits end a run as incomplete", () => {
  it("max-states stops early and reports the last complete depth", () => {
    const r = check(new Instance(raft, "small", raft.models.small!, "faithful"), { maxStates: 1000 })
    expect(r.result).toBe("incomplete")
    expect(r.stoppedBy).toBe("max-states")
    expect(r.completeDepth).toBeLessThanOrEqual(r.depth)
    expect(r.unreachedWitnesses).toEqual([])
  })
  it("max-depth stops at that depth", () => {
    const r = check(new Instance(raft, "small", raft.models.small!, "faithful"), { maxDepth: 5 })
    expect(r.result).toBe("incomplete")
    expect(r.stoppedBy).toBe("max-depth")
    expect(r.completeDepth).toBe(5)
  })
})
