/**
 * `quorum simulate`: seeded random walks over a model too big for exhaustive search. A violation is shrunk,
 * re-validated against the spec, printed and saved as ITF. Every run prints its seed and the one command
 * that repeats it.
 */
import * as path from "node:path"
import { simulate, type SimulationReport } from "../../checker/simulate.ts"
import { describeAction, Instance } from "../../checker/world.ts"
import { renderTrace } from "../../traces/pretty.ts"
import { traceStates } from "../../traces/trace.ts"
import { writeTraceFile } from "./check-command.ts"
import { ExitCode } from "./exit-codes.ts"
import { colorsFor, count, displayOf, duration, table, traceStyle } from "./render.ts"
import { resolveSelection, type Selection } from "./resolve.ts"

export interface SimulateCommandOptions {
  readonly protocol: string
  readonly model: string | undefined
  readonly variant: string | undefined
  readonly seed: number | undefined
  readonly depth: number
  readonly runs: number | undefined
  readonly seconds: number | undefined
  readonly json: boolean
  readonly out: string | undefined
}

/** A fresh seed when none is given; printed so the run can be repeated. */
const freshSeed = (): number => (Date.now() ^ (process.pid << 16)) >>> 0

const DEFAULT_SECONDS = 30

/** The command that repeats this run: the same seed and, for a violation, exactly the walks up to it. */
const reproCommand = (selection: Selection, options: SimulateCommandOptions, seed: number, report: SimulationReport): string => {
  const runs = report.violatingRun !== undefined ? report.violatingRun + 1 : report.runs
  return [
    `npx quorum simulate ${selection.protocol.name}`,
    `--model ${selection.modelName}`,
    `--variant ${selection.variantName}`,
    `--seed ${seed}`,
    `--depth ${options.depth}`,
    `--runs ${runs}`,
  ].join(" ")
}

export const simulateCommand = (options: SimulateCommandOptions): number => {
  const selection = resolveSelection(options.protocol, options.model, options.variant)
  const seed = options.seed ?? freshSeed()
  const instance = new Instance(selection.protocol, selection.modelName, selection.model, selection.variantName)
  const seconds = options.runs === undefined && options.seconds === undefined ? DEFAULT_SECONDS : options.seconds
  if (!options.json) {
    process.stderr.write(
      `simulating ${selection.protocol.name} · model ${selection.modelName} · variant ${selection.variantName} · seed ${seed} · depth ${options.depth}\n`,
    )
  }
  const report = simulate(instance, {
    seed,
    depth: options.depth,
    ...(options.runs === undefined ? {} : { runs: options.runs }),
    ...(seconds === undefined ? {} : { seconds }),
  })
  const repro = reproCommand(selection, options, seed, report)
  const violation = report.violation
  let traceFile: string | undefined
  let states
  if (violation !== undefined) {
    states = traceStates(instance, violation.trace, (a) => describeAction(selection.protocol, a))
    traceFile = writeTraceFile(selection, violation, states, path.resolve(options.out ?? "out"), seed)
  }
  if (options.json) {
    const summary = {
      protocol: selection.protocol.name,
      model: selection.modelName,
      variant: selection.variantName,
      result: report.result,
      seed,
      depth: options.depth,
      runs: report.runs,
      steps: report.steps,
      seconds: Number(report.seconds.toFixed(3)),
      ...(violation === undefined
        ? {}
        : {
            property: violation.property,
            reason: violation.reason,
            trace: traceFile,
            traceLength: violation.trace.length - 1,
            foundLength: report.foundLength,
            shrinkCandidates: report.shrinkCandidates,
          }),
      coverage: report.coverage,
      repro,
    }
    process.stdout.write(JSON.stringify(summary, null, 2) + "\n")
    return violation === undefined ? ExitCode.ok : ExitCode.violation
  }
  const c = colorsFor(process.stdout)
  const lines: string[] = []
  lines.push(
    violation === undefined
      ? c.green(`✓ ok: no violation in ${count(report.runs)} walks of up to ${options.depth} steps`)
      : c.red(`✗ violation of ${violation.property}`),
  )
  lines.push(
    `  seed ${seed} · ${count(report.runs)} walks · ${count(report.steps)} steps · ${duration(report.seconds)} · ${count(
      Math.round(report.steps / Math.max(report.seconds, 1e-9)),
    )} steps/s`,
  )
  lines.push("", "coverage")
  lines.push(...table(Object.entries(report.coverage).map(([kind, n]) => [kind, count(n).padStart(12)])))
  if (violation !== undefined && states !== undefined) {
    lines.push("", `${violation.property}: ${violation.reason}`)
    lines.push(
      `  found by walk ${report.violatingRun! + 1} after ${report.foundLength} steps; shrunk to ${violation.trace.length - 1} steps (${report.shrinkCandidates} schedules replayed)`,
    )
    lines.push("", `trace (${violation.trace.length - 1} steps)`)
    lines.push(...renderTrace(states, { style: traceStyle(c), ...displayOf(selection.protocol) }).map((line) => `  ${line}`))
    lines.push("", `trace written to ${traceFile}`)
  }
  lines.push("", `repeat: ${repro}`)
  process.stdout.write(lines.join("\n") + "\n")
  return violation === undefined ? ExitCode.ok : ExitCode.violation
}
