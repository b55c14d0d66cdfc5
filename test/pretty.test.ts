import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { nodeId } from "../spec/kernel/protocol.ts"
import { formatItf, formatValue, renderGenericTrace, renderTrace, stepChanges, withDisplay } from "../traces/pretty.ts"
import { displayZxids } from "../spec/zab/zxid.ts"
import { corpusDir } from "../src/corpus.ts"
import { readTrace, type GenericState, type TraceNode, type TraceState } from "../traces/trace.ts"

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
      '     n1, n2: role "Follower", term 0; timers election',
      "1. timeout n1 election",
      "     n1: −election",
    ])
  })


  it("follows nested records down to the entry that moved and shows appends to a list as +[…]", () => {
    const leader = { role: "Leader", log: [{ term: 1 }], nextIndex: { n2: 1, n3: 1 } }
    const before = state({ nodes: [node(n1, { state: leader }), node(n2)] })
    const after = state({
      nodes: [node(n1, { state: { ...leader, log: [{ term: 1 }, { term: 2 }], nextIndex: { n2: 2, n3: 1 } } }), node(n2)],
    })
    expect(stepChanges(before, after)).toEqual(["n1: log +[{term:2}], nextIndex.n2 1→2"])
  })
})

describe("trace printing options", () => {
  const long = { role: "Candidate", term: 12, votesGranted: ["n1", "n2", "n3", "n4", "n5"], note: "x".repeat(30) }
  const states: TraceState[] = [
    state(),
    state({ action: "timeout n1 election", nodes: [node(n1, { state: long, timers: [] }), node(n2)] }),
    state({
      action: "send n1→n2",
      nodes: [node(n1, { state: long, timers: [] }), node(n2)],
      network: [{ from: n1, to: n2, msg: { _tag: "Vote", term: 12, entries: Array.from({ length: 8 }, (_, i) => ({ term: i, value: `v${i}` })) }, copies: 1 }],
    }),
    state({ action: "timeout n2 election", nodes: [node(n1, { state: long, timers: [] }), node(n2, { timers: [] })], network: [] }),
  ]

  it("wraps to the width, continuations hanging under the text after the label", () => {
    const lines = renderTrace(states, { width: 60 })
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(60)
    expect(lines.slice(3, 7)).toEqual([
      '     n1: role "Follower"→"Candidate", term 0→12,',
      '         votesGranted undefined→["n1","n2","n3","n4","n5"],',
      '         note undefined→"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";',
      "         −election",
    ])
    // A long message breaks after a comma inside its value, and nothing is cut off.
    const message = lines.filter((l) => l.startsWith("     + Vote") || l.startsWith("       ")).join("").replace(/ +/g, " ")
    expect(message).toContain('{term:7,value:"v7"}]}')
  })

  it("keeps to the steps asked for, showing the state before the first one in full", () => {
    expect(renderTrace(states, { from: 2, to: 2 })).toEqual([
      "1. timeout n1 election (state in full)",
      `     n1: role "Candidate", term 12, votesGranted ["n1","n2","n3","n4","n5"], note "${"x".repeat(30)}"`,
      '     n2: role "Follower", term 0; timers election',
      "2. send n1→n2",
      '     + Vote n1→n2 {term:12,entries:[{term:0,value:"v0"},{term:1,value:"v1"},{term:2,value:"v2"},{term:3,value:"v3"},{term:4,value:"v4"},{term:5,value:"v5"},{term:6,value:"v6"},{term:7,value:"v7"}]}',
    ])
  })

  it("shows only what concerns the chosen nodes, the messages in flight, and the violation at the last step", () => {
    const lines = renderTrace(states, { nodes: ["n2"], from: 2, network: true, violation: { property: "p", reason: "because", description: "P holds" } })
    expect(lines).toEqual([
      "1. timeout n1 election (state in full)",
      '     n2: role "Follower", term 0; timers election',
      "     in flight: nothing",
      "2. send n1→n2",
      expect.stringMatching(/^ {5}\+ Vote n1→n2 /),
      "     in flight: 1",
      expect.stringMatching(/^ {7}· Vote n1→n2 /),
      "3. timeout n2 election",
      "     n2: −election",
      "     − Vote n1→n2",
      "     in flight: nothing",
      "     ✗ violates p: because",
      "       P holds",
    ])
  })
})

