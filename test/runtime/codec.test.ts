/**
 * codec.ts: a schema is encoded as the identity only when that is what Effect's encoder would produce, and the
 * protocols' wire, disk and request schemas qualify (so their hot paths skip the generic encoder).
 */
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import { canonical } from "../../checker/canonical.ts"
import { expand } from "../../checker/search.ts"
import { Instance, type World } from "../../checker/world.ts"
import type { AnyProtocol } from "../../spec/kernel/protocol.ts"
import { raft } from "../../spec/raft/index.ts"
import { zab } from "../../spec/zab/index.ts"
import { Txn } from "../../spec/zab/schema.ts"
import { encodesAsItself, plainEncoder } from "../../src/runtime/codec.ts"
import { Control } from "../../src/runtime/transport.ts"

/** The messages and durable values of the first `limit` worlds a breadth-first search reaches. */
const reachedValues = (protocol: AnyProtocol, model: string, limit: number) => {
  const inst = new Instance(protocol, model, protocol.models[model]!, protocol.defaultVariant)
  const queue: World[] = [inst.initial()]
  const messages: unknown[] = []
  const disks: unknown[] = []
  for (let i = 0; i < queue.length && i < limit; i++) {
    const w = queue[i]!
    for (const p of w.network) messages.push(p.msg)
    for (const n of w.nodes) if (n.disk !== undefined) disks.push(n.disk)
    expand(inst, w, (_a, next) => {
      if (queue.length < limit) queue.push(next)
    })
  }
  return { messages, disks }
}

describe("plainEncoder", () => {
  it("uses Effect's encoder for a schema with a transformation, or a check on a whole array", () => {
    expect(encodesAsItself(Schema.Struct({ n: Schema.Number, s: Schema.String }).ast)).toBe(true)
    expect(encodesAsItself(Schema.Struct({ n: Schema.NumberFromString }).ast)).toBe(false)
    expect(encodesAsItself(Schema.Array(Schema.Number).check(Schema.isMinLength(1)).ast)).toBe(false)
    expect(plainEncoder(Schema.Struct({ n: Schema.NumberFromString }))({ n: 2 })).toEqual({ n: "2" })
  })

  for (const [protocol, model] of [
    [raft, "small"],
    [zab, "small"],
  ] as const) {
    it(`${protocol.name}: every schema the runtime encodes is the identity, and agrees with Effect's encoder on reached values`, () => {
      const { message, durable, clientRequest } = protocol.schemas
      for (const s of [message, durable, clientRequest]) expect(encodesAsItself(s.ast)).toBe(true)
      // The peer transport's control frames and ZAB's txn log records use it too.
      expect(encodesAsItself(Control.ast)).toBe(true)
      expect(encodesAsItself(Txn.ast)).toBe(true)
      const { messages, disks } = reachedValues(protocol, model, 3000)
      expect(messages.length).toBeGreaterThan(100)
      expect(disks.length).toBeGreaterThan(100)
      const check = (schema: Schema.Codec<unknown, unknown>, values: unknown[]) => {
        const effect = Schema.encodeUnknownSync(schema)
        const plain = plainEncoder(schema)
        for (const v of values) expect(canonical(JSON.parse(JSON.stringify(plain(v))))).toBe(canonical(JSON.parse(JSON.stringify(effect(v)))))
      }
      check(message as Schema.Codec<unknown, unknown>, messages)
      check(durable as Schema.Codec<unknown, unknown>, disks)
    })
  }
})
