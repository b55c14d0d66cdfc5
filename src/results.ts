/**
 * `npm run results`: checks every (protocol, model, variant) row listed below and writes the results table into
 * README.md, between `<!-- results:begin -->` and `<!-- results:end -->`, so the numbers there are produced,
 * never typed.
 *
 * Each row runs `quorum check <protocol> --model M --variant V --json` in its own process, rather than the
 * checker in this one: every row gets a fresh heap (the big rows would otherwise share one), the verdict is the
 * CLI's own (a missed witness is a failure there too), a time or memory limit ends a row cleanly as
 * `incomplete` with the depth explored completely, and a reader can repeat any row with the same command.
 *
 *   npm run results                          every row (CPU-heavy: tens of minutes on 2 cores)
 *   npm run results -- --only zab/small,fle  rows matching protocol[/model[/variant]] (`*` matches any);
 *                                            the other rows already in the README table are kept as they are
 *   npm run results -- --dry-run             list the rows and their commands, run nothing
 *   npm run results -- --print               print the table instead of writing README.md
 *   --max-seconds N (cap on every row), --memory SIZE, --jobs N (rows at once; 1 keeps seconds comparable),
 *   --readme FILE, --out DIR (counterexample traces, default out/)
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseArgs } from "node:util"
import { protocols } from "../spec/registry.ts"

export const BEGIN = "<!-- results:begin -->"
export const END = "<!-- results:end -->"

const repoRoot = path.resolve(import.meta.dirname, "..")
const bin = path.join(repoRoot, "src", "cli", "quorum.mjs")

/**
 * The release variants refine sync into many small steps; under the issue's bounds they may not finish, so their
 * rows stop at this limit and report the depth explored completely (as the issue asks: a verdict or a stated limit).
 */
export const RELEASE_LIMIT_SECONDS = 300
const releaseVariants = new Set(["zk-3.8", "zk-current"])

export interface Row {
  readonly protocol: string
  readonly model: string
  readonly variant: string
  readonly maxSeconds?: number
  /** Why the row is in the table, when the rule below does not say it. */
  readonly why?: string
}

/** Rows beyond "every variant on its own model": each shows something the README discusses. */
export const extraRows: ReadonlyArray<Row> = [
  { protocol: "zab", model: "small", variant: "zab", why: "a small model whose state count the tests pin" },
  { protocol: "zab", model: "recovery", variant: "zab", why: "the faithful rule where diff-without-membership breaks" },
  { protocol: "zab", model: "stale-log", variant: "zk-storage", why: "TRUNC+DIFF needs a stale on-disk log" },
  { protocol: "zab", model: "stale-log", variant: "zab", why: "the same disks with the Zab papers' TRUNC" },
  { protocol: "zab", model: "releases", variant: "zab", maxSeconds: RELEASE_LIMIT_SECONDS, why: "baseline for the releases" },
  { protocol: "zab", model: "releases", variant: "zk-3.8", maxSeconds: RELEASE_LIMIT_SECONDS },
  { protocol: "zab", model: "releases", variant: "zk-current", maxSeconds: RELEASE_LIMIT_SECONDS },
  { protocol: "zab", model: "lagging", variant: "zab", why: "where zk-3.8 loses a committed txn" },
  { protocol: "zab", model: "lagging", variant: "zk-current", maxSeconds: RELEASE_LIMIT_SECONDS, why: "master's order on the same disks" },
  { protocol: "zab", model: "default", variant: "zk-3.8", maxSeconds: RELEASE_LIMIT_SECONDS },
  { protocol: "zab", model: "timeouts", variant: "zk-current", maxSeconds: RELEASE_LIMIT_SECONDS },
]

