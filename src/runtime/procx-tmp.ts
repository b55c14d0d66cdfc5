import * as fs from "node:fs"
export const procDetail = (pid: number): number[] => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  let vol = 0, nonvol = 0
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try { const s = fs.readFileSync(`/proc/${pid}/task/${t}/status`, "utf8")
      vol += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(s)![1]); nonvol += Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(s)![1]) } catch {}
  }
  return [Number(f[11]) / 100, Number(f[12]) / 100, vol, nonvol]
}
export const threads = (pid: number): Map<string, number> => {
  const m = new Map<string, number>()
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try { const stat = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8")
      const name = t === String(pid) ? "main" : "t" + t
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      m.set(name, (m.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100) } catch {}
  }
  return m
}
