import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { findViolations } from "./guard/architecture.ts"
import type { Violation } from "./guard/architecture.ts"

const repoRoot = path.resolve(import.meta.dirname, "..")

/** Writes `files` (repo-relative path → source) into a fresh temporary tree and returns its root. */
const tree = (files: Record<string, string>): string => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "arch-guard-"))
  for (const [file, source] of Object.entries(files)) {
    fs.mkdirSync(path.join(root, path.dirname(file)), { recursive: true })
    fs.writeFileSync(path.join(root, file), source)
  }
  return root
}

/** The violations of a fixture as "file:line rule", which is what the assertions pin. */
const found = (files: Record<string, string>): string[] => {
  const root = tree(files)
  try {
    return findViolations(root).map((v: Violation) => `${v.file}:${v.line} ${v.rule}`)
  } finally {
    fs.rmSync(root, { recursive: true, force: true })
  }
}

describe("architecture guard", () => {
  it("finds no violations in this repository", () => {
    const violations = findViolations(repoRoot)
    expect(violations, violations.map((v) => v.message).join("\n")).toEqual([])
  })

  it("accepts effect, the kernel, property names and look-alike locals in spec/", () => {
    expect(
      found({
        "spec/kernel/a.ts": 'import { Schema } from "effect"\nexport const k = 1\n',
        "spec/raft/clean.ts": [
          'import type { Schema } from "effect"',
          'import { k } from "../kernel/a.ts"',
          'export * from "./clean.ts"',
          "declare const x: { Date: number; console: number; random: () => number }",
          "const dateOf = (e: { Date: number }) => e.Date + x.Date + x.console + x.random()",
          "const o = { Date: 1, process: 2 }",
          "const { Date: d } = o",
          "export const f = (s: Schema.Schema<number>) => [s, k, dateOf, d]",
        ].join("\n"),
      }),
    ).toEqual([])
  })

  it("flags nondeterministic globals and dynamic import in spec/", () => {
    expect(
      found({
        "spec/raft/x.ts": [
          "export const now = Date.now()",
          "export const r = Math.random()",
          "console.log(1)",
          "export const env = process.env",
          "setTimeout(() => {}, 1)",
          'export const m = import("./y.ts")',
          "export const g = { console }",
          "export const t = (d: Date) => d",
        ].join("\n"),
      }),
    ).toEqual([
      "spec/raft/x.ts:1 spec-nondeterminism",
      "spec/raft/x.ts:2 spec-nondeterminism",
      "spec/raft/x.ts:3 spec-nondeterminism",
      "spec/raft/x.ts:4 spec-nondeterminism",
      "spec/raft/x.ts:5 spec-nondeterminism",
      "spec/raft/x.ts:6 spec-dynamic-import",
      "spec/raft/x.ts:7 spec-nondeterminism",
      "spec/raft/x.ts:8 spec-nondeterminism",
    ])
  })

  it("flags node:*, bare packages and effect subpaths in spec/", () => {
    expect(
      found({
        "spec/raft/x.ts": [
          'import * as fs from "node:fs"',
          'import "lodash"',
          'import type { Schema } from "effect/Schema"',
          'export * from "fs"',
        ].join("\n"),
      }),
    ).toEqual([
      "spec/raft/x.ts:1 spec-external-module",
      "spec/raft/x.ts:2 spec-external-module",
      "spec/raft/x.ts:3 spec-external-module",
      "spec/raft/x.ts:4 spec-external-module",
    ])
  })

  it("keeps spec/ to itself, protocols apart and the kernel independent", () => {
    expect(
      found({
        "spec/raft/x.ts": 'import { x } from "../../src/cli/main.ts"\nimport { y } from "../zab/index.ts"\n',
        "spec/kernel/a.ts": 'import type { Z } from "../zab/index.ts"\n',
        "spec/zab/index.ts": 'import { k } from "../kernel/a.ts"\nimport { r } from "../registry.ts"\n',
        "spec/registry.ts": 'export * from "./raft/x.ts"\nexport * from "./zab/index.ts"\n',
      }),
    ).toEqual([
      "spec/kernel/a.ts:1 spec-protocol-isolation",
      "spec/raft/x.ts:1 layer-direction",
      "spec/raft/x.ts:2 spec-protocol-isolation",
      "spec/zab/index.ts:2 spec-protocol-isolation",
    ])
  })

  it("enforces checker → spec/traces, traces → spec, and no imports of test/", () => {
    expect(
      found({
        "checker/a.ts": [
          'import { s } from "../spec/kernel/a.ts"',
          'import { t } from "../traces/itf.ts"',
          'import { r } from "../src/runtime/host.ts"',
          'import * as fs from "node:fs"',
        ].join("\n"),
        "traces/itf.ts": 'import { s } from "../spec/kernel/a.ts"\nimport { c } from "../checker/a.ts"\n',
        "traces/view.ts": 'import type { H } from "../src/runtime/host.ts"\n',
        "src/runtime/host.ts": 'import { c } from "../../checker/a.ts"\nimport { f } from "../../test/fixtures.ts"\n',
        "test/fixtures.ts": 'import { c } from "../checker/a.ts"\nimport { h } from "../src/runtime/host.ts"\n',
      }),
    ).toEqual([
      "checker/a.ts:3 layer-direction",
      "src/runtime/host.ts:2 no-test-import",
      "traces/itf.ts:2 layer-direction",
      "traces/view.ts:1 layer-direction",
    ])
  })

  it("names file, line, rule and the fix in each message", () => {
    const root = tree({ "spec/raft/handlers.ts": "\nexport const t = Date.now()\n" })
    try {
      expect(findViolations(root).map((v) => v.message)).toEqual([
        "spec/raft/handlers.ts:2 uses Date — spec handlers must be deterministic; take time as an event instead [spec-nondeterminism]",
      ])
    } finally {
      fs.rmSync(root, { recursive: true, force: true })
    }
  })
})
