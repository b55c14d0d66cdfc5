/**
 * The `quorum` command line. effect/cli parses the arguments and prints help; the commands themselves are
 * plain async functions returning an exit code (see exit-codes.ts), and anything they throw is mapped to one
 * here: UsageError → 2, an abandoned run → 130, anything else → 4 with its stack.
 */
import { Cause, Effect, Exit, Layer, Option } from "effect"
import { Argument, CliConfig, CliError, CliOutput, Command, Flag, GlobalFlag } from "effect/cli"
import { checkCommand } from "./check-command.ts"
import { validateEventsCommand } from "./events-command.ts"
import { simulateCommand } from "./simulate-command.ts"
import { nodeCliEnvironment } from "./environment.ts"
import { ExitCode } from "./exit-codes.ts"
import { listCommand } from "./list-command.ts"
import { canColor, colorsFor } from "./render.ts"
import { UsageError } from "./resolve.ts"
import { RunAbandoned } from "./run-check.ts"
import { traceShowCommand, traceValidateCommand, traceViewCommand } from "./trace-command.ts"
import { toolInfo } from "./tool-info.ts"
import { nodeCli } from "./node-command.ts"
import { clusterCli } from "./cluster-command.ts"
import { generateCli } from "./generate-command.ts"
import { replayCli } from "./replay-command.ts"
import { syncDecideCli } from "./sync-decide-command.ts"

/** Runs a command body and records its exit code; the process then ends on its own once output is flushed. */
const exitWith = (body: () => Promise<number> | number) =>
  Effect.tryPromise({ try: async () => body(), catch: (error) => error }).pipe(
    Effect.map((code) => {
      process.exitCode = code
    }),
  )

const optional = <A>(o: Option.Option<A>): A | undefined => Option.getOrUndefined(o)

const positiveInteger = (name: string) =>
  Flag.Int(name).pipe(
    Flag.filter(
      (n) => n >= 1,
      () => "a whole number ≥ 1",
    ),
  )

/** "256m", "8g", "512k" or a number of bytes. */
const byteSize = (name: string) =>
  Flag.String(name).pipe(
    Flag.mapTryCatch(
      (text) => {
        const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim())
        if (m === null) throw new Error(`expected a size such as 256m or 8g, got "${text}"`)
        const scale = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 }[m[2]!.toLowerCase() as "" | "k" | "m" | "g" | "t"]
        const bytes = Math.floor(Number(m[1]) * scale)
        if (bytes < 2 ** 20) throw new Error(`a memory budget below 1m cannot hold a model, got "${text}"`)
        return bytes
      },
      (error) => (error instanceof Error ? error.message : String(error)),
    ),
  )

const json = Flag.Boolean("json").pipe(Flag.withDescription("Print one JSON object on stdout and nothing else"), Flag.withDefault(false))

/** Flags shared by every command that runs a protocol's model. */
const selectionFlags = {
  model: Flag.String("model").pipe(
    Flag.withDescription("Bounded model (default: the variant's own model, else the protocol's default)"),
    Flag.optional,
  ),
  variant: Flag.String("variant").pipe(Flag.withDescription("Variant of the protocol (default: the faithful one)"), Flag.optional),
  json,
  out: Flag.String("out").pipe(Flag.withDescription("Directory for counterexample traces (default: out/)"), Flag.optional),
}

