/**
 * Symmetry reduction over interchangeable servers. A world's fingerprint becomes the smallest fingerprint of
 * all its renamings (every permutation of the server ids), so every world of one orbit has the same
 * fingerprint and the search explores one representative per orbit. The worlds kept and the traces rebuilt
 * are real, unrenamed worlds; only the identity used for "seen before" changes.
 */
import { canonical, FingerprintCombiner, fingerprintInto, type Fingerprint } from "./canonical.ts"
import type { Instance, NodeSlot, Packet, World } from "./world.ts"

/** Every permutation of 0..n-1. */
export const permutations = (n: number): ReadonlyArray<ReadonlyArray<number>> => {
  if (n === 0) return [[]]
  const out: number[][] = []
  for (const rest of permutations(n - 1)) {
    for (let at = 0; at <= rest.length; at++) out.push([...rest.slice(0, at), n - 1, ...rest.slice(at)])
  }
  return out
}

/**
 * Renames server ids inside plain data: every string equal to an id and every object key equal to an id.
 * Anything else is copied as is (unchanged sub-values are returned by identity).
 */
export const renameIds = (value: unknown, rename: ReadonlyMap<string, string>): unknown => {
  if (typeof value === "string") return rename.get(value) ?? value
  if (typeof value !== "object" || value === null) return value
  if (Array.isArray(value)) {
    let out: unknown[] | undefined
    for (let i = 0; i < value.length; i++) {
      const item = renameIds(value[i], rename)
      if (item !== value[i]) (out ??= value.slice())[i] = item
    }
    return out ?? value
  }
  let changed = false
  const out: Record<string, unknown> = {}
  for (const [key, member] of Object.entries(value)) {
    const newKey = rename.get(key) ?? key
    const newMember = renameIds(member, rename)
    if (newKey !== key || newMember !== member) changed = true
    out[newKey] = newMember
  }
  return changed ? out : value
}

interface Renaming {
  /** perm[i]: the index server i takes. */
  readonly perm: ReadonlyArray<number>
  readonly names: ReadonlyMap<string, string>
}

export class Symmetry {
  private readonly renamings: ReadonlyArray<Renaming>
  private readonly combiner = new FingerprintCombiner()
  private readonly candidate: Fingerprint = { hi: 0, lo: 0 }

  constructor(private readonly instance: Instance) {
    const ids = instance.ids
    this.renamings = permutations(ids.length).map((perm) => ({
      perm,
      names: new Map(ids.map((id, i) => [id as string, ids[perm[i]!]! as string])),
    }))
  }

  /** The orbit's fingerprint: the least fingerprint over every renaming of `world`. */
  fingerprint(world: World, out: Fingerprint): void {
    for (let k = 0; k < this.renamings.length; k++) {
      this.renamedFingerprint(world, k, this.candidate)
      const c = this.candidate
      if (k === 0 || c.hi < out.hi || (c.hi === out.hi && c.lo < out.lo)) {
        out.hi = c.hi
        out.lo = c.lo
      }
    }
  }

  // Slots, packets and ghosts are shared by many worlds, so their renamed fingerprints are cached per
  // renaming, by identity (checked state is immutable).
  private readonly slotCache = new WeakMap<NodeSlot, Fingerprint[]>()
  private readonly packetCache = new WeakMap<Packet, RenamedPacket[]>()
  private readonly ghostCache = new WeakMap<object, Fingerprint[]>()

  private slotFingerprint(slot: NodeSlot, k: number): Fingerprint {
    let cached = this.slotCache.get(slot)
    if (cached === undefined) {
      cached = []
      this.slotCache.set(slot, cached)
    }
    let fp = cached[k]
    if (fp === undefined) {
      const r = this.renamings[k]!
      const normalize = this.instance.protocol.normalizeRenamed
      const disk = canonical(renameIds(slot.disk, r.names))
      let text: string
      if (slot.up) {
        let state = renameIds(slot.state, r.names)
        if (normalize?.state !== undefined) state = normalize.state(state)
        text = `U${slot.timers}${canonical(state)}|${disk}`
      } else text = `D${disk}`
      fp = { hi: 0, lo: 0 }
      fingerprintInto(text, fp)
      cached[k] = fp
    }
    return fp
  }

  private renamedPacket(p: Packet, k: number): RenamedPacket {
    let cached = this.packetCache.get(p)
    if (cached === undefined) {
      cached = []
      this.packetCache.set(p, cached)
    }
    let rp = cached[k]
    if (rp === undefined) {
      const names = this.renamings[k]!.names
      const from = names.get(p.from) ?? p.from
      const to = names.get(p.to) ?? p.to
      const key = canonical([from, to, renameIds(p.msg, names)])
      const fp = { hi: 0, lo: 0 }
      fingerprintInto(key, fp)
      rp = { key, pair: `${from}\u0000${to}`, hi: fp.hi, lo: fp.lo }
      cached[k] = rp
    }
    return rp
  }

  private ghostFingerprint(ghost: unknown, k: number): Fingerprint {
    const compute = (): Fingerprint => {
      const normalize = this.instance.protocol.normalizeRenamed
      let renamed = renameIds(ghost, this.renamings[k]!.names)
      if (normalize?.ghost !== undefined) renamed = normalize.ghost(renamed)
      const fp = { hi: 0, lo: 0 }
      fingerprintInto(canonical(renamed), fp)
      return fp
    }
    if (typeof ghost !== "object" || ghost === null) return compute()
    let cached = this.ghostCache.get(ghost)
    if (cached === undefined) {
      cached = []
      this.ghostCache.set(ghost, cached)
    }
    return (cached[k] ??= compute())
  }

  private renamedFingerprint(world: World, k: number, out: Fingerprint): void {
    const r = this.renamings[k]!
    const n = world.nodes.length
    const slots: Fingerprint[] = new Array(n)
    for (let i = 0; i < n; i++) slots[r.perm[i]!] = this.slotFingerprint(world.nodes[i]!, k)
    const fifo = this.instance.model.network === "fifo"
    const packets = world.network.map((p, order) => ({ renamed: this.renamedPacket(p, k), order, copies: p.copies }))
    // Bag: a multiset, ordered by key. FIFO: queues ordered by pair, each keeping its own order.
    packets.sort(
      fifo
        ? (a, b) => (a.renamed.pair < b.renamed.pair ? -1 : a.renamed.pair > b.renamed.pair ? 1 : a.order - b.order)
        : (a, b) => (a.renamed.key < b.renamed.key ? -1 : a.renamed.key > b.renamed.key ? 1 : 0),
    )
    let cut = 0
    if (world.cut !== 0) {
      for (let i = 0; i < n; i++) if ((world.cut >> i) & 1) cut |= 1 << r.perm[i]!
      // A cut is written as the side that holds the first server.
      if ((cut & 1) === 0) cut = ((1 << n) - 1) ^ cut
    }
    const c = this.combiner
    c.reset()
    for (const f of slots) {
      c.add(f.hi)
      c.add(f.lo)
    }
    c.add(packets.length)
    for (const p of packets) {
      c.add(p.renamed.hi)
      c.add(p.renamed.lo)
      c.add(p.copies)
    }
    const g = this.ghostFingerprint(world.ghost, k)
    c.add(g.hi)
    c.add(g.lo)
    c.add(cut)
    c.add(world.crashes)
    c.add(world.partitions)
    c.add(world.losses)
    c.add(world.duplications)
    c.finish(out)
  }
}

interface RenamedPacket {
  readonly key: string
  readonly pair: string
  readonly hi: number
  readonly lo: number
}
