/**
 * events.ts's FileEvents: whatever lines a node logs — short, multi-byte, larger than its write buffer — the
 * file holds exactly them, in order, one per line, across a rotation too.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { FileEvents, rotatedEventsFile } from "../../src/runtime/events.ts"

const lineText = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 200 }),
  fc.string({ unit: fc.constantFrom("x", "é", "✓", "𝄞"), minLength: 50_000, maxLength: 120_000, size: "max" }),
)
const line = lineText.map((t) => JSON.stringify({ t }))

describe("FileEvents", () => {
  it("writes every line whole and in order, whatever their sizes and characters", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 40 }), async (lines) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-events-"))
        try {
          const file = path.join(dir, "events.ndjson")
          const sink = new FileEvents(file)
          for (const l of lines) sink.line(l)
          await sink.close()
          const text = fs.readFileSync(file, "utf8")
          expect(text).toBe(lines.map((l) => `${l}\n`).join(""))
        } finally {
          fs.rmSync(dir, { recursive: true, force: true })
        }
      }),
      { numRuns: 40 },
    )
  })

  it("is full past its limit in bytes (not characters), and a rotation keeps the old lines in events.1.ndjson", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-events-"))
    try {
      const file = path.join(dir, "events.ndjson")
      const sink = new FileEvents(file, 900)
      const first = Array.from({ length: 10 }, (_, i) => JSON.stringify({ i, pad: "é".repeat(40) }))
      for (const l of first.slice(0, 9)) sink.line(l)
      expect(sink.full).toBe(false)
      sink.line(first[9]!)
      expect(sink.full).toBe(true)
      sink.rotate()
      expect(sink.full).toBe(false)
      sink.line('{"checkpoint":true}')
      sink.line('{"after":1}')
      await sink.close()
      await new Promise((r) => setTimeout(r, 50))
      expect(fs.readFileSync(rotatedEventsFile(file), "utf8")).toBe(first.map((l) => `${l}\n`).join(""))
      expect(fs.readFileSync(file, "utf8")).toBe('{"checkpoint":true}\n{"after":1}\n')
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
