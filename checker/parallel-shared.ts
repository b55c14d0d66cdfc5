/**
 * Memory shared by the threads of a parallel search: the seen-set as one lock-free open-addressing table of
 * 64-bit fingerprints (inserted with Atomics.compareExchange), and the per-state parent links, indexed by
 * state ids handed out by one atomic counter.
 */

export interface SharedBuffers {
  readonly table: SharedArrayBuffer
  readonly parents: SharedArrayBuffer
  readonly ordinals: SharedArrayBuffer
  /** [next state id, stop requested, table full] */
  readonly control: SharedArrayBuffer
}

export const CONTROL_NEXT_ID = 0
export const CONTROL_STOP = 1
export const CONTROL_FULL = 2

export const allocateShared = (capacity: number): SharedBuffers => ({
  table: new SharedArrayBuffer(capacity * 8),
  // The table is never filled beyond half, so half its capacity bounds the number of states.
  parents: new SharedArrayBuffer((capacity / 2) * 4),
  ordinals: new SharedArrayBuffer((capacity / 2) * 4),
  control: new SharedArrayBuffer(3 * 4),
})

export class SharedSeen {
  private readonly slots: BigUint64Array
  private readonly mask: number
  readonly parents: Int32Array
  readonly ordinals: Int32Array
  readonly control: Int32Array
  readonly maxStates: number

  constructor(buffers: SharedBuffers) {
    this.slots = new BigUint64Array(buffers.table)
    this.mask = this.slots.length - 1
    this.parents = new Int32Array(buffers.parents)
    this.ordinals = new Int32Array(buffers.ordinals)
    this.control = new Int32Array(buffers.control)
    this.maxStates = this.parents.length
  }

  /**
   * Records a new state: returns its id, -1 if it was seen before, or -2 if the table is full (the run then
   * stops as incomplete rather than degrade).
   */
  visit(hi: number, lo: number, parent: number, ordinal: number): number {
    let key = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)
    if (key === 0n) key = 1n // 0 marks an empty slot
    let i = ((lo >>> 0) ^ Math.imul(hi >>> 0, 0x9e3779b1)) & this.mask
    for (let probes = 0; probes <= this.mask; probes++) {
      const old = Atomics.compareExchange(this.slots, i, 0n, key)
      if (old === 0n) {
        const id = Atomics.add(this.control, CONTROL_NEXT_ID, 1)
        if (id >= this.maxStates) {
          Atomics.store(this.control, CONTROL_FULL, 1)
          return -2
        }
        Atomics.store(this.parents, id, parent)
        Atomics.store(this.ordinals, id, ordinal)
        return id
      }
      if (old === key) return -1
      i = (i + 1) & this.mask
    }
    Atomics.store(this.control, CONTROL_FULL, 1)
    return -2
  }

  get size(): number {
    return Math.min(Atomics.load(this.control, CONTROL_NEXT_ID), this.maxStates)
  }
}
