/** A memory budget ends a run cleanly as incomplete (exit 3) instead of an out-of-memory crash. */
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"

const repoRoot = path.resolve(import.meta.dirname, "..")
const quorum = (...args: string[]) =>
  spawnSync(process.execPath, [path.join("src", "cli", "quorum.mjs"), ...args], { cwd: repoRoot, encoding: "utf8" })

describe("--memory", () => {
  it("stops a model too big for the budget as incomplete, exit 3, with its statistics", () => {
    const r = quorum("check", "raft", "--model", "five-servers", "--memory", "128m", "--json")
    expect(r.status, r.stderr).toBe(3)
    const summary = JSON.parse(r.stdout) as Record<string, unknown>
    expect(summary.result).toBe("incomplete")
    expect(summary.stoppedBy).toBe("memory")
    expect(summary.distinctStates as number).toBeGreaterThan(1000)
    expect(summary.completeDepth as number).toBeGreaterThan(0)
  })

  it("rejects a malformed size with exit 2", () => {
    const r = quorum("check", "raft", "--memory", "lots")
    expect(r.status).toBe(2)
    expect(r.stderr).toContain("256m")
  })
})
