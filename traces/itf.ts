/**
 * The Informal Trace Format (ITF, Apalache ADR-015): encoding plain data as ITF values, building an ITF
 * document from a trace, and a strict reader that says where a file is wrong.
 *
 * Encoding of our plain data (DESIGN convention 3: checked state is plain readonly data):
 * - integers (numbers or bigints) → `{"#bigint": "123"}`; strings and booleans as JSON;
 * - arrays → JSON lists; plain objects → records, `undefined` members left out (tagged unions stay records,
 *   keeping their `_tag` field, so a trace reads like the spec's own data);
 * - `Map` → `{"#map": [[k, v], …]}`, `Set` → `{"#set": […]}`;
 * - what ITF cannot express → `{"#unserializable": text}`: `null` as `"null"`, a non-integer number as its
 *   decimal text, an `undefined` list element as `"undefined"`. `fromItf` turns these three back.
 * Anything else (functions, symbols, class instances, record fields starting with "#", which would read as
 * ITF forms) is not state and throws, naming the path of the offending value.
 */
import type { TraceState } from "./trace.ts"

export interface ItfBigint {
  readonly "#bigint": string
}
export interface ItfTuple {
  readonly "#tup": ReadonlyArray<ItfValue>
}
export interface ItfSet {
  readonly "#set": ReadonlyArray<ItfValue>
}
export interface ItfMap {
  readonly "#map": ReadonlyArray<readonly [ItfValue, ItfValue]>
}
export interface ItfUnserializable {
  readonly "#unserializable": string
}
export interface ItfRecord {
  readonly [field: string]: ItfValue
}
export type ItfValue =
  | boolean
  | string
  /** Only when read: ITF readers accept plain JSON integers. The writer always uses `#bigint`. */
  | number
  | ItfBigint
  | ItfTuple
  | ItfSet
  | ItfMap
  | ItfUnserializable
  | ItfRecord
  | ReadonlyArray<ItfValue>

export interface ItfState {
  readonly "#meta"?: { readonly index: number; readonly [key: string]: unknown }
  readonly [variable: string]: unknown
}

export interface ItfDocument {
  readonly "#meta"?: { readonly [key: string]: unknown }
  readonly params?: ReadonlyArray<string>
  readonly vars: ReadonlyArray<string>
  readonly states: ReadonlyArray<ItfState>
  readonly loop?: number
}

export const ITF_FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** A JSON path in the style of error messages: `$.states[3].nodes["#map"]`. */
const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/
export const fieldPath = (path: string, key: string): string =>
  identifier.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`

const integerText = (n: number | bigint): string => BigInt(n).toString()

/** Encodes plain data as an ITF value (see the module comment for the mapping). */
export const toItf = (value: unknown, path = "$"): ItfValue => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value
    case "bigint":
      return { "#bigint": integerText(value) }
    case "number":
      return Number.isInteger(value) ? { "#bigint": integerText(value) } : { "#unserializable": String(value) }
    case "object": {
      if (value === null) return { "#unserializable": "null" }
      if (Array.isArray(value)) {
        return value.map((item, i) => (item === undefined ? { "#unserializable": "undefined" } : toItf(item, `${path}[${i}]`)))
      }
      if (value instanceof Map) {
        return { "#map": [...value].map(([k, v], i) => [toItf(k, `${fieldPath(path, "#map")}[${i}][0]`), toItf(v, `${fieldPath(path, "#map")}[${i}][1]`)] as const) }
      }
      if (value instanceof Set) return { "#set": [...value].map((item, i) => toItf(item, `${fieldPath(path, "#set")}[${i}]`)) }
      if (!isPlainObject(value)) {
        throw new Error(`${path}: cannot encode an instance of ${value.constructor?.name ?? "a class"} as ITF`)
      }
      const fields: Array<readonly [string, ItfValue]> = []
      for (const [key, member] of Object.entries(value)) {
        // A field named like an ITF form ("#bigint", "#map"…) would be read back as that form.
        if (key.startsWith("#")) throw new Error(`${fieldPath(path, key)}: a record field starting with # cannot be written as ITF`)
        if (member !== undefined) fields.push([key, toItf(member, fieldPath(path, key))])
      }
      // fromEntries defines own fields, so even a field named __proto__ stays data.
      return Object.fromEntries(fields)
    }
    default:
      throw new Error(`${path}: cannot encode a ${typeof value} as ITF`)
  }
}

