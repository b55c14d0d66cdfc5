/**
 * `quorum list`: every protocol with its models, variants, properties and witnesses — what `check` accepts.
 */
import type { AnyProtocol } from "../../spec/kernel/protocol.ts"
import { protocols } from "../../spec/registry.ts"
import { ExitCode } from "./exit-codes.ts"
import { colorsFor, table } from "./render.ts"

const describeProtocol = (p: AnyProtocol) => ({
  name: p.name,
  description: p.description,
  defaultModel: p.defaultModel,
  defaultVariant: p.defaultVariant,
  models: Object.entries(p.models).map(([name, m]) => ({
    name,
    description: m.description,
    servers: m.servers,
    network: m.network,
    faults: m.faults,
    ...(m.maxInFlight === undefined ? {} : { maxInFlight: m.maxInFlight }),
    ...(m.maxCopiesPerMessage === undefined ? {} : { maxCopiesPerMessage: m.maxCopiesPerMessage }),
    mustReach: m.mustReach,
    config: m.config,
  })),
  variants: Object.entries(p.variants).map(([name, v]) => ({
    name,
    description: v.description,
    ...(v.breaks === undefined ? {} : { breaks: v.breaks }),
  })),
  properties: {
    invariants: p.invariants.map((i) => ({ name: i.name, description: i.description, witness: i.witness })),
    transitionProperties: p.transitionProperties.map((t) => ({ name: t.name, description: t.description, witness: t.witness })),
  },
  witnesses: p.witnesses.map((w) => ({ name: w.name, description: w.description })),
})

export const listCommand = (json: boolean): number => {
  const described = Object.values(protocols).map(describeProtocol)
  if (json) {
    process.stdout.write(JSON.stringify({ protocols: described }, null, 2) + "\n")
    return ExitCode.ok
  }
  const c = colorsFor(process.stdout)
  const lines: string[] = []
  for (const p of described) {
    if (lines.length > 0) lines.push("")
    lines.push(`${c.bold(p.name)} — ${p.description}`)
    lines.push("", "  models")
    lines.push(
      ...table(
        p.models.map((m) => {
          const faults = Object.entries(m.faults)
            .filter(([, n]) => n > 0)
            .map(([kind, n]) => `${kind} ${n}`)
          const tags = `${m.servers} servers, ${m.network} network, ${faults.length === 0 ? "no faults" : faults.join(", ")}`
          return [m.name + (m.name === p.defaultModel ? " (default)" : ""), `${m.description} [${tags}]`]
        }),
        "    ",
      ),
    )
    lines.push("", "  variants")
    lines.push(
      ...table(
        p.variants.map((v) => [
          v.name + (v.name === p.defaultVariant ? " (default)" : ""),
          v.description + (v.breaks === undefined ? "" : ` — breaks ${v.breaks.property} on model ${v.breaks.model}`),
        ]),
        "    ",
      ),
    )
    lines.push("", "  properties")
    lines.push(
      ...table(
        [
          ...p.properties.invariants.map((i) => [i.name, `${i.description} (witness ${i.witness})`] as const),
          ...p.properties.transitionProperties.map((t) => [t.name, `${t.description} [transition] (witness ${t.witness})`] as const),
        ],
        "    ",
      ),
    )
    lines.push("", "  witnesses")
    lines.push(...table(p.witnesses.map((w) => [w.name, w.description] as const), "    "))
  }
  process.stdout.write(lines.join("\n") + "\n")
  return ExitCode.ok
}
