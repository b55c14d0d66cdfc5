/**
 * The etcd v2 key space (src/runtime/raft/kv.ts): actions, error codes and JSON shapes as etcd returns them,
 * and determinism (the same commands give the same results on every node).
 */
import { Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { cleanKey, Command as CommandSchema, decodeCommand, encodeCommand, KvStore, type Command, type Result } from "../../src/runtime/raft/kv.ts"

const run = (kv: KvStore, c: Command): Result | undefined => kv.apply(kv.index + 1, encodeCommand(c))

describe("etcd v2 key space", () => {
  it("set, get, compare-and-swap, create and delete with etcd's shapes and codes", () => {
    const kv = new KvStore()
    expect(run(kv, { _tag: "set", key: "/a", value: "1" })).toEqual({
      ok: true,
      index: 1,
      event: { action: "set", node: { key: "/a", value: "1", modifiedIndex: 1, createdIndex: 1 } },
    })
    expect(run(kv, { _tag: "set", key: "a", value: "2", prevValue: "1" })).toMatchObject({
      ok: true,
      event: {
        action: "compareAndSwap",
        node: { key: "/a", value: "2", modifiedIndex: 2, createdIndex: 1 },
        prevNode: { key: "/a", value: "1", modifiedIndex: 1, createdIndex: 1 },
      },
    })
    expect(run(kv, { _tag: "set", key: "/a", value: "3", prevValue: "1" })).toEqual({
      ok: false,
      error: { errorCode: 101, message: "Compare failed", cause: "[1 != 2]", index: 3 },
    })
    expect(run(kv, { _tag: "set", key: "/a", value: "3", prevIndex: 7 })).toMatchObject({ ok: false, error: { errorCode: 101, cause: "[7 != 2]" } })
    expect(run(kv, { _tag: "set", key: "/a", value: "x", prevExist: false })).toMatchObject({
      ok: false,
      error: { errorCode: 105, message: "Key already exists", cause: "/a" },
    })
    expect(run(kv, { _tag: "set", key: "/b", value: "x", prevExist: true })).toMatchObject({
      ok: false,
      error: { errorCode: 100, message: "Key not found", cause: "/b" },
    })
    expect(run(kv, { _tag: "set", key: "/b", value: "x", prevExist: false })).toMatchObject({ ok: true, event: { action: "create" } })
    expect(run(kv, { _tag: "set", key: "/b", value: "y", prevExist: true })).toMatchObject({ ok: true, event: { action: "update" } })
    expect(run(kv, { _tag: "delete", key: "/b", prevValue: "nope" })).toMatchObject({ ok: false, error: { errorCode: 101 } })
    expect(run(kv, { _tag: "delete", key: "/b" })).toMatchObject({
      ok: true,
      event: { action: "delete", node: { key: "/b", modifiedIndex: 10, createdIndex: 7 }, prevNode: { value: "y" } },
    })
    expect(kv.get("/b")).toMatchObject({ ok: false, error: { errorCode: 100 } })
    expect(kv.get("/a")).toMatchObject({ ok: true, event: { action: "get", node: { key: "/a", value: "2" } } })
  })

  it("directories: implicit parents, listings, Not a file / Not a directory, recursive delete", () => {
    const kv = new KvStore()
    run(kv, { _tag: "set", key: "/d/x", value: "1" })
    run(kv, { _tag: "set", key: "/d/y", value: "2" })
    expect(kv.get("/d", { sorted: true })).toMatchObject({
      ok: true,
      event: { node: { key: "/d", dir: true, nodes: [{ key: "/d/x", value: "1" }, { key: "/d/y", value: "2" }] } },
    })
    expect(run(kv, { _tag: "set", key: "/d", value: "v" })).toMatchObject({ ok: false, error: { errorCode: 102 } })
    expect(run(kv, { _tag: "set", key: "/d/x/z", value: "v" })).toMatchObject({ ok: false, error: { errorCode: 104, cause: "/d/x" } })
    expect(run(kv, { _tag: "delete", key: "/d" })).toMatchObject({ ok: false, error: { errorCode: 102 } })
    expect(run(kv, { _tag: "delete", key: "/d", dir: true })).toMatchObject({ ok: false, error: { errorCode: 108 } })
    expect(run(kv, { _tag: "delete", key: "/d", recursive: true })).toMatchObject({ ok: true, event: { action: "delete", node: { dir: true } } })
    expect(kv.get("/d/x")).toMatchObject({ ok: false })
    expect(run(kv, { _tag: "set", key: "/", value: "v" })).toMatchObject({ ok: false, error: { errorCode: 107 } })
  })

  it("POST creates in-order keys named by their index", () => {
    const kv = new KvStore()
    run(kv, { _tag: "noop" })
    expect(run(kv, { _tag: "post", key: "/q", value: "job" })).toMatchObject({
      ok: true,
      event: { action: "create", node: { key: "/q/00000000000000000002", value: "job" } },
    })
  })

  it("watches: the next change, a past change by waitIndex, recursive, and cleared history", () => {
    const kv = new KvStore()
    const seen: string[] = []
    kv.watch("/w", {}, (e) => seen.push(`${e.event.action}@${e.index}`))
    run(kv, { _tag: "set", key: "/other", value: "1" })
    run(kv, { _tag: "set", key: "/w", value: "1" })
    run(kv, { _tag: "set", key: "/w", value: "2" })
    expect(seen).toEqual(["set@2"])
    kv.watch("/w", { waitIndex: 3 }, (e) => seen.push(`past ${e.event.node.value}@${e.index}`))
    expect(seen).toEqual(["set@2", "past 2@3"])
    kv.watch("/", { recursive: true }, (e) => seen.push(`tree ${e.key}`))
    run(kv, { _tag: "set", key: "/x/y", value: "1" })
    expect(seen.at(-1)).toBe("tree /x/y")
    for (let i = 0; i < 1100; i++) run(kv, { _tag: "set", key: "/spam", value: String(i) })
    const w = kv.watch("/w", { waitIndex: 2 }, () => {})
    expect(w.error).toMatchObject({ errorCode: 401 })
  })

  it("is deterministic: two stores applying the same commands agree on every result", () => {
    const keyArb = fc.constantFrom("/a", "/b", "/d/x", "/d")
    const cmdArb: fc.Arbitrary<Command> = fc.oneof(
      fc.record({ _tag: fc.constant("set" as const), key: keyArb, value: fc.string({ maxLength: 3 }) }),
      fc.record({ _tag: fc.constant("set" as const), key: keyArb, value: fc.string({ maxLength: 3 }), prevExist: fc.boolean() }),
      fc.record({ _tag: fc.constant("set" as const), key: keyArb, value: fc.string({ maxLength: 3 }), prevValue: fc.string({ maxLength: 3 }) }),
      fc.record({ _tag: fc.constant("delete" as const), key: keyArb, recursive: fc.boolean() }),
      fc.record({ _tag: fc.constant("post" as const), key: keyArb, value: fc.string({ maxLength: 3 }) }),
    )
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 40 }), (cmds) => {
        const a = new KvStore()
        const b = new KvStore()
        for (const c of cmds) expect(run(a, c)).toEqual(run(b, c))
        expect(a.get("/", { recursive: true, sorted: true })).toEqual(b.get("/", { recursive: true, sorted: true }))
      }),
    )
  })

  it("a snapshot restored into a fresh store gives the same key space and the same results from then on", () => {
    const keyArb = fc.constantFrom("/a", "/b", "/d/x", "/d/e/y", "/d")
    const cmdArb: fc.Arbitrary<Command> = fc.oneof(
      fc.record({ _tag: fc.constant("set" as const), key: keyArb, value: fc.string({ maxLength: 3 }) }),
      fc.record({ _tag: fc.constant("set" as const), key: keyArb, dir: fc.constant(true) }),
      fc.record({ _tag: fc.constant("delete" as const), key: keyArb, recursive: fc.boolean() }),
      fc.record({ _tag: fc.constant("post" as const), key: keyArb, value: fc.string({ maxLength: 3 }) }),
    )
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 30 }), fc.array(cmdArb, { maxLength: 10 }), (before, after) => {
        const a = new KvStore()
        for (const c of before) run(a, c)
        const b = new KvStore()
        b.restore(a.snapshot(), a.index)
        expect(b.index).toBe(a.index)
        expect(b.get("/", { recursive: true, sorted: true })).toEqual(a.get("/", { recursive: true, sorted: true }))
        for (const c of after) expect(run(b, c)).toEqual(run(a, c))
        expect(b.snapshot()).toBe(a.snapshot())
      }),
    )
  })

  it("restoring ends pending watches with WatcherCleared and refuses data that is not a snapshot", () => {
    const a = new KvStore()
    run(a, { _tag: "set", key: "/a", value: "1" })
    const b = new KvStore()
    const cleared: number[] = []
    b.watch("/a", {}, () => cleared.push(-1), (e) => cleared.push(e.errorCode))
    b.restore(a.snapshot(), a.index)
    expect(cleared).toEqual([400])
    // Older history is gone: a watch from before the snapshot is told so (401).
    expect(b.watch("/a", { waitIndex: 1 }, () => {}).error?.errorCode).toBe(401)
    expect(() => b.restore('["v1"]', 3)).toThrow(/not a key-space snapshot/)
    expect(() => b.restore(a.snapshot(), a.index + 1)).toThrow(/not a key-space snapshot/)
    expect(b.get("/a")).toMatchObject({ ok: true, event: { node: { value: "1" } } })
  })

  it("a command's entry value decodes to the same command", () => {
    const cmdArb: fc.Arbitrary<Command> = fc.oneof(
      fc.record(
        { _tag: fc.constant("set" as const), key: fc.string(), value: fc.string(), prevIndex: fc.integer(), prevExist: fc.boolean(), dir: fc.boolean(), id: fc.string() },
        { requiredKeys: ["_tag", "key"] },
      ),
      fc.record({ _tag: fc.constant("delete" as const), key: fc.string(), recursive: fc.boolean(), prevValue: fc.string() }, { requiredKeys: ["_tag", "key"] }),
      fc.record({ _tag: fc.constant("post" as const), key: fc.string(), value: fc.string() }, { requiredKeys: ["_tag", "key"] }),
      fc.record({ _tag: fc.constant("noop" as const), id: fc.string() }, { requiredKeys: ["_tag"] }),
    )
    fc.assert(
      fc.property(cmdArb, (c) => {
        expect(decodeCommand(encodeCommand(c))).toEqual(c)
      }),
    )
  })

  it("cleans keys as etcd does: a leading slash, no empty or '.' segments (already clean keys kept as they are)", () => {
    const definition = (k: string): string => "/" + k.split("/").filter((p) => p !== "" && p !== ".").join("/")
    const keyArb = fc.array(fc.constantFrom("/", ".", "a", "b", ".."), { maxLength: 12 }).map((parts) => parts.join(""))
    fc.assert(
      fc.property(keyArb, (k) => {
        expect(cleanKey(k)).toBe(definition(k))
      }),
      { numRuns: 2000 },
    )
  })

  it("gives the same results whichever spelling of a key the commands use", () => {
    const segment = fc.constantFrom("a", "b", "c")
    const pathArb = fc.array(segment, { minLength: 1, maxLength: 3 })
    const messy = (parts: string[], noise: number): string =>
      (noise & 1 ? "" : "/") + parts.join(noise & 2 ? "//" : noise & 4 ? "/./" : "/") + (noise & 8 ? "/" : "")
    const cmdArb = fc.tuple(fc.constantFrom("set", "setDir", "create", "update", "cas", "delete", "rdelete", "post"), pathArb, fc.nat(15), fc.nat(3))
    fc.assert(
      fc.property(fc.array(cmdArb, { maxLength: 40 }), (cmds) => {
        const spelled = (clean: boolean) => {
          const kv = new KvStore()
          return cmds.map(([kind, parts, noise, v]) => {
            const key = clean ? "/" + parts.join("/") : messy(parts, noise)
            const value = `v${v}`
            const c: Command =
              kind === "set" ? { _tag: "set", key, value }
              : kind === "setDir" ? { _tag: "set", key, dir: true }
              : kind === "create" ? { _tag: "set", key, value, prevExist: false }
              : kind === "update" ? { _tag: "set", key, value, prevExist: true }
              : kind === "cas" ? { _tag: "set", key, value, prevValue: "v1" }
              : kind === "delete" ? { _tag: "delete", key }
              : kind === "rdelete" ? { _tag: "delete", key, recursive: true }
              : { _tag: "post", key, value }
            return [run(kv, c), kv.get(key, { recursive: true, sorted: true })]
          })
        }
        expect(spelled(false)).toEqual(spelled(true))
      }),
    )
  })

  it("decodes an entry as the Command schema does (its plain-PUT shortcut included)", () => {
    const bySchema = (text: string): Command | undefined => {
      try {
        return Schema.decodeUnknownSync(CommandSchema)(JSON.parse(text))
      } catch {
        return undefined
      }
    }
    // Near misses of the shortcut's shape: other tags, missing, extra or mistyped fields, arrays, null.
    const field = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined))
    const near = fc.record(
      { _tag: fc.constantFrom("set", "post", "delete", "noop", "SET"), key: field, value: field, id: field, prevExist: fc.oneof(fc.boolean(), fc.constant(undefined)), extra: field },
      { requiredKeys: [] },
    )
    // The shortcut's own shape under every tag, sometimes with one field more.
    const shaped = fc.record(
      { _tag: fc.constantFrom("set", "post", "delete", "noop"), key: fc.string(), value: fc.string(), id: fc.string(), extra: field },
      { requiredKeys: ["_tag", "key", "value", "id"] },
    )
    const text = fc.oneof(near.map((o) => JSON.stringify(o)), shaped.map((o) => JSON.stringify(o)), fc.json(), fc.string())
    fc.assert(
      fc.property(text, (t) => {
        expect(decodeCommand(t)).toEqual(bySchema(t))
      }),
      { numRuns: 3000 },
    )
    expect(decodeCommand('{"_tag":"set","key":"/a","value":"1","id":"n1:1"}')).toEqual({ _tag: "set", key: "/a", value: "1", id: "n1:1" })
  })

  it("an entry that is not a command (a model value) applies as a no-op", () => {
    const kv = new KvStore()
    expect(kv.apply(1, "v1")).toBeUndefined()
    expect(kv.index).toBe(1)
  })
})
