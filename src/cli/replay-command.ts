/**
 * `quorum replay FILE.itf.json [--in-process] [--node-variant V] [--events FILE] [--dir DIR] [--json]`: runs the trace's
 * cluster (protocol, model and variant from its #meta) on the runtime under the trace's schedule
 * (src/replay/README.md), compares every node with the trace after every step, and reports the first
 * divergence and whether the running cluster broke the property the trace predicts.
 *
 * Exit codes: 0 the running code agrees with the trace (it reproduced the violation, or — for a trace that ends
 * before one — it followed every step without breaking the property); 1 it diverged, or the verdict differs;
 * 2 bad input (unreadable trace, a trace of another tool, a step the spec itself does not take).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { ItfReadError } from "../../traces/itf.ts"
import { FileEvents } from "../runtime/events.ts"
import { replayOnRuntime, ReplayInputError, type ReplayStep, type RuntimeReplayResult } from "../replay/runtime-replay.ts"
import { ExitCode } from "./exit-codes.ts"
import { colorsFor } from "./render.ts"
import { UsageError } from "./resolve.ts"
import { loadTrace } from "./trace-command.ts"

export interface ReplayCommandOptions {
  readonly file: string
  readonly nodeVariant: string | undefined
  readonly events: string | undefined
  readonly dir: string | undefined
  readonly processes: boolean
  readonly json: boolean
}

/** The one-line verdict, e.g. "reproduced leaderCompleteness at step 12". */
export const verdict = (r: RuntimeReplayResult): string => {
  if (r.divergence !== undefined) {
    const broke = r.violation === undefined ? "" : `; ${r.property} broke on the running cluster at step ${r.violation.step}`
    return `diverged at step ${r.divergence.step} (${r.divergence.action})${broke}`
  }
  if (r.violation !== undefined) return `reproduced ${r.property} at step ${r.violation.step}: ${r.violation.reason}`
  if (r.predicted) return `followed every step, but ${r.property} did not break on the running cluster`
  return `followed all ${r.steps.length - 1} steps with no divergence; ${r.property} holds (the trace ends before any violation)`
}

export const exitCodeOf = (r: RuntimeReplayResult): number => (r.agrees ? ExitCode.ok : ExitCode.violation)

export const replayCommand = async (o: ReplayCommandOptions): Promise<number> => {
  const trace = loadTrace(o.file)
  if (trace.kind !== "quorum") throw new UsageError(`${o.file} is not a quorum trace (its #meta names no protocol): it cannot be replayed on running nodes`)
  const c = colorsFor(process.stdout)
  const events = o.events === undefined ? undefined : new FileEvents(path.resolve(o.events))
  if (o.events !== undefined) fs.rmSync(path.resolve(o.events), { force: true })
  const say = (text: string) => {
    if (!o.json) process.stdout.write(text + "\n")
  }
  const { meta } = trace
  say(
    `replaying ${meta.protocol}/${meta.model}/${meta.variant} (${trace.states.length - 1} steps) on ${trace.states[0]!.nodes.length} running nodes${o.processes ? " (one OS process each; a crash is SIGKILL)" : " (in this process)"}` +
      `${o.nodeVariant === undefined || o.nodeVariant === meta.variant ? "" : ` with the rules of ${o.nodeVariant}`}; the trace predicts ${meta.property}`,
  )
  const width = String(trace.states.length - 1).length
  const line = (s: ReplayStep) => {
    const mark = s.differences.length > 0 ? c.red("✗") : s.violated !== undefined ? c.red("!") : c.green("✓")
    say(`${String(s.step).padStart(width)} ${mark} ${s.action}`)
    for (const d of s.differences) say(`${" ".repeat(width)}     ${c.red(d)}`)
    if (s.violated !== undefined) say(`${" ".repeat(width)}     ${c.red(`${meta.property} violated: ${s.violated}`)}`)
  }
  let result
  try {
    result = await replayOnRuntime(trace, {
      onStep: line,
      ...(events === undefined ? {} : { events }),
      ...(o.dir === undefined ? {} : { dir: path.resolve(o.dir) }),
      processes: o.processes,
      ...(o.nodeVariant === undefined ? {} : { nodeVariant: o.nodeVariant }),
    })
  } catch (e) {
    if (e instanceof ItfReadError || e instanceof ReplayInputError) throw new UsageError(`${o.file}: ${e.message}`)
    throw e
  }
  if (o.json) {
    process.stdout.write(
      JSON.stringify({
        protocol: result.protocol,
        model: result.model,
        variant: result.variant,
        nodeVariant: result.nodeVariant,
        processes: result.processes,
        property: result.property,
        result: result.divergence !== undefined ? "diverged" : result.violation !== undefined ? "reproduced" : "followed",
        agrees: result.agrees,
        predicted: result.predicted,
        steps: result.steps.length - 1,
        divergence: result.divergence ?? null,
        violation: result.violation ?? null,
        events: o.events === undefined ? null : path.resolve(o.events),
      }) + "\n",
    )
  } else {
    say((result.agrees ? c.green : c.red)(verdict(result)))
    if (o.events !== undefined) say(`events of every node: ${o.events}`)
  }
  return exitCodeOf(result)
}

const exitWith = (body: () => Promise<number>) =>
  Effect.tryPromise({ try: body, catch: (error) => error }).pipe(
    Effect.map((code) => {
      process.exitCode = code
    }),
  )

export const replayCli = Command.make(
  "replay",
  {
    file: Argument.String("file").pipe(Argument.withDescription("A quorum ITF trace (.itf.json), from check, simulate or traces/corpus")),
    nodeVariant: Flag.String("node-variant").pipe(
      Flag.withDescription("Run the nodes with this variant's rules instead of the trace's (e.g. faithful: where does the fix leave the trace?)"),
      Flag.optional,
    ),
    events: Flag.String("events").pipe(Flag.withDescription("Write every node's NDJSON event log (restart, deliver, timer, send, persist) here"), Flag.optional),
    dir: Flag.String("dir").pipe(Flag.withDescription("Keep the nodes' data directories here (default: a temporary directory, removed)"), Flag.optional),
    inProcess: Flag.Boolean("in-process").pipe(
      Flag.withDescription("Run every node inside this process (same code, no process start-up: fast); default: one OS process per node, a crash is SIGKILL"),
      Flag.withDefault(false),
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print one JSON object on stdout and nothing else"), Flag.withDefault(false)),
  },
  (input) =>
    exitWith(() =>
      replayCommand({
        file: input.file,
        nodeVariant: Option.getOrUndefined(input.nodeVariant),
        events: Option.getOrUndefined(input.events),
        dir: Option.getOrUndefined(input.dir),
        processes: !input.inProcess,
        json: input.json,
      }),
    ),
).pipe(
  Command.withDescription("Replay a counterexample on running nodes under the trace's schedule: report the first divergence and whether the violation happened"),
  Command.withExamples([
    { command: "quorum replay traces/corpus/raft-vote-without-log-check.itf.json", description: "reproduced leaderCompleteness at step 12" },
    { command: "quorum replay FILE --node-variant faithful", description: "The same schedule on the faithful rules: where they leave the trace" },
  ]),
)
