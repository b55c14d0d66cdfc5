import fc from "fast-check"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { check } from "../checker/search.ts"
import { describeAction, Instance } from "../checker/world.ts"
import { protocols } from "../spec/registry.ts"
import { fromItf, itfDocument, jsonPathAt, readItf, toItf, TRACE_VARS, type ItfValue, type TraceMeta } from "../traces/itf.ts"
import { traceStates } from "../traces/trace.ts"

const meta: TraceMeta = {
  source: "test",
  description: "a test trace",
  timestamp: 0,
  protocol: "raft",
  model: "small",
  variant: "vote-without-log-check",
  property: "leaderCompleteness",
  reason: "because",
  tool: "quorum-workbench",
  toolVersion: "0.0.0",
  gitCommit: undefined,
  seed: null,
}

/** A minimal valid document with `states` spliced in. */
const doc = (states: unknown, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ "#meta": { format: "ITF" }, vars: ["x"], states, ...extra })

/** The message readItf throws for `text`. */
const rejection = (text: string): string => {
  try {
    readItf(text)
  } catch (error) {
    return (error as Error).message
  }
  throw new Error("readItf accepted the document")
}

describe("toItf", () => {
  it("writes integers as #bigint, whatever their size or sign", () => {
    expect(toItf(123)).toEqual({ "#bigint": "123" })
    expect(toItf(-7)).toEqual({ "#bigint": "-7" })
    expect(toItf(-0)).toEqual({ "#bigint": "0" })
    expect(toItf(2n ** 70n)).toEqual({ "#bigint": "1180591620717411303424" })
    expect(toItf(1e21)).toEqual({ "#bigint": "1000000000000000000000" })
  })

  it("writes strings and booleans as JSON", () => {
    expect(toItf("n1")).toBe("n1")
    expect(toItf(true)).toBe(true)
  })

  it("writes lists as arrays and plain objects as records, tags kept and undefined members left out", () => {
    expect(
      toItf({
        _tag: "AppendEntries",
        term: 2,
        entries: [{ term: 1, value: "v1" }],
        hint: undefined,
        matrix: [[1, 2], []],
      }),
    ).toEqual({
      _tag: "AppendEntries",
      term: { "#bigint": "2" },
      entries: [{ term: { "#bigint": "1" }, value: "v1" }],
      matrix: [[{ "#bigint": "1" }, { "#bigint": "2" }], []],
    })
  })

  it("marks what ITF cannot express as #unserializable", () => {
    expect(toItf(null)).toEqual({ "#unserializable": "null" })
    expect(toItf(1.5)).toEqual({ "#unserializable": "1.5" })
    expect(toItf([undefined])).toEqual([{ "#unserializable": "undefined" }])
    expect(toItf({ votedFor: null })).toEqual({ votedFor: { "#unserializable": "null" } })
  })

  it("writes Map and Set as #map and #set", () => {
    expect(toItf(new Map([["n1", 1]]))).toEqual({ "#map": [["n1", { "#bigint": "1" }]] })
    expect(toItf(new Set(["a"]))).toEqual({ "#set": ["a"] })
  })

  it("refuses what is not plain data, naming where it is", () => {
    expect(() => toItf({ a: [new Date(0)] })).toThrow("$.a[0]: cannot encode an instance of Date as ITF")
    expect(() => toItf({ f: () => 1 })).toThrow("$.f: cannot encode a function as ITF")
    expect(() => toItf({ inner: { "#bigint": "1" } })).toThrow('$.inner["#bigint"]: a record field starting with #')
  })

  it("round-trips plain data through fromItf", () => {
    const key = fc.string().filter((k) => !k.startsWith("#"))
    const { value } = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: "small" },
        fc.integer(),
        fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).filter((n) => n < -(2n ** 53n) || n > 2n ** 53n),
        fc.string(),
        fc.boolean(),
        fc.constant(null),
        fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)),
        fc.array(tie("value")),
        fc.dictionary(key, tie("value")),
      ),
    }))
    fc.assert(
      fc.property(value, (v) => {
        const written = JSON.parse(JSON.stringify(toItf(v))) as ItfValue
        expect(fromItf(written)).toEqual(v)
      }),
    )
  })
})