/**
 * Decodes an ITF value back to plain data: `#bigint` → number (bigint beyond 2^53), `#tup` → array,
 * `#set` → Set, `#map` → Map, and the `#unserializable` texts `toItf` writes back to null, undefined or the
 * number. Other `#unserializable` values come from other tools and stay as they are.
 */
export const fromItf = (value: ItfValue): unknown => {
  if (typeof value !== "object") return value
  if (Array.isArray(value)) return value.map(fromItf)
  const v = value as Record<string, unknown>
  if ("#bigint" in v) {
    const n = BigInt(v["#bigint"] as string)
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n
  }
  if ("#tup" in v) return (v["#tup"] as ReadonlyArray<ItfValue>).map(fromItf)
  if ("#set" in v) return new Set((v["#set"] as ReadonlyArray<ItfValue>).map(fromItf))
  if ("#map" in v) return new Map((v["#map"] as ReadonlyArray<readonly [ItfValue, ItfValue]>).map(([k, x]) => [fromItf(k), fromItf(x)]))
  if ("#unserializable" in v) {
    const text = v["#unserializable"] as string
    if (text === "null") return null
    if (text === "undefined") return undefined
    const n = Number(text)
    return text.trim() !== "" && !Number.isNaN(n) ? n : value
  }
  return Object.fromEntries(Object.entries(v).map(([key, member]) => [key, fromItf(member as ItfValue)]))
}

/** The metadata a trace file carries besides the ITF-mandated fields. */
export interface TraceMeta {
  readonly source: string
  readonly description: string
  /** Milliseconds since the epoch; taken by the caller so documents are reproducible in tests. */
  readonly timestamp: number
  readonly protocol: string
  readonly model: string
  readonly variant: string
  readonly property: string
  readonly reason: string
  readonly tool: string
  readonly toolVersion: string
  /** Undefined when the tool does not run from a git checkout. */
  readonly gitCommit: string | undefined
  /** The PRNG seed of a randomized run; null for exhaustive search, which uses none. */
  readonly seed: number | null
}

export const TRACE_VARS = ["action", "mbt::actionTaken", "nodes", "network", "ghost", "faults"] as const

/** An ITF document of `states`, with `meta` in its `#meta`. */
export const itfDocument = (states: ReadonlyArray<TraceState>, meta: TraceMeta): ItfDocument => ({
  "#meta": {
    format: "ITF",
    "format-description": ITF_FORMAT_DESCRIPTION,
    source: meta.source,
    description: meta.description,
    timestamp: meta.timestamp,
    protocol: meta.protocol,
    model: meta.model,
    variant: meta.variant,
    property: meta.property,
    reason: meta.reason,
    tool: meta.tool,
    toolVersion: meta.toolVersion,
    ...(meta.gitCommit === undefined ? {} : { gitCommit: meta.gitCommit }),
    seed: meta.seed,
  },
  vars: TRACE_VARS,
  states: states.map((s, index) => ({
    "#meta": { index },
    action: s.action,
    "mbt::actionTaken": s.actionTaken,
    nodes: {
      "#map": s.nodes.map((n, i) => [
        n.id,
        toItf({ up: n.up, state: n.state, disk: n.disk, timers: n.timers }, `$.states[${index}].nodes[${i}]`),
      ]),
    },
    network: toItf(s.network, `$.states[${index}].network`),
    ghost: toItf(s.ghost, `$.states[${index}].ghost`),
    faults: toItf(s.faults, `$.states[${index}].faults`),
  })),
})

