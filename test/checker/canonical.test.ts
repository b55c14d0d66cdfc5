/**
 * Property tests for the checker's state identity: checker/canonical.ts (canonical text and 64-bit
 * fingerprints) and checker/fingerprint-set.ts (the visited set and the parent-link column).
 *
 * Two states are the same state exactly when they are equal as plain data, where an object member holding
 * `undefined` counts as absent and -0 counts as 0; `plainEqual` below is that equality, written independently.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import {
  canonical,
  fingerprint,
  FingerprintCombiner,
  fingerprintHex,
  fingerprintInto,
  NotPlainDataError,
} from "../../checker/canonical.ts"
import { FingerprintSet, IntColumn } from "../../checker/fingerprint-set.ts"

// ---------------------------------------------------------------------------------------------------------
// Plain data, its equality, and rebuilding it with another key order

type Plain = null | undefined | boolean | number | string | ReadonlyArray<Plain> | { readonly [key: string]: Plain }

const isRecord = (v: Plain): v is { readonly [key: string]: Plain } => typeof v === "object" && v !== null && !Array.isArray(v)

const definedKeys = (o: { readonly [key: string]: Plain }): string[] =>
  Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()

/** Structural equality: undefined object members are absent, -0 equals 0 (=== already says so). */
const plainEqual = (a: Plain, b: Plain): boolean => {
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b)) return false
    const x: ReadonlyArray<Plain> = a
    const y: ReadonlyArray<Plain> = b
    return x.length === y.length && x.every((item, i) => plainEqual(item, y[i]))
  }
  if (isRecord(a) || isRecord(b)) {
    if (!isRecord(a) || !isRecord(b)) return false
    const ka = definedKeys(a)
    const kb = definedKeys(b)
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && plainEqual(a[k], b[k]))
  }
  return a === b
}

/** A deterministic PRNG (mulberry32), so a shuffle is reproducible from the seed fast-check reports. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/**
 * The same value rebuilt with every object's keys inserted in a shuffled order, recursively; objects
 * alternate between Object.prototype and null prototypes, and some gain extra members holding undefined.
 */
const reorder = (value: Plain, random: () => number): Plain => {
  if (Array.isArray(value)) return value.map((item: Plain) => reorder(item, random))
  if (!isRecord(value)) return value
  const entries: Array<[string, Plain]> = Object.entries(value).map(([k, v]) => [k, reorder(v, random)])
  if (random() < 0.3) entries.push([`extra${Math.floor(random() * 3)}`, undefined])
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[entries[i], entries[j]] = [entries[j]!, entries[i]!]
  }
  // Object.fromEntries defines own data properties, so even a "__proto__" key stays an ordinary member.
  const rebuilt = Object.fromEntries(entries)
  return random() < 0.5 ? rebuilt : Object.assign(Object.create(null), rebuilt)
}

/** Plain values over a small domain, so equal and almost-equal pairs are common. */
const smallPlain = fc.letrec<{ plain: Plain; array: Plain; object: Plain }>((tie) => ({
  plain: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom<Plain>(0, -0, 1, 10, "", "a", "1", "t", "u", "n", true, false, null, undefined),
    tie("array"),
    tie("object"),
  ),
  array: fc.array(tie("plain"), { maxLength: 3 }),
  object: fc.dictionary(fc.constantFrom("a", "b", "1", "a,b", "a:1,b", "__proto__"), tie("plain"), { maxKeys: 3 }),
}))

/** Plain values over a wide domain: any finite double (including -0), any string, any keys. */
const widePlain = fc.letrec<{ plain: Plain; array: Plain; object: Plain }>((tie) => ({
  plain: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    fc.string({ unit: "binary", maxLength: 6 }),
    fc.boolean(),
    fc.constant(null),
    fc.constant(undefined),
    tie("array"),
    tie("object"),
  ),
  array: fc.array(tie("plain"), { maxLength: 4 }),
  object: fc.dictionary(fc.string({ unit: "binary", maxLength: 4 }), tie("plain"), { maxKeys: 4 }),
}))

// ---------------------------------------------------------------------------------------------------------

