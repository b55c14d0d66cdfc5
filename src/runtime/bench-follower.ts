/**
 * `npm run bench:follower [-- --sizes 1,8,19,64 --entries 20000 --no-events]`: what one AppendEntries costs a
 * Raft follower. A real node process (`quorum node raft --id n2`) is fed AppendEntries of a fixed number of
 * entries (the benchmark's 128-byte writes) over TCP by this process, posing as leader n1, one at a time (each
 * sent when the previous one is answered, as the leader's stop-and-wait replication does); the follower's CPU
 * (user + system, from /proc) is divided by the messages and the entries it handled.
 *
 * The fit `CPU per message = fixed + per entry × size` is why a busy leader fills its messages before sending
 * (raft-node.ts, `maybeKick`): the fixed part — a step, an fdatasync'd append, socket calls — is most of a
 * small message's cost. Isolated from the rest of a cluster, so the figures do not depend on what else runs.
 * `QUORUM_NODE_FLAGS="--cpu-prof --cpu-prof-dir=D"` profiles the follower (it is stopped cleanly to write it).
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { wholeFlag, wholeListFlag } from "./bench-flags.ts"
import { encodeFrame, FrameDecoder, FrameKind } from "./frame.ts"
import { freePorts } from "./ports.ts"
import { processCpuSeconds } from "./proc-cpu.ts"
import { encodeCommand } from "./raft/kv.ts"
import { clusterName, parsePeers } from "./raft/server.ts"

const args = process.argv.slice(2)
/** Entries per AppendEntries: 1 to 64, the runtime's most per message. */
const SIZES = wholeListFlag(args, "sizes", [1, 8, 19, 64], 1, 64)
const ENTRIES = wholeFlag(args, "entries", 20_000, 1)
const EVENTS = !args.includes("--no-events")
const WARMUP_ENTRIES = 2000

const bin = fileURLToPath(new URL("../cli/quorum.mjs", import.meta.url))

const cpuSeconds = (pid: number): number => {
  const seconds = processCpuSeconds(pid)
  if (seconds === undefined) throw new Error(`cannot read the CPU time of process ${pid} (this benchmark needs Linux's /proc)`)
  return seconds
}

interface Measured {
  readonly size: number
  readonly messages: number
  readonly cpuPerMessageUs: number
  readonly cpuPerEntryUs: number
  readonly entriesPerSecond: number
}

const measure = async (size: number): Promise<Measured> => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-bench-follower-"))
  const [p1, p2, p3, client] = await freePorts(4)
  const peers = `n1=127.0.0.1:${p1},n2=127.0.0.1:${p2},n3=127.0.0.1:${p3}`
  // An election timeout far beyond the run: the follower must not stand for election meanwhile.
  const flags = ["node", "raft", "--id", "n2", "--peers", peers, "--client-port", String(client), "--dir", dir, "--election-ms", "600000", "--seed", "1"]
  const node = spawn(process.execPath, [...(process.env.QUORUM_NODE_FLAGS ?? "").split(" ").filter((f) => f !== ""), bin, ...flags, ...(EVENTS ? [] : ["--no-events"])], { stdio: ["ignore", "ignore", "pipe"] })
  let stderr = ""
  node.stderr.on("data", (c: Buffer) => (stderr += c.toString()))
  let sock: net.Socket | undefined
  try {
    for (let tries = 0; sock === undefined; tries++) {
      const attempt = net.connect(p2, "127.0.0.1")
      const connected = await new Promise<boolean>((resolve) => {
        attempt.once("error", () => resolve(false))
        attempt.once("connect", () => resolve(true))
      })
      if (connected) sock = attempt
      else {
        attempt.destroy()
        if (tries > 200 || node.exitCode !== null) throw new Error(`the follower did not start:\n${stderr}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    const leader: net.Socket = sock
    leader.write(encodeFrame(FrameKind.Hello, JSON.stringify({ cluster: clusterName(parsePeers(peers)), from: "n1", clientUrl: null })))
    const decoder = new FrameDecoder()
    let answered: (() => void) | undefined
    leader.on("data", (chunk: Buffer) => {
      for (const f of decoder.push(chunk)) if (f.kind === FrameKind.Message) answered?.()
    })
    let index = 0
    const appendEntries = (n: number): Promise<void> =>
      new Promise((resolve, reject) => {
        const entries = Array.from({ length: n }, () => {
          index++
          const command = { _tag: "set" as const, key: `/bench/${index}`, value: `v${index}-`.padEnd(128, "x"), id: `n1:${index}` }
          return { term: 1, value: encodeCommand(command) }
        })
        const timer = setTimeout(() => reject(new Error(`no answer to an AppendEntries in 10 s:\n${stderr}`)), 10_000)
        answered = () => (clearTimeout(timer), resolve())
        const prevLogIndex = index - n
        const message = { _tag: "AppendEntries", term: 1, prevLogIndex, prevLogTerm: prevLogIndex === 0 ? 0 : 1, entries, leaderCommit: prevLogIndex }
        leader.write(encodeFrame(FrameKind.Message, JSON.stringify(message)))
      })
    while (index < WARMUP_ENTRIES) await appendEntries(size)
    const from = index
    const cpu0 = cpuSeconds(node.pid!)
    const t0 = performance.now()
    while (index - from < ENTRIES) await appendEntries(size)
    const seconds = (performance.now() - t0) / 1000
    const cpu = cpuSeconds(node.pid!) - cpu0
    const entries = index - from
    const messages = entries / size
    return { size, messages, cpuPerMessageUs: (cpu / messages) * 1e6, cpuPerEntryUs: (cpu / entries) * 1e6, entriesPerSecond: entries / seconds }
  } finally {
    sock?.destroy()
    // A clean stop, so that QUORUM_NODE_FLAGS="--cpu-prof" gets its profile written.
    node.kill("SIGTERM")
    await new Promise((r) => (node.exitCode !== null || node.signalCode !== null ? r(undefined) : node.once("exit", r)))
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const results: Measured[] = []
for (const size of SIZES) {
  process.stderr.write(`[follower] ${ENTRIES.toLocaleString("en-US")} entries in AppendEntries of ${size}…\n`)
  results.push(await measure(size))
}
const int = (x: number) => Math.round(x).toLocaleString("en-US")
const rows = results.map((r) => [String(r.size), int(r.messages), `${int(r.cpuPerMessageUs)} µs`, `${r.cpuPerEntryUs.toFixed(1)} µs`, int(r.entriesPerSecond)])
const header = ["entries per AppendEntries", "messages", "follower CPU per message", "per entry", "entries/s"]
const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)))
const line = (cells: ReadonlyArray<string>) => `| ${cells.map((x, c) => x.padStart(widths[c]!)).join(" | ")} |`
const out = [`one Raft follower process, ${os.cpus().length} cores; 128-byte writes; event log ${EVENTS ? "on" : "off"}`, line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)]
// Least squares of CPU per message on size: the fixed cost of a message and the cost of each entry in it.
if (results.length >= 2) {
  const n = results.length
  const mx = results.reduce((a, r) => a + r.size, 0) / n
  const my = results.reduce((a, r) => a + r.cpuPerMessageUs, 0) / n
  const slope = results.reduce((a, r) => a + (r.size - mx) * (r.cpuPerMessageUs - my), 0) / results.reduce((a, r) => a + (r.size - mx) ** 2, 0)
  out.push(`fit: ${int(my - slope * mx)} µs per message + ${slope.toFixed(1)} µs per entry`)
}
process.stdout.write(`${out.join("\n")}\n`)
