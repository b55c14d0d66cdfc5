/**
 * The trace viewer: the pure send→delivery matching of traces/viewer/timeline.js, the loopback server of
 * src/viewer/server.ts, and the page itself end to end in headless Chromium (Debian's `chromium`, driven by
 * playwright-core; never a downloaded browser). The page test saves a screenshot to out/viewer.png.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { chromium, type Browser, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { check } from "../checker/search.ts"
import { describeAction, Instance, type World } from "../checker/world.ts"
import type { Action } from "../spec/kernel/protocol.ts"
import { protocols } from "../spec/registry.ts"
import { startViewer, TraceFileError } from "../src/viewer/server.ts"
import { fromItf, itfDocument, type ItfDocument, type ItfValue, type TraceMeta } from "../traces/itf.ts"
import { traceStates, type CheckedStep } from "../traces/trace.ts"
import { buildTimeline, faultEvents, matchMessages, parseAction, type RawState } from "../traces/viewer/timeline.js"

const repoRoot = path.resolve(import.meta.dirname, "..")
const raft = protocols.raft!
const CHROMIUM = "/usr/bin/chromium"

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "quorum-viewer-"))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

const meta = (model: string, variant: string, property: string, reason: string): TraceMeta => ({
  source: `raft/${model}`,
  description: `${property} is violated: ${reason}`,
  timestamp: 0,
  protocol: "raft",
  model,
  variant,
  property,
  reason,
  tool: "quorum-workbench",
  toolVersion: "0.0.0",
  gitCommit: undefined,
  seed: null,
})

/** The counterexample `quorum check raft --variant vote-without-log-check` finds, as the ITF document it writes. */
const counterexample = (): ItfDocument => {
  const instance = new Instance(raft, "small", raft.models.small!, "vote-without-log-check")
  const report = check(instance)
  const violation = report.violation
  if (violation === undefined) throw new Error(`expected vote-without-log-check to break a property, got ${report.result}`)
  const states = traceStates(instance, violation.trace, (a) => describeAction(raft, a))
  return itfDocument(states, meta("small", "vote-without-log-check", violation.property, violation.reason))
}

/**
 * A scripted walk through the default model (one crash, partition, loss and duplication allowed), choosing at
 * each step the successor whose one-line description is given: every fault the viewer draws, in 10 steps.
 */
const TOUR = [
  "timeout n1 election", // RequestVote n1→n2 and n1→n3 sent
  "duplicate RequestVote n1→n2", // a second copy of n1→n2
  "partition {n1} | {n2,n3}",
  "drop RequestVote n1→n3", // lost
  "heal",
  "deliver RequestVote n1→n2", // the first copy; RequestVoteResponse n2→n1 sent
  "crash n3",
  "deliver RequestVote n1→n2", // the duplicate; the same RequestVoteResponse sent again
  "restart n3",
  "deliver RequestVoteResponse n2→n1", // the first response; the second stays in flight
]
const faultTour = (): ItfDocument => {
  const instance = new Instance(raft, "default", raft.models.default!, "faithful")
  let world = instance.initial()
  const steps: Array<CheckedStep<Action<unknown, unknown>>> = [{ action: undefined, world }]
  for (const wanted of TOUR) {
    let next: { action: Action<unknown, unknown>; world: World } | undefined
    instance.successors(world, (action, w) => {
      if (next === undefined && describeAction(raft, action) === wanted) next = { action, world: w }
    })
    if (next === undefined) throw new Error(`no successor "${wanted}" after ${steps.length - 1} steps`)
    steps.push(next)
    world = next.world
  }
  const states = traceStates(instance, steps, (a) => describeAction(raft, a))
  return itfDocument(states, meta("default", "faithful", "scriptedTour", "a scripted walk through every fault the viewer draws"))
}

const writeTrace = (name: string, doc: ItfDocument): string => {
  const file = path.join(tmp, name)
  fs.writeFileSync(file, JSON.stringify(doc, null, 2) + "\n")
  return file
}

const raw = (doc: ItfDocument): ReadonlyArray<RawState> => doc.states

/**
 * Messages sent in a trace, counted directly from the data (not with timeline.js): every copy by which a
 * (from, to, msg) grows from one state to the next, plus those in flight initially.
 */
