/**
 * What a protocol is. A protocol is a set of pure handlers over plain data plus everything the checker, the
 * trace tools and the runtime need to host it: Schemas for its wire and disk data, its properties, its
 * bounded models and its variants. Nothing here performs I/O.
 */
import { Schema } from "effect"

/** A server's name, such as "n1". Kept a string so traces and logs read naturally. */
export const NodeId = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{1,64}$/)).pipe(Schema.brand("NodeId"))
export type NodeId = typeof NodeId.Type

export const nodeId = (name: string): NodeId => name as NodeId

/** The ids of a cluster of `size` servers: n1..nN. */
export const nodeIds = (size: number): ReadonlyArray<NodeId> =>
  Array.from({ length: size }, (_, i) => nodeId(`n${i + 1}`))

/** Something that happens to one node. A handler sees exactly one event per step. */
export type Event<M, C> =
  | { readonly _tag: "Deliver"; readonly from: NodeId; readonly msg: M }
  | { readonly _tag: "Timeout"; readonly timer: string }
  | { readonly _tag: "Client"; readonly request: C }
  | { readonly _tag: "Internal"; readonly action: InternalAction }

/**
 * A step the node may take on its own (an asynchronous flush, a leader deciding to send to one peer…).
 * `arg` distinguishes instances of the same action, for example the peer a message goes to.
 */
export interface InternalAction {
  readonly name: string
  readonly arg?: string
}

/** Side effects as data. The host carries them out; the checker interprets them. */
export type Effect<M, R> =
  | { readonly _tag: "Send"; readonly to: NodeId; readonly msg: M }
  | { readonly _tag: "SetTimer"; readonly timer: string }
  | { readonly _tag: "CancelTimer"; readonly timer: string }
  | { readonly _tag: "Reply"; readonly reply: R }

/**
 * The result of handling one event.
 *
 * Persist-before-send: when `persist` is present it is written durably *before* any effect of this step
 * takes place, so no message can leave that depends on state a crash would forget. A crash keeps exactly the
 * last `persist` value; the checker and the runtime both rebuild the node from it with `recover`.
 */
export interface Step<S, M, D, R> {
  readonly state: S
  readonly persist?: D
  readonly effects: ReadonlyArray<Effect<M, R>>
}

/** What a handler may know about its place in the cluster. */
export interface NodeContext<Cfg, V> {
  readonly self: NodeId
  readonly nodes: ReadonlyArray<NodeId>
  readonly peers: ReadonlyArray<NodeId>
  /** Votes needed for a majority of `nodes`. */
  readonly quorum: number
  readonly config: Cfg
  readonly variant: V
}

/** One node as properties see it. `state` is undefined while the node is down. */
export interface NodeView<S, D> {
  readonly id: NodeId
  readonly up: boolean
  readonly state: S | undefined
  /** The last durably written value, or undefined if the node never persisted. */
  readonly disk: D | undefined
}

export interface InFlight<M> {
  readonly from: NodeId
  readonly to: NodeId
  readonly msg: M
  readonly copies: number
}

/** The whole system as properties see it, with the fault budgets used so far. */
export interface WorldView<S, M, D, G> {
  readonly nodes: ReadonlyArray<NodeView<S, D>>
  readonly network: ReadonlyArray<InFlight<M>>
  readonly ghost: G
  readonly crashes: number
  readonly partitions: number
  readonly losses: number
  readonly duplications: number
}

/** A labelled action, as recorded in traces and coverage. */
export type Action<M, C> =
  | { readonly _tag: "Deliver"; readonly node: NodeId; readonly from: NodeId; readonly msg: M }
  | { readonly _tag: "Timeout"; readonly node: NodeId; readonly timer: string }
  | { readonly _tag: "Client"; readonly node: NodeId; readonly request: C }
  | { readonly _tag: "Internal"; readonly node: NodeId; readonly action: InternalAction }
  | { readonly _tag: "Crash"; readonly node: NodeId }
  | { readonly _tag: "Restart"; readonly node: NodeId }
  | { readonly _tag: "Partition"; readonly side: ReadonlyArray<NodeId>; readonly other: ReadonlyArray<NodeId> }
  | { readonly _tag: "Heal" }
  | { readonly _tag: "Drop"; readonly from: NodeId; readonly to: NodeId; readonly msg: M }
  | { readonly _tag: "Duplicate"; readonly from: NodeId; readonly to: NodeId; readonly msg: M }

