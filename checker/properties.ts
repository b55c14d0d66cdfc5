/**
 * Checking a protocol's properties and witnesses, one place for every search strategy (BFS, parallel BFS,
 * simulation, trace replay).
 */
import type { Action, AnyProtocol } from "../spec/kernel/protocol.ts"
import type { Instance, World } from "./world.ts"

export interface Broken {
  readonly property: string
  readonly reason: string
}

/** The first transition property the step (before, action, after) breaks. */
export const brokenTransition = (
  protocol: AnyProtocol,
  before: World,
  action: Action<unknown, unknown>,
  after: World,
): Broken | undefined => {
  for (const prop of protocol.transitionProperties) {
    const reason = prop.check({ before, action, after })
    if (reason !== undefined) return { property: prop.name, reason }
  }
  return undefined
}

/** The first invariant the world breaks, leaving out those a model expects to be broken. */
export const brokenInvariant = (protocol: AnyProtocol, world: World, expected?: ReadonlySet<string>): Broken | undefined => {
  for (const inv of protocol.invariants) {
    if (expected?.has(inv.name) === true) continue
    const reason = inv.check(world)
    if (reason !== undefined) return { property: inv.name, reason }
  }
  return undefined
}

/**
 * The invariants a model expects to see broken (ModelConfig.expectedViolations), each checked only until the
 * first world that breaks it: in BFS order that world ends a shortest counterexample.
 */
export class ExpectedViolations {
  private pending: AnyProtocol["invariants"]

  constructor(instance: Instance) {
    const names = instance.expectedViolations
    this.pending = names === undefined ? [] : instance.protocol.invariants.filter((i) => names.has(i.name))
  }

  get outstanding(): ReadonlyArray<string> {
    return this.pending.map((i) => i.name)
  }

  /** The expected invariants this world breaks for the first time (usually none). */
  observe(world: World): ReadonlyArray<Broken> {
    if (this.pending.length === 0) return none
    let found: Broken[] | undefined
    for (const inv of this.pending) {
      const reason = inv.check(world)
      if (reason !== undefined) (found ??= []).push({ property: inv.name, reason })
    }
    if (found === undefined) return none
    this.pending = this.pending.filter((i) => !found.some((b) => b.property === i.name))
    return found
  }
}
const none: ReadonlyArray<Broken> = []

/** Which witnesses some explored world has reached; each is tested only until it is reached. */
export class WitnessTracker {
  private unreached: AnyProtocol["witnesses"]
  readonly reached: string[] = []

  constructor(protocol: AnyProtocol) {
    this.unreached = protocol.witnesses.slice()
  }

  observe(world: World): void {
    if (this.unreached.length === 0) return
    const still = this.unreached.filter((w) => !w.holds(world))
    if (still.length === this.unreached.length) return
    for (const w of this.unreached) if (!still.includes(w)) this.reached.push(w.name)
    this.unreached = still
  }
}