describe("traces of other tools", () => {
  it("renders ITF values in Quint's notation", () => {
    expect(formatItf({ "#tup": ["a", { "#bigint": "2" }] })).toBe('("a",2)')
    expect(formatItf({ "#set": [1, 2] })).toBe("Set(1,2)")
    expect(formatItf({ "#map": [["k", { "#bigint": "-1" }]] })).toBe('Map("k"->-1)')
    expect(formatItf({ tag: "None", value: { "#tup": [] } })).toBe("None")
    expect(formatItf({ tag: "Some", value: { "#bigint": "3" } })).toBe("Some(3)")
    expect(formatItf({ tag: "Pair", value: { "#tup": [1, 2] } })).toBe("Pair(1,2)")
    expect(formatItf({ a: [true], "b c": { "#unserializable": "?" } })).toBe('{a:[true],"b c":<?>}')
  })

  it("shows a Quint trace state by state: the action with its picks, then only the variables that changed", () => {
    const trace = readTrace(fs.readFileSync(path.join(import.meta.dirname, "fixtures", "quint-counter.itf.json"), "utf8"))
    expect(trace.kind).toBe("generic")
    if (trace.kind !== "generic") return
    expect(renderGenericTrace(trace.states, { to: 1 })).toEqual([
      "0. init",
      '     counts = Map("alice"->0,"bob"->0)',
      '     last = ("",0)',
      '1. inc (amount: 2, who: "alice")',
      '     counts["alice"] 0→2',
      '     last ("",0)→("alice",2)',
    ])
    expect(renderGenericTrace(trace.states, { from: 4 }).slice(-3)).toEqual(['4. reset (who: "bob")', '     counts["bob"] 1→0', '     last ("alice",3)→("bob",0)'])
  })

  it("follows records down, lists sets as +/−, and marks new and removed variables", () => {
    const states: GenericState[] = [
      { action: undefined, picks: undefined, vars: [["r", { a: 1, b: { c: "x" } }], ["s", { "#set": [1, 2] }], ["gone", true]] },
      { action: "step", picks: undefined, vars: [["r", { a: 1, b: { c: "y" } }], ["s", { "#set": [2, 3] }], ["new", [1]]] },
    ]
    expect(renderGenericTrace(states)).toEqual([
      "0. init",
      "     r = {a:1,b:{c:\"x\"}}",
      "     s = Set(1,2)",
      "     gone = true",
      "1. step",
      '     r.b.c "x"→"y"',
      "     s +3 −1",
      "     new = [1]",
      "     gone removed",
    ])
  })
})

describe("a protocol's display of numbers (zxids as (epoch,counter))", () => {
  it("renders every number in a zxid field, nested or in arrays, and leaves the rest", () => {
    const shown = withDisplay({ a: 1, zxid: 4294967297, log: [{ zxid: 4294967298, value: "x" }], lastZxid: -1, committedEarly: [8589934593] }, displayZxids)
    expect(formatValue(shown)).toBe('{a:1,zxid:(1,1),log:[{zxid:(1,2),value:"x"}],lastZxid:-1,committedEarly:[(2,1)]}')
  })
  it("shows a change of a displayed number as one change, not a change of its parts", () => {
    const trace = readTrace(fs.readFileSync(path.join(corpusDir, "zab-zk-3.8.itf.json"), "utf8"))
    if (trace.kind !== "quorum") throw new Error("not a quorum trace")
    const text = renderTrace(trace.states, { display: displayZxids }).join("\n")
    expect(text).toContain("lastProcessed (1,2)→(1,1)")
    expect(text).not.toContain("4294967298")
  })
})
