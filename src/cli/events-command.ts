/**
 * `quorum trace validate --events DIR`: checks a whole cluster run (every node's events.ndjson under DIR)
 * against the spec — every logged step must be a legal transition. See src/runtime/conformance.ts.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { runtimeConfig } from "../runtime/raft/config.ts"
import { loggedVariant, validateEvents } from "../runtime/conformance.ts"
import { isStartLine, rotatedEventsFile } from "../runtime/events.ts"
import { runtimeConfig as zabRuntimeConfig } from "../runtime/zab/config.ts"
import { protocols } from "../../spec/registry.ts"
import { ExitCode } from "./exit-codes.ts"
import { colorsFor } from "./render.ts"
import { UsageError } from "./resolve.ts"

/** Protocols that run as nodes, with the config their nodes use (the variant is on their restart lines). */
const hosted: Readonly<Record<string, () => unknown>> = {
  raft: () => runtimeConfig(),
  zab: () => zabRuntimeConfig(),
}

/** The protocol the event logs name on their restart lines (logs written before they did are Raft's). */
const loggedProtocol = (events: ReadonlyMap<string, ReadonlyArray<string>>): string => {
  const named = new Set<string>()
  for (const lines of events.values()) {
    for (const line of lines) {
      if (!isStartLine(line)) continue
      const m = /"protocol":"([^"]*)"/.exec(line)
      named.add(m === null ? "raft" : m[1]!)
    }
  }
  if (named.size > 1) throw new UsageError(`the event logs name several protocols: ${[...named].join(", ")}`)
  return [...named][0] ?? "raft"
}

export const validateEventsCommand = (dir: string, requested: string | undefined): number => {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a directory of node data`)
  const events = new Map<string, ReadonlyArray<string>>()
  for (const entry of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, entry, "events.ndjson")
    if (!fs.existsSync(file)) continue
    // A rotated log's earlier file first (it too starts with a restart or a checkpoint).
    const files = [rotatedEventsFile(file), file].filter((f) => fs.existsSync(f))
    events.set(entry, files.flatMap((f) => fs.readFileSync(f, "utf8").split("\n").filter((l) => l.length > 0)))
  }
  if (events.size === 0) throw new UsageError(`${dir} holds no <node>/events.ndjson files`)
  const logged = loggedProtocol(events)
  if (requested !== undefined && requested !== logged) {
    throw new UsageError(`--protocol ${requested}: the nodes in ${dir} ran ${logged}`)
  }
  const protocolName = requested ?? logged
  const setup = hosted[protocolName]
  const protocol = protocols[protocolName]
  if (setup === undefined || protocol === undefined) {
    throw new UsageError(`no running nodes for protocol "${protocolName}"; nodes run: ${Object.keys(hosted).join(", ")}`)
  }
  let variantName: string
  try {
    variantName = loggedVariant(protocol, events)
  } catch (e) {
    throw new UsageError((e as Error).message)
  }
  const variant = protocol.variants[variantName]!.flags
  const report = validateEvents({ protocol, config: setup(), variant, events })
  const c = colorsFor(process.stdout)
  const lines: string[] = []
  for (const [id, n] of Object.entries(report.nodes)) {
    const rotations = n.checkpoints === 0 ? "" : `, ${n.checkpoints} log rotation${n.checkpoints === 1 ? "" : "s"}`
    lines.push(`  ${id}: ${n.steps} steps (${n.restarts} starts${rotations}), ${n.digests} states compared by digest, ${n.sends} sends, ${n.events} events`)
  }
  if (report.ok) {
    process.stdout.write(`${c.green("✓")} every logged step of ${dir} is a legal transition of ${protocolName} (variant ${variantName})\n${lines.join("\n")}\n`)
  } else {
    process.stdout.write(`${c.red("✗")} ${dir} does not conform to ${protocolName}\n${lines.join("\n")}\n`)
    for (const p of report.problems.slice(0, 20)) process.stdout.write(`  ${p}\n`)
    if (report.problems.length > 20) process.stdout.write(`  … and ${report.problems.length - 20} more\n`)
  }
  for (const w of report.warnings.slice(0, 5)) process.stdout.write(`  ${c.yellow("warning:")} ${w}\n`)
  if (report.warnings.length > 5) process.stdout.write(`  … and ${report.warnings.length - 5} more warnings\n`)
  return report.ok ? ExitCode.ok : ExitCode.violation
}