const check = Command.make(
  "check",
  {
    protocol: Argument.String("protocol").pipe(Argument.withDescription("The protocol to check (see `quorum list`)")),
    ...selectionFlags,
    maxSeconds: Flag.Finite("max-seconds").pipe(
      Flag.filter(
        (s) => s > 0,
        () => "a number of seconds > 0",
      ),
      Flag.withDescription("Stop after this many seconds (exit 3)"),
      Flag.optional,
    ),
    maxStates: positiveInteger("max-states").pipe(Flag.withDescription("Stop after this many distinct states (exit 3)"), Flag.optional),
    workers: positiveInteger("workers").pipe(
      Flag.withDescription("Threads sharing the search (default 1); the same states and traces as one"),
      Flag.withDefault(1),
    ),
    symmetry: Flag.Boolean("symmetry").pipe(
      Flag.withDescription("Symmetry reduction: explore worlds equal up to renaming the servers once"),
      Flag.withDefault(false),
    ),
    memory: byteSize("memory").pipe(
      Flag.withDescription("Memory budget such as 256m or 8g; reaching it stops the run as incomplete (exit 3)"),
      Flag.optional,
    ),
    maxDepth: Flag.Int("max-depth").pipe(
      Flag.filter(
        (n) => n >= 0,
        () => "a whole number ≥ 0",
      ),
      Flag.withDescription("Explore no deeper than this many steps (exit 3 if states remain beyond)"),
      Flag.optional,
    ),
    view: Flag.Boolean("view").pipe(
      Flag.withDescription("Serve the counterexample in the browser viewer until Ctrl-C (the exit code stays the check's)"),
      Flag.withDefault(false),
    ),
  },
  (input) =>
    exitWith(() => {
      const maxSeconds = optional(input.maxSeconds)
      const maxStates = optional(input.maxStates)
      const maxDepth = optional(input.maxDepth)
      const maxMemoryBytes = optional(input.memory)
      return checkCommand({
        protocol: input.protocol,
        model: optional(input.model),
        variant: optional(input.variant),
        json: input.json,
        out: optional(input.out),
        view: input.view,
        symmetry: input.symmetry,
        workers: input.workers,
        limits: {
          ...(maxSeconds === undefined ? {} : { maxSeconds }),
          ...(maxStates === undefined ? {} : { maxStates }),
          ...(maxDepth === undefined ? {} : { maxDepth }),
          ...(maxMemoryBytes === undefined ? {} : { maxMemoryBytes }),
        },
      })
    }),
).pipe(
  Command.withDescription("Explore every reachable state of a bounded model and check the protocol's properties"),
  Command.withExamples([
    { command: "quorum check raft --model small", description: "Check faithful Raft on the small model" },
    { command: "quorum check raft --variant vote-without-log-check", description: "Find the counterexample of a flawed variant" },
    { command: "quorum check raft --max-seconds 60 --json", description: "Bounded run with machine-readable output" },
  ]),
)

const simulate = Command.make(
  "simulate",
  {
    protocol: Argument.String("protocol").pipe(Argument.withDescription("The protocol to simulate (see `quorum list`)")),
    ...selectionFlags,
    seed: Flag.Int("seed").pipe(Flag.withDescription("Seed of the random walks (default: fresh, and printed)"), Flag.optional),
    depth: positiveInteger("depth").pipe(Flag.withDescription("Steps per walk"), Flag.withDefault(100)),
    runs: positiveInteger("runs").pipe(Flag.withDescription("Number of walks"), Flag.optional),
    seconds: Flag.Finite("seconds").pipe(
      Flag.filter(
        (s) => s > 0,
        () => "a number of seconds > 0",
      ),
      Flag.withDescription("Walk for this long (default 30 s when --runs is not given)"),
      Flag.optional,
    ),
  },
  (input) =>
    exitWith(() =>
      simulateCommand({
        protocol: input.protocol,
        model: optional(input.model),
        variant: optional(input.variant),
        seed: optional(input.seed),
        depth: input.depth,
        runs: optional(input.runs),
        seconds: optional(input.seconds),
        json: input.json,
        out: optional(input.out),
      }),
    ),
).pipe(
  Command.withDescription("Random walks for models too big to explore; a violation is shrunk, validated and saved"),
  Command.withExamples([
    { command: "quorum simulate raft --variant commit-previous-term --seconds 60", description: "Find and shrink Figure 8" },
    { command: "quorum simulate raft --model five-servers --seed 7 --runs 200", description: "A repeatable run on 5 servers" },
  ]),
)

const traceFile = Argument.String("file").pipe(Argument.withDescription("An ITF trace file (.itf.json)"))

const stepNumber = (name: string) =>
  Flag.Int(name).pipe(
    Flag.filter(
      (n) => n >= 0,
      () => "a step number ≥ 0",
    ),
  )

const traceShow = Command.make(
  "show",
  {
    file: traceFile,
    node: Flag.String("node").pipe(Flag.withDescription("Only what concerns these nodes (comma-separated: n1,n2)"), Flag.optional),
    from: stepNumber("from").pipe(Flag.withDescription("First step to show (the state before it is shown in full)"), Flag.optional),
    to: stepNumber("to").pipe(Flag.withDescription("Last step to show"), Flag.optional),
    network: Flag.Boolean("network").pipe(Flag.withDescription("List the messages in flight after each step"), Flag.withDefault(false)),
  },
  (input) =>
    exitWith(() =>
      traceShowCommand({
        file: input.file,
        nodes: optional(input.node),
        from: optional(input.from),
        to: optional(input.to),
        network: input.network,
      }),
    ),
).pipe(
  Command.withDescription("Print a trace step by step: the action, then only what changed (quorum and Quint ITF traces)"),
  Command.withExamples([
    { command: "quorum trace show out/raft-small-vote-without-log-check-leaderCompleteness.itf.json", description: "The whole trace" },
    { command: "quorum trace show FILE --node n2 --from 3 --to 8 --network", description: "Steps 3–8 as n2 sees them" },
  ]),
)

