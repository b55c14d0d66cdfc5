/**
 * Property tests for Raft's codecs (spec/raft/schema.ts) and the kernel's NodeId: every valid value survives
 * encode → decode (and a JSON hop, as on the wire), and garbage is rejected with an error that names the
 * offending field.
 */
import { Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { nodeId, NodeId } from "../../spec/kernel/protocol.ts"
import {
  AppendEntries,
  AppendEntriesResponse,
  ClientRequest,
  Durable,
  Message,
  RaftConfig,
  RequestVote,
  RequestVoteResponse,
} from "../../spec/raft/schema.ts"

// ---------------------------------------------------------------------------------------------------------
// Arbitraries of valid values, written from the declarations rather than derived from them.

const nodeIdArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/).map(nodeId)
const termArb = fc.oneof(fc.nat({ max: 5 }), fc.maxSafeNat())
const indexArb = termArb
const valueArb = fc.string({ unit: "binary", maxLength: 20 })
const entryArb = fc.record({ term: termArb, value: valueArb })

const requestVoteArb = fc.record({
  _tag: fc.constant("RequestVote" as const),
  term: termArb,
  lastLogIndex: indexArb,
  lastLogTerm: termArb,
})
const requestVoteResponseArb = fc.record({
  _tag: fc.constant("RequestVoteResponse" as const),
  term: termArb,
  voteGranted: fc.boolean(),
})
const appendEntriesArb = fc.record({
  _tag: fc.constant("AppendEntries" as const),
  term: termArb,
  prevLogIndex: indexArb,
  prevLogTerm: termArb,
  entries: fc.array(entryArb, { maxLength: 4 }),
  leaderCommit: indexArb,
})
const appendEntriesResponseArb = fc.record({
  _tag: fc.constant("AppendEntriesResponse" as const),
  term: termArb,
  success: fc.boolean(),
  matchIndex: indexArb,
})
const messageArb = fc.oneof(requestVoteArb, requestVoteResponseArb, appendEntriesArb, appendEntriesResponseArb)

const durableArb = fc.record({
  currentTerm: termArb,
  votedFor: fc.option(nodeIdArb, { nil: null }),
  log: fc.array(entryArb, { maxLength: 5 }),
})
const raftConfigArb = fc.record({
  maxTerm: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  maxLogLen: indexArb,
  values: fc.array(valueArb, { maxLength: 4 }),
  maxEntriesPerMessage: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
})
const clientRequestArb = fc.oneof(
  fc.record({ _tag: fc.constant("Put" as const), value: valueArb }),
  fc.record({ _tag: fc.constant("PutBatch" as const), values: fc.tuple(valueArb, fc.array(valueArb, { maxLength: 4 })).map(([v, vs]) => [v, ...vs] as const) }),
)

// ---------------------------------------------------------------------------------------------------------

interface Codec {
  readonly name: string
  readonly schema: Schema.Codec<unknown, unknown>
  readonly valid: fc.Arbitrary<unknown>
}

const codecs: ReadonlyArray<Codec> = [
  { name: "Message", schema: Message, valid: messageArb },
  { name: "RequestVote", schema: RequestVote, valid: requestVoteArb },
  { name: "RequestVoteResponse", schema: RequestVoteResponse, valid: requestVoteResponseArb },
  { name: "AppendEntries", schema: AppendEntries, valid: appendEntriesArb },
  { name: "AppendEntriesResponse", schema: AppendEntriesResponse, valid: appendEntriesResponseArb },
  { name: "Durable", schema: Durable, valid: durableArb },
  { name: "RaftConfig", schema: RaftConfig, valid: raftConfigArb },
  { name: "ClientRequest", schema: ClientRequest, valid: clientRequestArb },
  { name: "NodeId", schema: NodeId, valid: nodeIdArb },
]

const decode = (schema: Schema.Codec<unknown, unknown>, input: unknown): unknown => Schema.decodeUnknownSync(schema)(input)
const encode = (schema: Schema.Codec<unknown, unknown>, input: unknown): unknown => Schema.encodeUnknownSync(schema)(input)

/** Decodes `input` and returns the thrown error's message, failing if it decodes or throws anything else. */
const rejection = (schema: Schema.Codec<unknown, unknown>, input: unknown): string => {
  try {
    decode(schema, input)
  } catch (error) {
    expect(Schema.isSchemaError(error), `expected a SchemaError, got ${String(error)}`).toBe(true)
    return (error as Error).message
  }
  throw new Error(`expected ${JSON.stringify(input)} to be rejected`)
}

describe.each(codecs)("$name codec", ({ schema, valid }) => {
  it("round-trips every valid value: decode(encode(v)) deep-equals v", () => {
    fc.assert(
      fc.property(valid, (v) => {
        expect(decode(schema, encode(schema, v))).toEqual(v)
      }),
    )
  })

  it("round-trips through JSON text, as on the wire or on disk", () => {
    fc.assert(
      fc.property(valid, (v) => {
        const text = JSON.stringify(encode(schema, v))
        expect(decode(schema, JSON.parse(text))).toEqual(v)
      }),
    )
  })

  it("on arbitrary input either decodes (to something that encodes again) or throws a SchemaError", () => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: true, withObjectString: true, withSparseArray: true }), (input) => {
        let decoded: unknown
        try {
          decoded = decode(schema, input)
        } catch (error) {
          expect(Schema.isSchemaError(error), `not a SchemaError: ${String(error)}`).toBe(true)
          return
        }
        expect(() => encode(schema, decoded)).not.toThrow()
      }),
    )
  })
})

