/**
 * What `quorum check` shows on a terminal: the live progress line and the summary of a finished run.
 */
import { createLogUpdate } from "log-update"
import type { Progress } from "../../checker/search.ts"
import type { AnyProtocol } from "../../spec/kernel/protocol.ts"
import { plainStyle, type TraceStyle } from "../../traces/pretty.ts"

export interface Colors {
  readonly bold: (text: string) => string
  readonly dim: (text: string) => string
  readonly red: (text: string) => string
  readonly green: (text: string) => string
  readonly yellow: (text: string) => string
  readonly cyan: (text: string) => string
}

const ansi =
  (open: number, close: number) =>
  (text: string): string =>
    `\x1b[${open}m${text}\x1b[${close}m`

const same = (text: string): string => text
export const noColors: Colors = { bold: same, dim: same, red: same, green: same, yellow: same, cyan: same }
const ansiColors: Colors = {
  bold: ansi(1, 22),
  dim: ansi(2, 22),
  red: ansi(31, 39),
  green: ansi(32, 39),
  yellow: ansi(33, 39),
  cyan: ansi(36, 39),
}

/** Colours only for a terminal, and never when NO_COLOR is set (https://no-color.org) or TERM is dumb. */
export const canColor = (stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean =>
  stream.isTTY === true && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb"

export const colorsFor = (stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Colors =>
  canColor(stream, env) ? ansiColors : noColors

export const traceStyle = (c: Colors): TraceStyle =>
  c === noColors ? plainStyle : { step: c.dim, action: c.bold, node: c.cyan, added: c.green, removed: c.red, note: c.yellow }

export const count = (n: number): string => Math.round(n).toLocaleString("en-US")

export const duration = (seconds: number): string => {
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`
  const s = Math.floor(seconds)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = String(s % 60).padStart(2, "0")
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`
}

const megabytes = (bytes: number): string => `${Math.round(bytes / (1024 * 1024)).toLocaleString("en-US")} MB`

/**
 * The progress line on stderr, redrawn in place by log-update (which handles wrapping and the cursor).
 * States per second are measured over the last interval, so the number shows the current speed rather than
 * an average that hides a slowdown.
 */
export class ProgressLine {
  private previous: Progress | undefined
  private lastDrawn = 0
  private drawn = false
  private readonly log: ReturnType<typeof createLogUpdate>

  constructor(
    stream: NodeJS.WriteStream,
    private readonly minIntervalMs = 250,
  ) {
    this.log = createLogUpdate(stream)
  }

  update(p: Progress): void {
    const now = performance.now()
    if (this.drawn && now - this.lastDrawn < this.minIntervalMs) return
    const prev = this.previous
    const rate =
      prev !== undefined && p.seconds > prev.seconds
        ? (p.distinctStates - prev.distinctStates) / (p.seconds - prev.seconds)
        : p.distinctStates / Math.max(p.seconds, 1e-3)
    this.previous = p
    this.lastDrawn = now
    this.log(
      `${count(p.distinctStates)} distinct · ${count(p.statesGenerated)} generated · ${count(rate)} states/s · ` +
        `depth ${p.depth} · queue ${count(p.queue)} · ${duration(p.seconds)} · heap ${megabytes(p.heapBytes)}`,
    )
    this.drawn = true
  }

  clear(): void {
    if (this.drawn) this.log.clear()
    this.drawn = false
  }
}

/** Rows of two columns, the first padded to its widest cell. */
export const table = (rows: ReadonlyArray<readonly [string, string]>, indent = "  "): ReadonlyArray<string> => {
  const width = Math.max(0, ...rows.map(([left]) => left.length))
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}  ${right}`)
}

/** The render option that shows a protocol's numbers its own way (Protocol.display), when it has one. */
export const displayOf = (protocol: AnyProtocol): { readonly display?: NonNullable<AnyProtocol["display"]> } =>
  protocol.display === undefined ? {} : { display: protocol.display }