describe("canonical", () => {
  it("does not depend on the order keys were inserted in, at any depth", () => {
    fc.assert(
      fc.property(fc.oneof(smallPlain.plain, widePlain.plain), fc.integer(), (value, seed) => {
        const shuffled = reorder(value, prng(seed))
        expect(plainEqual(value, shuffled)).toBe(true)
        expect(canonical(shuffled)).toBe(canonical(value))
      }),
    )
  })

  it("folds -0 into 0 and leaves out undefined members", () => {
    expect(canonical(-0)).toBe(canonical(0))
    expect(canonical({ a: [-0], b: undefined })).toBe(canonical({ a: [0] }))
  })

  it("gives equal text exactly to equal values (small domain, where near misses are common)", () => {
    fc.assert(
      fc.property(smallPlain.plain, smallPlain.plain, (a, b) => {
        expect(canonical(a) === canonical(b)).toBe(plainEqual(a, b))
      }),
      { numRuns: 2000 },
    )
  })

  it("gives equal text exactly to equal values (wide domain)", () => {
    fc.assert(
      fc.property(widePlain.plain, widePlain.plain, (a, b) => {
        expect(canonical(a) === canonical(b)).toBe(plainEqual(a, b))
      }),
    )
  })

  it("keeps look-alike values apart", () => {
    const values: Plain[] = [
      0, 1, 12, 1e21, 0.1, -1, "0", "1", "12", "1e+21", "", "t", "f", "u", "n", true, false, null, undefined,
      [], {}, "[]", "{}", [[]], [{}], [null], [undefined], [1, 2], [12], ["1,2"], ["1", "2"], { a: 1 }, { a: "1" },
      { "a,b": 1 }, { a: 1, b: 1 }, { a: { b: 1 } }, { "a:": 1 }, { '"a"': 1 }, { a: [1] }, { 1: 1 }, ["a", 1],
      // Keys that would read as structure if they were not quoted.
      { "a:1,b": 1 }, { "a\":1,\"b": 1 }, { "a:{b": { "}": 1 } },
    ]
    for (let i = 0; i < values.length; i++) {
      for (let j = i + 1; j < values.length; j++) {
        expect(plainEqual(values[i], values[j]), `fixture ${i} and ${j} should differ`).toBe(false)
        expect(canonical(values[i]), `${JSON.stringify(values[i])} vs ${JSON.stringify(values[j])}`).not.toBe(
          canonical(values[j]),
        )
      }
    }
  })

  describe("throws NotPlainDataError for what is not plain data", () => {
    class Point {
      constructor(readonly x: number) {}
    }
    const cases: ReadonlyArray<[string, unknown, RegExp]> = [
      ["NaN", Number.NaN, /NaN/],
      ["Infinity", Number.POSITIVE_INFINITY, /Infinity/],
      ["-Infinity", Number.NEGATIVE_INFINITY, /-Infinity/],
      ["a Map", new Map([["a", 1]]), /Map/],
      ["a Set", new Set([1]), /Set/],
      ["a Date", new Date(0), /Date/],
      ["a class instance", new Point(1), /Point/],
      ["a function", () => 1, /function/],
      ["a bigint", 1n, /bigint/],
      ["a symbol", Symbol("s"), /symbol/],
    ]
    it.each(cases)("%s", (_, value, mentions) => {
      expect(() => canonical(value)).toThrow(NotPlainDataError)
      expect(() => canonical(value)).toThrow(mentions)
    })
    it.each(cases)("%s nested inside plain data", (_, value) => {
      expect(() => canonical({ a: [1, { b: value }] })).toThrow(NotPlainDataError)
    })
  })
})

describe("fingerprint", () => {
  it("is a function of the text: equal text (even built differently) gives equal fingerprints", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        const rebuilt = [...text].join("")
        const out = { hi: 7, lo: 7 }
        fingerprintInto(rebuilt, out)
        expect(out).toEqual(fingerprint(text))
      }),
    )
  })

  it("has two unsigned 32-bit halves, shown as 16 hex digits", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (text) => {
        const { hi, lo } = fingerprint(text)
        for (const half of [hi, lo]) {
          expect(Number.isInteger(half)).toBe(true)
          expect(half).toBeGreaterThanOrEqual(0)
          expect(half).toBeLessThan(2 ** 32)
        }
        expect(fingerprintHex(text)).toBe(hi.toString(16).padStart(8, "0") + lo.toString(16).padStart(8, "0"))
        expect(fingerprintHex(text)).toMatch(/^[0-9a-f]{16}$/)
      }),
    )
  })

  it("has no collisions among 200,000 distinct strings s0..s199999", () => {
    const seen = new Map<string, string>()
    for (let i = 0; i < 200_000; i++) {
      const text = `s${i}`
      const { hi, lo } = fingerprint(text)
      const key = `${hi}:${lo}`
      const earlier = seen.get(key)
      if (earlier !== undefined) expect.fail(`"${earlier}" and "${text}" share fingerprint ${key}`)
      seen.set(key, text)
    }
    expect(seen.size).toBe(200_000)
  })

  it("FingerprintCombiner gives the same result for the same words after reset", () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), (words) => {
        const c = new FingerprintCombiner()
        const run = () => {
          const out = { hi: 0, lo: 0 }
          c.reset()
          for (const w of words) c.add(w)
          c.finish(out)
          return out
        }
        expect(run()).toEqual(run())
      }),
    )
  })
})

