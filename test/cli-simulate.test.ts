/** `quorum simulate` end to end through the real bin. */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { readItf } from "../traces/itf.ts"

const repoRoot = path.resolve(import.meta.dirname, "..")
const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-sim-"))
afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }))

const quorum = (...args: string[]) => {
  const r = spawnSync(process.execPath, [path.join("src", "cli", "quorum.mjs"), ...args], {
    cwd: repoRoot,
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
  })
  if (r.error !== undefined) throw r.error
  return r
}

describe("quorum simulate", () => {
  it("finds, shrinks and saves a violation, with its seed and a command that repeats it", () => {
    const r = quorum("simulate", "raft", "--variant", "vote-without-log-check", "--seed", "3", "--runs", "2000", "--json", "--out", outDir)
    expect(r.status, r.stderr).toBe(1)
    const summary = JSON.parse(r.stdout) as Record<string, unknown>
    expect(summary.result).toBe("violation")
    expect(summary.seed).toBe(3)
    expect(summary.property).toBe("leaderCompleteness")
    const doc = readItf(fs.readFileSync(summary.trace as string, "utf8"))
    expect(doc["#meta"]?.seed).toBe(3)
    expect(doc.states.length - 1).toBe(summary.traceLength)
    const repro = String(summary.repro)
    expect(repro).toContain("--seed 3")
    // The printed command repeats the run exactly.
    const again = quorum(...repro.replace(/^npx quorum /, "").split(" "), "--json", "--out", outDir)
    expect(again.status).toBe(1)
    expect(JSON.parse(again.stdout).traceLength).toBe(summary.traceLength)
  })

  it("runs clean on the five-server model and says how to repeat it", () => {
    const r = quorum("simulate", "raft", "--model", "five-servers", "--seed", "11", "--runs", "20", "--depth", "50")
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toContain("✓ ok")
    expect(r.stdout).toContain("repeat: npx quorum simulate raft --model five-servers --variant faithful --seed 11 --depth 50 --runs 20")
  })

  it("rejects a bad bound with exit 2", () => {
    expect(quorum("simulate", "raft", "--depth", "0").status).toBe(2)
    expect(quorum("simulate", "raft", "--model", "nope").status).toBe(2)
  })
})
