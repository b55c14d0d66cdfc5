/** CPU time of other processes, for the benchmarks (Linux: /proc). */
import * as fs from "node:fs"

/** Linux's USER_HZ, the unit of /proc/<pid>/stat times: 100 on every architecture Node runs on. */
const CLOCK_TICKS = 100

/** A process's CPU seconds so far (user + system, all its threads), or undefined where /proc cannot tell. */
export const processCpuSeconds = (pid: number): number | undefined => {
  try {
    // Fields after the command name (which may hold spaces and parentheses): utime is field 14, stime 15.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    const ticks = Number(fields[11]) + Number(fields[12])
    return Number.isFinite(ticks) ? ticks / CLOCK_TICKS : undefined
  } catch {
    return undefined
  }
}
