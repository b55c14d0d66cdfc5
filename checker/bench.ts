/**
 * `npm run bench`: throughput of the checker on fixed Raft models. Prints one row per model; the figures
 * are what to compare before and after a change to the checker or the spec.
 *   npm run bench                 all models below
 *   npm run bench -- small        only the named ones
 */
import { raft } from "../spec/raft/index.ts"
import { check } from "./search.ts"
import { Instance } from "./world.ts"

const runs: ReadonlyArray<{ model: string; variant: string }> = [
  { model: "elect", variant: "faithful" },
  { model: "small", variant: "faithful" },
  { model: "figure8", variant: "commit-previous-term" },
  { model: "default", variant: "faithful" },
]

const wanted = process.argv.slice(2)
const rows = []
for (const { model, variant } of runs) {
  if (wanted.length > 0 && !wanted.includes(model)) continue
  const r = check(new Instance(raft, model, raft.models[model]!, variant))
  rows.push({
    model,
    variant,
    result: r.result,
    distinct: r.distinctStates,
    generated: r.statesGenerated,
    depth: r.depth,
    seconds: Number(r.seconds.toFixed(2)),
    "distinct/s": Math.round(r.distinctStates / r.seconds),
    "generated/s": Math.round(r.statesGenerated / r.seconds),
    "heap MB": Math.round(process.memoryUsage().heapUsed / 2 ** 20),
  })
}
console.table(rows)
