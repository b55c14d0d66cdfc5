/**
 * `quorum trace show | validate | view` and `quorum check --view` end to end, through the real bin, on a
 * counterexample the checker writes (vote-without-log-check: 12 steps, found in well under a second).
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const repoRoot = path.resolve(import.meta.dirname, "..")
const bin = path.join("src", "cli", "quorum.mjs")
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-trace-"))
afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }))

const quintFixture = path.join("test", "fixtures", "quint-counter.itf.json")

interface Run {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

const quorum = (...args: string[]): Run => {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: repoRoot, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } })
  if (r.error !== undefined) throw r.error
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** The checker's counterexample file, and its parsed JSON. */
let traceFile: string
let original: Json

/** Writes an edited copy of the trace and returns its path. */
const variantOf = (name: string, edit: (doc: Json) => void): string => {
  const doc = structuredClone(original)
  edit(doc)
  const file = path.join(outDir, `${name}.itf.json`)
  fs.writeFileSync(file, JSON.stringify(doc, null, 2))
  return file
}

/** The step numbers of the action lines in `show` output. */
const shownSteps = (stdout: string): number[] => [...stdout.matchAll(/^ *(\d+)\. /gm)].map((m) => Number(m[1]))

beforeAll(() => {
  const run = quorum("check", "raft", "--variant", "vote-without-log-check", "--json", "--out", outDir)
  expect(run.status, run.stderr).toBe(1)
  traceFile = (JSON.parse(run.stdout) as { trace: string }).trace
  original = JSON.parse(fs.readFileSync(traceFile, "utf8")) as Json
})

