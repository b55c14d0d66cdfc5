/**
 * `quorum replay`: counterexamples replayed on running nodes (NodeHost + FileStore + the wire codec) under the
 * trace's schedule reproduce the violation the model predicts, at the same step; a clean prefix is followed
 * with no divergence; the faithful rules on a flawed variant's schedule leave the trace where the fix acts.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { expand, type TraceStep } from "../checker/search.ts"
import { describeAction, Instance } from "../checker/world.ts"
import { raft } from "../spec/raft/index.ts"
import { MemoryEvents } from "../src/runtime/events.ts"
import { replayOnRuntime } from "../src/replay/runtime-replay.ts"
import { readTrace, traceStates, type QuorumTrace } from "../traces/trace.ts"

const repo = path.resolve(import.meta.dirname, "..")
const corpus = path.join(repo, "traces/corpus")

const load = (name: string): QuorumTrace => {
  const t = readTrace(fs.readFileSync(path.join(corpus, name), "utf8"))
  if (t.kind !== "quorum") throw new Error(`${name} is not a quorum trace`)
  return t
}

/**
 * A clean trace of faithful Raft on the `default` model (crash, partition, loss and duplication budgets of 1): a
 * seeded random walk over the checker's own successors that prefers faults while their budgets last.
 */
const randomWalk = (seed: number, depth: number): QuorumTrace => {
  const instance = new Instance(raft, "default", raft.models.default!, "faithful")
  let x = seed >>> 0 || 1
  const next = (n: number) => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) % n
  }
  const steps: TraceStep[] = [{ action: undefined, world: instance.initial() }]
  for (let k = 0; k < depth; k++) {
    const options: TraceStep[] = []
    expand(instance, steps.at(-1)!.world, (action, world, inside) => {
      if (inside) options.push({ action, world })
    })
    if (options.length === 0) break
    const faults = options.filter((o) => ["Crash", "Restart", "Partition", "Heal", "Drop", "Duplicate"].includes(o.action!._tag))
    const pool = faults.length > 0 && next(3) === 0 ? faults : options
    steps.push(pool[next(pool.length)]!)
  }
  return {
    kind: "quorum",
    meta: { protocol: "raft", model: "default", variant: "faithful", property: "leaderCompleteness", reason: "" },
    protocol: raft,
    states: traceStates(instance, steps, (a) => describeAction(raft, a)),
  }
}

const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    const c = spawn(process.execPath, [path.join(repo, "src/cli/quorum.mjs"), ...args], { cwd: repo, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } })
    let stdout = ""
    let stderr = ""
    c.stdout.on("data", (b: Buffer) => (stdout += b.toString()))
    c.stderr.on("data", (b: Buffer) => (stderr += b.toString()))
    c.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

