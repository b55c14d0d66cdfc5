/**
 * Reading a quorum trace back (strict decoding with the protocol's Schemas) and replaying it against the spec
 * (checker/replay.ts): which step is illegal, and why, in words a reader can act on.
 */
import { beforeAll, describe, expect, it } from "vitest"
import { replay, type ReplayResult } from "../checker/replay.ts"
import { check, expand, type TraceStep } from "../checker/search.ts"
import { describeAction, Instance } from "../checker/world.ts"
import { protocols } from "../spec/registry.ts"
import { itfDocument, type TraceMeta } from "../traces/itf.ts"
import { readTrace, traceStates, type QuorumTrace } from "../traces/trace.ts"

const raft = protocols.raft!

/** The JSON of the vote-without-log-check counterexample on the small model (12 steps). */
let original: string

beforeAll(() => {
  const instance = new Instance(raft, "small", raft.models.small!, "vote-without-log-check")
  const violation = check(instance).violation!
  const meta: TraceMeta = {
    source: "raft/small",
    description: "test",
    timestamp: 0,
    protocol: "raft",
    model: "small",
    variant: "vote-without-log-check",
    property: violation.property,
    reason: violation.reason,
    tool: "quorum-workbench",
    toolVersion: "0.0.0",
    gitCommit: undefined,
    seed: null,
  }
  original = JSON.stringify(itfDocument(traceStates(instance, violation.trace, (a) => describeAction(raft, a)), meta))
})

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** The trace with `edit` applied to its parsed JSON, read back. */
const edited = (edit: (doc: Json) => void): QuorumTrace => {
  const doc = JSON.parse(original) as Json
  edit(doc)
  const trace = readTrace(JSON.stringify(doc))
  if (trace.kind !== "quorum") throw new Error("not a quorum trace")
  return trace
}

const replayed = (edit: (doc: Json) => void = () => {}): ReplayResult => replay(edited(edit))

/** The message `f` throws. */
const thrown = (f: () => unknown): string => {
  try {
    f()
  } catch (error) {
    return (error as Error).message
  }
  throw new Error("nothing was thrown")
}

/** Node `i` (0-based) of state `k` in the parsed JSON. */
const nodeOf = (doc: Json, k: number, i: number): Json => doc.states[k].nodes["#map"][i][1]

