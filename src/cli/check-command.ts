/**
 * `quorum check`: resolve what to check, run the checker, write the counterexample as an ITF file, and
 * report either as one JSON object (--json) or as a readable summary with the trace step by step.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import type { CheckReport, Limits } from "../../checker/search.ts"
import { describeAction, Instance } from "../../checker/world.ts"
import { itfDocument, type ItfDocument } from "../../traces/itf.ts"
import { renderTrace } from "../../traces/pretty.ts"
import { traceStates, type TraceState } from "../../traces/trace.ts"
import { ExitCode } from "./exit-codes.ts"
import { colorsFor, count, displayOf, duration, ProgressLine, table, traceStyle, type Colors } from "./render.ts"
import { resolveSelection, type Selection } from "./resolve.ts"
import { runCheck } from "./run-check.ts"
import { serveViewer } from "./trace-command.ts"
import { gitCommit, toolInfo } from "./tool-info.ts"

export interface CheckOptions {
  readonly protocol: string
  readonly model: string | undefined
  readonly variant: string | undefined
  readonly json: boolean
  readonly out: string | undefined
  readonly limits: Limits
  /** Symmetry reduction over interchangeable servers, whatever the model says. */
  readonly symmetry?: boolean
  /** Threads of the search (shared seen-set); 1 is the sequential checker. */
  readonly workers?: number
  /** After reporting a violation, serve its trace in the browser viewer until Ctrl-C. */
  readonly view?: boolean
}

/** A run's verdict. A complete run that never reached a witness fails: the model is too small to mean anything. */
export interface Verdict {
  readonly result: "ok" | "violation" | "incomplete"
  readonly property?: string
  readonly reason?: string
  readonly exitCode: number
}

export const verdictOf = (selection: Selection, report: CheckReport): Verdict => {
  if (report.violation !== undefined) {
    return { result: "violation", property: report.violation.property, reason: report.violation.reason, exitCode: ExitCode.violation }
  }
  if (report.result === "incomplete") {
    return { result: "incomplete", reason: stopReason(report), exitCode: ExitCode.incomplete }
  }
  const unrefuted = report.unrefutedExpectations[0]
  if (unrefuted !== undefined) {
    return {
      result: "violation",
      property: `expected:${unrefuted}`,
      reason:
        `model ${selection.modelName} is expected to refute ${unrefuted}, but no explored state breaks it; ` +
        "the model (or the spec) no longer shows the behaviour it was built to show",
      exitCode: ExitCode.violation,
    }
  }
  const missed = report.unreachedWitnesses[0]
  if (missed !== undefined) {
    const description = selection.protocol.witnesses.find((w) => w.name === missed)?.description
    const others = report.unreachedWitnesses.length > 1 ? ` (nor ${report.unreachedWitnesses.slice(1).join(", ")})` : ""
    return {
      result: "violation",
      property: `witness:${missed}`,
      reason:
        `the model never reached witness ${missed}${description === undefined ? "" : ` (${description})`}${others}, ` +
        "so the properties that rely on it were never exercised; enlarge the model",
      exitCode: ExitCode.violation,
    }
  }
  return { result: "ok", exitCode: ExitCode.ok }
}

const stopReason = (report: CheckReport): string => {
  const where = `every state within depth ${report.completeDepth} was explored`
  switch (report.stoppedBy) {
    case "interrupted":
      return `interrupted (Ctrl-C); ${where}`
    case undefined:
      return where
    default:
      return `stopped by ${report.stoppedBy}; ${where}`
  }
}

const traceFileName = (selection: Selection, property: string): string =>
  `${selection.protocol.name}-${selection.modelName}-${selection.variantName}-${property}.itf.json`.replace(/[^A-Za-z0-9._-]/g, "_")

/**
 * Writes the violation's trace as ITF into `outDir` (created if needed) and returns the file's path.
 * `seed` is the simulation seed that found it (null for exhaustive search).
 */
export const writeTraceFile = (
  selection: Selection,
  violation: NonNullable<CheckReport["violation"]>,
  states: ReadonlyArray<TraceState>,
  outDir: string,
  seed: number | null = null,
): string => {
  const document = traceDocument(selection, violation, states, seed)
  fs.mkdirSync(outDir, { recursive: true })
  const file = path.join(outDir, traceFileName(selection, violation.property))
  fs.writeFileSync(file, JSON.stringify(document, null, 2) + "\n")
  return file
}

