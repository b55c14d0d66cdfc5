/**
 * The set of visited states as 64-bit fingerprints in one flat Uint32Array (open addressing, linear probing),
 * rather than a JS Set of strings: 8 bytes a state plus slack, no per-entry objects for the GC to trace.
 * The pair (0, 0) marks an empty slot, so a fingerprint equal to it is stored as (0, 1).
 */
export class FingerprintSet {
  private slots: Uint32Array
  private mask: number
  private count = 0

  constructor(initialCapacity = 1 << 16) {
    let capacity = 1
    while (capacity < initialCapacity) capacity <<= 1
    this.slots = new Uint32Array(capacity * 2)
    this.mask = capacity - 1
  }

  get size(): number {
    return this.count
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.slots.byteLength
  }

  /** Adds the fingerprint; true when it was not present before. */
  add(hi: number, lo: number): boolean {
    hi >>>= 0
    lo >>>= 0
    if (hi === 0 && lo === 0) lo = 1
    if ((this.count + 1) * 2 > this.mask + 1) this.grow()
    return this.insert(this.slots, this.mask, hi, lo)
  }

  has(hi: number, lo: number): boolean {
    hi >>>= 0
    lo >>>= 0
    if (hi === 0 && lo === 0) lo = 1
    const slots = this.slots
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & this.mask
    for (;;) {
      const h = slots[2 * i]!
      const l = slots[2 * i + 1]!
      if (h === 0 && l === 0) return false
      if (h === hi && l === lo) return true
      i = (i + 1) & this.mask
    }
  }

  private insert(slots: Uint32Array, mask: number, hi: number, lo: number): boolean {
    let i = (lo ^ Math.imul(hi, 0x9e3779b1)) & mask
    for (;;) {
      const h = slots[2 * i]!
      const l = slots[2 * i + 1]!
      if (h === 0 && l === 0) {
        slots[2 * i] = hi
        slots[2 * i + 1] = lo
        this.count++
        return true
      }
      if (h === hi && l === lo) return false
      i = (i + 1) & mask
    }
  }

  private grow(): void {
    const old = this.slots
    const capacity = (this.mask + 1) * 2
    const slots = new Uint32Array(capacity * 2)
    const mask = capacity - 1
    this.count = 0
    for (let i = 0; i < old.length; i += 2) {
      const h = old[i]!
      const l = old[i + 1]!
      if (h !== 0 || l !== 0) this.insert(slots, mask, h, l)
    }
    this.slots = slots
    this.mask = mask
  }
}

/** A growable Int32 column, for per-state parent links without per-state objects. */
export class IntColumn {
  private data = new Int32Array(1 << 16)
  private length = 0

  push(value: number): void {
    if (this.length === this.data.length) {
      const next = new Int32Array(this.data.length * 2)
      next.set(this.data)
      this.data = next
    }
    this.data[this.length++] = value
  }

  get(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) throw new RangeError(`IntColumn index ${index} out of 0..${this.length - 1}`)
    return this.data[index]!
  }

  get size(): number {
    return this.length
  }

  get bytes(): number {
    return this.data.byteLength
  }
}