describe("replaying a trace against the spec", () => {
  it("accepts the checker's own counterexample and says where the property breaks", () => {
    expect(replayed()).toEqual({
      ok: true,
      violatedAt: 12,
      property: "leaderCompleteness",
      reason: "n3, leader of term 2, lacks entry 1 (term 1, v1) committed in term 1",
    })
  })

  it("names the first illegal step and the field of the nearest successor with the same action", () => {
    expect(replayed((doc) => (nodeOf(doc, 5, 0).state.currentTerm = { "#bigint": "3" }))).toEqual({
      ok: false,
      step: 5,
      reason: "step 5: no successor of step 4 via 'timeout n1 heartbeat' produces this state; n1.currentTerm differs: trace has 3, spec gives 1",
    })
  })

  it("notices a state reached by another action than the one recorded", () => {
    const result = replayed((doc) => (doc.states[2].action = "deliver RequestVote n1→n3"))
    expect(result).toMatchObject({ ok: false, step: 2 })
    expect(!result.ok && result.reason).toBe(
      "step 2: this state follows step 1 via 'deliver RequestVote n1→n2', but the trace records 'deliver RequestVote n1→n3'",
    )
  })

  it("lists what was possible when the recorded action is not", () => {
    const result = replayed((doc) => {
      doc.states[1].action = "crash n1"
      nodeOf(doc, 1, 0).state.currentTerm = { "#bigint": "5" }
    })
    expect(!result.ok && result.reason).toMatch(/^step 1: 'crash n1' is not possible after step 0; possible there: 'timeout n1 election', /)
  })

  it("finds swapped states", () => {
    expect(
      replayed((doc) => {
        ;[doc.states[4], doc.states[5]] = [doc.states[5], doc.states[4]]
        doc.states[4]["#meta"].index = 4
        doc.states[5]["#meta"].index = 5
      }),
    ).toMatchObject({ ok: false, step: 4 })
  })

  it("compares the first state with the model's initial state, and the last with the recorded property", () => {
    expect(replayed((doc) => (nodeOf(doc, 0, 1).timers = []))).toEqual({
      ok: false,
      step: 0,
      reason: "step 0 is not the initial state of raft/small: n2.timers differs: trace has [], spec gives [election]",
    })
    expect(replayed((doc) => doc.states.pop())).toEqual({
      ok: false,
      step: 11,
      reason: "the last state (step 11) does not violate leaderCompleteness",
    })
    expect(replayed((doc) => (doc["#meta"].property = "electionSafety"))).toMatchObject({ ok: false, step: 12 })
  })

  it("reports messages that should or should not be in flight", () => {
    const result = replayed((doc) => doc.states[1].network.pop())
    expect(!result.ok && result.reason).toBe(
      "step 1: no successor of step 0 via 'timeout n1 election' produces this state; the spec has RequestVote n1→n3 {term:1,lastLogIndex:0,lastLogTerm:0} in flight, the trace does not",
    )
  })

  it("refuses, as bad input, a property or nodes the model does not have", () => {
    expect(thrown(() => replayed((doc) => (doc["#meta"].property = "liveness")))).toMatch(
      /^\$\["#meta"\]\.property: unknown property "liveness" for raft; properties: electionSafety, /,
    )
    expect(thrown(() => replayed((doc) => (doc.states[3].nodes["#map"][2][0] = "n9")))).toBe(
      '$.states[3].nodes: expected the nodes n1, n2, n3 of model small, found n1, n2, n9',
    )
    expect(thrown(() => replayed((doc) => (doc.states[2].network[0].to = "n7")))).toBe(
      '$.states[2].network[0].to: unknown node "n7"; nodes of model small: n1, n2, n3',
    )
  })
})

describe("reading a quorum trace", () => {
  it("decodes every state: node states as plain data, disks and messages with the protocol's Schemas", () => {
    const trace = edited(() => {})
    expect(trace.meta).toEqual({
      protocol: "raft",
      model: "small",
      variant: "vote-without-log-check",
      property: "leaderCompleteness",
      reason: "n3, leader of term 2, lacks entry 1 (term 1, v1) committed in term 1",
    })
    expect(trace.states).toHaveLength(13)
    expect(trace.states[2]!.nodes[1]).toEqual({
      id: "n2",
      up: true,
      state: { role: "Follower", currentTerm: 1, votedFor: "n1", log: [], commitIndex: 0, votesGranted: [], nextIndex: {}, matchIndex: {} },
      disk: { currentTerm: 1, votedFor: "n1", log: [] },
      timers: ["election"],
    })
  })

  it("rejects a state that does not decode, naming the JSON path inside it", () => {
    const at = (k: number, i: number) => `$.states[${k}].nodes["#map"][${i}][1]`
    expect(thrown(() => edited((doc) => (nodeOf(doc, 2, 1).disk.currentTerm = { "#bigint": "-1" })))).toMatch(
      new RegExp(`^${escape(at(2, 1))}\\.disk\\.currentTerm: not a valid raft durable state: Expected a value greater than or equal to 0`),
    )
    expect(thrown(() => edited((doc) => (nodeOf(doc, 2, 1).disk.extra = true)))).toBe(
      `${at(2, 1)}.disk.extra: not a valid raft durable state: Expected no excess property`,
    )
    expect(thrown(() => edited((doc) => (doc.states[1].network[0].msg._tag = "Hello")))).toBe(
      '$.states[1].network[0].msg._tag: unknown message kind "Hello"; raft messages: RequestVote, RequestVoteResponse, AppendEntries, AppendEntriesResponse, InstallSnapshot',
    )
    expect(thrown(() => edited((doc) => delete doc.states[1].network[0].msg.lastLogTerm))).toBe(
      "$.states[1].network[0].msg.lastLogTerm: not a valid raft message: Missing key",
    )
    expect(thrown(() => edited((doc) => (nodeOf(doc, 1, 0).timers = ["alarm"])))).toBe(
      `${at(1, 0)}.timers[0]: unknown timer "alarm"; raft timers: election, heartbeat`,
    )
    expect(thrown(() => edited((doc) => (nodeOf(doc, 1, 0).up = false)))).toBe(`${at(1, 0)}.state: node n1 is down, so it has no state`)
    expect(thrown(() => edited((doc) => (nodeOf(doc, 1, 0).state.log = { "#set": [] })))).toBe(
      `${at(1, 0)}.state.log: a #map or #set cannot be checked state, which is plain data`,
    )
    expect(thrown(() => edited((doc) => (doc.states[3].faults.crashes = "none")))).toBe(
      '$.states[3].faults.crashes: expected an integer ≥ 0, found "none"',
    )
    expect(thrown(() => edited((doc) => delete doc.states[4].ghost))).toBe("$.states[4]: missing the variable ghost")
  })

  it("refuses an unknown protocol, model or variant, naming the valid ones", () => {
    expect(thrown(() => edited((doc) => (doc["#meta"].protocol = "paxos")))).toBe(
      `$["#meta"].protocol: unknown protocol "paxos"; valid protocols: ${Object.keys(protocols).join(", ")}`,
    )
    expect(thrown(() => edited((doc) => (doc["#meta"].model = "huge")))).toMatch(/^\$\["#meta"\]\.model: unknown model "huge" for raft; valid models: default, /)
    expect(thrown(() => edited((doc) => (doc["#meta"].variant = "byzantine")))).toMatch(
      /^\$\["#meta"\]\.variant: unknown variant "byzantine" for raft; valid variants: faithful, /,
    )
    expect(thrown(() => edited((doc) => delete doc["#meta"].reason))).toMatch(/^\$\["#meta"\]: missing reason/)
  })
})

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

