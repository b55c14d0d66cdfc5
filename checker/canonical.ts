/**
 * Canonical encoding and 64-bit fingerprints of checked state.
 *
 * Checked state is plain readonly data (DESIGN convention 3), so one canonical text is well defined: object
 * keys sorted, `undefined` members left out, numbers in shortest form with -0 folded into 0. Equal states give
 * equal text whatever order their keys were built in; anything that is not plain data is a broken assumption
 * in a spec and throws.
 */

export class NotPlainDataError extends Error {
  constructor(readonly path: string, readonly found: string) {
    super(`checked state must be plain data, but ${path} is ${found}`)
  }
}

const quotedKeys = new Map<string, string>()

const quoteKey = (key: string): string => {
  let q = quotedKeys.get(key)
  if (q === undefined) {
    q = JSON.stringify(key) + ":"
    quotedKeys.set(key, q)
  }
  return q
}

/** Own keys in sorted order. States built by spreading keep their key order, so usually no sort is needed. */
const sortedKeys = (obj: object): ReadonlyArray<string> => {
  const keys = Object.keys(obj)
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) return keys.sort()
  }
  return keys
}

/**
 * The canonical text of plain data. The fast path does not track where it is; when it meets something that
 * is not plain data, a second, path-tracking walk finds the offending location for the error.
 */
export const canonical = (value: unknown): string => {
  try {
    return canonicalText(value)
  } catch (error) {
    if (error instanceof NotPlainDataError) locateNotPlain(value, "$")
    throw error
  }
}

/** Throws a NotPlainDataError naming the path of the first value that is not plain data. */
const locateNotPlain = (value: unknown, path: string): void => {
  if (typeof value === "object" && value !== null) {
    if (Array.isArray(value)) {
      value.forEach((item, i) => locateNotPlain(item, `${path}[${i}]`))
      return
    }
    const proto = Object.getPrototypeOf(value)
    if (proto === Object.prototype || proto === null) {
      for (const key of Object.keys(value)) locateNotPlain((value as Record<string, unknown>)[key], `${path}.${key}`)
      return
    }
  }
  canonicalText(value, path)
}

const canonicalText = (value: unknown, path = "$"): string => {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value)
    case "number":
      if (!Number.isFinite(value)) throw new NotPlainDataError(path, String(value))
      return Object.is(value, -0) ? "0" : String(value)
    case "boolean":
      return value ? "t" : "f"
    case "undefined":
      return "u"
    case "object": {
      if (value === null) return "n"
      if (Array.isArray(value)) {
        let out = "["
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out += ","
          out += canonicalText(value[i], path)
        }
        return out + "]"
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) {
        throw new NotPlainDataError(path, `an instance of ${proto?.constructor?.name ?? "a class"}`)
      }
      let out = "{"
      let first = true
      const keys = sortedKeys(value)
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i]!
        const member = (value as Record<string, unknown>)[key]
        if (member === undefined) continue
        if (!first) out += ","
        first = false
        out += quoteKey(key) + canonicalText(member, path)
      }
      return out + "}"
    }
    default:
      throw new NotPlainDataError(path, `a ${typeof value}`)
  }
}

/**
 * A 64-bit fingerprint as two 32-bit halves: two MurmurHash3-style lanes with different seeds over the
 * UTF-16 code units. Written here rather than taken from a library because it runs once per generated state
 * in the checker's inner loop, must be synchronous and must not allocate.
 */
export interface Fingerprint {
  hi: number
  lo: number
}

const C1 = 0xcc9e2d51
const C2 = 0x1b873593

const fmix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** Writes the fingerprint of `text` into `out` (reused by the caller to avoid allocation). */
export const fingerprintInto = (text: string, out: Fingerprint): void => {
  let h1 = 0x9747b28c
  let h2 = 0x3c6ef372
  const n = text.length
  let i = 0
  for (; i + 1 < n; i += 2) {
    const k = (text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16)) >>> 0
    let k1 = Math.imul(k, C1)
    k1 = (k1 << 15) | (k1 >>> 17)
    k1 = Math.imul(k1, C2)
    h1 ^= k1
    h1 = (h1 << 13) | (h1 >>> 19)
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0
    let k2 = Math.imul(k ^ 0x5bd1e995, C2)
    k2 = (k2 << 17) | (k2 >>> 15)
    k2 = Math.imul(k2, C1)
    h2 ^= k2
    h2 = (h2 << 11) | (h2 >>> 21)
    h2 = (Math.imul(h2, 9) + 0x52dce729) | 0
  }
  if (i < n) {
    const k = text.charCodeAt(i)
    let k1 = Math.imul(k, C1)
    k1 = (k1 << 15) | (k1 >>> 17)
    h1 ^= Math.imul(k1, C2)
    let k2 = Math.imul(k ^ 0x5bd1e995, C2)
    k2 = (k2 << 17) | (k2 >>> 15)
    h2 ^= Math.imul(k2, C1)
  }
  h1 ^= n
  h2 ^= n
  h1 = fmix(h1)
  h2 = fmix(h2)
  // Cross-mix so that each half depends on both lanes.
  out.hi = fmix((h1 + Math.imul(h2, 0x27d4eb2d)) | 0)
  out.lo = fmix((h2 ^ Math.imul(h1, 0x165667b1)) | 0)
}

export const fingerprint = (text: string): Fingerprint => {
  const out = { hi: 0, lo: 0 }
  fingerprintInto(text, out)
  return out
}

/** The fingerprint as 16 hex digits, for display and digests. */
export const fingerprintHex = (text: string): string => {
  const f = fingerprint(text)
  return f.hi.toString(16).padStart(8, "0") + f.lo.toString(16).padStart(8, "0")
}

/**
 * Combines already computed 32-bit words (component fingerprints, counters) into one 64-bit fingerprint, so
 * a world's fingerprint costs one hash of the component that changed plus a few multiplications.
 */
export class FingerprintCombiner {
  private h1 = 0
  private h2 = 0
  private n = 0

  reset(): void {
    this.h1 = 0x9747b28c
    this.h2 = 0x3c6ef372
    this.n = 0
  }

  add(word: number): void {
    let k1 = Math.imul(word, C1)
    k1 = (k1 << 15) | (k1 >>> 17)
    k1 = Math.imul(k1, C2)
    let h1 = this.h1 ^ k1
    h1 = (h1 << 13) | (h1 >>> 19)
    this.h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0
    let k2 = Math.imul(word ^ 0x5bd1e995, C2)
    k2 = (k2 << 17) | (k2 >>> 15)
    k2 = Math.imul(k2, C1)
    let h2 = this.h2 ^ k2
    h2 = (h2 << 11) | (h2 >>> 21)
    this.h2 = (Math.imul(h2, 9) + 0x52dce729) | 0
    this.n++
  }

  finish(out: Fingerprint): void {
    const h1 = fmix(this.h1 ^ this.n)
    const h2 = fmix(this.h2 ^ this.n)
    out.hi = fmix((h1 + Math.imul(h2, 0x27d4eb2d)) | 0)
    out.lo = fmix((h2 ^ Math.imul(h1, 0x165667b1)) | 0)
  }
}
