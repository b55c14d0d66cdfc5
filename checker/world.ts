/**
 * Worlds and their successors: a protocol plus a model turned into a transition system.
 *
 * A world is every node (its in-memory state, its disk, its armed timers), the network (a bag or per-pair
 * FIFO queues, as the model says), the ghost variables, the current partition and the fault budgets used.
 * Successor worlds share every node that did not change (structure sharing), and each node caches its
 * canonical text, so fingerprinting a successor re-encodes only the node that moved.
 */
import {
  makeContext,
  nodeIds,
  type Action,
  type AnyProtocol,
  type Effect,
  type InFlight,
  type ModelConfig,
  type NodeContext,
  type NodeId,
  type NodeView,
  type Step,
  type WorldView,
} from "../spec/kernel/protocol.ts"
import type { TraceState } from "../traces/trace.ts"
import { canonical, fingerprintInto, FingerprintCombiner, type Fingerprint } from "./canonical.ts"
import { Symmetry } from "./symmetry.ts"

export interface NodeSlot extends NodeView<unknown, unknown> {
  /** Armed timers, one bit per timer in the protocol's declaration order. */
  readonly timers: number
  /** Cached fingerprint of this slot (the checker owns slots, so caching on them is safe). */
  fpHi?: number
  fpLo?: number
}

export interface Packet extends InFlight<unknown> {
  /** Canonical text of (from, to, msg): the bag's sort key. */
  readonly key: string
  /** Fingerprint of `key`. */
  readonly fpHi: number
  readonly fpLo: number
}

export interface World extends WorldView<unknown, unknown, unknown, unknown> {
  readonly nodes: ReadonlyArray<NodeSlot>
  readonly network: ReadonlyArray<Packet>
  readonly ghost: unknown
  /** Bitmask of the side of the partition that holds n1; 0 when the network is whole. */
  readonly cut: number
  readonly crashes: number
  readonly partitions: number
  readonly losses: number
  readonly duplications: number
}

export const faultFields = ["crashes", "partitions", "losses", "duplications"] as const

/** One successor: the action taken and the world it leads to. */
export interface Successor {
  readonly action: Action<unknown, unknown>
  readonly world: World
}

/** A protocol instantiated with one model and one variant: everything successor generation needs. */
export class Instance {
  readonly ids: ReadonlyArray<NodeId>
  readonly contexts: ReadonlyArray<NodeContext<unknown, unknown>>
  private readonly index = new Map<string, number>()
  private readonly timerBit = new Map<string, number>()
  private readonly ghostFp = new WeakMap<object, Fingerprint>()
  private readonly diskEnc = new WeakMap<object, string>()
  /** Present when the model asks for symmetry reduction. */
  private readonly symmetry: Symmetry | undefined
  /** The invariants the model expects to see broken (ModelConfig.expectedViolations); undefined when none. */
  readonly expectedViolations: ReadonlySet<string> | undefined
  private readonly combiner = new FingerprintCombiner()
  private readonly scratch: Fingerprint = { hi: 0, lo: 0 }

  constructor(
    readonly protocol: AnyProtocol,
    readonly modelName: string,
    readonly model: ModelConfig<unknown>,
    readonly variantName: string,
  ) {
    const variant = protocol.variants[variantName]
    if (variant === undefined) throw new Error(`unknown variant ${variantName}`)
    this.ids = nodeIds(model.servers)
    this.contexts = this.ids.map((id) => makeContext(id, this.ids, model.config, variant.flags))
    this.ids.forEach((id, i) => this.index.set(id, i))
    protocol.timers.forEach((t, i) => this.timerBit.set(t, 1 << i))
    this.symmetry = model.symmetry === true ? new Symmetry(this) : undefined
    const expected = model.expectedViolations ?? []
    const unknown = expected.filter((n) => !protocol.invariants.some((i) => i.name === n))
    if (unknown.length > 0) throw new Error(`expectedViolations names no invariant of ${protocol.name}: ${unknown.join(", ")}`)
    this.expectedViolations = expected.length > 0 ? new Set(expected) : undefined
  }