/** A transition as transition properties and ghost updates see it. */
export interface Transition<S, M, D, C, G> {
  readonly before: WorldView<S, M, D, G>
  readonly action: Action<M, C>
  readonly after: WorldView<S, M, D, G>
}

/** A state invariant. `check` returns undefined when it holds, otherwise why it does not (naming nodes). */
export interface Invariant<S, M, D, G> {
  readonly name: string
  readonly description: string
  readonly check: (world: WorldView<S, M, D, G>) => string | undefined
  /** The witness whose reachability shows the invariant's premise is exercised. */
  readonly witness: string
}

export interface TransitionProperty<S, M, D, C, G> {
  readonly name: string
  readonly description: string
  readonly check: (t: Transition<S, M, D, C, G>) => string | undefined
  readonly witness: string
}

/** A state the default model must reach, or the model is too small to say anything. */
export interface Witness<S, M, D, G> {
  readonly name: string
  readonly description: string
  readonly holds: (world: WorldView<S, M, D, G>) => boolean
}

/** How the network behaves, as data. */
export type NetworkSemantics =
  /** Unordered multiset: any message may be delivered in any order, lost or duplicated (within budgets). */
  | "bag"
  /** One FIFO queue per ordered pair, as over TCP: a crash or a partition empties the queues it cuts. */
  | "fifo"

/** Fault budgets: how many times each fault may happen in one behaviour. */
export interface FaultBudgets {
  readonly crashes: number
  readonly partitions: number
  readonly losses: number
  readonly duplications: number
}

/** A bounded model: like a TLA+ .cfg file. */
export interface ModelConfig<Cfg> {
  readonly description: string
  readonly servers: number
  readonly network: NetworkSemantics
  readonly faults: FaultBudgets
  /** TLC-style bounds on the network: a successor exceeding them is neither counted nor explored. */
  readonly maxInFlight?: number
  readonly maxCopiesPerMessage?: number
  /**
   * Witnesses a complete run of this model must reach, or it fails as vacuous. The default model of a
   * protocol should say "all"; a small model names the few its bounds leave room for.
   */
  readonly mustReach: ReadonlyArray<string> | "all"
  /**
   * Symmetry reduction: the servers are interchangeable, so worlds equal up to a renaming of servers are
   * explored once. Sound only for protocols whose handlers never compare server ids to break ties.
   */
  readonly symmetry?: boolean
  /** Report a state with no enabled action as a deadlock. */
  readonly checkDeadlock?: boolean
  /**
   * Invariants this model is expected to refute: claims the protocol is known not to make (as TLA+ specs keep
   * "expected violations"). The search records the shortest counterexample of each and goes on checking the
   * rest; a complete run that never breaks one fails, because the model no longer shows what it should.
   */
  readonly expectedViolations?: ReadonlyArray<string>
  /** Protocol-specific bounds and settings, validated by the protocol's config Schema. */
  readonly config: Cfg
}

export interface VariantInfo<V> {
  readonly description: string
  /** The flags this variant sets; the default variant is the faithful protocol. */
  readonly flags: V
  /** For flawed variants: the property a checker must find broken, and the model that shows it. */
  readonly breaks?: { readonly property: string; readonly model: string }
}

/**
 * A protocol specification. Type parameters: S node state, M message, D durable state, C client request,
 * R client reply, G ghost (history) variables, Cfg model settings, V variant flags.
 */