describe("FingerprintSet", () => {
  /**
   * The model: a Set of "hi:lo" over the unsigned halves. (0, 0) is the table's empty-slot marker and is
   * documented to be stored as (0, 1), so the model maps it there too.
   */
  const modelKey = (hi: number, lo: number): string => {
    const h = hi >>> 0
    const l = lo >>> 0
    return h === 0 && l === 0 ? "0:1" : `${h}:${l}`
  }

  const half = fc.oneof(
    fc.constantFrom(0, 1, 2, 0xffffffff),
    fc.integer({ min: 0, max: 7 }),
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.integer({ min: -(2 ** 31), max: -1 }), // Math.imul-style signed words mean the same unsigned half
  )
  const op = fc.record({ kind: fc.constantFrom("add", "has"), hi: half, lo: half })

  it("behaves like a Set<string> of `${hi}:${lo}` under random add/has, growing from capacity 4", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), fc.constantFrom(1, 2, 4, 8), (ops, capacity) => {
        const table = new FingerprintSet(capacity)
        const model = new Set<string>()
        for (const { kind, hi, lo } of ops) {
          const key = modelKey(hi, lo)
          if (kind === "add") {
            expect(table.add(hi, lo), `add ${key}`).toBe(!model.has(key))
            model.add(key)
          } else {
            expect(table.has(hi, lo), `has ${key}`).toBe(model.has(key))
          }
          expect(table.size).toBe(model.size)
        }
        // Everything added is still there after all the growing.
        for (const key of model) {
          const [hi, lo] = key.split(":").map(Number)
          expect(table.has(hi!, lo!)).toBe(true)
        }
      }),
    )
  })

  it("stores (0, 0) — the empty-slot marker — as (0, 1)", () => {
    const table = new FingerprintSet(4)
    expect(table.has(0, 0)).toBe(false)
    expect(table.add(0, 0)).toBe(true)
    expect(table.has(0, 0)).toBe(true)
    expect(table.has(0, 1)).toBe(true)
    expect(table.add(0, 1)).toBe(false)
    expect(table.size).toBe(1)
  })

  it("grows past its initial capacity without losing entries, and its memory grows with it", () => {
    const table = new FingerprintSet(4)
    const initialBytes = table.bytes
    for (let i = 0; i < 1000; i++) expect(table.add(i, i * 7)).toBe(true)
    expect(table.size).toBe(1000)
    for (let i = 0; i < 1000; i++) expect(table.has(i, i * 7)).toBe(true)
    expect(table.has(1000, 7000)).toBe(false)
    expect(table.bytes).toBeGreaterThan(initialBytes)
  })
})

describe("IntColumn", () => {
  it("returns what was pushed, in order, across growth beyond its initial 65536 slots", () => {
    const column = new IntColumn()
    const n = 70_000
    for (let i = 0; i < n; i++) column.push(i % 2 === 0 ? i : -i)
    expect(column.size).toBe(n)
    for (let i = 0; i < n; i++) expect(column.get(i)).toBe(i % 2 === 0 ? i : -i)
  })

  it("matches an array model for random int32 pushes", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })), (values) => {
        const column = new IntColumn()
        for (const v of values) column.push(v)
        expect(column.size).toBe(values.length)
        values.forEach((v, i) => expect(column.get(i)).toBe(v))
      }),
    )
  })

  it("throws a RangeError for an index out of range", () => {
    const column = new IntColumn()
    expect(() => column.get(0)).toThrow(RangeError)
    column.push(5)
    column.push(6)
    expect(column.get(1)).toBe(6)
    expect(() => column.get(2)).toThrow(RangeError)
    expect(() => column.get(-1)).toThrow(/out of 0\.\.1/)
  })
})
