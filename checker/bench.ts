/**
 * `npm run bench`: throughput and memory of the checker on fixed Raft and ZAB models, printed as a table and
 * written to out/bench-results.json so runs can be compared.
 *   npm run bench                 every row below
 *   npm run bench -- small zab    only the rows of the named models or protocols
 */
import * as fs from "node:fs"
import type { AnyProtocol } from "../spec/kernel/protocol.ts"
import { protocols } from "../spec/registry.ts"
import { checkParallel } from "./parallel.ts"
import { check } from "./search.ts"
import { Instance } from "./world.ts"

const runs: ReadonlyArray<{ protocol: string; model: string; variant: string; symmetry?: boolean; workers?: number }> = [
  { protocol: "raft", model: "elect", variant: "faithful" },
  { protocol: "raft", model: "small", variant: "faithful" },
  { protocol: "raft", model: "small", variant: "faithful", symmetry: true },
  { protocol: "raft", model: "figure8", variant: "commit-previous-term" },
  { protocol: "raft", model: "default", variant: "faithful" },
  { protocol: "raft", model: "default", variant: "faithful", workers: 2 },
  { protocol: "zab", model: "default", variant: "zab" },
  { protocol: "zab", model: "default", variant: "zab", workers: 2 },
]

const wanted = process.argv.slice(2)
const rows = []
for (const { protocol: name, model, variant, symmetry, workers } of runs) {
  if (wanted.length > 0 && !wanted.includes(model) && !wanted.includes(name)) continue
  const protocol: AnyProtocol = protocols[name]!
  const config = symmetry === true ? { ...protocol.models[model]!, symmetry } : protocol.models[model]!
  const instance = new Instance(protocol, model, config, variant)
  const r = workers === undefined ? check(instance) : await checkParallel(instance, { workers })
  rows.push({
    protocol: name,
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
