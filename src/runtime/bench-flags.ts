/** The benchmark scripts' (bench*.ts) numeric flags, read and checked one way. */

/**
 * `--name N` in `args`: a whole number ≥ `min`, or `fallback` when the flag is absent. Anything else stops the
 * script with a message naming the flag and what it got (exit code 2), rather than running with NaN.
 */
export const wholeFlag = (args: ReadonlyArray<string>, name: string, fallback: number, min = 0): number => {
  const i = args.indexOf(`--${name}`)
  if (i < 0) return fallback
  const text = args[i + 1]
  const n = Number(text)
  if (text === undefined || text.trim() === "" || !Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} takes a whole number ≥ ${min} (got ${JSON.stringify(text ?? "nothing")})\n`)
    process.exit(2)
  }
  return n
}
