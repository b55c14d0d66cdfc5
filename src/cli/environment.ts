/**
 * The services effect/cli's runner requires (`Command.Environment`), implemented for Node. Effect's own Node
 * implementations live in @effect/platform-node, which this project does not depend on; quorum uses the CLI
 * library only to parse arguments and print help, so only `Path` and `Stdio` do real work here. The CLI
 * library reaches for the terminal only to prompt (the wizard, which is not enabled), for the file system only
 * for file-typed arguments (there are none) and never spawns processes: those three fail loudly if ever used.
 */
import { Effect, FileSystem, Layer, Path, Sink, Stdio, Stream, Terminal } from "effect"
import { ChildProcessSpawner } from "effect/process"

const unused = (what: string) => Effect.die(new Error(`quorum's CLI does not ${what}`))

const writeTo =
  (stream: NodeJS.WriteStream) =>
  (): Sink.Sink<void, string | Uint8Array> =>
    Sink.forEach((chunk: string | Uint8Array) => Effect.sync(() => void stream.write(chunk)))

const stdio = Stdio.make({
  args: Effect.sync(() => process.argv.slice(2)),
  stdout: writeTo(process.stdout),
  stderr: writeTo(process.stderr),
  // quorum reads nothing from standard input.
  stdin: Stream.empty,
  stdinIsTerminal: Effect.sync(() => process.stdin.isTTY === true),
  stdoutIsTerminal: Effect.sync(() => process.stdout.isTTY === true),
  stderrIsTerminal: Effect.sync(() => process.stderr.isTTY === true),
})

const terminal = Terminal.make({
  columns: Effect.sync(() => process.stdout.columns ?? 80),
  rows: Effect.sync(() => process.stdout.rows ?? 24),
  size: unused("track the terminal size"),
  readInput: unused("read key presses"),
  readLine: unused("prompt"),
  display: (text) => Effect.sync(() => void process.stdout.write(text)),
})

export const nodeCliEnvironment = Layer.mergeAll(
  Path.layer,
  Layer.succeed(Stdio.Stdio, stdio),
  Layer.succeed(Terminal.Terminal, terminal),
  FileSystem.layerNoop({}),
  Layer.succeed(ChildProcessSpawner.ChildProcessSpawner, ChildProcessSpawner.make(() => unused("spawn processes"))),
)
