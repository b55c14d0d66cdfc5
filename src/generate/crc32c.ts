/**
 * A pure-JavaScript CRC-32C (Castagnoli) with the signature of `@node-rs/crc32`'s `crc32c`, so that a bundled
 * node (`dist/node.mjs` of a generated package) needs no native addon at run time. The generated package's
 * esbuild step aliases `@node-rs/crc32` to this file. It computes exactly the values the addon does
 * (test/generate.test.ts compares them), so a node started from the bundle reads logs written by the
 * workbench's own `quorum node` and the other way round. Table-driven, one byte per step: slower than the
 * addon's SSE4.2 path, which matters only for very large appends.
 */
const makeTable = (poly: number): Uint32Array => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1
    table[n] = c >>> 0
  }
  return table
}

const CASTAGNOLI = makeTable(0x82f63b78)
const IEEE = makeTable(0xedb88320)

const run = (table: Uint32Array, input: string | Uint8Array, initialState: number): number => {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input
  let c = (initialState ^ 0xffffffff) >>> 0
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** CRC-32C of `input`, continuing from `initialState` (the CRC of the bytes before it; 0 to start). */
export const crc32c = (input: string | Uint8Array, initialState = 0): number => run(CASTAGNOLI, input, initialState)

/** CRC-32 (IEEE 802.3) of `input`, continuing from `initialState`. */
export const crc32 = (input: string | Uint8Array, initialState = 0): number => run(IEEE, input, initialState)