/** Every variant of every protocol on the model its `breaks` names, else the protocol's default model; then the extras. */
export const allRows = (): ReadonlyArray<Row> => {
  const rows: Row[] = []
  for (const p of Object.values(protocols)) {
    for (const [variant, info] of Object.entries(p.variants)) {
      const model = info.breaks?.model ?? p.defaultModel
      rows.push({ protocol: p.name, model, variant, ...(releaseVariants.has(variant) ? { maxSeconds: RELEASE_LIMIT_SECONDS } : {}) })
    }
  }
  for (const extra of extraRows) {
    if (!rows.some((r) => sameRow(r, extra))) rows.push(extra)
  }
  return rows
}

export const sameRow = (a: Row, b: Row): boolean => a.protocol === b.protocol && a.model === b.model && a.variant === b.variant

/** Whether the registry knows the row (zk-current, say, may not be written yet); undefined if so, else why not. */
export const unknownPart = (row: Row): string | undefined => {
  const p = protocols[row.protocol]
  if (p === undefined) return `no protocol ${row.protocol}`
  if (p.models[row.model] === undefined) return `no model ${row.model} in ${row.protocol}`
  if (p.variants[row.variant] === undefined) return `no variant ${row.variant} in ${row.protocol}`
  return undefined
}

/** `--only zab/small,fle`: each pattern is protocol[/model[/variant]], `*` matching any one part. */
export const matches = (row: Row, patterns: ReadonlyArray<string>): boolean =>
  patterns.length === 0 ||
  patterns.some((pattern) => {
    const parts = pattern.split("/")
    const fields = [row.protocol, row.model, row.variant]
    return parts.length <= 3 && parts.every((part, k) => part === "*" || part === fields[k])
  })

export interface RowOptions {
  /** A cap on every row's time limit. */
  readonly maxSeconds?: number
  readonly memory?: string
  readonly out: string
}

export const effectiveSeconds = (row: Row, options: Pick<RowOptions, "maxSeconds">): number | undefined =>
  row.maxSeconds === undefined ? options.maxSeconds : options.maxSeconds === undefined ? row.maxSeconds : Math.min(row.maxSeconds, options.maxSeconds)

/** The command that produces a row, as a reader would type it. */
export const commandOf = (row: Row, options: Pick<RowOptions, "maxSeconds" | "memory">): ReadonlyArray<string> => {
  const seconds = effectiveSeconds(row, options)
  return [
    "check",
    row.protocol,
    "--model",
    row.model,
    "--variant",
    row.variant,
    ...(seconds === undefined ? [] : ["--max-seconds", String(seconds)]),
    ...(options.memory === undefined ? [] : ["--memory", options.memory]),
  ]
}

/** What the table needs from `quorum check --json`. */
export interface RowResult {
  readonly row: Row
  readonly result: "ok" | "violation" | "incomplete" | "error"
  readonly property?: string
  readonly traceLength?: number
  readonly distinctStates?: number
  readonly seconds?: number
  readonly depth?: number
  readonly completeDepth?: number
  readonly stoppedBy?: string
  readonly maxSeconds?: number
  readonly coverage?: Readonly<Record<string, number>>
  /** Violations the model is built to show (`expectedViolations` of the report): FLE's two leaders in one round. */
  readonly expected?: ReadonlyArray<{ readonly property: string; readonly traceLength: number }>
  /** For `error`: the exit code and the last line the CLI wrote on stderr. */
  readonly error?: string
}

const expectedOf = (value: unknown): Pick<RowResult, "expected"> => {
  if (!Array.isArray(value) || value.length === 0) return {}
  const expected = value.flatMap((v: unknown) => {
    const e = v as { property?: unknown; traceLength?: unknown }
    return typeof e.property === "string" && typeof e.traceLength === "number" ? [{ property: e.property, traceLength: e.traceLength }] : []
  })
  return expected.length === 0 ? {} : { expected }
}

