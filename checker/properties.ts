/**
 * Checking a protocol's properties and witnesses, one place for every search strategy (BFS, parallel BFS,
 * simulation, trace replay).
 */
import type { Action, AnyProtocol } from "../spec/kernel/protocol.ts"
import type { World } from "./world.ts"

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

/** The first invariant the world breaks. */
export const brokenInvariant = (protocol: AnyProtocol, world: World): Broken | undefined => {
  for (const inv of protocol.invariants) {
    const reason = inv.check(world)
    if (reason !== undefined) return { property: inv.name, reason }
  }
  return undefined
}

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
