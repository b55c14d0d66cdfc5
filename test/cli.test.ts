/**
 * The `quorum` command end to end: the real bin, run with node from the repository root, as a user or a
 * script would run it.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import type { CheckReport } from "../checker/search.ts"
import { verdictOf } from "../src/cli/check-command.ts"
import { resolveSelection } from "../src/cli/resolve.ts"
import { readItf } from "../traces/itf.ts"

const repoRoot = path.resolve(import.meta.dirname, "..")
const bin = path.join("src", "cli", "quorum.mjs")
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-cli-"))
afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }))

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

/** stdout of a --json run: exactly one JSON object and nothing else. */
const json = (run: Run): Record<string, unknown> => {
  const parsed: unknown = JSON.parse(run.stdout)
  expect(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed), run.stdout).toBe(true)
  return parsed as Record<string, unknown>
}

describe("quorum check", () => {
  it("checks a model completely and reports ok with exit 0", () => {
    const run = quorum("check", "raft", "--model", "small", "--json", "--out", outDir)
    expect(run.status, run.stderr).toBe(0)
    const out = json(run)
    expect(out).toMatchObject({ protocol: "raft", model: "small", variant: "faithful", result: "ok", unreachedWitnesses: [] })
    for (const field of ["distinctStates", "statesGenerated", "depth", "completeDepth", "seconds"]) {
      expect(typeof out[field], field).toBe("number")
    }
    expect(out.completeDepth).toBe(out.depth)
    expect(out).not.toHaveProperty("property")
    expect(out).not.toHaveProperty("trace")
    expect(out).not.toHaveProperty("traceLength")
    expect(Object.keys(out.coverage as object)).toContain("deliver RequestVote")
    expect(Object.keys(out.witnesses as object)).toContain("leadersInTwoTerms")
    expect(run.stderr).toBe("")
  })

  it("finds a flawed variant's counterexample on the variant's own model, exits 1 and writes an ITF trace", () => {
    const run = quorum("check", "raft", "--variant", "vote-without-log-check", "--json", "--out", outDir)
    expect(run.status, run.stderr).toBe(1)
    const out = json(run)
    expect(out).toMatchObject({ model: "small", variant: "vote-without-log-check", result: "violation", property: "leaderCompleteness" })
    expect(typeof out.reason).toBe("string")
    const file = out.trace as string
    expect(path.basename(file)).toBe("raft-small-vote-without-log-check-leaderCompleteness.itf.json")
    expect(path.dirname(file)).toBe(outDir)
    const trace = readItf(fs.readFileSync(file, "utf8"))
    expect(out.traceLength).toBeGreaterThan(0)
    expect(trace.states).toHaveLength((out.traceLength as number) + 1)
    expect(trace["#meta"]).toMatchObject({
      format: "ITF",
      protocol: "raft",
      model: "small",
      variant: "vote-without-log-check",
      property: "leaderCompleteness",
      tool: "quorum-workbench",
      seed: null,
    })
    expect(trace.states[0]).toMatchObject({ action: "init", "mbt::actionTaken": "init" })
  })

  it("prints the violation and its trace step by step on a terminal-style run", () => {
    const run = quorum("check", "raft", "--variant", "volatile-voted-for", "--out", outDir)
    expect(run.status, run.stderr).toBe(1)
    expect(run.stdout).toContain("✗ violation of electionSafety")
    expect(run.stdout).toMatch(/^ +0\. init$/m)
    expect(run.stdout).toMatch(/^ +1\. timeout n\d election$/m)
    expect(run.stdout).toMatch(/crash n\d/)
    expect(run.stdout).toContain(`trace written to ${path.join(outDir, "raft-restart-volatile-voted-for-electionSafety.itf.json")}`)
    // Not a terminal: no colours and no progress line.
    expect(run.stdout).not.toContain("\x1b[")
    expect(run.stderr).not.toContain("\r")
  })

  it("stops at --max-states with exit 3 and reports how deep the search is complete", () => {
    const run = quorum("check", "raft", "--max-states", "100", "--json", "--out", outDir)
    expect(run.status, run.stderr).toBe(3)
    const out = json(run)
    expect(out).toMatchObject({ model: "default", result: "incomplete", stoppedBy: "max-states", unreachedWitnesses: [] })
    expect(typeof out.completeDepth).toBe("number")
    expect(out.distinctStates).toBeGreaterThanOrEqual(100)
  })

  it("stops on Ctrl-C, reports what it explored and exits 3", async () => {
    const child = spawn(process.execPath, [bin, "check", "raft"], { cwd: repoRoot, env: { ...process.env, NO_COLOR: "1" } })
    let stdout = ""
    let stderr = ""
    let interrupted = false
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
      // The banner is printed once Ctrl-C is handled, so interrupting now cannot kill the process outright.
      // Only once: a second Ctrl-C abandons the run.
      if (!interrupted && stderr.includes("Ctrl-C stops and reports")) {
        interrupted = true
        child.kill("SIGINT")
      }
    })
    const status = await new Promise<number | null>((resolve) => child.on("close", resolve))
    expect(status, stderr).toBe(3)
    expect(stdout).toContain("incomplete: interrupted (Ctrl-C)")
    expect(stdout).toMatch(/distinct states/)
  })

  it("rejects an unknown model with exit 2, naming the valid ones", () => {
    const run = quorum("check", "raft", "--model", "nope")
    expect(run.status).toBe(2)
    expect(run.stdout).toBe("")
    expect(run.stderr).toContain('unknown model "nope" for raft; valid models: default, elect, small')
  })

  it("rejects an unknown protocol with exit 2, naming raft", () => {
    const run = quorum("check", "paxos", "--json")
    expect(run.status).toBe(2)
    expect(run.stdout).toBe("")
    expect(run.stderr).toContain('unknown protocol "paxos"; valid protocols: raft')
  })

  it("rejects an unknown variant with exit 2, naming the valid ones", () => {
    const run = quorum("check", "raft", "--variant", "byzantine")
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('unknown variant "byzantine" for raft; valid variants: faithful, ')
    expect(run.stderr).toContain("vote-without-log-check")
  })

  it("rejects malformed and negative bounds with exit 2", () => {
    for (const args of [
      ["--max-states", "abc"],
      ["--max-states", "-5"],
      ["--max-states", "1.5"],
      ["--max-seconds", "0"],
      ["--max-depth", "-1"],
    ]) {
      const run = quorum("check", "raft", "--json", ...args)
      expect(run.status, args.join(" ")).toBe(2)
      expect(run.stdout, args.join(" ")).toBe("")
      expect(run.stderr, args.join(" ")).toContain(`Invalid value for flag ${args[0]}`)
    }
  })

  it("answers usage errors of the argument parser with exit 2 and help on stderr", () => {
    for (const args of [["check", "raft", "--bogus"], ["check"], ["frobnicate"], []]) {
      const run = quorum(...args)
      expect(run.status, args.join(" ")).toBe(2)
      expect(run.stdout, args.join(" ")).toBe("")
      expect(run.stderr, args.join(" ")).toContain("USAGE")
    }
  })

  it("prints help on stdout and exits 0 when asked", () => {
    const run = quorum("check", "--help")
    expect(run.status).toBe(0)
    expect(run.stdout).toContain("--max-states")
  })
})

