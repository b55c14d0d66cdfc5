/**
 * `quorum trace show | validate | view FILE`: reading counterexamples. Every command reads the file strictly
 * first (readTrace: ITF shape, then each state decoded with the recorded protocol's Schemas), so a truncated
 * or malformed file, an unknown protocol, model or variant, or a state that does not decode is bad input
 * (exit 2) with the JSON path of the problem.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { replay } from "../../checker/replay.ts"
import type { AnyProtocol } from "../../spec/kernel/protocol.ts"
import { ItfReadError } from "../../traces/itf.ts"
import { renderGenericTrace, renderTrace, type RenderOptions } from "../../traces/pretty.ts"
import { readTrace, type QuorumTrace, type TraceFile } from "../../traces/trace.ts"
import { startViewer, TraceFileError, type RunningViewer } from "../viewer/server.ts"
import { ExitCode } from "./exit-codes.ts"
import { colorsFor, displayOf, traceStyle } from "./render.ts"
import { UsageError } from "./resolve.ts"

const shownPath = (file: string): string => {
  const relative = path.relative(process.cwd(), path.resolve(file))
  return relative.startsWith("..") || path.isAbsolute(relative) ? path.resolve(file) : relative
}

/** Reads and decodes a trace file; anything wrong with it is a UsageError (exit 2) naming the JSON path. */
export const loadTrace = (file: string): TraceFile => {
  let text: string
  try {
    text = fs.readFileSync(file, "utf8")
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new UsageError(`cannot read the trace ${file}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : String(error)}`)
  }
  try {
    return readTrace(text)
  } catch (error) {
    if (error instanceof ItfReadError) throw new UsageError(`${shownPath(file)} is not a readable trace: ${error.message}`)
    throw error
  }
}

const propertyDescription = (protocol: AnyProtocol, property: string): string | undefined =>
  [...protocol.invariants, ...protocol.transitionProperties].find((p) => p.name === property)?.description

export interface ShowOptions {
  readonly file: string
  /** Comma-separated node ids. */
  readonly nodes: string | undefined
  readonly from: number | undefined
  readonly to: number | undefined
  readonly network: boolean
}

/** `quorum trace show`: the trace step by step, only what changed, wrapped to the terminal (100 columns otherwise). */
export const traceShowCommand = (options: ShowOptions): number => {
  const trace = loadTrace(options.file)
  const last = trace.states.length - 1
  const from = options.from ?? 0
  const to = options.to ?? last
  if (from > last) throw new UsageError(`--from ${from} is past the end of the trace, whose steps are 0..${last}`)
  if (from > to) throw new UsageError(`--from ${from} is after --to ${to}`)
  const colors = colorsFor(process.stdout)
  const width = process.stdout.isTTY === true && (process.stdout.columns ?? 0) >= 40 ? process.stdout.columns : 100
  const base: RenderOptions = { style: traceStyle(colors), width, from, to: Math.min(to, last), network: options.network }
  const lines: string[] = []
  if (trace.kind === "generic") {
    if (options.nodes !== undefined || options.network) {
      throw new UsageError("--node and --network apply to quorum traces; this trace (no protocol in its #meta) has variables, not nodes")
    }
    const source = typeof trace.meta.source === "string" ? ` of ${trace.meta.source}` : ""
    lines.push(colors.bold(`ITF trace${source}: ${last} steps`))
    lines.push(...renderGenericTrace(trace.states, base))
  } else {
    const nodes = options.nodes?.split(",").map((n) => n.trim()).filter((n) => n !== "")
    const ids = trace.states[0]!.nodes.map((n) => n.id as string)
    for (const id of nodes ?? []) {
      if (!ids.includes(id)) throw new UsageError(`--node ${id}: the trace's nodes are ${ids.join(", ")}`)
    }
    const { meta, protocol } = trace
    const description = propertyDescription(protocol, meta.property)
    lines.push(
      colors.bold(`${meta.protocol} · model ${meta.model} · variant ${meta.variant}: ${last} steps, ${meta.property} broken at step ${last}`),
    )
    lines.push(
      ...renderTrace(trace.states, {
        ...base,
        ...displayOf(protocol),
        ...(nodes === undefined ? {} : { nodes }),
        violation: { property: meta.property, reason: meta.reason, ...(description === undefined ? {} : { description }) },
      }),
    )
  }
  process.stdout.write(lines.join("\n") + "\n")
  return ExitCode.ok
}

const quorumTrace = (trace: TraceFile, file: string): QuorumTrace => {
  if (trace.kind === "quorum") return trace
  throw new UsageError(
    `${shownPath(file)} is not a quorum trace ($["#meta"].protocol is missing): validate replays a trace against the protocol, model and variant its #meta names`,
  )
}

/** `quorum trace validate`: replays the trace against the spec; 0 when legal and broken at its end, 1 otherwise. */
export const traceValidateCommand = (file: string): number => {
  const trace = quorumTrace(loadTrace(file), file)
  let result
  try {
    result = replay(trace)
  } catch (error) {
    if (error instanceof ItfReadError) throw new UsageError(`${shownPath(file)} cannot be replayed: ${error.message}`)
    throw error
  }
  const c = colorsFor(process.stdout)
  const { meta } = trace
  const what = `${meta.protocol}/${meta.model} (variant ${meta.variant})`
  if (result.ok) {
    process.stdout.write(
      `${c.green("✓")} every step of ${shownPath(file)} is a legal transition of ${what}\n` +
        `${c.bold(`violates ${result.property} at step ${result.violatedAt}`)}: ${result.reason}\n`,
    )
    return ExitCode.ok
  }
  process.stdout.write(`${c.red("✗")} ${shownPath(file)} is not a counterexample of ${what}\n  ${result.reason}\n`)
  return ExitCode.violation
}

// ——— The browser viewer (src/viewer/server.ts) ———

export interface ViewOptions {
  readonly file: string
  readonly host: string | undefined
  readonly port: number | undefined
}

/**
 * Serves the viewer for `file` (already known to be a readable trace) until Ctrl-C, then closes it. The URL
 * goes to `out`: stdout for `trace view`, stderr when stdout carries JSON.
 */
export const serveViewer = async (options: ViewOptions, out: NodeJS.WriteStream): Promise<void> => {
  let server: RunningViewer
  try {
    server = await startViewer({
      file: path.resolve(options.file),
      ...(options.host === undefined ? {} : { host: options.host }),
      ...(options.port === undefined ? {} : { port: options.port }),
    })
  } catch (error) {
    if (error instanceof TraceFileError) throw new UsageError(`${shownPath(options.file)} is not a readable trace: ${error.detail}`)
    const code = (error as NodeJS.ErrnoException).code
    if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL" || code === "ENOTFOUND") {
      throw new UsageError(`cannot serve the viewer on ${options.host ?? "127.0.0.1"}:${options.port ?? 0}: ${code}`)
    }
    throw error
  }
  out.write(`viewing ${shownPath(options.file)} at ${server.url} (Ctrl-C stops)\n`)
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.removeListener("SIGINT", stop)
      process.removeListener("SIGTERM", stop)
      resolve()
    }
    process.on("SIGINT", stop)
    process.on("SIGTERM", stop)
  })
  await server.close()
}

/** `quorum trace view`: checks the file, then serves it in the browser viewer until Ctrl-C (exit 0). */
export const traceViewCommand = async (options: ViewOptions): Promise<number> => {
  loadTrace(options.file)
  await serveViewer(options, process.stdout)
  return ExitCode.ok
}