const copiesSent = (doc: ItfDocument): number => {
  let sent = 0
  let before = new Map<string, number>()
  for (const state of doc.states) {
    const now = new Map<string, number>()
    for (const m of fromItf(state.network as ItfValue) as Array<{ from: string; to: string; msg: unknown; copies: number }>) {
      const key = JSON.stringify([m.from, m.to, m.msg])
      now.set(key, (now.get(key) ?? 0) + m.copies)
    }
    for (const [key, n] of now) sent += Math.max(0, n - (before.get(key) ?? 0))
    before = now
  }
  return sent
}

/** A node's decoded state at a step of a trace. */
const nodeAt = (doc: ItfDocument, step: number, id: string): { up: boolean; state?: Record<string, unknown> } => {
  const nodes = fromItf(doc.states[step]!.nodes as ItfValue) as Map<string, { up: boolean; state?: Record<string, unknown> }>
  return nodes.get(id)!
}

// ------------------------------------------------------------------------------------------------ timeline.js

describe("timeline.js: matching sends to deliveries", () => {
  it("parses every action line the checker writes", () => {
    expect(parseAction("init")).toEqual({ type: "init" })
    expect(parseAction("deliver AppendEntries n1→n3")).toEqual({ type: "deliver", kind: "AppendEntries", from: "n1", to: "n3" })
    expect(parseAction("drop RequestVote n2→n1")).toEqual({ type: "drop", kind: "RequestVote", from: "n2", to: "n1" })
    expect(parseAction("duplicate RequestVote n2→n1")).toEqual({ type: "duplicate", kind: "RequestVote", from: "n2", to: "n1" })
    expect(parseAction("timeout n2 election")).toEqual({ type: "timeout", node: "n2", timer: "election" })
    expect(parseAction('client n1 {"_tag":"Put","value":"v1"}')).toEqual({ type: "client", node: "n1", request: '{"_tag":"Put","value":"v1"}' })
    expect(parseAction("crash n1")).toEqual({ type: "crash", node: "n1" })
    expect(parseAction("restart n3")).toEqual({ type: "restart", node: "n3" })
    expect(parseAction("partition {n1} | {n2,n3}")).toEqual({ type: "partition", side: ["n1"], other: ["n2", "n3"] })
    expect(parseAction("heal")).toEqual({ type: "heal" })
    expect(parseAction("flush n2 3")).toEqual({ type: "other", name: "flush", node: "n2" })
  })

  it("matches every copy of the scripted fault tour: delivered FIFO, lost, duplicated, still in flight", () => {
    const arrows = matchMessages(raw(faultTour()))
    expect(arrows.map((a) => [a.kind, `${a.from}→${a.to}`, a.sendStep, a.endStep, a.status, a.duplicated])).toEqual([
      ["RequestVote", "n1→n2", 1, 6, "delivered", false],
      ["RequestVote", "n1→n3", 1, 4, "lost", false],
      ["RequestVote", "n1→n2", 2, 8, "delivered", true],
      ["RequestVoteResponse", "n2→n1", 6, 10, "delivered", false],
      ["RequestVoteResponse", "n2→n1", 8, null, "pending", false],
    ])
  })

  it("finds the crash, restart, partition and heal of the fault tour, and when n3 was down", () => {
    const events = faultEvents(raw(faultTour()))
    expect(events.markers).toEqual([
      { type: "partition", step: 3, side: ["n1"], other: ["n2", "n3"] },
      { type: "heal", step: 5 },
      { type: "crash", step: 7, node: "n3" },
      { type: "restart", step: 9, node: "n3" },
    ])
    expect(events.downSpans).toEqual([{ node: "n3", start: 7, end: 9 }])
    expect(events.partitionSpans).toEqual([{ start: 3, end: 5, side: ["n1"], other: ["n2", "n3"] }])
  })

  it("treats copies that vanish without a delivery as lost (a FIFO connection cut by a crash), per copy", () => {
    const m = (term: number) => ({ _tag: "Ping", term: { "#bigint": String(term) } })
    const entry = (from: string, to: string, term: number) => ({ from, to, msg: m(term), copies: { "#bigint": "1" } })
    const node = (up: boolean) => ({ up, timers: [] })
    const nodes = (n2up: boolean) => ({ "#map": [["n1", node(true)], ["n2", node(n2up)]] })
    const states: RawState[] = [
      { action: "init", nodes: nodes(true), network: [] },
      // FIFO networks list equal messages as separate entries of one copy each.
      { action: "tick n1", nodes: nodes(true), network: [entry("n1", "n2", 1), entry("n1", "n2", 1)] },
      { action: "tick n1", nodes: nodes(true), network: [entry("n1", "n2", 1), entry("n1", "n2", 1), entry("n1", "n2", 2)] },
      { action: "deliver Ping n1→n2", nodes: nodes(true), network: [entry("n1", "n2", 1), entry("n1", "n2", 2)] },
      { action: "crash n2", nodes: nodes(false), network: [] },
    ]
    const arrows = matchMessages(states)
    expect(arrows.map((a) => [a.sendStep, a.endStep, a.status])).toEqual([
      [1, 3, "delivered"],
      [1, 4, "lost"],
      [2, 4, "lost"],
    ])
    expect(faultEvents(states).markers).toEqual([{ type: "crash", step: 4, node: "n2" }])
  })

  it("draws one arrow per message the checker's counterexample sent", () => {
    const doc = counterexample()
    const timeline = buildTimeline(doc)
    expect(timeline.ids).toEqual(["n1", "n2", "n3"])
    expect(timeline.arrows).toHaveLength(copiesSent(doc))
    const deliveries = doc.states.filter((s) => String(s.action).startsWith("deliver ")).length
    expect(timeline.arrows.filter((a) => a.status === "delivered")).toHaveLength(deliveries)
    // Every delivery step delivers exactly the message its action names.
    for (const a of timeline.arrows.filter((x) => x.status === "delivered")) {
      expect(doc.states[a.endStep!]!.action).toBe(`deliver ${a.kind} ${a.from}→${a.to}`)
    }
  })
})