describe("readItf", () => {
  it("accepts a well-formed document with every value form", () => {
    const text = doc([
      {
        "#meta": { index: 0 },
        x: { a: [1, { "#bigint": "-5" }], t: { "#tup": [true, "s"] }, s: { "#set": [] }, m: { "#map": [["k", 1]] }, u: { "#unserializable": "?" } },
      },
    ])
    expect(readItf(text).states).toHaveLength(1)
  })

  it("rejects truncated JSON, naming the value the file ends in", () => {
    const text = doc([{ x: { log: [1, 2] } }])
    expect(rejection(text.slice(0, text.indexOf("2")))).toMatch(/^\$\.states\[0\]\.x\.log\[1\]: not valid JSON \(.*\); the file ends here: truncated\?$/)
    expect(rejection(text.slice(0, text.lastIndexOf('"x"') + 2))).toMatch(/^\$\.states\[0\]: not valid JSON/)
    expect(rejection("")).toMatch(/^\$: not valid JSON/)
  })

  it("locates a syntax error in the middle of a file by its JSON path", () => {
    expect(jsonPathAt('{"a": {"b c": [1, {"d": ', 24)).toBe('$.a["b c"][1].d')
    expect(jsonPathAt('{"a": [1, 2], ', 14)).toBe("$")
    expect(jsonPathAt('{"s": "x,[{", "t": [', 20)).toBe("$.t[0]")
    expect(rejection('{"vars": [], "states": [{"x": 1 "y": 2}]}')).toMatch(/^\$\.states\[0\]\.x: not valid JSON/)
  })

  it("accepts what Quint writes: tuples, sets, variants as {tag, value}, mbt:: variables", () => {
    const text = fs.readFileSync(path.join(import.meta.dirname, "fixtures", "quint-counter.itf.json"), "utf8")
    const trace = readItf(text)
    expect(trace.states).toHaveLength(5)
    expect(fromItf(trace.states[1]!.last as ItfValue)).toEqual(["alice", 2])
    expect(fromItf(trace.states[1]!.counts as ItfValue)).toEqual(new Map([["alice", 2], ["bob", 0]]))
    expect(trace.states[1]!["mbt::nondetPicks"]).toEqual({ amount: { tag: "Some", value: { "#bigint": "2" } }, who: { tag: "Some", value: "alice" } })
  })

  it("names the path of a bad shape", () => {
    expect(rejection("[]")).toBe("$: expected an object, found a list")
    expect(rejection(JSON.stringify({ vars: [] }))).toBe("$: missing the list of states, states")
    expect(rejection(JSON.stringify({ vars: ["x", 3], states: [{}] }))).toBe("$.vars[1]: expected a name, found number 3")
    expect(rejection(doc({}))).toBe("$.states: expected a list of states, found an object")
    expect(rejection(doc([]))).toBe("$.states: expected at least one state")
    expect(rejection(doc([{ x: 1 }, { x: 2 }, { x: 3 }, []]))).toBe("$.states[3]: expected an object, found a list")
    expect(rejection(doc([{ "#meta": { index: 1 }, x: 1 }]))).toBe('$.states[0]["#meta"].index: expected 0 (the state\'s position), found number 1')
    expect(rejection(doc([{ x: { log: [{ term: { "#bigint": "1.5" } }] } }]))).toBe(
      '$.states[0].x.log[0].term["#bigint"]: expected a string of decimal digits, found string "1.5"',
    )
    expect(rejection(doc([{ x: { votedFor: null } }]))).toBe("$.states[0].x.votedFor: null is not an ITF value")
    expect(rejection(doc([{ x: 2.5 }]))).toBe("$.states[0].x: expected an integer, found 2.5")
    expect(rejection(doc([{ x: { "#mystery": 1 } }]))).toBe('$.states[0].x: unknown ITF form "#mystery"')
    expect(rejection(doc([{ x: { "#map": [["k"]] } }]))).toBe('$.states[0].x["#map"][0]: expected a [key, value] pair, found a list')
    expect(rejection(doc([{ x: { "#bigint": "1", y: 2 } }]))).toBe("$.states[0].x: a #bigint value must have no other fields, found #bigint, y")
    expect(rejection(doc([{ x: 1 }], { loop: 1 }))).toBe("$.loop: expected the index of a state (0..0), found number 1")
  })
})

describe("a checker-produced trace", () => {
  it("is written as ITF and read back to the same states", () => {
    const raft = protocols.raft!
    const instance = new Instance(raft, "restart", raft.models.restart!, "volatile-voted-for")
    const report = check(instance)
    const violation = report.violation
    if (violation === undefined) throw new Error(`expected volatile-voted-for to break a property, got ${report.result}`)

    const states = traceStates(instance, violation.trace, (a) => describeAction(raft, a))
    const text = JSON.stringify(itfDocument(states, { ...meta, model: "restart", property: violation.property }))
    const read = readItf(text)

    expect(read.vars).toEqual(TRACE_VARS)
    expect(read["#meta"]).toMatchObject({ format: "ITF", property: violation.property, seed: null })
    expect(read.states).toHaveLength(violation.trace.length)
    read.states.forEach((state, i) => {
      const step = violation.trace[i]!
      expect(state["#meta"]).toEqual({ index: i })
      expect(state.action).toBe(step.action === undefined ? "init" : describeAction(raft, step.action))
      expect(state["mbt::actionTaken"]).toBe(step.action === undefined ? "init" : step.action._tag.charAt(0).toLowerCase() + step.action._tag.slice(1))
      const nodes = fromItf(state.nodes as ItfValue) as Map<string, unknown>
      expect([...nodes.keys()]).toEqual(step.world.nodes.map((n) => n.id))
      step.world.nodes.forEach((n) => {
        expect(nodes.get(n.id)).toEqual({ up: n.up, state: n.state, disk: n.disk, timers: instance.armedTimers(n) })
      })
      expect(fromItf(state.network as ItfValue)).toEqual(step.world.network.map(({ from, to, msg, copies }) => ({ from, to, msg, copies })))
      expect(fromItf(state.ghost as ItfValue)).toEqual(step.world.ghost)
      expect(fromItf(state.faults as ItfValue)).toEqual({
        crashes: step.world.crashes,
        partitions: step.world.partitions,
        losses: step.world.losses,
        duplications: step.world.duplications,
        cut: instance.ids.filter((_, k) => ((step.world.cut >> k) & 1) === 1),
      })
    })
  })
})