  nodeIndex(id: NodeId): number {
    const i = this.index.get(id)
    if (i === undefined) throw new Error(`a handler addressed unknown node ${id}`)
    return i
  }

  private bit(timer: string): number {
    const b = this.timerBit.get(timer)
    if (b === undefined) throw new Error(`a handler used undeclared timer ${timer}`)
    return b
  }

  armedTimers(slot: NodeSlot): ReadonlyArray<string> {
    return this.protocol.timers.filter((t) => (slot.timers & this.bit(t)) !== 0)
  }

  initial(): World {
    const empty: World = {
      nodes: this.ids.map((id) => ({ id, up: false, state: undefined, disk: undefined, timers: 0 })),
      network: [],
      ghost: this.protocol.ghost.init,
      cut: 0,
      crashes: 0,
      partitions: 0,
      losses: 0,
      duplications: 0,
    }
    let world = empty
    for (let i = 0; i < this.ids.length; i++) {
      world = this.applyStep(world, i, this.protocol.recover(this.contexts[i]!, undefined))
    }
    return world
  }

  /** Canonical text of one node slot. */
  encodeSlot(slot: NodeSlot): string {
    return slot.up ? `U${slot.timers}${canonical(slot.state)}|${this.encodeDisk(slot.disk)}` : `D${this.encodeDisk(slot.disk)}`
  }

  /** A disk value is shared by every successor until the node persists again, so its text is worth caching. */
  private encodeDisk(disk: unknown): string {
    if (typeof disk !== "object" || disk === null) return canonical(disk)
    let text = this.diskEnc.get(disk)
    if (text === undefined) {
      text = canonical(disk)
      this.diskEnc.set(disk, text)
    }
    return text
  }

  /** Canonical text of a whole world (for tests and digests; fingerprints are built from cached parts). */
  encode(world: World): string {
    let out = ""
    for (const slot of world.nodes) out += this.encodeSlot(slot) + ";"
    for (const p of world.network) out += p.copies === 1 ? p.key + ";" : p.key + "*" + p.copies + ";"
    return `${out}#${canonical(world.ghost)}#${world.cut},${world.crashes},${world.partitions},${world.losses},${world.duplications}`
  }

  /**
   * The world's 64-bit fingerprint, combined from the cached fingerprints of its nodes, packets and ghost, so
   * only the parts a step changed are hashed again. Equal worlds have equal canonical parts, hence equal
   * fingerprints.
   */
  fingerprint(world: World, out: Fingerprint): void {
    if (this.symmetry !== undefined) return this.symmetry.fingerprint(world, out)
    const c = this.combiner
    const f = this.scratch
    c.reset()
    for (const slot of world.nodes) {
      if (slot.fpHi === undefined) {
        fingerprintInto(this.encodeSlot(slot), f)
        slot.fpHi = f.hi
        slot.fpLo = f.lo
      }
      c.add(slot.fpHi)
      c.add(slot.fpLo!)
    }
    c.add(world.network.length)
    for (const p of world.network) {
      c.add(p.fpHi)
      c.add(p.fpLo)
      c.add(p.copies)
    }
    const g = world.ghost
    if (typeof g === "object" && g !== null) {
      let gf = this.ghostFp.get(g)
      if (gf === undefined) {
        gf = { hi: 0, lo: 0 }
        fingerprintInto(canonical(g), gf)
        this.ghostFp.set(g, gf)
      }
      c.add(gf.hi)
      c.add(gf.lo)
    } else {
      fingerprintInto(canonical(g), f)
      c.add(f.hi)
      c.add(f.lo)
    }
    c.add(world.cut)
    c.add(world.crashes)
    c.add(world.partitions)
    c.add(world.losses)
    c.add(world.duplications)
    c.finish(out)
  }

  /** A message in flight as the network holds it: with its canonical sort key and that key's fingerprint. */
  packet(from: NodeId, to: NodeId, msg: unknown, copies: number): Packet {
    const key = canonical([from, to, msg])
    fingerprintInto(key, this.scratch)
    return { from, to, msg, copies, key, fpHi: this.scratch.hi, fpLo: this.scratch.lo }
  }