/** Runs one row's `quorum check --json` and reads its report (exit 0, 1 and 3 all print one). */
export const runRow = (row: Row, options: RowOptions): Promise<RowResult> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...commandOf(row, options), "--json", "--out", options.out], {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk))
    child.on("error", reject)
    child.on("close", (code, signal) => {
      const maxSeconds = effectiveSeconds(row, options)
      const limit = maxSeconds === undefined ? {} : { maxSeconds }
      if (code === 0 || code === 1 || code === 3) {
        try {
          const r = JSON.parse(stdout) as Record<string, unknown>
          const num = (k: string): number | undefined => (typeof r[k] === "number" ? r[k] : undefined)
          resolve({
            row,
            result: r.result as RowResult["result"],
            ...(typeof r.property === "string" ? { property: r.property } : {}),
            ...(num("traceLength") === undefined ? {} : { traceLength: num("traceLength")! }),
            distinctStates: num("distinctStates")!,
            seconds: num("seconds")!,
            depth: num("depth")!,
            completeDepth: num("completeDepth")!,
            ...(typeof r.stoppedBy === "string" ? { stoppedBy: r.stoppedBy } : {}),
            ...limit,
            coverage: r.coverage as Record<string, number>,
            ...expectedOf(r.expectedViolations),
          })
          return
        } catch {
          // Not a report after all: fall through and show it as an error row.
        }
      }
      const last = stderr.trim().split("\n").at(-1) ?? ""
      resolve({ row, result: "error", ...limit, error: `exit ${code ?? signal}${last === "" ? "" : `: ${last}`}` })
    })
  })

const fmtCount = (n: number | undefined): string => (n === undefined ? "" : Math.round(n).toLocaleString("en-US"))

/** The sync modes ZAB's coverage counts (`deliver SYNC DIFF`, …): how often each was exercised. */
export const syncModes = ["DIFF", "TRUNC", "TRUNC+DIFF", "SNAP"] as const

const hasSyncColumns = (protocol: string): boolean => protocol === "zab"

const header = (protocol: string): ReadonlyArray<string> => {
  const cols = ["model", "variant", "result", "property", "trace", "distinct states", "seconds", "depth explored"]
  const align = ["---", "---", "---", "---", "---:", "---:", "---:", "---:"]
  const sync = hasSyncColumns(protocol) ? syncModes : []
  return [`| ${[...cols, ...sync].join(" | ")} |`, `|${[...align, ...sync.map(() => "---:")].join("|")}|`]
}

const resultCell = (r: RowResult): string => {
  switch (r.result) {
    case "incomplete": {
      const by = r.stoppedBy === "max-seconds" && r.maxSeconds !== undefined ? `${r.maxSeconds} s limit` : (r.stoppedBy ?? "stopped")
      return `incomplete (${by})`
    }
    case "error":
      return `error (${(r.error ?? "").replace(/\|/g, "\\|")})`
    default:
      return r.result
  }
}

/** One markdown table line; its first two cells are the key `parseTable` reads back. */
export const renderRow = (r: RowResult): string => {
  // A violation's trace is already a shortest one (BFS), so its depth says nothing more.
  const depthCell = r.result === "ok" ? `all (${r.depth})` : r.result === "incomplete" ? String(r.completeDepth) : ""
  const cells = [
    `\`${r.row.model}\``,
    `\`${r.row.variant}\``,
    resultCell(r),
    // A violation the model is built to show is named as expected; an unexpected one takes the cells first.
    r.property !== undefined ? `\`${r.property}\`` : (r.expected ?? []).map((e) => `\`${e.property}\` (expected)`).join(", "),
    r.traceLength !== undefined ? String(r.traceLength) : (r.expected ?? []).map((e) => String(e.traceLength)).join(", "),
    fmtCount(r.distinctStates),
    r.seconds === undefined ? "" : r.seconds.toFixed(r.seconds < 1 ? 2 : 1),
    depthCell,
    ...(hasSyncColumns(r.row.protocol) ? syncModes.map((m) => fmtCount(r.coverage?.[`deliver SYNC ${m}`])) : []),
  ]
  return `| ${cells.join(" | ")} |`
}

const heading = (protocol: string): string => `#### \`${protocol}\``

