/**
 * `npm run bench:inprocess [-- --writes 60000 --inflight 64 --rounds 3 --no-events]`: the protocol's own CPU
 * per write. Three RaftNodes run in this one process — the same hosts, spec, batching, coalescing, key space
 * and event logs (written to a temporary directory) as `quorum node` — connected by the in-memory network
 * (every message still JSON-encoded and decoded with the protocol's Schema), with stores that are durable at
 * once. What `bench:cluster` adds on top — HTTP, TCP, fsync, three processes on two cores — is left out, so
 * the figure moves with the code and hardly with this machine's load: the place to A/B a change to the spec
 * or the host. (It found three nodes in one process hashing one another's whole logs for their digests.)
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { nodeIds } from "../../spec/kernel/protocol.ts"
import { Message, type Durable } from "../../spec/raft/schema.ts"
import { wholeFlag } from "./bench-flags.ts"
import { realClock } from "./clock.ts"
import { FileEvents } from "./events.ts"
import { defaultTimings } from "./raft/config.ts"
import { RaftNode } from "./raft/raft-node.ts"
import { MemoryStore } from "./storage.ts"
import { MemoryNetwork } from "./transport.ts"

const args = process.argv.slice(2)
const WRITES = wholeFlag(args, "writes", 60_000, 1)
const INFLIGHT = wholeFlag(args, "inflight", 64, 1)
const ROUNDS = wholeFlag(args, "rounds", 3, 1)
const EVENTS = !args.includes("--no-events")
/** Unmeasured writes first: the JIT compiler warms up as it would in a long-running node. */
const WARMUP = 20_000

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-bench-inprocess-"))
const clock = realClock()
const net = new MemoryNetwork(clock, 0)
const ids = nodeIds(3)
// Durable on the next turn of the event loop: the host's group commit still sees appends in flight.
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))
const nodes = ids.map(
  (id, i) =>
    new RaftNode({
      self: id,
      nodes: ids,
      store: new MemoryStore<Durable>(undefined, nextTurn),
      transport: net.endpoint(id, Message, null),
      clock,
      seed: 1 + i,
      // n1 stands at once and the others never do: one event loop runs all three, so a long step (a snapshot of
      // a large key space) can hold back a follower's heartbeats, and this measures writes, not elections.
      timings: { ...defaultTimings, electionMs: i === 0 ? 50 : 3_600_000 },
      ...(EVENTS ? { events: new FileEvents(path.join(dir, id, "events.ndjson")) } : {}),
    }),
)

const value = (i: number): string => `v${i}-`.padEnd(128, "x")

/** `writes` sets of fresh keys, `INFLIGHT` at a time, each writer proposing again once its write is applied. */
const load = async (leader: RaftNode, from: number, writes: number): Promise<void> => {
  let next = from
  const writer = async (): Promise<void> => {
    while (next < from + writes) {
      const i = next++
      const r = await leader.propose({ _tag: "set", key: `/bench/${i}`, value: value(i) })
      if (r === undefined || !r.ok) throw new Error(`write ${i} failed: ${JSON.stringify(r)}`)
    }
  }
  await Promise.all(Array.from({ length: INFLIGHT }, writer))
}

try {
  for (const n of nodes) await n.start()
  const deadline = Date.now() + 10_000
  let leader: RaftNode | undefined
  while ((leader = nodes.find((n) => n.isLeader && n.kv.index >= 1)) === undefined) {
    if (Date.now() > deadline) throw new Error("no leader within 10 s")
    await new Promise((r) => setTimeout(r, 10))
  }
  process.stderr.write(`[inprocess] leader ${leader.id}; ${WARMUP.toLocaleString("en-US")} warm-up writes…\n`)
  await load(leader, 0, WARMUP)
  const rows: string[] = []
  for (let round = 1; round <= ROUNDS; round++) {
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    await load(leader, WARMUP + (round - 1) * WRITES, WRITES)
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const perWrite = (cpu.user + cpu.system) / WRITES
    rows.push(`| ${round} | ${Math.round(WRITES / seconds).toLocaleString("en-US")} | ${perWrite.toFixed(1)} µs |`)
  }
  process.stdout.write(
    [
      `three Raft nodes in one process (no HTTP, TCP or disk); ${WRITES.toLocaleString("en-US")} writes of 128-byte values per round, ${INFLIGHT} in flight; event logs ${EVENTS ? "on" : "off"}`,
      "| round | writes/s | CPU per write (all three nodes) |",
      "|---|---|---|",
      ...rows,
    ].join("\n") + "\n",
  )
} finally {
  for (const n of nodes) await n.stop()
  fs.rmSync(dir, { recursive: true, force: true })
}