/**
 * A trace file that cannot be used: malformed JSON or ITF, or (see trace.ts) a state that does not decode.
 * The message starts with the JSON path of the problem; callers report it as bad input.
 */
export class ItfReadError extends Error {
  override readonly name = "ItfReadError"
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`)
  }
}

type JsonFrame = { readonly kind: "object"; key: string | undefined } | { readonly kind: "array"; index: number }

/**
 * The JSON path of the innermost value of `text` that is open at `position`: where a parse error sits, so a
 * truncated file is reported as `$.states[6].nodes["#map"][1][1]: …` rather than just `$`.
 */
export const jsonPathAt = (text: string, position: number): string => {
  const stack: JsonFrame[] = []
  // In an object, whether the next string is a key (after "{" or ",") rather than a value (after ":").
  let expectingKey = false
  const end = Math.min(position, text.length)
  let i = 0
  while (i < end) {
    const c = text.charCodeAt(i)
    if (c === 0x22 /* " */) {
      let j = i + 1
      while (j < text.length && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1
      if (j >= end) break // the string is still open at the position
      const top = stack[stack.length - 1]
      if (top?.kind === "object" && expectingKey) {
        try {
          top.key = JSON.parse(text.slice(i, j + 1)) as string
        } catch {
          top.key = text.slice(i + 1, j)
        }
        expectingKey = false
      }
      i = j + 1
      continue
    }
    const top = stack[stack.length - 1]
    if (c === 0x7b /* { */) {
      stack.push({ kind: "object", key: undefined })
      expectingKey = true
    } else if (c === 0x5b /* [ */) {
      stack.push({ kind: "array", index: 0 })
      expectingKey = false
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop()
      expectingKey = false
    } else if (c === 0x2c /* , */ && top !== undefined) {
      if (top.kind === "array") top.index++
      else {
        top.key = undefined
        expectingKey = true
      }
    }
    i++
  }
  let path = "$"
  for (const frame of stack) {
    if (frame.kind === "array") path += `[${frame.index}]`
    else if (frame.key !== undefined) path = fieldPath(path, frame.key)
    else break // between the members of an object: the object itself is where the problem is
  }
  return path
}

/** Where JSON.parse stopped, from its message ("… at position 42"), or the end of the text. */
const parseErrorPosition = (text: string, message: string): number => {
  const at = /position (\d+)/.exec(message)
  return at === null ? text.length : Number(at[1])
}

const describeJson = (value: unknown): string =>
  value === null ? "null" : Array.isArray(value) ? "a list" : typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const specialKeys = new Set(["#bigint", "#tup", "#set", "#map", "#unserializable"])

/** Checks that `value` is a well-formed ITF value, throwing with the path of the first problem. */
const checkValue = (value: unknown, path: string): void => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return
    case "number":
      if (!Number.isSafeInteger(value)) throw new ItfReadError(path, `expected an integer, found ${value}`)
      return
    case "object": {
      if (value === null) throw new ItfReadError(path, "null is not an ITF value")
      if (Array.isArray(value)) {
        value.forEach((item, i) => checkValue(item, `${path}[${i}]`))
        return
      }
      const obj = value as Record<string, unknown>
      const keys = Object.keys(obj)
      const special = keys.filter((k) => k.startsWith("#"))
      if (special.length === 0) {
        for (const key of keys) checkValue(obj[key], fieldPath(path, key))
        return
      }
      const key = special[0]!
      if (!specialKeys.has(key)) throw new ItfReadError(path, `unknown ITF form ${JSON.stringify(key)}`)
      if (keys.length !== 1) throw new ItfReadError(path, `a ${key} value must have no other fields, found ${keys.join(", ")}`)
      const inner = obj[key]
      const at = fieldPath(path, key)
      switch (key) {
        case "#bigint":
          if (typeof inner !== "string" || !/^-?[0-9]+$/.test(inner)) {
            throw new ItfReadError(at, `expected a string of decimal digits, found ${describeJson(inner)}`)
          }
          return
        case "#unserializable":
          if (typeof inner !== "string") throw new ItfReadError(at, `expected a string, found ${describeJson(inner)}`)
          return
        case "#tup":
        case "#set":
          if (!Array.isArray(inner)) throw new ItfReadError(at, `expected a list, found ${describeJson(inner)}`)
          inner.forEach((item, i) => checkValue(item, `${at}[${i}]`))
          return
        case "#map":
          if (!Array.isArray(inner)) throw new ItfReadError(at, `expected a list of [key, value] pairs, found ${describeJson(inner)}`)
          inner.forEach((pair, i) => {
            if (!Array.isArray(pair) || pair.length !== 2) {
              throw new ItfReadError(`${at}[${i}]`, `expected a [key, value] pair, found ${describeJson(pair)}`)
            }
            checkValue(pair[0], `${at}[${i}][0]`)
            checkValue(pair[1], `${at}[${i}][1]`)
          })
          return
      }
      return
    }
    default:
      throw new ItfReadError(path, `${typeof value} is not an ITF value`)
  }
}

/**
 * Parses and checks an ITF document: valid JSON, an object with an optional `#meta` object, `vars` a list of
 * strings, `states` a non-empty list of objects whose `#meta.index` (when present) is their position and whose
 * variables are ITF values, and `loop` (when present) the index of a state. Throws an Error whose message
 * starts with the JSON path of the first problem, e.g. `$.states[3]: expected an object, found a list`.
 */
export const readItf = (text: string): ItfDocument => {
  let doc: unknown
  try {
    doc = JSON.parse(text)
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const position = parseErrorPosition(text, message)
    const ending = position >= text.length && text.trim() !== "" ? "; the file ends here: truncated?" : ""
    throw new ItfReadError(jsonPathAt(text, position), `not valid JSON (${message})${ending}`)
  }
  if (!isObject(doc)) throw new ItfReadError("$", `expected an object, found ${describeJson(doc)}`)
  if ("#meta" in doc && !isObject(doc["#meta"])) throw new ItfReadError(fieldPath("$", "#meta"), `expected an object, found ${describeJson(doc["#meta"])}`)
  for (const field of ["vars", "params"] as const) {
    if (!(field in doc)) continue
    const list = doc[field]
    if (!Array.isArray(list)) throw new ItfReadError(`$.${field}`, `expected a list of names, found ${describeJson(list)}`)
    list.forEach((name, i) => {
      if (typeof name !== "string") throw new ItfReadError(`$.${field}[${i}]`, `expected a name, found ${describeJson(name)}`)
    })
  }
  if (!("vars" in doc)) throw new ItfReadError("$", "missing the list of variables, vars")
  if (!("states" in doc)) throw new ItfReadError("$", "missing the list of states, states")
  const states = doc.states
  if (!Array.isArray(states)) throw new ItfReadError("$.states", `expected a list of states, found ${describeJson(states)}`)
  if (states.length === 0) throw new ItfReadError("$.states", "expected at least one state")
  states.forEach((state, i) => {
    const at = `$.states[${i}]`
    if (!isObject(state)) throw new ItfReadError(at, `expected an object, found ${describeJson(state)}`)
    for (const [key, value] of Object.entries(state)) {
      if (key !== "#meta") {
        checkValue(value, fieldPath(at, key))
        continue
      }
      if (!isObject(value)) throw new ItfReadError(fieldPath(at, "#meta"), `expected an object, found ${describeJson(value)}`)
      if ("index" in value && value.index !== i) {
        throw new ItfReadError(`${fieldPath(at, "#meta")}.index`, `expected ${i} (the state's position), found ${describeJson(value.index)}`)
      }
    }
  })
  if ("loop" in doc) {
    const loop = doc.loop
    if (typeof loop !== "number" || !Number.isInteger(loop) || loop < 0 || loop >= states.length) {
      throw new ItfReadError("$.loop", `expected the index of a state (0..${states.length - 1}), found ${describeJson(loop)}`)
    }
  }
  return doc as unknown as ItfDocument
}
