/** The benchmark scripts' (bench*.ts) flags with values, read and checked one way. */

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

/**
 * `--name A,B,C` in `args`: whole numbers from `min` to `max`, or `fallback` when the flag is absent; anything
 * else stops the script as `wholeFlag` does.
 */
export const wholeListFlag = (
  args: ReadonlyArray<string>,
  name: string,
  fallback: ReadonlyArray<number>,
  min: number,
  max: number,
): ReadonlyArray<number> => {
  const i = args.indexOf(`--${name}`)
  if (i < 0) return fallback
  const text = args[i + 1] ?? ""
  const list = text.split(",").map(Number)
  if (text.trim() === "" || list.some((n) => !Number.isInteger(n) || n < min || n > max)) {
    process.stderr.write(`--${name} takes whole numbers from ${min} to ${max}, comma-separated (got ${JSON.stringify(text)})\n`)
    process.exit(2)
  }
  return list
}

/** `--name text` in `args`: the text after the flag, or undefined when the flag (or its value) is absent. */
export const textFlag = (args: ReadonlyArray<string>, name: string): string | undefined => {
  const i = args.indexOf(`--${name}`)
  return i < 0 ? undefined : args[i + 1]
}