// ------------------------------------------------------------------------------------------------ server

describe("startViewer", () => {
  let file: string
  beforeAll(() => {
    file = writeTrace("tour.itf.json", faultTour())
  })

  it("refuses a malformed trace before serving, naming the file and the JSON path", async () => {
    const truncated = path.join(tmp, "truncated.itf.json")
    fs.writeFileSync(truncated, fs.readFileSync(file, "utf8").slice(0, 500))
    await expect(startViewer({ file: truncated })).rejects.toThrow(TraceFileError)
    await expect(startViewer({ file: truncated })).rejects.toThrow(/truncated\.itf\.json: \$\S*: not valid JSON/)

    const badState = path.join(tmp, "bad-state.itf.json")
    const doc = JSON.parse(fs.readFileSync(file, "utf8")) as { states: unknown[] }
    doc.states[3] = ["not", "a", "state"]
    fs.writeFileSync(badState, JSON.stringify(doc))
    await expect(startViewer({ file: badState })).rejects.toThrow("$.states[3]: expected an object, found a list")

    await expect(startViewer({ file: path.join(tmp, "missing.itf.json") })).rejects.toThrow(/missing\.itf\.json: cannot read the trace: no such file/)
  })

  it("serves the page, its code and the trace on 127.0.0.1 with their content types, and nothing else", async () => {
    const viewer = await startViewer({ file })
    try {
      expect(viewer.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
      const get = async (p: string, init?: RequestInit) => {
        const r = await fetch(new URL(p, viewer.url), init)
        return { status: r.status, type: r.headers.get("content-type"), body: await r.text() }
      }
      const page = await get("/")
      expect(page).toMatchObject({ status: 200, type: "text/html; charset=utf-8" })
      expect(page.body).toBe(fs.readFileSync(path.join(repoRoot, "traces/viewer/index.html"), "utf8"))
      expect(await get("/viewer.js")).toMatchObject({ status: 200, type: "text/javascript; charset=utf-8" })
      expect(await get("/timeline.js")).toMatchObject({ status: 200, type: "text/javascript; charset=utf-8" })
      expect(await get("/viewer.css")).toMatchObject({ status: 200, type: "text/css; charset=utf-8" })
      const trace = await get("/trace.json?x=1")
      expect(trace).toMatchObject({ status: 200, type: "application/json; charset=utf-8" })
      expect(trace.body).toBe(fs.readFileSync(file, "utf8"))
      for (const p of ["/nope", "/README.md", "/timeline.d.ts", "/../package.json", "/%2e%2e/package.json", "/..%2fpackage.json", "/traces/viewer/viewer.js"]) {
        expect((await get(p)).status, p).toBe(404)
      }
      expect((await get("/", { method: "POST" })).status).toBe(405)
    } finally {
      await viewer.close()
    }
  })

  it("does not follow a raw ../ path sent without URL normalisation", async () => {
    const viewer = await startViewer({ file })
    try {
      const { port } = new URL(viewer.url)
      const net = await import("node:net")
      const response = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(Number(port), "127.0.0.1", () => {
          socket.write("GET /../../package.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        })
        let data = ""
        socket.on("data", (chunk) => (data += chunk.toString()))
        socket.on("end", () => resolve(data))
        socket.on("error", reject)
      })
      expect(response).toMatch(/^HTTP\/1\.1 404/)
      expect(response).not.toContain("quorum-workbench")
    } finally {
      await viewer.close()
    }
  })
})

// ------------------------------------------------------------------------------------------------ the page

describe("the viewer page in headless Chromium", () => {
  let browser: Browser | undefined
  const doc = counterexample()
  const tour = faultTour()
  const file = writeTrace("counterexample.itf.json", doc)
  const tourFile = writeTrace("tour.itf.json", tour)

  /** The browser, launched on first use. Without Debian's chromium every test here fails (never skips). */
  const launch = async (): Promise<Browser> => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} not found: the viewer test needs Debian's chromium package ` +
          "(sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium; .ci/run does this). " +
          "It never downloads a browser.",
      )
    }
    browser ??= await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    })
    return browser
  }
  afterAll(async () => {
    await browser?.close()
  })

  /** Opens the viewer for `traceFile`; fails on any page error, console error or request off the viewer's origin. */
  const open = async (traceFile: string, run: (page: Page) => Promise<void>): Promise<void> => {
    const viewer = await startViewer({ file: traceFile })
    const page = await (await launch()).newPage({ viewport: { width: 1400, height: 900 } })
    const problems: string[] = []
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`))
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") problems.push(`console ${m.type()}: ${m.text()}`)
    })
    page.on("request", (r) => {
      if (!r.url().startsWith(viewer.url) && !r.url().startsWith("data:")) problems.push(`request off the viewer: ${r.url()}`)
    })
    try {
      await page.goto(viewer.url)
      await page.waitForSelector("body[data-ready=true]", { timeout: 10_000 })
      await run(page)
      expect(problems).toEqual([])
    } finally {
      await page.close()
      await viewer.close()
    }
  }

  const actionOf = (d: ItfDocument, step: number): string => String(d.states[step]!.action)

  it("shows the counterexample: lanes, arrows, stepping, state with changes, the broken property", async () => {
    const last = doc.states.length - 1
    const property = String(doc["#meta"]!.property)
    await open(file, async (page) => {
      // Header.
      await expect.poll(() => page.textContent("#title")).toContain("vote-without-log-check")
      expect(await page.textContent("#property")).toContain(property)

      // One lane per node, one arrow per message sent, deliveries as many as deliver steps.
      expect(await page.locator("svg .lane").count()).toBe(3)
      expect(await page.locator("svg .lane").evaluateAll((ls) => ls.map((l) => l.getAttribute("data-node")))).toEqual(["n1", "n2", "n3"])
      const sent = copiesSent(doc)
      expect(sent).toBeGreaterThan(5)
      expect(await page.locator("svg .arrow").count()).toBe(sent)
      const deliveries = doc.states.filter((s) => String(s.action).startsWith("deliver ")).length
      expect(await page.locator("svg .arrow.delivered").count()).toBe(deliveries)
      const pending = (fromItf(doc.states[last]!.network as ItfValue) as Array<{ copies: number }>).reduce((n, m) => n + m.copies, 0)
      expect(await page.locator("svg .arrow.pending").count()).toBe(pending)

      // Keyboard stepping.
      await page.locator("body").click({ position: { x: 5, y: 5 } })
      expect(await page.textContent("#action")).toBe("init")
      expect(await page.isHidden("#violation")).toBe(true)
      for (let i = 0; i < 3; i++) await page.keyboard.press("ArrowRight")
      expect(await page.textContent("#action")).toBe(actionOf(doc, 3))
      expect(await page.inputValue("#step")).toBe("3")
      await page.keyboard.press("ArrowLeft")
      expect(await page.textContent("#action")).toBe(actionOf(doc, 2))
      await page.keyboard.press("End")
      expect(await page.textContent("#action")).toBe(actionOf(doc, last))
      await page.keyboard.press("Home")
      expect(await page.textContent("#action")).toBe("init")
      expect(await page.locator("#state .changed").count()).toBe(0) // nothing before step 0 to compare with

      // The slider; the state panel at that step: n1's term, and what changed.
      const step = 7
      await page.locator("#step").fill(String(step))
      expect(await page.textContent("#action")).toBe(actionOf(doc, step))
      for (const id of ["n1", "n2", "n3"]) {
        const term = nodeAt(doc, step, id).state!.currentTerm
        expect(await page.textContent(`#state .node[data-node="${id}"] .row[data-path="state.currentTerm"] .value`), id).toBe(String(term))
      }
      const changed = await page.locator("#state .changed").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-path") ?? r.className))
      expect(changed.length).toBeGreaterThan(0)
      // Each highlighted field of n1 really differs from the step before.
      const n1Changed = await page.locator('#state .node[data-node="n1"] .row.changed').evaluateAll((rows) => rows.map((r) => r.getAttribute("data-path")!))
      expect(n1Changed.length).toBeGreaterThan(0)
      for (const p of n1Changed.filter((x) => x.startsWith("state."))) {
        const field = p.slice("state.".length).split(/[.[]/)[0]!
        expect(nodeAt(doc, step, "n1").state![field], p).not.toEqual(nodeAt(doc, step - 1, "n1").state![field])
      }
      // The network at that step.
      const inFlight = (fromItf(doc.states[step]!.network as ItfValue) as Array<{ copies: number }>).length
      expect(await page.locator("#state .network tr.msg:not(.gone)").count()).toBe(inFlight)

      // The last step: the banner names the property and the reason.
      await page.keyboard.press("End")
      expect(await page.isVisible("#violation")).toBe(true)
      const banner = await page.textContent("#violation")
      expect(banner).toContain(property)
      expect(banner).toContain(String(doc["#meta"]!.reason))

      fs.mkdirSync(path.join(repoRoot, "out"), { recursive: true })
      await page.screenshot({ path: path.join(repoRoot, "out", "viewer.png"), fullPage: true })
    })
  })

  it("marks lost, duplicated and pending messages, crashes, restarts, partitions and heals", async () => {
    await open(tourFile, async (page) => {
      expect(await page.locator("svg .lane").count()).toBe(3)
      expect(await page.locator("svg .arrow").count()).toBe(copiesSent(tour))
      expect(await page.locator("svg .arrow.lost").count()).toBe(1)
      expect(await page.locator("svg .arrow.lost .lost-x").count()).toBe(1)
      expect(await page.locator("svg .arrow.duplicated").count()).toBe(1)
      expect(await page.locator("svg .arrow.pending").count()).toBe(1)
      expect(await page.locator('svg .marker.crash[data-node="n3"]').count()).toBe(1)
      expect(await page.locator('svg .marker.restart[data-node="n3"]').count()).toBe(1)
      expect(await page.locator("svg .marker.partition").count()).toBe(1)
      expect(await page.locator("svg .marker.heal").count()).toBe(1)
      expect(await page.locator("svg .partition-span").count()).toBe(1)

      // n3 is down between its crash and its restart; the state panel says so.
      await page.locator("#step").fill("8")
      expect(await page.textContent("#action")).toBe(TOUR[7])
      expect(await page.textContent('#state .node[data-node="n3"] .badge')).toBe("down")
      expect(await page.locator('.lane-label[data-node="n3"].down').count()).toBe(1)
      await page.keyboard.press("ArrowRight")
      expect(await page.textContent('#state .node[data-node="n3"] .badge')).toBe("up")
      expect(await page.locator('#state .node[data-node="n3"] .badge.changed').count()).toBe(1)

      await page.keyboard.press("ArrowRight")
      fs.mkdirSync(path.join(repoRoot, "out"), { recursive: true })
      await page.screenshot({ path: path.join(repoRoot, "out", "viewer-faults.png"), fullPage: true })
    })
  })
})
