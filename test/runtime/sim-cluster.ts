/**
 * A deterministic Raft cluster for tests: RaftNodes on a MemoryNetwork, MemoryStores whose fsync takes
 * `fsyncMs` of simulated time, and one SimClock that the test drives by hand.
 */
import { nodeIds, type NodeId } from "../../spec/kernel/protocol.ts"
import type { Durable, Snapshot } from "../../spec/raft/schema.ts"
import { SimClock } from "../../src/runtime/clock.ts"
import { MemoryEvents } from "../../src/runtime/events.ts"
import { nodeSeed } from "../../src/runtime/prng.ts"
import { RaftNode } from "../../src/runtime/raft/raft-node.ts"
import type { RaftTimings } from "../../src/runtime/raft/config.ts"
import { MemoryStore } from "../../src/runtime/storage.ts"
import { MemoryNetwork } from "../../src/runtime/transport.ts"
import { Message } from "../../spec/raft/schema.ts"

export interface SimOptions {
  readonly size?: number
  readonly seed?: number
  readonly fsyncMs?: number
  readonly latencyMs?: number
  readonly timings?: RaftTimings
  /** The variant the nodes run (default: the runtime's). */
  readonly variant?: string
  readonly snapshotEvery?: number
  /** RaftNodeOptions.largeLogSlots: a small one lets a test reach "long log" copies with few entries. */
  readonly largeLogSlots?: number
  /** Rotate each node's event log every this many lines (as a file is past its size limit). */
  readonly eventsMaxLines?: number
  /** Milliseconds between state digests in the event logs (default 0: every step). */
  readonly digestEveryMs?: number
  /** RaftNodeOptions.prepareSnapshot of each node (default: none, the compact step's append writes it). */
  readonly prepareSnapshot?: (id: NodeId, snapshot: Snapshot) => Promise<void>
}

export class SimCluster {
  readonly clock = new SimClock()
  readonly net: MemoryNetwork
  readonly ids: ReadonlyArray<NodeId>
  readonly nodes = new Map<NodeId, RaftNode>()
  readonly stores = new Map<NodeId, MemoryStore<Durable>>()
  readonly events = new Map<NodeId, MemoryEvents>()
  /** Stores whose appends are held until released (persist-before-send tests). */
  readonly gates = new Map<NodeId, Array<() => void>>()
  private restarts = 0

  constructor(readonly options: SimOptions = {}) {
    this.net = new MemoryNetwork(this.clock, options.latencyMs ?? 1)
    this.ids = nodeIds(options.size ?? 3)
  }

  private makeStore(id: NodeId, recovered: Durable | undefined): MemoryStore<Durable> {
    const fsyncMs = this.options.fsyncMs ?? 1
    return new MemoryStore<Durable>(recovered, async () => {
      const gate = this.gates.get(id)
      if (gate !== undefined) await new Promise<void>((resolve) => gate.push(resolve))
      await new Promise<void>((resolve) => this.clock.setTimeout(resolve, fsyncMs))
    })
  }

  async start(id: NodeId, recovered?: Durable): Promise<RaftNode> {
    const store = this.makeStore(id, recovered)
    const events = new MemoryEvents(this.options.eventsMaxLines, this.options.digestEveryMs)
    const node = new RaftNode({
      self: id,
      nodes: this.ids,
      store,
      transport: this.net.endpoint(id, Message, `http://${id}`),
      clock: this.clock,
      seed: (this.options.seed ?? 1) + this.ids.indexOf(id) * 1000 + this.restarts++ * 7,
      events,
      ...(this.options.timings === undefined ? {} : { timings: this.options.timings }),
      ...(this.options.variant === undefined ? {} : { variant: this.options.variant }),
      ...(this.options.snapshotEvery === undefined ? {} : { snapshotEvery: this.options.snapshotEvery }),
      ...(this.options.largeLogSlots === undefined ? {} : { largeLogSlots: this.options.largeLogSlots }),
      ...(this.options.prepareSnapshot === undefined ? {} : { prepareSnapshot: (s: Snapshot) => this.options.prepareSnapshot!(id, s) }),
    })
    this.nodes.set(id, node)
    this.stores.set(id, store)
    this.events.set(id, events)
    await node.start()
    return node
  }

  async startAll(): Promise<void> {
    for (const id of this.ids) await this.start(id)
  }

  node(id: NodeId): RaftNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no node ${id}`)
    return n
  }

  /** Crashes `id` (keeping exactly what its store made durable) and returns that durable value. */
  crash(id: NodeId): Durable | undefined {
    this.node(id).crash()
    this.nodes.delete(id)
    return this.stores.get(id)!.durable
  }

  async restart(id: NodeId, durable: Durable | undefined): Promise<RaftNode> {
    return this.start(id, durable)
  }

  leaders(): RaftNode[] {
    return [...this.nodes.values()].filter((n) => n.isLeader)
  }

  /** Advances time in steps of `stepMs` until `cond` holds; fails after `maxMs` of simulated time. */
  async until(cond: () => boolean, what: string, maxMs = 30_000, stepMs = 5): Promise<void> {
    for (let t = 0; t <= maxMs; t += stepMs) {
      if (cond()) return
      await this.clock.advance(stepMs)
    }
    throw new Error(`simulated ${maxMs} ms passed without: ${what}`)
  }

  /** Runs `promise` while advancing simulated time, until it settles. */
  async drive<T>(promise: Promise<T>, maxMs = 30_000, stepMs = 1): Promise<T> {
    let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined
    promise.then(
      (value) => (outcome = { ok: true, value }),
      (error: unknown) => (outcome = { ok: false, error }),
    )
    for (let t = 0; t <= maxMs && outcome === undefined; t += stepMs) await this.clock.advance(stepMs)
    const o = outcome as typeof outcome
    if (o === undefined) throw new Error(`promise did not settle within ${maxMs} simulated ms`)
    if (!o.ok) throw o.error
    return o.value
  }

  /** Seed for a derived cluster (kept for symmetry with the CLI's per-node seeds). */
  static seedOf(seed: number, i: number): number {
    return nodeSeed(seed, i)
  }
}
