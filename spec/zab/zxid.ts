/**
 * ZooKeeper transaction ids. A zxid is one number, as in ZooKeeper: `epoch · 2^32 + counter`, the epoch in the
 * high 32 bits and the counter within the epoch in the low 32 (ZxidUtils.makeZxid). `(e, 0)` is the first zxid
 * of epoch e and names no transaction: a leader of epoch e starts there.
 *
 * JavaScript numbers are exact up to 2^53, so epochs must stay below 2^21 (2 097 152) — far beyond any bounded
 * model. Keeping one number (rather than a pair) means zxids compare with `<` and read exactly as ZooKeeper's own
 * unit tests write them (`peerZxid = 4` is epoch 0, counter 4).
 */
export type Zxid = number

const TWO_32 = 4294967296

export const MAX_EPOCH = 2 ** 21 - 1

export const makeZxid = (epoch: number, counter: number): Zxid => {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > MAX_EPOCH) throw new RangeError(`epoch ${epoch} out of range`)
  if (!Number.isInteger(counter) || counter < 0 || counter >= TWO_32) throw new RangeError(`counter ${counter} out of range`)
  return epoch * TWO_32 + counter
}

export const epochOf = (zxid: Zxid): number => Math.floor(zxid / TWO_32)
export const counterOf = (zxid: Zxid): number => zxid % TWO_32

/** Whether `zxid` is `(e, 0)`: the start of an epoch, which names no transaction. */
export const isEpochStart = (zxid: Zxid): boolean => counterOf(zxid) === 0

/** "(2,1)": how zxids read in messages, property reasons and traces. */
export const showZxid = (zxid: Zxid): string => `(${epochOf(zxid)},${counterOf(zxid)})`

export const isZxid = (n: number): boolean => Number.isInteger(n) && n >= 0 && epochOf(n) <= MAX_EPOCH

/** The fields of ZAB's and FLE's states and messages that hold zxids. */
const zxidFields: ReadonlySet<string> = new Set([
  "zxid",
  "lastZxid",
  "peerLastZxid",
  "lastProcessed",
  "lastCommitted",
  "lastProposed",
  "committedEarly",
])

/** Protocol.display for `zab` and `fle`: a zxid reads as (epoch,counter) in printed traces. */
export const displayZxids = (field: string, value: number): string | undefined =>
  zxidFields.has(field) && isZxid(value) ? showZxid(value) : undefined