export interface Protocol<S, M, D, C, R, G, Cfg, V> {
  readonly name: string
  readonly description: string
  readonly schemas: {
    readonly message: Schema.Codec<M, unknown>
    readonly durable: Schema.Codec<D, unknown>
    readonly config: Schema.Codec<Cfg, unknown>
    readonly clientRequest: Schema.Codec<C, unknown>
  }
  /** Message kinds and timers, so coverage can list what never happened. */
  readonly messageKinds: ReadonlyArray<string>
  /** The message kinds a variant can send, when some variants never send some kinds (default: all of them). */
  readonly variantMessageKinds?: (variant: V) => ReadonlyArray<string>
  readonly messageKind: (msg: M) => string
  /**
   * How a number stored under a field of that name reads best to people, in printed traces (ZAB: a zxid as
   * `(epoch,counter)`); undefined keeps the number. Display only: the data and its encodings are unchanged.
   */
  readonly display?: (field: string, value: number) => string | undefined
  readonly timers: ReadonlyArray<string>
  /** The internal actions a node may take under a variant (one that never takes one lists none). */
  readonly internalActions: (variant: V) => ReadonlyArray<string>

  /** Boot a node: from nothing (`disk` undefined) or from what it persisted before a crash. */
  readonly recover: (ctx: NodeContext<Cfg, V>, disk: D | undefined) => Step<S, M, D, R>
  readonly handle: (ctx: NodeContext<Cfg, V>, state: S, event: Event<M, C>) => Step<S, M, D, R>
  /** Internal steps enabled in this state. */
  readonly enabledInternal: (ctx: NodeContext<Cfg, V>, state: S) => ReadonlyArray<InternalAction>
  /** Client requests the model may submit to this node now (drawn from the model's bounded set). */
  readonly enabledClient: (ctx: NodeContext<Cfg, V>, state: S) => ReadonlyArray<C>

  readonly ghost: {
    readonly init: G
    readonly update: (ghost: G, t: Transition<S, M, D, C, G>) => G
  }
  /** A state constraint with TLC semantics: successors outside it are neither counted nor explored. */
  readonly constraint: (world: WorldView<S, M, D, G>, config: Cfg) => boolean

  /**
   * For symmetry reduction: after the checker renames servers inside a value, these put back the canonical
   * order of whatever the protocol keeps sorted by server id (sets of voters, lists of leaders…).
   */
  readonly normalizeRenamed?: {
    readonly state?: (state: S) => S
    readonly ghost?: (ghost: G) => G
  }

  readonly invariants: ReadonlyArray<Invariant<S, M, D, G>>
  readonly transitionProperties: ReadonlyArray<TransitionProperty<S, M, D, C, G>>
  readonly witnesses: ReadonlyArray<Witness<S, M, D, G>>

  readonly defaultModel: string
  readonly models: Readonly<Record<string, ModelConfig<Cfg>>>
  readonly defaultVariant: string
  readonly variants: Readonly<Record<string, VariantInfo<V>>>
}

/** A protocol with its type parameters erased, for code that is generic over protocols. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyProtocol = Protocol<any, any, any, any, any, any, any, any>

/** Build a node's context once; handlers receive the same object every step. */
export const makeContext = <Cfg, V>(
  self: NodeId,
  nodes: ReadonlyArray<NodeId>,
  config: Cfg,
  variant: V,
): NodeContext<Cfg, V> => ({
  self,
  nodes,
  peers: nodes.filter((n) => n !== self),
  quorum: Math.floor(nodes.length / 2) + 1,
  config,
  variant,
})

/** Effect constructors, so handlers read as the protocol. */
export const send = <M>(to: NodeId, msg: M): Effect<M, never> => ({ _tag: "Send", to, msg })
export const setTimer = (timer: string): Effect<never, never> => ({ _tag: "SetTimer", timer })
export const cancelTimer = (timer: string): Effect<never, never> => ({ _tag: "CancelTimer", timer })
export const reply = <R>(r: R): Effect<never, R> => ({ _tag: "Reply", reply: r })

const noEffects: ReadonlyArray<never> = []
/** A step that only changes (or keeps) volatile state. */
export const stay = <S>(state: S): Step<S, never, never, never> => ({ state, effects: noEffects })
