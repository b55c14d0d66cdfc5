/**
 * `npm run corpus`: regenerates traces/corpus/, the counterexample of every flawed variant of every protocol
 * (`<protocol>-<variant>.itf.json`), each found by exhaustive search on the model its variant names in
 * `breaks.model`, and replayed against the spec before it is written. test/corpus.test.ts keeps the corpus
 * honest: every file must still validate, and the checker must still find a counterexample of its length.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { replay } from "../checker/replay.ts"
import { check } from "../checker/search.ts"
import { describeAction, Instance } from "../checker/world.ts"
import { protocols } from "../spec/registry.ts"
import { readTrace } from "../traces/trace.ts"
import { traceStates } from "../traces/trace.ts"
import { traceDocument } from "./cli/check-command.ts"
import { resolveSelection } from "./cli/resolve.ts"

export const corpusDir = path.resolve(import.meta.dirname, "..", "traces", "corpus")

/** The corpus file of a flawed variant. */
export const corpusFile = (protocol: string, variant: string): string => path.join(corpusDir, `${protocol}-${variant}.itf.json`)

/** Every flawed variant of every protocol: what the corpus holds. */
export const flawedVariants = (): ReadonlyArray<{ readonly protocol: string; readonly variant: string }> =>
  Object.values(protocols).flatMap((p) =>
    Object.entries(p.variants)
      .filter(([, info]) => info.breaks !== undefined)
      .map(([variant]) => ({ protocol: p.name, variant })),
  )

const generate = (protocolName: string, variant: string): string => {
  const selection = resolveSelection(protocolName, undefined, variant)
  const instance = new Instance(selection.protocol, selection.modelName, selection.model, selection.variantName)
  const started = performance.now()
  const report = check(instance)
  const violation = report.violation
  if (violation === undefined) throw new Error(`${protocolName} ${variant}: no counterexample on model ${selection.modelName} (${report.result})`)
  const states = traceStates(instance, violation.trace, (a) => describeAction(selection.protocol, a))
  const text = JSON.stringify(traceDocument(selection, violation, states), null, 2) + "\n"
  const replayed = readTrace(text)
  const verdict = replayed.kind === "quorum" ? replay(replayed) : undefined
  if (verdict?.ok !== true) throw new Error(`${protocolName} ${variant}: the trace found does not replay: ${JSON.stringify(verdict)}`)
  const file = corpusFile(protocolName, variant)
  fs.mkdirSync(corpusDir, { recursive: true })
  fs.writeFileSync(file, text)
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  return `${path.relative(process.cwd(), file)}: ${violation.property} at step ${states.length - 1} on model ${selection.modelName} (${seconds} s)`
}

if (import.meta.filename === process.argv[1] || process.argv[1]?.endsWith("src/corpus.ts") === true) {
  for (const { protocol, variant } of flawedVariants()) process.stdout.write(generate(protocol, variant) + "\n")
}