/** The ITF document of a violation's trace, with the run's metadata (also used for the corpus, src/corpus.ts). */
export const traceDocument = (
  selection: Selection,
  violation: NonNullable<CheckReport["violation"]>,
  states: ReadonlyArray<TraceState>,
  seed: number | null = null,
): ItfDocument => {
  const tool = toolInfo()
  return itfDocument(states, {
    source: `${selection.protocol.name}/${selection.modelName}`,
    description: `${violation.property} is violated: ${violation.reason}`,
    timestamp: Date.now(),
    protocol: selection.protocol.name,
    model: selection.modelName,
    variant: selection.variantName,
    property: violation.property,
    reason: violation.reason,
    tool: tool.name,
    toolVersion: tool.version,
    gitCommit: gitCommit(),
    seed,
  })
}

/** Runs `quorum check` and returns its exit code. Bad names or bounds throw UsageError before anything runs. */
export const checkCommand = async (options: CheckOptions): Promise<number> => {
  const selection = resolveSelection(options.protocol, options.model, options.variant)
  const stderr = process.stderr
  const progress = !options.json && stderr.isTTY === true ? new ProgressLine(stderr) : undefined
  const report = await runCheck(selection, options.limits, {
    onStart: () => {
      if (options.json) return
      stderr.write(
        `checking ${selection.protocol.name} · model ${selection.modelName} · variant ${selection.variantName}${
          options.symmetry === true ? " · symmetry" : ""
        } (Ctrl-C stops and reports)\n`,
      )
    },
    ...(progress === undefined ? {} : { onProgress: (p) => progress.update(p) }),
    onInterrupt: () => {
      progress?.clear()
      stderr.write("stopping… (Ctrl-C again abandons the run)\n")
    },
  }, options.symmetry === true || selection.model.symmetry === true, options.workers ?? 1)
  progress?.clear()

  const verdict = verdictOf(selection, report)
  const violation = report.violation
  let states: ReadonlyArray<TraceState> | undefined
  let traceFile: string | undefined
  // The report crossed from the worker as plain data; a local instance names its timers and nodes.
  const instance = new Instance(selection.protocol, selection.modelName, selection.model, selection.variantName)
  const outDir = path.resolve(options.out ?? "out")
  const shownStates = (v: NonNullable<CheckReport["violation"]>) => traceStates(instance, v.trace, (a) => describeAction(selection.protocol, a))
  if (violation !== undefined) {
    states = shownStates(violation)
    traceFile = writeTraceFile(selection, violation, states, outDir)
  }
  const expected = report.expectedViolations.map((v) => {
    const shown = shownStates(v)
    return { property: v.property, reason: v.reason, steps: shown.length - 1, file: writeTraceFile(selection, v, shown, outDir) }
  })

  if (options.json) {
    process.stdout.write(JSON.stringify(jsonSummary(selection, report, verdict, traceFile, states, expected), null, 2) + "\n")
  } else {
    const colors = colorsFor(process.stdout)
    process.stdout.write(textSummary(selection, report, verdict, traceFile, states, expected, colors).join("\n") + "\n")
  }
  if (options.view === true) {
    // With --json, stdout holds exactly the JSON object, so the viewer's URL goes to stderr.
    const out = options.json ? process.stderr : process.stdout
    if (traceFile === undefined) out.write("no counterexample trace to view\n")
    else await serveViewer({ file: traceFile, host: undefined, port: undefined }, out)
  }
  return verdict.exitCode
}

const jsonSummary = (
  selection: Selection,
  report: CheckReport,
  verdict: Verdict,
  traceFile: string | undefined,
  states: ReadonlyArray<TraceState> | undefined,
  expected: ReadonlyArray<ExpectedFound>,
): Record<string, unknown> => ({
  protocol: selection.protocol.name,
  model: selection.modelName,
  variant: selection.variantName,
  result: verdict.result,
  ...(verdict.property === undefined ? {} : { property: verdict.property }),
  ...(verdict.reason === undefined ? {} : { reason: verdict.reason }),
  ...(report.stoppedBy === undefined ? {} : { stoppedBy: report.stoppedBy }),
  distinctStates: report.distinctStates,
  statesGenerated: report.statesGenerated,
  depth: report.depth,
  completeDepth: report.completeDepth,
  seconds: Number(report.seconds.toFixed(3)),
  ...(traceFile === undefined || states === undefined ? {} : { trace: traceFile, traceLength: states.length - 1 }),
  coverage: report.coverage,
  neverFired: report.neverFired,
  witnesses: report.witnesses,
  unreachedWitnesses: report.unreachedWitnesses,
  expectedViolations: expected.map((e) => ({ property: e.property, reason: e.reason, traceLength: e.steps, trace: e.file })),
  unrefutedExpectations: report.unrefutedExpectations,
})

