/**
 * Conformance: the steps running nodes log are legal transitions of the spec, across elections, client
 * writes, a crash and a restart; and a tampered log is caught, naming the node and the event.
 */
import { describe, expect, it } from "vitest"
import { nodeId } from "../../spec/kernel/protocol.ts"
import { raft } from "../../spec/raft/index.ts"
import { loggedVariant, validateEvents } from "../../src/runtime/conformance.ts"
import { runtimeConfig, RUNTIME_VARIANT } from "../../src/runtime/raft/config.ts"
import { SimCluster } from "./sim-cluster.ts"

/**
 * Runs a cluster with writes, a leader crash, more writes and its restart. Returns every node's whole event log
 * (every file, when `eventsMaxLines` makes the logs rotate) and each node's newest file.
 */
const recordedRun = async (
  options: { readonly eventsMaxLines?: number; readonly digestEveryMs?: number; readonly before?: number; readonly after?: number } = {},
): Promise<{ readonly whole: Map<string, string[]>; readonly newest: Map<string, string[]> }> => {
  const c = new SimCluster({
    seed: 5,
    ...(options.eventsMaxLines === undefined ? {} : { eventsMaxLines: options.eventsMaxLines }),
    ...(options.digestEveryMs === undefined ? {} : { digestEveryMs: options.digestEveryMs }),
  })
  const whole = new Map<string, string[]>(c.ids.map((id) => [id, []]))
  const newest = new Map<string, string[]>()
  const collect = (id: string) => {
    const sink = c.events.get(nodeId(id))!
    whole.get(id)!.push(...sink.rotated.flat(), ...sink.lines)
    // The node's current file: after its last rotation (a checkpoint first), or since its restart.
    newest.set(id, [...sink.lines])
  }
  await c.startAll()
  await c.until(() => c.leaders().length === 1, "a leader")
  for (let i = 0; i < (options.before ?? 5); i++) await c.drive(c.leaders()[0]!.propose({ _tag: "set", key: `/k${i}`, value: String(i) }))
  const leader = c.leaders()[0]!.id
  const durable = c.crash(leader)
  collect(leader)
  await c.until(() => c.leaders().length === 1, "a new leader")
  for (let i = 0; i < (options.after ?? 1); i++) await c.drive(c.leaders()[0]!.propose({ _tag: "set", key: `/after${i}`, value: "crash" }))
  await c.restart(leader, durable)
  await c.clock.advance(500)
  for (const id of c.ids) if (id !== leader) collect(id)
  collect(leader)
  return { whole, newest }
}

const validate = (events: Map<string, string[]>, variant = loggedVariant(raft, events)) =>
  validateEvents({ protocol: raft, config: runtimeConfig(), variant: raft.variants[variant]!.flags, events })

describe("validating a rotated event log", () => {
  it("checkpoints let the whole history, or only the newest file, be checked against the spec", async () => {
    const { whole, newest } = await recordedRun({ eventsMaxLines: 40, before: 12, after: 6 })
    const report = validate(whole)
    expect(report.problems).toEqual([])
    expect(Object.values(report.nodes).every((n) => n.checkpoints > 0)).toBe(true)
    const alone = validate(newest)
    expect(alone.problems).toEqual([])
    for (const lines of newest.values()) expect(lines[0]).toMatch(/"ev":"(checkpoint|restart)"/)
    // A checkpoint that does not continue the events before it is caught.
    const n2 = whole.get("n2")!
    const at = n2.findIndex((l) => l.includes('"ev":"checkpoint"'))
    n2[at] = n2[at]!.replace(/"currentTerm":(\d+)/, (_m, t: string) => `"currentTerm":${Number(t) + 1}`)
    expect(validate(whole).problems.some((p) => p.startsWith(`n2 event ${at + 1}: the checkpoint's state has digest`))).toBe(true)
  })
})

describe("validating a cluster run against the spec", () => {
  it("accepts every step of a run with writes, a crash and a restart", async () => {
    const report = validate((await recordedRun()).whole)
    expect(report.problems).toEqual([])
    expect(report.ok).toBe(true)
    const total = Object.values(report.nodes)
    expect(total.reduce((a, n) => a + n.steps, 0)).toBeGreaterThan(50)
    expect(total.reduce((a, n) => a + n.restarts, 0)).toBe(4)
  })

  it("replays the variant the nodes logged; the leader's flush steps are not steps of the faithful rules", async () => {
    const logs = (await recordedRun()).whole
    expect(loggedVariant(raft, logs)).toBe(RUNTIME_VARIANT)
    expect([...logs.values()].flat().some((l) => l.includes('"action":{"name":"flushLog"}'))).toBe(true)
    const report = validate(logs, "faithful")
    expect(report.ok).toBe(false)
    expect(report.problems.some((p) => /a client request: the spec persists but the node logged none/.test(p))).toBe(true)
  })

  it("names the node and event of a state the spec does not produce", async () => {
    const logs = (await recordedRun()).whole
    const n2 = logs.get("n2")!
    const at = n2.findIndex((l) => l.includes('"ev":"deliver"'))
    n2[at] = n2[at]!.replace(/"digest":"[0-9a-f]+"/, '"digest":"0000000000000000"')
    const report = validate(logs)
    expect(report.ok).toBe(false)
    expect(report.problems[0]).toMatch(new RegExp(`^n2 event ${at + 1}: a delivery from n\\d leads the spec to a state with digest`))
  })

  it("checks sampled digests where the lines have them, and every step's sends and persists regardless", async () => {
    const logs = (await recordedRun({ digestEveryMs: 100, before: 12 })).whole
    const report = validate(logs)
    expect(report.problems).toEqual([])
    const nodes = Object.values(report.nodes)
    expect(nodes.every((n) => n.digests >= n.restarts && n.digests < n.steps)).toBe(true)
    // A digested step with a wrong digest is still caught; so is a persist flag on an undigested one.
    const n1 = logs.get("n1")!
    const digested = n1.findIndex((l) => l.includes('"ev":"deliver"') && l.includes('"digest"'))
    n1[digested] = n1[digested]!.replace(/"digest":"[0-9a-f]+"/, '"digest":"0000000000000000"')
    const bare = n1.findIndex((l) => l.includes('"ev":"deliver"') && !l.includes('"digest"') && !l.includes('"persist"'))
    n1[bare] = n1[bare]!.replace(/}$/, ',"persist":true}')
    const problems = validate(logs).problems
    expect(problems.some((p) => p.startsWith(`n1 event ${digested + 1}: `) && p.includes("leads the spec to a state with digest"))).toBe(true)
    expect(problems.some((p) => p.startsWith(`n1 event ${bare + 1}: `) && p.includes("persists nothing"))).toBe(true)
  })

  it("catches a message the spec never asked to send", async () => {
    const logs = (await recordedRun()).whole
    const n1 = logs.get("n1")!
    n1.push('{"t":0,"node":"n1","ev":"send","to":"n2","msg":{"_tag":"RequestVote","term":99,"lastLogIndex":0,"lastLogTerm":0}}')
    const report = validate(logs)
    expect(report.problems.some((p) => p.includes("sent RequestVote to n2, which no step of the spec asked for"))).toBe(true)
  })
})
