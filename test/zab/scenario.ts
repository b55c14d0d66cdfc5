/**
 * Golden scenarios: drive a model step by step with actions named as the checker prints them ("lead n1",
 * "deliver SYNC TRUNC n1→n2", "crash n3", …). Each step must be a successor the checker itself would take; a
 * scenario that names an action that is not enabled fails with the list of enabled ones.
 */
import { expand } from "../../checker/search.ts"
import { describeAction, Instance, type World } from "../../checker/world.ts"
import type { AnyProtocol, ModelConfig } from "../../spec/kernel/protocol.ts"

export interface Replayed {
  readonly instance: Instance
  readonly worlds: ReadonlyArray<World>
}

export const replay = (
  protocol: AnyProtocol,
  model: ModelConfig<unknown>,
  variant: string,
  script: ReadonlyArray<string>,
  options: { readonly ignoreConstraint?: boolean } = {},
): Replayed => {
  const instance = new Instance(protocol, "scenario", model, variant)
  let world = instance.initial()
  const worlds: World[] = [world]
  script.forEach((line, k) => {
    let found: World | undefined
    const enabled: string[] = []
    expand(instance, world, (action, next, inside) => {
      const d = describeAction(protocol, action)
      enabled.push(inside ? d : `${d} (outside the constraint)`)
      if (found === undefined && d === line && (inside || options.ignoreConstraint === true)) found = next
    })
    if (found === undefined) throw new Error(`step ${k + 1} "${line}" is not enabled; enabled: ${enabled.join(" | ")}`)
    world = found
    worlds.push(world)
  })
  return { instance, worlds }
}
