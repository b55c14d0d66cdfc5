/**
 * The request-target rules every client API shares: a target is a path on this server, and a forwarded
 * request goes to the leader and nowhere else, whatever the client wrote.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { forwardUrl, requestUrl } from "../../src/runtime/http-util.ts"
import { MAX_ENTRY_WIRE_BYTES } from "../../src/runtime/raft/config.ts"
import { entryWireBytes } from "../../src/runtime/raft/http.ts"
import type { Command } from "../../src/runtime/raft/kv.ts"

describe("request targets", () => {
  it("reads //host/path as a path, not as a host", () => {
    const u = requestUrl("//evil.example/znodes/a?watch=true")!
    expect(u.host).toBe("local")
    expect(u.pathname).toBe("//evil.example/znodes/a")
    expect(u.search).toBe("?watch=true")
  })
  it("forwards an absolute-form target by its path and query only", () => {
    expect(forwardUrl("http://elsewhere:1/v2/keys/a?x=1", "http://127.0.0.1:8001").href).toBe("http://127.0.0.1:8001/v2/keys/a?x=1")
  })
  it("forwards every target to the leader's host, with its path and query", () => {
    fc.assert(
      fc.property(fc.string(), (target) => {
        const out = forwardUrl(target, "http://127.0.0.1:8001")
        expect(out.host).toBe("127.0.0.1:8001")
      }),
    )
    expect(forwardUrl("//evil/v2/keys/a?wait=true", "http://127.0.0.1:8001").href).toBe("http://127.0.0.1:8001//evil/v2/keys/a?wait=true")
  })
})

describe("the size of a command as a log entry", () => {
  const exact = (c: Command) => Buffer.byteLength(JSON.stringify(JSON.stringify(c)))
  it("is never under-estimated, and is exact wherever the estimate could pass the limit", () => {
    const text = fc.oneof(
      fc.string({ unit: "binary", maxLength: 3000, size: "max" }),
      fc.string({ unit: fc.constantFrom("\u0001", '"', "\\", "é", "\ud800", "a"), maxLength: 3000, size: "max" }),
    )
    fc.assert(
      fc.property(text, text, fc.option(text, { nil: undefined }), fc.option(fc.nat(), { nil: undefined }), (key, value, prevValue, prevIndex) => {
        const c: Command = { _tag: "set", key, value, ...(prevValue === undefined ? {} : { prevValue }), ...(prevIndex === undefined ? {} : { prevIndex }), id: "n1:123456789" } as Command
        const bytes = entryWireBytes(c)
        expect(bytes).toBeGreaterThanOrEqual(exact(c))
        if (bytes > MAX_ENTRY_WIRE_BYTES) expect(bytes).toBe(exact(c))
      }),
      { numRuns: 300 },
    )
  })
})
