/** A test helper for model-checking tests: whether a trace is made of steps the checker itself would take. */
import { expand } from "../../checker/search.ts"
import { Instance } from "../../checker/world.ts"
import type { AnyProtocol } from "../../spec/kernel/protocol.ts"

/** Every step of the trace is an in-bounds successor of the step before it, on that model and variant. */
export const replays = (p: AnyProtocol, model: string, variant: string, trace: ReadonlyArray<{ world: unknown }>): boolean => {
  const inst = new Instance(p, model, p.models[model]!, variant)
  for (let k = 1; k < trace.length; k++) {
    const wanted = inst.encode(trace[k]!.world as never)
    let found = false
    expand(inst, trace[k - 1]!.world as never, (_a, next, inside) => {
      if (inside && inst.encode(next) === wanted) found = true
    })
    if (!found) return false
  }
  return true
}