  /**
   * The world a trace state describes (a decoded trace file): timers by name become the bitmask, messages
   * become packets (a bag sorted by key with equal messages merged, FIFO queues kept in the order given), and
   * the partition's side becomes the cut mask. The caller checks that node ids and timers belong to this
   * instance; an unknown one is a broken assumption here and throws.
   */
  worldOf(state: TraceState): World {
    let network: ReadonlyArray<Packet> = []
    const fifo = this.model.network === "fifo"
    for (const m of state.network) {
      const packet = this.packet(m.from, m.to, m.msg, 1)
      for (let c = 0; c < m.copies; c++) network = addPacket(network, packet, fifo)
    }
    let cut = 0
    for (const id of state.faults.cut) cut |= 1 << this.nodeIndex(id)
    return {
      nodes: state.nodes.map((n) => {
        let timers = 0
        for (const t of n.timers) timers |= this.bit(t)
        return { id: n.id, up: n.up, state: n.state, disk: n.disk, timers }
      }),
      network,
      ghost: state.ghost,
      cut,
      crashes: state.faults.crashes,
      partitions: state.faults.partitions,
      losses: state.faults.losses,
      duplications: state.faults.duplications,
    }
  }

  /** Whether a message between two nodes crosses the current partition. */
  private severed(world: World, from: number, to: number): boolean {
    if (world.cut === 0) return false
    return ((world.cut >> from) & 1) !== ((world.cut >> to) & 1)
  }

  /** Packets that can be delivered now to node `to`. */
  deliverable(world: World, to: number): ReadonlyArray<Packet> {
    const target = this.ids[to]!
    const out: Packet[] = []
    const fifo = this.model.network === "fifo"
    let lastPair = ""
    for (const p of world.network) {
      if (p.to !== target) continue
      if (fifo) {
        if (p.from === lastPair) continue // only the head of each queue
        lastPair = p.from
      }
      if (this.severed(world, this.nodeIndex(p.from), to)) continue
      out.push(p)
    }
    return out
  }

  /** Every successor of `world`, in a fixed order (trace rebuilding relies on the order). */
  successors(world: World, emit: (action: Action<unknown, unknown>, next: World) => void): void {
    const p = this.protocol
    const faults = this.model.faults
    for (let i = 0; i < world.nodes.length; i++) {
      const slot = world.nodes[i]!
      const node = slot.id
      if (!slot.up) continue
      const ctx = this.contexts[i]!
      for (const packet of this.deliverable(world, i)) {
        const removed = removePacket(world.network, packet)
        const step = p.handle(ctx, slot.state, { _tag: "Deliver", from: packet.from, msg: packet.msg })
        emit(
          { _tag: "Deliver", node, from: packet.from, msg: packet.msg },
          this.applyStep({ ...world, network: removed }, i, step),
        )
      }
      for (const timer of p.timers) {
        const bit = this.bit(timer)
        if ((slot.timers & bit) === 0) continue
        // A timer is one-shot: firing disarms it; the handler re-arms it if it wants it again.
        const fired = { ...world, nodes: replaceAt(world.nodes, i, { ...slot, timers: slot.timers & ~bit, fpHi: undefined, fpLo: undefined }) }
        emit({ _tag: "Timeout", node, timer }, this.applyStep(fired, i, p.handle(ctx, slot.state, { _tag: "Timeout", timer })))
      }
      for (const action of p.enabledInternal(ctx, slot.state)) {
        emit(
          { _tag: "Internal", node, action },
          this.applyStep(world, i, p.handle(ctx, slot.state, { _tag: "Internal", action })),
        )
      }
      for (const request of p.enabledClient(ctx, slot.state)) {
        emit(
          { _tag: "Client", node, request },
          this.applyStep(world, i, p.handle(ctx, slot.state, { _tag: "Client", request })),
        )
      }
    }
    // Faults, within their budgets.
    for (let i = 0; i < world.nodes.length; i++) {
      const slot = world.nodes[i]!
      if (slot.up && world.crashes < faults.crashes) emit({ _tag: "Crash", node: slot.id }, this.crash(world, i))
      if (!slot.up) emit({ _tag: "Restart", node: slot.id }, this.applyStep(world, i, p.recover(this.contexts[i]!, slot.disk)))
    }
    // TCP does not lose single messages: under FIFO, loss happens only through crashes and partitions.
    if (world.losses < faults.losses && this.model.network === "bag") {
      for (const packet of world.network) {
        emit(
          { _tag: "Drop", from: packet.from, to: packet.to, msg: packet.msg },
          { ...world, network: removePacket(world.network, packet), losses: world.losses + 1 },
        )
      }
    }
    if (world.duplications < faults.duplications && this.model.network === "bag") {
      for (const packet of world.network) {
        emit(
          { _tag: "Duplicate", from: packet.from, to: packet.to, msg: packet.msg },
          { ...world, network: addPacket(world.network, packet, false), duplications: world.duplications + 1 },
        )
      }
    }
    if (world.cut === 0 && world.partitions < faults.partitions) {
      const n = world.nodes.length
      // Each split once: the side holding n1 is the mask (bit 0 set), the other side is its complement.
      for (let mask = 1; mask < (1 << n) - 1; mask += 2) {
        emit(
          { _tag: "Partition", side: this.ids.filter((_, k) => (mask >> k) & 1), other: this.ids.filter((_, k) => !((mask >> k) & 1)) },
          this.partition(world, mask),
        )
      }
    }
    if (world.cut !== 0) emit({ _tag: "Heal" }, { ...world, cut: 0 })
  }