describe("quorum trace show", () => {
  it("prints every step's action, only what changed, and the broken property at the end, within 100 columns", () => {
    const run = quorum("trace", "show", traceFile)
    expect(run.status, run.stderr).toBe(0)
    expect(run.stderr).toBe("")
    const actions = (original.states as Json[]).map((s) => s.action as string)
    expect(actions).toHaveLength(13)
    actions.forEach((action, i) => expect(run.stdout).toMatch(new RegExp(`^ *${i}\\. ${action.replace(/[{}()[\]"]/g, "\\$&")}`, "m")))
    expect(shownSteps(run.stdout)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    expect(run.stdout).toMatch(/^ +n1: role "Follower"→"Candidate", currentTerm 0→1,/m)
    const tail = run.stdout.trimEnd().split("\n").slice(-4).join(" ").replace(/ +/g, " ")
    expect(tail).toContain("✗ violates leaderCompleteness: n3, leader of term 2, lacks entry 1 (term 1, v1) committed in term 1")
    expect(tail).toContain("Leader Completeness")
    for (const line of run.stdout.split("\n")) expect(line.length, line).toBeLessThanOrEqual(100)
    expect(run.stdout).not.toContain("\x1b[")
  })

  it("--node n2 shows only n2's changes and the messages it sends or receives", () => {
    const run = quorum("trace", "show", traceFile, "--node", "n2")
    expect(run.status, run.stderr).toBe(0)
    expect(shownSteps(run.stdout)).toHaveLength(13)
    expect(run.stdout).toMatch(/^ +n2: currentTerm 0→1, votedFor null→"n1"/m)
    expect(run.stdout).not.toMatch(/^ +n[13]: /m)
    expect(run.stdout).not.toMatch(/^ +n1, n2, n3: /m)
    for (const line of run.stdout.split("\n").filter((l) => /^ +[+−] /.test(l))) expect(line).toMatch(/n2→|→n2/)
    expect(run.stdout).not.toContain("ghost.")
  })

  it("--from 3 --to 5 shows steps 3 to 5, after the state before them in full", () => {
    const run = quorum("trace", "show", traceFile, "--from", "3", "--to", "5")
    expect(run.status, run.stderr).toBe(0)
    expect(shownSteps(run.stdout)).toEqual([2, 3, 4, 5])
    expect(run.stdout).toMatch(/^ *2\. deliver RequestVote n1→n2 \(state in full\)$/m)
    expect(run.stdout).not.toContain("✗ violates")
  })

  it("--network lists the messages in flight after each step", () => {
    const run = quorum("trace", "show", traceFile, "--network", "--to", "1")
    expect(run.status, run.stderr).toBe(0)
    expect(run.stdout).toMatch(/^ +in flight: nothing$/m)
    expect(run.stdout).toMatch(/^ +in flight: 2\n +· RequestVote n1→n2 \{term:1,lastLogIndex:0,lastLogTerm:0\}\n +· RequestVote n1→n3 /m)
  })

  it("rejects a node or a range the trace does not have with exit 2", () => {
    expect(quorum("trace", "show", traceFile, "--node", "n9")).toMatchObject({ status: 2, stdout: "" })
    expect(quorum("trace", "show", traceFile, "--node", "n9").stderr).toContain("--node n9: the trace's nodes are n1, n2, n3")
    expect(quorum("trace", "show", traceFile, "--from", "13").stderr).toContain("--from 13 is past the end of the trace, whose steps are 0..12")
    expect(quorum("trace", "show", traceFile, "--from", "5", "--to", "3").status).toBe(2)
    expect(quorum("trace", "show", traceFile, "--from", "-1").status).toBe(2)
  })

  it("shows a Quint trace generically: mbt::actionTaken with its picks, then the variables that changed", () => {
    const run = quorum("trace", "show", quintFixture)
    expect(run.status, run.stderr).toBe(0)
    expect(run.stdout.split("\n")).toEqual([
      "ITF trace of counter.qnt: 4 steps",
      "0. init",
      '     counts = Map("alice"->0,"bob"->0)',
      '     last = ("",0)',
      '1. inc (amount: 2, who: "alice")',
      '     counts["alice"] 0→2',
      '     last ("",0)→("alice",2)',
      '2. inc (amount: 1, who: "bob")',
      '     counts["bob"] 0→1',
      '     last ("alice",2)→("bob",1)',
      '3. inc (amount: 3, who: "alice")',
      '     counts["alice"] 2→5',
      '     last ("bob",1)→("alice",3)',
      '4. reset (who: "bob")',
      '     counts["bob"] 1→0',
      '     last ("alice",3)→("bob",0)',
      "",
    ])
    expect(quorum("trace", "show", quintFixture, "--node", "n1").status).toBe(2)
  })
})

describe("quorum trace validate", () => {
  it("replays the checker's trace and exits 0 with the property and the step that breaks it", () => {
    const run = quorum("trace", "validate", traceFile)
    expect(run.status, run.stderr).toBe(0)
    expect(run.stdout).toContain("violates leaderCompleteness at step 12")
    expect(run.stdout).toContain("is a legal transition of raft/small (variant vote-without-log-check)")
  })

  it("exits 1 naming step 5 when a value of state 5 was changed", () => {
    const file = variantOf("tampered", (doc) => {
      const n1 = doc.states[5].nodes["#map"][0][1]
      expect(n1.state.currentTerm).toEqual({ "#bigint": "1" })
      n1.state.currentTerm = { "#bigint": "2" }
    })
    const run = quorum("trace", "validate", file)
    expect(run.status, run.stderr).toBe(1)
    expect(run.stdout).toContain(
      "step 5: no successor of step 4 via 'timeout n1 heartbeat' produces this state; n1.currentTerm differs: trace has 2, spec gives 1",
    )
  })

  it("exits 1 when two states are swapped", () => {
    const file = variantOf("swapped", (doc) => {
      ;[doc.states[7], doc.states[8]] = [doc.states[8], doc.states[7]]
      doc.states[7]["#meta"].index = 7
      doc.states[8]["#meta"].index = 8
    })
    const run = quorum("trace", "validate", file)
    expect(run.status, run.stderr).toBe(1)
    expect(run.stdout).toMatch(/^ +step 7: /m)
  })

  it("exits 1 when the last state does not break the recorded property", () => {
    const file = variantOf("short", (doc) => doc.states.pop())
    const run = quorum("trace", "validate", file)
    expect(run.status, run.stderr).toBe(1)
    expect(run.stdout).toContain("the last state (step 11) does not violate leaderCompleteness")
  })

  it("exits 2 for a trace without a protocol (a Quint trace)", () => {
    const run = quorum("trace", "validate", quintFixture)
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('is not a quorum trace ($["#meta"].protocol is missing)')
  })
})

describe("bad trace files", () => {
  it("a truncated file makes show, validate and view exit 2 naming the JSON path", () => {
    const text = fs.readFileSync(traceFile, "utf8")
    const file = path.join(outDir, "truncated.itf.json")
    fs.writeFileSync(file, text.slice(0, Math.floor(text.length / 2)))
    for (const command of ["show", "validate", "view"]) {
      const run = quorum("trace", command, file)
      expect(run.status, `${command}: ${run.stderr}`).toBe(2)
      expect(run.stdout, command).toBe("")
      expect(run.stderr, command).toMatch(/truncated\.itf\.json is not a readable trace: \$\.states\[\d+\]\S*: not valid JSON .*truncated\?/)
    }
  })

  it("an unknown protocol in #meta makes every trace command exit 2, naming the valid ones", () => {
    const file = variantOf("paxos", (doc) => (doc["#meta"].protocol = "paxos"))
    for (const command of ["show", "validate", "view"]) {
      const run = quorum("trace", command, file)
      expect(run.status, command).toBe(2)
      expect(run.stderr, command).toContain('$["#meta"].protocol: unknown protocol "paxos"; valid protocols: raft')
    }
  })

  it("a state that does not decode is rejected with exit 2 and its path", () => {
    const file = variantOf("undecodable", (doc) => (doc.states[3].network[0].msg.term = "one"))
    const run = quorum("trace", "show", file)
    expect(run.status).toBe(2)
    expect(run.stderr).toContain("$.states[3].network[0].msg.term: not a valid raft message: Expected")
  })

  it("a missing file is exit 2", () => {
    const run = quorum("trace", "show", path.join(outDir, "nope.itf.json"))
    expect(run.status).toBe(2)
    expect(run.stderr).toContain("no such file")
  })
})

/** Runs the bin until it prints the viewer's URL, fetches `path` from it, then presses Ctrl-C. */
const viewAndStop = async (args: ReadonlyArray<string>, page: string): Promise<{ status: number | null; body: string; output: string }> => {
  const child = spawn(process.execPath, [bin, ...args], { cwd: repoRoot, env: { ...process.env, NO_COLOR: "1" } })
  let output = ""
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      const m = /at (http:\/\/127\.0\.0\.1:\d+\/) \(Ctrl-C stops\)/.exec(output)
      if (m !== null) resolve(m[1]!)
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", onData)
    child.on("close", (code) => reject(new Error(`exited ${code} before serving: ${output}`)))
  })
  const response = await fetch(new URL(page, url))
  const body = await response.text()
  expect(response.status).toBe(200)
  child.kill("SIGINT")
  const status = await new Promise<number | null>((resolve) => child.on("close", resolve))
  return { status, body, output }
}

describe("quorum trace view and check --view", () => {
  it("serves the trace on 127.0.0.1 until Ctrl-C, then exits 0", async () => {
    const { status, body } = await viewAndStop(["trace", "view", traceFile], "trace.json")
    expect(status).toBe(0)
    expect(JSON.parse(body)).toEqual(original)
  })

  it("check --view serves the counterexample it found and keeps the check's exit code", async () => {
    const { status, body, output } = await viewAndStop(
      ["check", "raft", "--variant", "volatile-voted-for", "--out", outDir, "--view"],
      "trace.json",
    )
    expect(status).toBe(1)
    expect(output).toContain("✗ violation of electionSafety")
    expect((JSON.parse(body) as Json)["#meta"]).toMatchObject({ variant: "volatile-voted-for", property: "electionSafety" })
  })
})