describe("replaying random walks", () => {
  it("accepts every step of walks through crashes, restarts, partitions, heals, drops and duplicates", () => {
    const instance = new Instance(raft, "default", raft.models.default!, "faithful")
    const kinds = new Set<string>()
    let seed = 42
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    for (let walk = 0; walk < 20; walk++) {
      const steps: TraceStep[] = [{ action: undefined, world: instance.initial() }]
      for (let k = 0; k < 30; k++) {
        const options: TraceStep[] = []
        expand(instance, steps[steps.length - 1]!.world, (action, world, inside) => {
          if (inside) options.push({ action, world })
        })
        if (options.length === 0) break
        // Faults are rare among the successors; favour them so every kind shows up.
        const faults = options.filter((o) => !["Deliver", "Timeout", "Client"].includes(o.action!._tag))
        const pool = faults.length > 0 && random(3) === 0 ? faults : options
        const next = pool[random(pool.length)]!
        kinds.add(next.action!._tag)
        steps.push(next)
      }
      const meta: TraceMeta = {
        source: "walk",
        description: "walk",
        timestamp: 0,
        protocol: "raft",
        model: "default",
        variant: "faithful",
        property: "electionSafety",
        reason: "none",
        tool: "quorum-workbench",
        toolVersion: "0.0.0",
        gitCommit: undefined,
        seed: walk,
      }
      const text = JSON.stringify(itfDocument(traceStates(instance, steps, (a) => describeAction(raft, a)), meta))
      const trace = readTrace(text)
      if (trace.kind !== "quorum") throw new Error("not a quorum trace")
      const last = steps.length - 1
      // Every step is legal; only the final check fails, since faithful Raft keeps electionSafety.
      expect(replay(trace)).toEqual({ ok: false, step: last, reason: `the last state (step ${last}) does not violate electionSafety` })
    }
    expect([...kinds].sort()).toEqual(["Client", "Crash", "Deliver", "Drop", "Duplicate", "Heal", "Partition", "Restart", "Timeout"])
  })
})
