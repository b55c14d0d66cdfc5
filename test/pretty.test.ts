import { describe, expect, it } from "vitest"
import { nodeId } from "../spec/kernel/protocol.ts"
import { formatValue, renderTrace, stepChanges } from "../traces/pretty.ts"
import type { TraceNode, TraceState } from "../traces/trace.ts"

const n1 = nodeId("n1")
const n2 = nodeId("n2")

const node = (id: typeof n1, fields: Partial<TraceNode> = {}): TraceNode => ({
  id,
  up: true,
  state: { role: "Follower", term: 0 },
  disk: undefined,
  timers: ["election"],
  ...fields,
})

const state = (fields: Partial<TraceState> = {}): TraceState => ({
  action: "init",
  actionTaken: "init",
  nodes: [node(n1), node(n2)],
  network: [],
  ghost: { elections: [] },
  faults: { crashes: 0, partitions: 0, losses: 0, duplications: 0, cut: [] },
  ...fields,
})

describe("trace printing", () => {
  it("renders plain data on one line", () => {
    expect(formatValue({ term: 1, log: [{ value: "v1" }], votedFor: null, gone: undefined, "odd key": true })).toBe(
      '{term:1,log:[{value:"v1"}],votedFor:null,"odd key":true}',
    )
  })

  it("shows only what a step changed: node fields, disk writes, timers, messages, ghost and faults", () => {
    const before = state({ network: [{ from: n2, to: n1, msg: { _tag: "Ping", term: 0 }, copies: 1 }] })
    const after = state({
      nodes: [
        node(n1, { state: { role: "Candidate", term: 1 }, disk: { term: 1 }, timers: ["heartbeat"] }),
        node(n2, { up: false, state: undefined, disk: { term: 0 }, timers: [] }),
      ],
      network: [{ from: n1, to: n2, msg: { _tag: "Vote", term: 1 }, copies: 2 }],
      ghost: { elections: [1] },
      faults: { crashes: 1, partitions: 1, losses: 0, duplications: 0, cut: [n1] },
    })
    expect(stepChanges(before, after)).toEqual([
      'n1: role "Follower"→"Candidate", term 0→1; persisted term; +heartbeat −election',
      "n2: crashed (disk keeps {term:0})",
      "+ Vote n1→n2 {term:1} ×2",
      "− Ping n2→n1",
      "ghost.elections = [1]",
      "faults: crashes 0→1, partitions 0→1",
      "network: cut {n1} | {n2}",
    ])
    expect(stepChanges(after, after)).toEqual([])
  })

  it("numbers the steps under their action lines", () => {
    const lines = renderTrace([state(), state({ action: "timeout n1 election", nodes: [node(n1, { timers: [] }), node(n2)] })])
    expect(lines).toEqual([
      "0. init",
      '     n1: {role:"Follower",term:0} timers election',
      '     n2: {role:"Follower",term:0} timers election',
      "1. timeout n1 election",
      "     n1: −election",
    ])
  })
})
