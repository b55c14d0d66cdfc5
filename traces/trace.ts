/**
 * A trace in the form trace files and trace printing share: each state with the action that led to it, every
 * node with its timers named, the partition as the list of nodes on the first node's side. The checker's
 * compact worlds (timer bitmasks, packets with hashes) are turned into it by `traceStates`.
 */
import type { InFlight, NodeId } from "../spec/kernel/protocol.ts"

/** One node of one state of a trace, in the checker-independent form traces are written from. */
export interface TraceNode {
  readonly id: NodeId
  readonly up: boolean
  /** Undefined while the node is down. */
  readonly state: unknown
  /** Undefined until the node first persists. */
  readonly disk: unknown
  /** Names of the armed timers, in the protocol's declaration order. */
  readonly timers: ReadonlyArray<string>
}

export interface TraceFaults {
  readonly crashes: number
  readonly partitions: number
  readonly losses: number
  readonly duplications: number
  /** The nodes on n1's side of the current partition; empty while the network is whole. */
  readonly cut: ReadonlyArray<NodeId>
}

/** One state of a trace and the action that led to it. */
export interface TraceState {
  /** The action's one-line description; "init" for the initial state. */
  readonly action: string
  /** The action's kind in lowerCamel case (`deliver`, `timeout`, `crash`…); "init" for the initial state. */
  readonly actionTaken: string
  readonly nodes: ReadonlyArray<TraceNode>
  readonly network: ReadonlyArray<InFlight<unknown>>
  readonly ghost: unknown
  readonly faults: TraceFaults
}

/** What the checker's worlds look like to this module; `checker/world.ts`'s `World` satisfies it. */
export interface CheckedWorld {
  readonly nodes: ReadonlyArray<CheckedNode>
  readonly network: ReadonlyArray<InFlight<unknown>>
  readonly ghost: unknown
  /** Bitmask of the side of the partition holding the first node; 0 when the network is whole. */
  readonly cut: number
  readonly crashes: number
  readonly partitions: number
  readonly losses: number
  readonly duplications: number
}

export interface CheckedNode {
  readonly id: NodeId
  readonly up: boolean
  readonly state: unknown
  readonly disk: unknown
  /** Armed timers as a bitmask; the instance names them. */
  readonly timers: number
}

/** A trace step as the checker reports it (`checker/search.ts`'s `TraceStep` satisfies it). */
export interface CheckedStep<A extends { readonly _tag: string }> {
  /** Undefined for the initial world. */
  readonly action: A | undefined
  readonly world: CheckedWorld
}

/** The parts of a checker instance a trace needs (`checker/world.ts`'s `Instance` satisfies it). */
export interface TraceInstance {
  readonly ids: ReadonlyArray<NodeId>
  armedTimers(node: CheckedNode): ReadonlyArray<string>
}

const lowerCamel = (name: string): string => name.charAt(0).toLowerCase() + name.slice(1)

/** Turns the checker's trace into the checker-independent form; `describe` names each action in one line. */
export const traceStates = <A extends { readonly _tag: string }>(
  instance: TraceInstance,
  steps: ReadonlyArray<CheckedStep<A>>,
  describe: (action: A) => string,
): ReadonlyArray<TraceState> =>
  steps.map(({ action, world }) => ({
    action: action === undefined ? "init" : describe(action),
    actionTaken: action === undefined ? "init" : lowerCamel(action._tag),
    nodes: world.nodes.map((n) => ({ id: n.id, up: n.up, state: n.state, disk: n.disk, timers: instance.armedTimers(n) })),
    // Only the four fields of an in-flight message: the checker's packets also carry sort keys and hashes.
    network: world.network.map((p) => ({ from: p.from, to: p.to, msg: p.msg, copies: p.copies })),
    ghost: world.ghost,
    faults: {
      crashes: world.crashes,
      partitions: world.partitions,
      losses: world.losses,
      duplications: world.duplications,
      cut: instance.ids.filter((_, i) => ((world.cut >> i) & 1) === 1),
    },
  }))