/** The lines of an earlier table, by row: what a filtered run keeps for the rows it does not run. */
export const parseTable = (block: string): ReadonlyMap<string, string> => {
  const lines = new Map<string, string>()
  let protocol: string | undefined
  for (const line of block.split("\n")) {
    const h = /^#### `([^`]+)`$/.exec(line.trim())
    if (h !== null) protocol = h[1]
    const cell = /^\| `([^`]+)` \| `([^`]+)` \|/.exec(line)
    if (cell !== null && protocol !== undefined) lines.set(keyOf({ protocol, model: cell[1]!, variant: cell[2]! }), line)
  }
  return lines
}

const keyOf = (row: Row): string => `${row.protocol}/${row.model}/${row.variant}`

/**
 * The markdown between the markers: one table per protocol, rows in `rows` order. A row comes from `fresh` if it
 * was run now, else from `previous` (its line in the README's table), else it is left out.
 */
export const renderBlock = (
  rows: ReadonlyArray<Row>,
  fresh: ReadonlyArray<RowResult>,
  previous: ReadonlyMap<string, string>,
  machine: string,
): string => {
  const out: string[] = [
    BEGIN,
    "<!-- produced by `npm run results` (src/results.ts); edits between these markers are overwritten -->",
    "",
  ]
  const protocolsInOrder = [...new Set(rows.map((r) => r.protocol))]
  for (const protocol of protocolsInOrder) {
    const lines: string[] = []
    for (const row of rows.filter((r) => r.protocol === protocol)) {
      const now = fresh.find((f) => sameRow(f.row, row))
      const line = now !== undefined ? renderRow(now) : previous.get(keyOf(row))
      if (line !== undefined) lines.push(line)
    }
    if (lines.length === 0) continue
    out.push(heading(protocol), "", ...header(protocol), ...lines, "")
  }
  out.push(
    "Each row is `npx quorum check <protocol> --model M --variant V` (with `--max-seconds` where a limit is shown). " +
      "*trace*: steps of the shortest counterexample; *(expected)*: a violation the model is built to show, found as it should be. *depth explored*: the BFS depth of the whole state graph " +
      "(`all`), or for a run stopped at a limit the depth up to which every state was explored. *DIFF … SNAP*: transitions that deliver a SYNC of that mode (coverage). *seconds*: the checker's " +
      `own time, one thread, ${machine}.`,
    END,
  )
  return out.join("\n")
}

/** Replaces what lies between the markers (markers included) with `block`; the markers must be there once. */
export const replaceBlock = (text: string, block: string, file = "README.md"): string => {
  const begin = text.indexOf(BEGIN)
  const end = text.indexOf(END)
  if (begin < 0 || end < begin || text.indexOf(BEGIN, begin + 1) >= 0 || text.indexOf(END, end + 1) >= 0) {
    throw new Error(`${file} must hold ${BEGIN} and then ${END}, once each`)
  }
  return text.slice(0, begin) + block + text.slice(end + END.length)
}

/** The text between the markers, or "" when there is none yet. */
export const currentBlock = (text: string): string => {
  const begin = text.indexOf(BEGIN)
  const end = text.indexOf(END)
  return begin >= 0 && end > begin ? text.slice(begin, end) : ""
}

export const machineDescription = (): string => {
  const cpus = os.cpus()
  return `Node ${process.version}, ${cpus.length} × ${cpus[0]?.model.trim() ?? "unknown CPU"}`
}

/** Runs `rows` `jobs` at a time, reporting each as it ends. */
export const runRows = async (
  rows: ReadonlyArray<Row>,
  options: RowOptions,
  jobs: number,
  onDone: (r: RowResult) => void = () => {},
): Promise<ReadonlyArray<RowResult>> => {
  const results: RowResult[] = new Array<RowResult>(rows.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < rows.length) {
      const k = next++
      results[k] = await runRow(rows[k]!, options)
      onDone(results[k]!)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, rows.length)) }, worker))
  return results
}