describe("quorum list", () => {
  it("lists protocols with models, variants, properties and witnesses as JSON", () => {
    const run = quorum("list", "--json")
    expect(run.status, run.stderr).toBe(0)
    const out = json(run) as { protocols: Array<Record<string, unknown>> }
    const raft = out.protocols.find((p) => p.name === "raft")
    expect(raft).toBeDefined()
    expect(raft!.models).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: "small", servers: 3, network: "bag", description: expect.any(String) })]),
    )
    expect(raft!.variants).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: "vote-without-log-check", breaks: { property: "leaderCompleteness", model: "small" } }),
      ]),
    )
    const properties = raft!.properties as { invariants: Array<{ name: string }>; transitionProperties: Array<{ name: string }> }
    expect(properties.invariants.map((p) => p.name)).toContain("electionSafety")
    expect(properties.transitionProperties.map((p) => p.name)).toContain("leaderAppendOnly")
    expect((raft!.witnesses as Array<{ name: string }>).map((w) => w.name)).toContain("leadersInTwoTerms")
  })
})

describe("the verdict of a run", () => {
  const selection = resolveSelection("raft", "elect", undefined)
  const complete: CheckReport = {
    result: "ok",
    distinctStates: 10,
    statesGenerated: 20,
    depth: 3,
    completeDepth: 3,
    seconds: 0.1,
    coverage: {},
    neverFired: [],
    witnesses: { leadersInTwoTerms: false },
    indexBytes: 0,
    expectedViolations: [],
    unrefutedExpectations: [],
    unreachedWitnesses: [],
  }

  it("is ok with exit 0 for a complete run that reached every required witness", () => {
    expect(verdictOf(selection, complete)).toEqual({ result: "ok", exitCode: 0 })
  })

  it("fails a complete run that never reached a required witness, naming it", () => {
    const verdict = verdictOf(selection, { ...complete, unreachedWitnesses: ["leadersInTwoTerms"] })
    expect(verdict).toMatchObject({ result: "violation", property: "witness:leadersInTwoTerms", exitCode: 1 })
    expect(verdict.reason).toContain("never reached witness leadersInTwoTerms (leaders were elected in two different terms)")
  })
})