const traceValidate = Command.make(
  "validate",
  {
    file: traceFile.pipe(Argument.optional),
    events: Flag.String("events").pipe(
      Flag.withDescription("Instead of a trace file: a cluster's data directory; every step its nodes logged must be legal"),
      Flag.optional,
    ),
    protocol: Flag.String("protocol").pipe(
      Flag.withDescription("The protocol the nodes ran (with --events; default: what their event logs name)"),
      Flag.optional,
    ),
  },
  (input) =>
    exitWith(() => {
      const file = optional(input.file)
      const events = optional(input.events)
      if ((file === undefined) === (events === undefined)) throw new UsageError("give either a trace FILE or --events DIR")
      return events !== undefined ? validateEventsCommand(events, optional(input.protocol)) : traceValidateCommand(file!)
    }),
).pipe(
  Command.withDescription(
    "Replay a trace against its protocol, model and variant: exit 0 if every step is legal and the last breaks the recorded property, 1 naming the first illegal step. With --events DIR, check a cluster run instead",
  ),
)

const traceView = Command.make(
  "view",
  {
    file: traceFile,
    host: Flag.String("host").pipe(Flag.withDescription("Address to listen on (default 127.0.0.1)"), Flag.optional),
    port: Flag.Int("port").pipe(
      Flag.filter(
        (n) => n >= 0 && n <= 65535,
        () => "a port number 0..65535",
      ),
      Flag.withDescription("Port to listen on (default: a free one)"),
      Flag.optional,
    ),
  },
  (input) => exitWith(() => traceViewCommand({ file: input.file, host: optional(input.host), port: optional(input.port) })),
).pipe(Command.withDescription("Serve a trace in the browser viewer (swim lanes, messages, state per step) until Ctrl-C"))

const trace = Command.make("trace").pipe(
  Command.withDescription("Read counterexample traces: show them, validate them against the spec, view them in a browser"),
  Command.withSubcommands([traceShow, traceValidate, traceView]),
)

const list = Command.make("list", { json }, (input) => exitWith(() => listCommand(input.json))).pipe(
  Command.withDescription("List the protocols with their models, variants, properties and witnesses"),
)

const quorum = Command.make("quorum").pipe(
  Command.withDescription("Quorum Workbench: model-check consensus protocols and explain their counterexamples"),
  Command.withSubcommands([check, simulate, trace, list, nodeCli, clusterCli, generateCli, replayCli, syncDecideCli]),
)

/** Writes to a stream, colouring help and errors only where that stream is a colour terminal. */
const writeFormatted = (stream: NodeJS.WriteStream, render: (formatter: CliOutput.Formatter) => string) =>
  Effect.sync(() => void stream.write(render(CliOutput.defaultFormatter({ colors: canColor(stream) })) + "\n"))

/**
 * Help asked for goes to stdout; help shown because the invocation was wrong goes to stderr with the errors,
 * so `--json` consumers never read usage text as output.
 */
const presenter: CliOutput.Presenter = {
  present: (event) => {
    switch (event._tag) {
      case "Help":
        return writeFormatted(event.reason === "Requested" ? process.stdout : process.stderr, (f) => f.formatHelpDoc(event.helpDoc))
      case "InvalidInvocation":
        return writeFormatted(process.stderr, (f) => `${f.formatHelpDoc(event.helpDoc)}\n${f.formatErrors(event.errors)}`)
      case "Version":
        return writeFormatted(process.stdout, (f) => f.formatVersion(event.name, event.version))
    }
  },
}

const cliLayer = Layer.mergeAll(
  nodeCliEnvironment,
  // The wizard prompts on a terminal quorum does not drive, and log levels mean nothing here.
  CliConfig.layer({ builtIns: [GlobalFlag.Help, GlobalFlag.Version, GlobalFlag.Completions] }),
  CliOutput.layerPresenter(presenter),
)

const reportFailure = (error: unknown): number => {
  const red = colorsFor(process.stderr).red
  if (CliError.isCliError(error)) return ExitCode.usage // effect/cli has already shown help and the errors
  if (error instanceof UsageError) {
    process.stderr.write(`${red("error:")} ${error.message}\n`)
    return ExitCode.usage
  }
  if (error instanceof RunAbandoned) {
    process.stderr.write(`${error.message}\n`)
    return ExitCode.abandoned
  }
  process.stderr.write(`${red("internal error:")} ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  return ExitCode.internal
}

const program = Command.runWith(quorum, { version: toolInfo().version })(process.argv.slice(2)).pipe(Effect.provide(cliLayer))
const exit = await Effect.runPromiseExit(program)
if (Exit.isFailure(exit)) {
  process.exitCode = Cause.hasInterruptsOnly(exit.cause) ? ExitCode.abandoned : reportFailure(Cause.squash(exit.cause))
}
