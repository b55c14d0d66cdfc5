/**
 * Model-checking tests of the `fle` protocol: exact distinct-state counts of its small models (with the expected
 * violation set aside), the expected counterexample of the default model, and the shortest counterexample of
 * the pre-3.4.0 vote order. A change that moves these numbers must be explained, not absorbed.
 */
import { describe, expect, it } from "vitest"
import { check } from "../../checker/search.ts"
import { replays } from "../checker/replays.ts"
import { Instance } from "../../checker/world.ts"
import type { AnyProtocol } from "../../spec/kernel/protocol.ts"
import { fle } from "../../spec/zab/fle/index.ts"

const without = (p: AnyProtocol, ...names: string[]): AnyProtocol => ({
  ...p,
  invariants: p.invariants.filter((i) => !names.includes(i.name)),
})
const run = (p: AnyProtocol, model: string, variant = "fle") => check(new Instance(p, model, p.models[model]!, variant))

describe("fle models explored exhaustively (atMostOneLeadingPerRound set aside)", () => {
  const holds: AnyProtocol = {
    ...without(fle, "atMostOneLeadingPerRound"),
    models: Object.fromEntries(Object.entries(fle.models).map(([k, m]) => [k, { ...m, expectedViolations: [] }])),
  }
  it("small: 23423 distinct states, every property holds, every required witness reached", () => {
    const r = run(holds, "small")
    expect(r.result).toBe("ok")
    expect(r.distinctStates).toBe(23423)
    expect(r.depth).toBe(15)
    expect(r.unreachedWitnesses).toEqual([])
  })
  it("default: 113600 distinct states; a leader in round 2, a server joining an established leader", () => {
    const r = run(holds, "default")
    expect(r.result).toBe("ok")
    expect(r.distinctStates).toBe(113600)
    expect(r.unreachedWitnesses).toEqual([])
    expect(r.witnesses.leaderInLaterRound).toBe(true)
    expect(r.witnesses.joinedEstablishedLeader).toBe(true)
  })
  it("observer: 5277 distinct states; the observer, though it has the newest data, only ever observes", () => {
    const r = run(holds, "observer")
    expect(r.result).toBe("ok")
    expect(r.distinctStates).toBe(5277)
    expect(r.witnesses.observerObserving).toBe(true)
  })
})

describe("expected and flawed-variant counterexamples", () => {
  it("default refutes atMostOneLeadingPerRound in 11 steps (two servers LEADING in round 2) and explores everything", () => {
    const r = run(fle, "default")
    expect(r.result).toBe("ok")
    expect(r.distinctStates).toBe(113600)
    expect(r.unreachedWitnesses).toEqual([])
    expect(r.expectedViolations.map((v) => [v.property, v.trace.length - 1])).toEqual([["atMostOneLeadingPerRound", 11]])
    expect(replays(fle, "default", "fle", r.expectedViolations[0]!.trace)).toBe(true)
  })
  it("small refutes it too, in 9 steps, and still explores all of its 23423 states", () => {
    const r = run(fle, "small")
    expect(r.result).toBe("ok")
    expect(r.distinctStates).toBe(23423)
    expect(r.expectedViolations.map((v) => [v.property, v.trace.length - 1])).toEqual([["atMostOneLeadingPerRound", 9]])
  })
  it("a complete run that never breaks an expected violation reports it as unrefuted", () => {
    const p: AnyProtocol = { ...fle, models: { ...fle.models, observer: { ...fle.models.observer!, expectedViolations: ["atMostOneLeadingPerRound"] } } }
    const r = run(p, "observer")
    expect(r.expectedViolations).toEqual([])
    expect(r.unrefutedExpectations).toEqual(["atMostOneLeadingPerRound"])
  })
  it("fle-no-epoch breaks followerFollowsABetterVote in 2 steps on small", () => {
    const info = fle.variants["fle-no-epoch"]!
    const r = run(fle, info.breaks!.model, "fle-no-epoch")
    expect(r.violation!.property).toBe(info.breaks!.property)
    expect(r.violation!.trace.length - 1).toBe(2)
    expect(replays(fle, "small", "fle-no-epoch", r.violation!.trace)).toBe(true)
  })
  it("fle-no-epoch also breaks leaderNotBehindItsQuorum, in 4 steps: a leader behind a server it counted", () => {
    const r = run(without(fle, "followerFollowsABetterVote"), "small", "fle-no-epoch")
    expect(r.violation!.property).toBe("leaderNotBehindItsQuorum")
    expect(r.violation!.trace.length - 1).toBe(4)
  })
})