  private crash(world: World, i: number): World {
    const slot = world.nodes[i]!
    const down: NodeSlot = { id: slot.id, up: false, state: undefined, disk: slot.disk, timers: 0 }
    // Over TCP the connections of a crashed process die with it, and so do the bytes queued on them.
    const network =
      this.model.network === "fifo" ? world.network.filter((p) => p.from !== slot.id && p.to !== slot.id) : world.network
    return { ...world, nodes: replaceAt(world.nodes, i, down), network, crashes: world.crashes + 1 }
  }

  private partition(world: World, mask: number): World {
    const cutWorld = { ...world, cut: mask, partitions: world.partitions + 1 }
    if (this.model.network !== "fifo") return cutWorld
    // A partition breaks the TCP connections it cuts; what they carried is gone.
    const network = world.network.filter((p) => !this.severed(cutWorld, this.nodeIndex(p.from), this.nodeIndex(p.to)))
    return { ...cutWorld, network }
  }

  /** Applies a handler's step to node `i`: persist first, then sends, timers and replies. */
  applyStep(world: World, i: number, step: Step<unknown, unknown, unknown, unknown>): World {
    const slot = world.nodes[i]!
    let timers = slot.timers
    let network = world.network
    const fifo = this.model.network === "fifo"
    const effects: ReadonlyArray<Effect<unknown, unknown>> = step.effects
    for (let k = 0; k < effects.length; k++) {
      const e = effects[k]!
      switch (e._tag) {
        case "Send": {
          // Across a partition a bag network holds the message (an unbounded delay, undeliverable until the
          // heal); a FIFO connection is broken, so the message is lost.
          if (fifo && this.severed(world, i, this.nodeIndex(e.to))) break
          network = addPacket(network, this.packet(slot.id, e.to, e.msg, 1), fifo)
          break
        }
        case "SetTimer":
          timers |= this.bit(e.timer)
          break
        case "CancelTimer":
          timers &= ~this.bit(e.timer)
          break
        case "Reply":
          break // replies matter to clients of running nodes; the model has no client state
      }
    }
    const next: NodeSlot = {
      id: slot.id,
      up: true,
      state: step.state,
      disk: step.persist === undefined ? slot.disk : step.persist,
      timers,
    }
    return { ...world, nodes: replaceAt(world.nodes, i, next), network }
  }
}

const replaceAt = <T>(items: ReadonlyArray<T>, i: number, item: T): ReadonlyArray<T> => {
  const copy = items.slice()
  copy[i] = item
  return copy
}