describe("near misses: a valid value with one member replaced by anything", () => {
  /** A valid object with one of its keys set to an arbitrary value (possibly still valid). */
  const corrupt = (valid: fc.Arbitrary<unknown>) =>
    valid.chain((v) => {
      const keys = Object.keys(v as object)
      return fc.record({ key: fc.constantFrom(...keys), junk: fc.anything() }).map(({ key, junk }) => ({
        value: { ...(v as object), [key]: junk },
        key,
      }))
    })

  it.each(codecs.filter((c) => c.name !== "NodeId"))("$name: decodes, or throws a SchemaError naming the replaced key", ({ schema, valid }) => {
    fc.assert(
      fc.property(corrupt(valid), ({ value, key }) => {
        try {
          decode(schema, value)
        } catch (error) {
          expect(Schema.isSchemaError(error)).toBe(true)
          expect((error as Error).message).toContain(JSON.stringify(key))
        }
      }),
    )
  })
})

describe("garbage is rejected with an error naming the field", () => {
  const rv = { _tag: "RequestVote", term: 1, lastLogIndex: 0, lastLogTerm: 0 }

  it("a RequestVote with a negative term", () => {
    const message = rejection(Message, { ...rv, term: -1 })
    expect(message).toContain(`["term"]`)
    expect(message).toMatch(/greater than or equal to 0/)
  })

  it("a RequestVote with a fractional term", () => {
    const message = rejection(Message, { ...rv, term: 1.5 })
    expect(message).toContain(`["term"]`)
    expect(message).toMatch(/integer/)
  })

  it("a RequestVote with a string term", () => {
    const message = rejection(Message, { ...rv, term: "x" })
    expect(message).toContain(`["term"]`)
    expect(message).toMatch(/Expected number/)
  })

  it("non-finite and unsafe integers are not terms", () => {
    for (const term of [Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
      expect(rejection(Message, { ...rv, term })).toContain(`["term"]`)
    }
  })

  it("an unknown _tag", () => {
    const message = rejection(Message, { ...rv, _tag: "TimeoutNow" })
    expect(message).toContain(`"_tag"`)
    expect(message).toContain("RequestVote")
  })

  it("a missing field", () => {
    const { lastLogTerm: _, ...missing } = rv
    const message = rejection(Message, missing)
    expect(message).toMatch(/Missing key/)
    expect(message).toContain(`["lastLogTerm"]`)
  })

  it("a bad entry deep inside AppendEntries is located by its path", () => {
    const ae = {
      _tag: "AppendEntries",
      term: 2,
      prevLogIndex: 0,
      prevLogTerm: 0,
      entries: [{ term: 1, value: "a" }, { term: -2, value: "b" }],
      leaderCommit: 0,
    }
    expect(rejection(Message, ae)).toContain(`["entries"][1]["term"]`)
  })

  it("a response whose flag is not a boolean", () => {
    expect(rejection(Message, { _tag: "RequestVoteResponse", term: 1, voteGranted: "yes" })).toContain(`["voteGranted"]`)
    expect(rejection(Message, { _tag: "AppendEntriesResponse", term: 1, success: 1, matchIndex: 0 })).toContain(`["success"]`)
  })

  it("Durable with votedFor containing spaces", () => {
    const message = rejection(Durable, { currentTerm: 1, votedFor: "n 1", log: [] })
    expect(message).toContain(`["votedFor"]`)
    expect(message).toContain("^[A-Za-z0-9_-]{1,64}$")
  })

  it("Durable with an entry whose value is not a string", () => {
    expect(rejection(Durable, { currentTerm: 1, votedFor: null, log: [{ term: 1, value: 3 }] })).toContain(`["log"][0]["value"]`)
  })

  it("Durable without votedFor (null is required, absent is not)", () => {
    expect(rejection(Durable, { currentTerm: 1, log: [] })).toContain(`["votedFor"]`)
  })

  it("RaftConfig with maxTerm 0 or maxEntriesPerMessage 0", () => {
    const ok = { maxTerm: 2, maxLogLen: 1, values: ["v1"], maxEntriesPerMessage: 1 }
    expect(rejection(RaftConfig, { ...ok, maxTerm: 0 })).toContain(`["maxTerm"]`)
    expect(rejection(RaftConfig, { ...ok, maxEntriesPerMessage: 0 })).toContain(`["maxEntriesPerMessage"]`)
    expect(rejection(RaftConfig, { ...ok, values: ["v1", 2] })).toContain(`["values"][1]`)
  })

  it("ClientRequest with another tag, without a value, or an empty or non-string batch", () => {
    // An unknown tag matches no member of the union: the message names the shapes that are accepted.
    expect(rejection(ClientRequest, { _tag: "Get", value: "v" })).toMatch(/"Put".*"PutBatch"/)
    expect(rejection(ClientRequest, { _tag: "Put" })).toContain(`["value"]`)
    expect(rejection(ClientRequest, { _tag: "PutBatch", values: [] })).toContain(`["values"]`)
    expect(rejection(ClientRequest, { _tag: "PutBatch", values: ["a", 2] })).toContain(`["values"][1]`)
  })

  it("NodeId that is empty, too long, has spaces or is not a string", () => {
    for (const bad of ["", "n".repeat(65), "n 1", "n1\n", "é"]) {
      expect(rejection(NodeId, bad)).toContain("^[A-Za-z0-9_-]{1,64}$")
    }
    expect(rejection(NodeId, 1)).toMatch(/Expected string/)
  })
})