describe("replay on running nodes", () => {
  it("reproduces vote-without-log-check's leaderCompleteness violation at step 12, with no divergence", async () => {
    const events = new MemoryEvents()
    const r = await replayOnRuntime(load("raft-vote-without-log-check.itf.json"), { events })
    expect(r.divergence).toBeUndefined()
    expect(r.violation?.step).toBe(12)
    expect(r.violation?.reason).toBe("n3, leader of term 2, lacks entry 1 (term 1, v1) committed in term 1")
    expect(r.predicted).toBe(true)
    expect(r.agrees).toBe(true)
    expect(r.steps.map((s) => s.differences.length)).toEqual(Array(13).fill(0))
    // The recorded events: every node booted, and messages really crossed the wire codec and the disk.
    const evs = events.parsed().map((e) => e.ev)
    expect(evs.filter((e) => e === "restart")).toHaveLength(3)
    expect(evs).toContain("persist")
    expect(evs).toContain("send")
    expect(evs).toContain("deliver")
  })

  it.each([
    ["raft-commit-previous-term.itf.json", "leaderCompleteness", 28],
    ["raft-volatile-voted-for.itf.json", "electionSafety", 8],
  ])("reproduces the corpus trace %s (%s at step %i), crashes and restarts from disk included", async (file, property, step) => {
    const r = await replayOnRuntime(load(file))
    expect(r.divergence).toBeUndefined()
    expect(r.property).toBe(property)
    expect(r.violation?.step).toBe(step)
    expect(r.agrees).toBe(true)
  })

  it("reproduces Figure 8 (commit-previous-term, leaderCompleteness at step 28) with every node its own OS process", async () => {
    const events = new MemoryEvents()
    const r = await replayOnRuntime(load("raft-commit-previous-term.itf.json"), { processes: true, events })
    expect(r.processes).toBe(true)
    expect(r.divergence).toBeUndefined()
    expect(r.violation?.step).toBe(28)
    expect(r.agrees).toBe(true)
    expect(new Set(events.parsed().map((e) => e.node))).toEqual(new Set(["n1", "n2", "n3"]))
  })

  it("restarts a SIGKILLed node process from its disk (volatile-voted-for: two leaders at step 8)", async () => {
    const r = await replayOnRuntime(load("raft-volatile-voted-for.itf.json"), { processes: true })
    expect(r.steps.map((s) => s.action)).toContain("crash n1")
    expect(r.divergence).toBeUndefined()
    expect(r.violation?.step).toBe(8)
  })

  it("follows a clean trace (a prefix that ends before the violation) with no divergence and no violation", async () => {
    const full = load("raft-vote-without-log-check.itf.json")
    const prefix: QuorumTrace = { ...full, states: full.states.slice(0, 10) }
    const r = await replayOnRuntime(prefix)
    expect(r.steps).toHaveLength(10)
    expect(r.divergence).toBeUndefined()
    expect(r.violation).toBeUndefined()
    expect(r.predicted).toBe(false)
    expect(r.agrees).toBe(true)
  })

  it("follows random walks of faithful Raft with crashes, restarts, partitions, losses and duplications step for step", async () => {
    const kinds = new Set<string>()
    let replayed = 0
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const trace = randomWalk(seed, 40)
      for (const s of trace.states) kinds.add(s.actionTaken)
      const r = await replayOnRuntime(trace)
      replayed += r.steps.length - 1
      expect(r.divergence, `seed ${seed}`).toBeUndefined()
      expect(r.violation, `seed ${seed}`).toBeUndefined()
      expect(r.agrees).toBe(true)
    }
    // The walks end where the model's bounds leave no step (terms ≤ 2, ≤ 2 messages in flight).
    expect(replayed).toBeGreaterThan(100)
    // The walks exercised every kind of step the scheduler drives.
    for (const k of ["deliver", "timeout", "client", "crash", "restart", "partition", "drop", "duplicate"]) expect(kinds, k).toContain(k)
  })

  it("reports the first divergence when the nodes run other rules than the trace's (the faithful vote check)", async () => {
    const r = await replayOnRuntime(load("raft-vote-without-log-check.itf.json"), { nodeVariant: "faithful" })
    expect(r.divergence?.step).toBe(11)
    expect(r.divergence?.action).toBe("deliver RequestVote n3→n1")
    expect(r.divergence?.differences).toContain('n1.votedFor: running null, trace "n3"')
    expect(r.violation).toBeUndefined()
    expect(r.agrees).toBe(false)
  })

  it("quorum replay: exit 0 and the verdict line when reproduced, exit 1 when diverged, exit 2 for bad input", async () => {
    const file = path.join(corpus, "raft-vote-without-log-check.itf.json")
    const ok = await cli(["replay", file])
    expect(ok.stderr).toBe("")
    expect(ok.stdout).toContain("one OS process each")
    expect(ok.stdout).toContain("reproduced leaderCompleteness at step 12")
    expect(ok.code).toBe(0)
    const json = await cli(["replay", file, "--json", "--in-process"])
    expect(JSON.parse(json.stdout)).toMatchObject({ result: "reproduced", agrees: true, violation: { step: 12 }, divergence: null })
    const diverged = await cli(["replay", file, "--node-variant", "faithful", "--in-process"])
    expect(diverged.stdout).toContain("diverged at step 11 (deliver RequestVote n3→n1)")
    expect(diverged.code).toBe(1)
    const missing = await cli(["replay", path.join(corpus, "no-such.itf.json")])
    expect(missing.code).toBe(2)
  })
})