/** Adds one copy of a packet. Bag: sorted by key, equal packets merged into a count. FIFO: appended to its queue. */
const addPacket = (network: ReadonlyArray<Packet>, packet: Packet, fifo: boolean): ReadonlyArray<Packet> => {
  const out = network.slice()
  if (fifo) {
    // Queues are kept grouped by (from, to) in id order; a new packet goes after the last of its pair.
    let at = out.length
    for (let k = 0; k < out.length; k++) {
      const q = out[k]!
      const cmp = comparePair(q, packet)
      if (cmp > 0) {
        at = k
        break
      }
    }
    out.splice(at, 0, { ...packet, copies: 1 })
    return out
  }
  let lo = 0
  let hi = out.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (out[mid]!.key < packet.key) lo = mid + 1
    else hi = mid
  }
  const existing = out[lo]
  if (existing !== undefined && existing.key === packet.key) out[lo] = { ...existing, copies: existing.copies + 1 }
  else out.splice(lo, 0, { ...packet, copies: 1 })
  return out
}

const comparePair = (a: InFlight<unknown>, b: InFlight<unknown>): number =>
  a.from < b.from ? -1 : a.from > b.from ? 1 : a.to < b.to ? -1 : a.to > b.to ? 1 : 0

/** Removes one copy of `packet` (the very object found in `network`). */
const removePacket = (network: ReadonlyArray<Packet>, packet: Packet): ReadonlyArray<Packet> => {
  const at = network.indexOf(packet)
  if (at < 0) throw new Error("removing a packet that is not in flight")
  const out = network.slice()
  if (packet.copies > 1) out[at] = { ...packet, copies: packet.copies - 1 }
  else out.splice(at, 1)
  return out
}

/** A short human label of an action's kind, used for coverage. */
export const actionKind = (protocol: AnyProtocol, action: Action<unknown, unknown>): string => {
  switch (action._tag) {
    case "Deliver":
      return `deliver ${protocol.messageKind(action.msg)}`
    case "Timeout":
      return `timeout ${action.timer}`
    case "Internal":
      return `internal ${action.action.name}`
    case "Client":
      return "client request"
    case "Crash":
      return "crash"
    case "Restart":
      return "restart"
    case "Partition":
      return "partition"
    case "Heal":
      return "heal"
    case "Drop":
      return "drop message"
    case "Duplicate":
      return "duplicate message"
  }
}

/** Every action kind the instance could fire, so coverage can list those that never did. */
export const possibleKinds = (instance: Instance): ReadonlyArray<string> => {
  const p = instance.protocol
  const f = instance.model.faults
  const flags = p.variants[instance.variantName]!.flags
  const kinds = [
    ...(p.variantMessageKinds?.(flags) ?? p.messageKinds).map((k) => `deliver ${k}`),
    ...p.timers.map((t) => `timeout ${t}`),
    ...p.internalActions(flags).map((a) => `internal ${a}`),
  ]
  kinds.push("client request")
  if (f.crashes > 0) kinds.push("crash", "restart")
  if (f.partitions > 0) kinds.push("partition", "heal")
  if (f.losses > 0 && instance.model.network === "bag") kinds.push("drop message")
  if (f.duplications > 0 && instance.model.network === "bag") kinds.push("duplicate message")
  return kinds
}

/** One line describing an action, as traces and the terminal show it. */
export const describeAction = (protocol: AnyProtocol, action: Action<unknown, unknown>): string => {
  switch (action._tag) {
    case "Deliver":
      return `deliver ${protocol.messageKind(action.msg)} ${action.from}→${action.node}`
    case "Timeout":
      return `timeout ${action.node} ${action.timer}`
    case "Internal":
      return `${action.action.name} ${action.node}${action.action.arg === undefined ? "" : ` ${action.action.arg}`}`
    case "Client":
      return `client ${action.node} ${canonical(action.request)}`
    case "Crash":
      return `crash ${action.node}`
    case "Restart":
      return `restart ${action.node}`
    case "Partition":
      return `partition {${action.side.join(",")}} | {${action.other.join(",")}}`
    case "Heal":
      return "heal"
    case "Drop":
      return `drop ${protocol.messageKind(action.msg)} ${action.from}→${action.to}`
    case "Duplicate":
      return `duplicate ${protocol.messageKind(action.msg)} ${action.from}→${action.to}`
  }
}