const summary = (r: RowResult): string => {
  const what =
    r.result === "violation"
      ? `violation ${r.property}${r.traceLength === undefined ? "" : ` (${r.traceLength} steps)`}`
      : r.result === "incomplete"
        ? `incomplete (${r.stoppedBy}), complete to depth ${r.completeDepth}`
        : r.result === "error"
          ? `error: ${r.error}`
          : `ok${(r.expected ?? []).map((e) => `, expected ${e.property} found (${e.traceLength} steps)`).join("")}`
  const counts = r.distinctStates === undefined ? "" : `, ${fmtCount(r.distinctStates)} states, ${r.seconds?.toFixed(1)} s`
  return `${keyOf(r.row)}: ${what}${counts}`
}

const usage = `usage: npm run results -- [--only PATTERNS] [--dry-run] [--print] [--max-seconds N] [--memory SIZE] [--jobs N]
                              [--readme FILE] [--out DIR]
  PATTERNS: comma-separated protocol[/model[/variant]], * for any part (zab/small, fle, zab/*/zk-3.8)`

const main = async (argv: ReadonlyArray<string>): Promise<number> => {
  let values
  try {
    ;({ values } = parseArgs({
      args: [...argv],
      options: {
        only: { type: "string" },
        "dry-run": { type: "boolean", default: false },
        print: { type: "boolean", default: false },
        "max-seconds": { type: "string" },
        memory: { type: "string" },
        jobs: { type: "string", default: "1" },
        readme: { type: "string", default: path.join(repoRoot, "README.md") },
        out: { type: "string", default: path.join(repoRoot, "out") },
        help: { type: "boolean", default: false },
      },
      strict: true,
    }))
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${usage}\n`)
    return 2
  }
  if (values.help) {
    process.stdout.write(`${usage}\n`)
    return 0
  }
  const maxSeconds = values["max-seconds"] === undefined ? undefined : Number(values["max-seconds"])
  const jobs = Number(values.jobs)
  if ((maxSeconds !== undefined && !(maxSeconds > 0)) || !Number.isInteger(jobs) || jobs < 1) {
    process.stderr.write(`--max-seconds takes seconds > 0 and --jobs a whole number ≥ 1\n${usage}\n`)
    return 2
  }
  const patterns = (values.only ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "")
  const listed = allRows()
  const selected = listed.filter((r) => matches(r, patterns))
  if (selected.length === 0) {
    process.stderr.write(`no row matches --only ${values.only}\n${usage}\n`)
    return 2
  }
  const options: RowOptions = { out: values.out, ...(maxSeconds === undefined ? {} : { maxSeconds }), ...(values.memory === undefined ? {} : { memory: values.memory }) }
  const runnable = selected.filter((r) => {
    const missing = unknownPart(r)
    if (missing !== undefined) process.stderr.write(`skipping ${keyOf(r)}: ${missing}\n`)
    return missing === undefined
  })
  if (values["dry-run"]) {
    for (const r of runnable) process.stdout.write(`npx quorum ${commandOf(r, options).join(" ")}${r.why === undefined ? "" : `    # ${r.why}`}\n`)
    return 0
  }
  const fresh = await runRows(runnable, options, jobs, (r) => process.stderr.write(`${summary(r)}\n`))
  const readme = values.readme
  const text = values.print ? "" : fs.readFileSync(readme, "utf8")
  const block = renderBlock(listed, fresh, parseTable(currentBlock(text)), machineDescription())
  if (values.print) process.stdout.write(`${block}\n`)
  else {
    fs.writeFileSync(readme, replaceBlock(text, block, path.relative(process.cwd(), readme)))
    process.stderr.write(`wrote ${fresh.length} row(s) into ${path.relative(process.cwd(), readme)}\n`)
  }
  return fresh.some((r) => r.result === "error") ? 1 : 0
}

if (import.meta.filename === process.argv[1] || process.argv[1]?.endsWith("src/results.ts") === true) {
  process.exitCode = await main(process.argv.slice(2))
}
