/**
 * `npm run bench`: throughput and memory of the checker on fixed Raft models, printed as a table and written
 * to out/bench-results.json so runs can be compared.
 *   npm run bench                 every row below
 *   npm run bench -- small        only the rows of the named models
 */
import * as fs from "node:fs"
import { raft } from "../spec/raft/index.ts"
import { checkParallel } from "./parallel.ts"
import { check } from "./search.ts"
import { Instance } from "./world.ts"

const runs: ReadonlyArray<{ model: string; variant: string; symmetry?: boolean; workers?: number }> = [
  { model: "elect", variant: "faithful" },
  { model: "small", variant: "faithful" },
  { model: "small", variant: "faithful", symmetry: true },
  { model: "figure8", variant: "commit-previous-term" },
  { model: "default", variant: "faithful" },
  { model: "default", variant: "faithful", workers: 2 },
]

const wanted = process.argv.slice(2)
const rows = []
for (const { model, variant, symmetry, workers } of runs) {
  if (wanted.length > 0 && !wanted.includes(model)) continue
  const config = symmetry === true ? { ...raft.models[model]!, symmetry } : raft.models[model]!
  const instance = new Instance(raft, model, config, variant)
  const r = workers === undefined ? check(instance) : await checkParallel(instance, { workers })
  rows.push({
    model: symmetry === true ? `${model} (symmetry)` : model,
    variant,
    workers: workers ?? 1,
    result: r.result,
    distinct: r.distinctStates,
    generated: r.statesGenerated,
    seconds: Number(r.seconds.toFixed(2)),
    "generated/s": Math.round(r.statesGenerated / r.seconds),
    "distinct/s": Math.round(r.distinctStates / r.seconds),
    "index B/state": Number((r.indexBytes / r.distinctStates).toFixed(1)),
    "peak RSS MB": Math.round(process.resourceUsage().maxRSS / 1024),
  })
}
console.table(rows)
fs.mkdirSync("out", { recursive: true })
fs.writeFileSync("out/bench-results.json", JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2) + "\n")
console.log("written to out/bench-results.json")
