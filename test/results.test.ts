/**
 * `npm run results` (src/results.ts): the row list, one tiny row run through the real `quorum check --json`,
 * the markdown it makes, and the replacement between the README's markers (a filtered run keeps the other rows).
 * No timing is asserted.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { protocols } from "../spec/registry.ts"
import {
  allRows,
  BEGIN,
  commandOf,
  currentBlock,
  END,
  matches,
  parseTable,
  renderBlock,
  renderRow,
  replaceBlock,
  runRow,
  type Row,
  type RowResult,
} from "../src/results.ts"

const outDir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-results-"))
afterAll(() => fs.rmSync(outDir, { recursive: true, force: true }))

const tiny: Row = { protocol: "fle", model: "small", variant: "fle-no-epoch" }

describe("the rows", () => {
  it("hold every variant of every protocol on its breaks.model (else the default model), each once", () => {
    const rows = allRows()
    for (const p of Object.values(protocols)) {
      for (const [variant, info] of Object.entries(p.variants)) {
        expect(rows, `${p.name} ${variant}`).toContainEqual(expect.objectContaining({ protocol: p.name, variant, model: info.breaks?.model ?? p.defaultModel }))
      }
    }
    const keys = rows.map((r) => `${r.protocol}/${r.model}/${r.variant}`)
    expect(new Set(keys).size).toBe(keys.length)
    expect(rows).toContainEqual(expect.objectContaining({ protocol: "zab", model: "releases", variant: "zk-3.8", maxSeconds: expect.any(Number) }))
  })

  it("--only patterns select by protocol[/model[/variant]], * matching any part", () => {
    expect(matches(tiny, [])).toBe(true)
    expect(matches(tiny, ["fle"])).toBe(true)
    expect(matches(tiny, ["fle/small"])).toBe(true)
    expect(matches(tiny, ["*/*/fle-no-epoch"])).toBe(true)
    expect(matches(tiny, ["zab", "fle/default"])).toBe(false)
    expect(commandOf({ ...tiny, maxSeconds: 600 }, { maxSeconds: 30 })).toEqual(["check", "fle", "--model", "small", "--variant", "fle-no-epoch", "--max-seconds", "30"])
  })
})

describe("the table", () => {
  let result: RowResult | undefined
  const tinyResult = async (): Promise<RowResult> => (result ??= await runRow(tiny, { out: outDir }))

  it("runs one tiny row through `quorum check --json` and renders it as a markdown line", async () => {
    const r = await tinyResult()
    expect(r).toMatchObject({ row: tiny, result: "violation", property: "followerFollowsABetterVote", traceLength: 2 })
    expect(r.distinctStates).toBeGreaterThan(0)
    const cells = renderRow(r).split(" | ")
    expect(cells[0]).toBe("| `small`")
    expect(cells.slice(1, 5)).toEqual(["`fle-no-epoch`", "violation", "`followerFollowsABetterVote`", "2"])
    expect(fs.readdirSync(outDir)).toContain("fle-small-fle-no-epoch-followerFollowsABetterVote.itf.json")
  })

  it("replaces what lies between the markers, and keeps the rows a filtered run did not run", async () => {
    const r = await tinyResult()
    const before = "# Title\n\nintro\n\n" + `${BEGIN}\nold text\n${END}` + "\n\n## After\n"
    const rows = allRows()
    const block = renderBlock(rows, [r], new Map(), "test machine")
    const text = replaceBlock(before, block)
    expect(text.startsWith("# Title\n\nintro\n\n" + BEGIN)).toBe(true)
    expect(text.endsWith(`${END}\n\n## After\n`)).toBe(true)
    expect(text).not.toContain("old text")

    const lines = currentBlock(text).split("\n")
    const h = lines.indexOf("#### `fle`")
    expect(h).toBeGreaterThan(0)
    expect(lines[h + 2]).toBe("| model | variant | result | property | trace | distinct states | seconds | depth explored |")
    expect(lines[h + 3]).toMatch(/^\|(---:?\|){8}$/)
    expect(lines[h + 4]).toBe(renderRow(r))
    // Every table line has as many cells as its header.
    for (const line of lines.filter((l) => l.startsWith("| `"))) expect(line.split(" | ")).toHaveLength(8)
    expect(text).toContain("test machine")

    // A zab row from an earlier run stays when only the fle row is run again; zab tables carry the sync modes.
    const zabLine = "| `small` | `zab` | ok |  |  | 1,789 | 0.5 | all (24) | 108 | 0 | 0 | 84 |"
    const earlier = replaceBlock(before, `${BEGIN}\n#### \`zab\`\n\n${zabLine}\n${END}`)
    const merged = replaceBlock(earlier, renderBlock(rows, [r], parseTable(currentBlock(earlier)), "test machine"))
    expect(merged).toContain(zabLine)
    expect(merged).toContain(renderRow(r))
    expect(merged).toContain("| model | variant | result | property | trace | distinct states | seconds | depth explored | DIFF | TRUNC | TRUNC+DIFF | SNAP |")
    expect(merged.indexOf("#### `fle`")).toBeLessThan(merged.indexOf("#### `zab`"))
  })

  it("renders sync-mode counts for zab rows and the explored depth of an incomplete run", () => {
    const line = renderRow({
      row: { protocol: "zab", model: "releases", variant: "zk-3.8", maxSeconds: 600 },
      result: "incomplete",
      stoppedBy: "max-seconds",
      maxSeconds: 600,
      distinctStates: 1234567,
      seconds: 600.2,
      depth: 31,
      completeDepth: 30,
      coverage: { "deliver SYNC DIFF": 10, "deliver SYNC TRUNC": 2, "deliver SYNC TRUNC+DIFF": 0, "deliver SYNC SNAP": 7 },
    })
    expect(line).toBe("| `releases` | `zk-3.8` | incomplete (600 s limit) |  |  | 1,234,567 | 600.2 | 30 | 10 | 2 | 0 | 7 |")
  })

  it("names a violation the model is built to show as expected, with its trace length", () => {
    const line = renderRow({
      row: { protocol: "fle", model: "default", variant: "fle" },
      result: "ok",
      distinctStates: 100,
      seconds: 1.25,
      depth: 23,
      completeDepth: 23,
      expected: [{ property: "atMostOneLeadingPerRound", traceLength: 11 }],
    })
    expect(line).toBe("| `default` | `fle` | ok | `atMostOneLeadingPerRound` (expected) | 11 | 100 | 1.3 | all (23) |")
  })

  it("refuses a file without the markers", () => {
    expect(() => replaceBlock("# no markers\n", "x")).toThrow(/results:begin/)
    expect(() => replaceBlock(`${BEGIN}\n${END}\n${BEGIN}\n${END}\n`, "x")).toThrow(/once each/)
  })
})