/** A violation the model expects (ModelConfig.expectedViolations), found and written to `file`. */
interface ExpectedFound {
  readonly property: string
  readonly reason: string
  readonly steps: number
  readonly file: string
}

const shownPath = (file: string): string => {
  const relative = path.relative(process.cwd(), file)
  return relative.startsWith("..") || path.isAbsolute(relative) ? file : relative
}

const textSummary = (
  selection: Selection,
  report: CheckReport,
  verdict: Verdict,
  traceFile: string | undefined,
  states: ReadonlyArray<TraceState> | undefined,
  expected: ReadonlyArray<ExpectedFound>,
  c: Colors,
): ReadonlyArray<string> => {
  const lines: string[] = []
  const headline =
    verdict.result === "ok"
      ? c.green(
          c.bold(
            `✓ ok: no violation${report.expectedViolations.length > 0 ? " of the properties that hold" : ""}, every required witness reached` +
              (report.expectedViolations.length > 0 ? `, ${report.expectedViolations.length} expected violation(s) found` : ""),
          ),
        )
      : verdict.result === "violation"
        ? c.red(c.bold(`✗ violation of ${verdict.property}`))
        : c.yellow(c.bold(`… incomplete: ${verdict.reason}`))
  lines.push(headline)
  const rate = report.distinctStates / Math.max(report.seconds, 1e-3)
  lines.push(
    `  ${count(report.distinctStates)} distinct states · ${count(report.statesGenerated)} generated · ` +
      `depth ${report.depth} (complete to ${report.completeDepth}) · ${duration(report.seconds)} · ${count(rate)} states/s`,
  )

  lines.push("", c.bold("coverage"))
  const fired = Object.entries(report.coverage).filter(([, n]) => n > 0)
  lines.push(...table(fired.map(([kind, n]) => [kind, count(n).padStart(12)])))
  if (report.neverFired.length > 0) lines.push(c.yellow(`  never fired: ${report.neverFired.join(", ")}`))

  lines.push("", c.bold("witnesses"))
  // Only a finished run can say a witness is unreachable, and it fails only for those its model must reach.
  const finished = report.result === "ok"
  type Status = "reached" | "missed" | "open"
  const witnesses = selection.protocol.witnesses.map((w) => ({
    ...w,
    status: (report.witnesses[w.name] === true ? "reached" : report.unreachedWitnesses.includes(w.name) ? "missed" : "open") as Status,
  }))
  const notes = { reached: "", missed: " (required by this model)", open: finished ? " (not required by this model)" : " (not reached yet)" }
  const marks = { reached: "✓", missed: "✗", open: "·" }
  const paint = { reached: c.green, missed: c.red, open: c.dim }
  const rows = table(witnesses.map((w): readonly [string, string] => [`${marks[w.status]} ${w.name}`, w.description + notes[w.status]]))
  rows.forEach((row, i) => lines.push(paint[witnesses[i]!.status](row)))

  if (expected.length > 0 || report.unrefutedExpectations.length > 0) {
    lines.push("", c.bold("expected violations") + c.dim(" (claims this model is built to refute)"))
    for (const e of expected) {
      lines.push(c.green(`  ✓ ${e.property} refuted in ${e.steps} steps: ${e.reason}`))
      lines.push(c.dim(`    trace written to ${shownPath(e.file)} — see it with: quorum trace show ${shownPath(e.file)}`))
    }
    for (const name of report.unrefutedExpectations) lines.push(c.red(`  ✗ ${name} was never refuted`))
  }

  if (verdict.result === "violation") {
    const description = propertyDescription(selection, verdict.property)
    lines.push("", c.bold(c.red(`${verdict.property}`)) + (description === undefined ? "" : ` — ${description}`))
    lines.push(`  ${verdict.reason}`)
  }
  if (states !== undefined) {
    lines.push("", c.bold(`trace (${states.length - 1} steps)`))
    const width = process.stdout.isTTY === true && (process.stdout.columns ?? 0) >= 40 ? process.stdout.columns : 100
    lines.push(...renderTrace(states, { style: traceStyle(c), width: width - 2, ...displayOf(selection.protocol) }).map((line) => `  ${line}`))
  }
  if (traceFile !== undefined) lines.push("", `trace written to ${shownPath(traceFile)}`)
  return lines
}

const propertyDescription = (selection: Selection, property: string | undefined): string | undefined => {
  const p = selection.protocol
  return [...p.invariants, ...p.transitionProperties].find((x) => x.name === property)?.description
}
