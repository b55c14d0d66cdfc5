/**
 * `npm run bench:disk [-- --writes 3000 --sizes 300,10000 --dir D]`: what one durable log append costs on this
 * machine's disk, the way `FileStore` writes (O_DSYNC, one write per append), in the two layouts it could use:
 * appending to the file's end (each write grows the file, so the journal commits its size and new blocks) and
 * overwriting zeros written ahead (what `FileStore` does: `PREALLOCATE_BYTES`). Prints wall time and process CPU
 * per write; the kernel's journal thread works on top of that CPU in the first layout. Run it on the disk the
 * nodes' `--dir` is on (`--dir`, default the system's temporary directory).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { textFlag, wholeFlag, wholeListFlag } from "./bench-flags.ts"

const args = process.argv.slice(2)
const WRITES = wholeFlag(args, "writes", 3000, 1)
/** Bytes per append: a Raft leader's group commit of a few 128-byte writes, and of ~48. */
const SIZES = wholeListFlag(args, "sizes", [300, 10_000], 1, 1 << 20)
const base = textFlag(args, "dir") ?? os.tmpdir()
const dir = fs.mkdtempSync(path.join(base, "quorum-bench-disk-"))

const cpuMs = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

interface Measured {
  readonly wallUs: number
  readonly cpuUs: number
}

const measure = (size: number, zerosAhead: boolean): Measured => {
  const file = path.join(dir, zerosAhead ? "ahead.log" : "append.log")
  fs.rmSync(file, { force: true })
  const { O_WRONLY, O_CREAT, O_APPEND, O_DSYNC } = fs.constants
  if (zerosAhead) {
    const zeros = Buffer.alloc(1 << 20)
    const fd = fs.openSync(file, O_WRONLY | O_CREAT)
    for (let written = 0; written < WRITES * size; written += zeros.length) fs.writeSync(fd, zeros)
    fs.fsyncSync(fd)
    fs.closeSync(fd)
  }
  const fd = fs.openSync(file, zerosAhead ? O_WRONLY | O_DSYNC : O_WRONLY | O_CREAT | O_APPEND | O_DSYNC)
  const record = Buffer.alloc(size, 0x61)
  const cpu0 = cpuMs()
  const t0 = performance.now()
  for (let i = 0; i < WRITES; i++) fs.writeSync(fd, record, 0, size, zerosAhead ? i * size : null)
  const wall = performance.now() - t0
  const cpu = cpuMs() - cpu0
  fs.closeSync(fd)
  fs.rmSync(file, { force: true })
  return { wallUs: (wall * 1000) / WRITES, cpuUs: (cpu * 1000) / WRITES }
}

try {
  const rows: string[] = []
  for (const size of SIZES) {
    // Twice each, interleaved: the first round also warms the file system's caches.
    const runs = [measure(size, false), measure(size, true), measure(size, false), measure(size, true)]
    const [append, ahead] = [runs[2]!, runs[3]!]
    const cell = (m: Measured) => `${m.wallUs.toFixed(0)} µs / ${m.cpuUs.toFixed(0)} µs`
    rows.push(`| ${String(size).padStart(11)} | ${cell(append).padStart(24)} | ${cell(ahead).padStart(24)} |`)
  }
  process.stdout.write(
    `${WRITES} O_DSYNC writes per cell, one at a time, in ${base}\n` +
      `| bytes/write | append: wall / CPU       | zeros ahead: wall / CPU  |\n` +
      `|-------------|--------------------------|--------------------------|\n` +
      rows.join("\n") +
      "\n",
  )
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
