/**
 * The counterexample viewer: fetches /trace.json (the raw ITF document) and draws it as a message sequence
 * chart — one lane per node, one column per step — with a step cursor (slider, keyboard, clicks) that drives
 * the state panel. Plain browser JavaScript, no build step; the trace-to-timeline logic is in timeline.js.
 */
import { buildTimeline, decodeItf, kindAbbreviation, networkCounts, nodesOf } from "./timeline.js"

// ---------------------------------------------------------------------------------------------- geometry
const COL = 68 // width of one step's column
const LANE = 66 // height of one node's lane
const TOP = 46 // the header rows: step numbers, action abbreviations
const PAD_LEFT = 12
const PAD_RIGHT = 96 // room for messages still in flight at the end
const BOTTOM = 10
const LONG_ARROW = 6 // columns beyond which an arrow is drawn as its two ends and a faint line
const STUB = 1.4 // columns of each end of such an arrow

const xOf = (step) => PAD_LEFT + step * COL + COL / 2
const laneTop = (lane) => TOP + lane * LANE
const yOf = (lane) => laneTop(lane) + LANE / 2 + 6

// ---------------------------------------------------------------------------------------------- colours
/** Message kinds get a hue each; a reply (…Response, …Reply, …Ack) shares its request's hue, lighter. */
const HUES = [
  ["#2563eb", "#7aa7f7"],
  ["#059669", "#5cc9a4"],
  ["#c2410c", "#f29a6b"],
  ["#9333ea", "#c79af5"],
  ["#0e7490", "#5fbdd3"],
  ["#be185d", "#ee7fb3"],
  ["#4d7c0f", "#9fcb5a"],
  ["#a16207", "#e0b54f"],
]
const REPLY = /(Response|Reply|Ack|Reject)$/

const kindColors = (kinds) => {
  const bases = []
  const colors = new Map()
  for (const kind of kinds) {
    const base = kind.replace(REPLY, "") || kind
    if (!bases.includes(base)) bases.push(base)
  }
  for (const kind of kinds) {
    const base = kind.replace(REPLY, "") || kind
    const pair = HUES[bases.indexOf(base) % HUES.length]
    colors.set(kind, REPLY.test(kind) && base !== kind ? pair[1] : pair[0])
  }
  return colors
}

const ROLE_COLORS = {
  leader: "#7c3aed",
  leading: "#7c3aed",
  candidate: "#f59e0b",
  looking: "#f59e0b",
  electing: "#f59e0b",
  follower: "#94a3b8",
  following: "#94a3b8",
  observer: "#64748b",
}
const OTHER_ROLE_COLORS = ["#0891b2", "#65a30d", "#db2777", "#ea580c"]
const roleColor = (() => {
  const assigned = new Map()
  return (role) => {
    if (role === undefined) return "#94a3b8"
    const known = ROLE_COLORS[String(role).toLowerCase()]
    if (known !== undefined) return known
    if (!assigned.has(role)) assigned.set(role, OTHER_ROLE_COLORS[assigned.size % OTHER_ROLE_COLORS.length])
    return assigned.get(role)
  }
})()

// ---------------------------------------------------------------------------------------------- DOM helpers
const SVG = "http://www.w3.org/2000/svg"

/** An element with attributes (`class`, `data-*`, … ; `text` sets textContent) and children. */
const h = (tag, attrs = {}, ...children) => el(document.createElement(tag), attrs, children)
const s = (tag, attrs = {}, ...children) => el(document.createElementNS(SVG, tag), attrs, children)
const el = (node, attrs, children) => {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (name === "text") node.textContent = String(value)
    else node.setAttribute(name, String(value))
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue
    node.append(typeof child === "string" ? document.createTextNode(child) : child)
  }
  return node
}
const $ = (id) => document.getElementById(id)

// ---------------------------------------------------------------------------------------------- values
const isRecord = (v) => v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Map) && !(v instanceof Set)

/** Compact one-line text of a decoded value, like the terminal's: `{term: 1, value: "v1"}`, tags in front. */
const fmt = (v) => {
  if (v === null) return "null"
  if (v === undefined) return "—"
  if (typeof v === "string") return JSON.stringify(v)
  if (typeof v === "bigint") return v.toString()
  if (typeof v !== "object") return String(v)
  if (Array.isArray(v)) return `[${v.map(fmt).join(", ")}]`
  if (v instanceof Set) return `{${[...v].map(fmt).join(", ")}}`
  if (v instanceof Map) return `{${[...v].map(([k, x]) => `${keyText(k)}: ${fmt(x)}`).join(", ")}}`
  const { _tag, ...rest } = v
  const fields = Object.entries(rest).map(([k, x]) => `${k}: ${fmt(x)}`)
  if (typeof _tag === "string") return fields.length === 0 ? _tag : `${_tag} {${fields.join(", ")}}`
  return `{${fields.join(", ")}}`
}
const keyText = (k) => (typeof k === "string" ? k : fmt(k))

const INLINE = 46

/** Children of a container value as [label, value, pathSegment]. */
const childrenOf = (v) => {
  if (Array.isArray(v)) return v.map((x, i) => [`[${i}]`, x, `[${i}]`])
  if (v instanceof Set) return [...v].map((x, i) => [`·`, x, `{${i}}`])
  if (v instanceof Map) return [...v].map(([k, x]) => [keyText(k), x, `.${keyText(k)}`])
  if (isRecord(v)) return Object.entries(v).map(([k, x]) => [k, x, `.${k}`])
  return []
}
const isContainer = (v) => Array.isArray(v) || v instanceof Set || v instanceof Map || isRecord(v)

/**
 * The rows of an indented key/value tree: a value short enough to read on one line is one row, a larger
 * container is a header row (its tag, if any) followed by its children one level deeper.
 */
const treeRows = (label, value, path, depth, out) => {
  const text = fmt(value)
  if (!isContainer(value) || text.length <= INLINE || childrenOf(value).length === 0) {
    out.push({ label, path, depth, text, leaf: true })
    return out
  }
  const tag = isRecord(value) && typeof value._tag === "string" ? value._tag : Array.isArray(value) ? `${value.length} items` : ""
  out.push({ label, path, depth, text: tag, leaf: false })
  for (const [childLabel, child, segment] of childrenOf(value)) {
    if (childLabel === "_tag") continue
    treeRows(childLabel, child, path + segment, depth + 1, out)
  }
  return out
}

/** Text at every path of a value, to compare a step with the one before. */
const pathTexts = (value, path, out) => {
  out.set(path, fmt(value))
  for (const [, child, segment] of childrenOf(value)) pathTexts(child, path + segment, out)
  return out
}

const valueClass = (text) =>
  text.startsWith('"') ? "v-str" : text === "true" || text === "false" ? "v-bool" : text === "null" || text === "—" ? "v-null" : /^-?\d/.test(text) ? "v-num" : "v-obj"

const shorten = (text, n) => (text.length > n ? `${text.slice(0, n - 1)}…` : text)

/** Renders a tree of rows; rows whose text differs from `before` (path → text) are marked `changed`. */
const renderTree = (rows, before) =>
  rows.map((row) => {
    const old = before?.get(row.path)
    const changed = before !== undefined && row.leaf && old !== row.text
    return h(
      "div",
      { class: `row${row.leaf ? "" : " group"}${changed ? " changed" : ""}`, "data-path": row.path, style: `--depth:${row.depth}` },
      h("span", { class: "key", text: row.label }),
      row.leaf ? h("span", { class: `value ${valueClass(row.text)}`, text: row.text }) : h("span", { class: "tag", text: row.text }),
      changed ? h("span", { class: "was", title: old === undefined ? "new" : `was ${old}`, text: old === undefined ? "new" : `was ${shorten(old, 28)}` }) : undefined,
    )
  })

// ---------------------------------------------------------------------------------------------- model
const ROLE_FIELDS = ["role", "phase", "status", "mode"]
const TERM_FIELDS = ["currentTerm", "term", "currentEpoch", "epoch", "acceptedEpoch", "view", "ballot", "round"]

/** Role and term of a node, when its state has such fields (Raft: role, currentTerm; ZAB: phase, epoch…). */
const summaryOf = (node) => {
  if (!isRecord(node)) return { up: true }
  if (node.up === false) return { up: false }
  const st = isRecord(node.state) ? node.state : {}
  const role = ROLE_FIELDS.map((f) => st[f]).find((v) => typeof v === "string")
  const termField = TERM_FIELDS.find((f) => typeof st[f] === "number" || typeof st[f] === "bigint")
  return { up: true, role, term: termField === undefined ? undefined : st[termField], termField }
}

const load = async () => {
  const response = await fetch("/trace.json", { cache: "no-store" })
  if (!response.ok) throw new Error(`GET /trace.json: ${response.status} ${response.statusText}`)
  return response.json()
}

// ---------------------------------------------------------------------------------------------- the page
const main = async () => {
  let doc
  try {
    doc = await load()
  } catch (error) {
    showError(`Could not load the trace: ${error instanceof Error ? error.message : String(error)}`)
    return
  }
  if (!doc || !Array.isArray(doc.states) || doc.states.length === 0) {
    showError("The trace has no states.")
    return
  }
  const view = new Viewer(doc)
  view.render()
  const fromHash = /(?:^#|&)step=(\d+)/.exec(location.hash)
  view.select(fromHash ? Number(fromHash[1]) : 0, { scroll: true })
  document.body.dataset.ready = "true"
}

const showError = (message) => {
  const box = $("error")
  box.textContent = message
  box.hidden = false
  $("title").textContent = "no trace"
}

class Viewer {
  constructor(doc) {
    this.doc = doc
    this.states = doc.states
    this.timeline = buildTimeline(doc)
    this.meta = this.timeline.meta
    this.last = this.states.length - 1
    this.colors = kindColors(this.timeline.kinds)
    // Each step's nodes decoded, and their role/term summaries.
    this.nodes = this.states.map((st) => new Map([...nodesOf(st)].map(([id, n]) => [id, decodeItf(n)])))
    this.summaries = this.nodes.map((m) => new Map(this.timeline.ids.map((id) => [id, summaryOf(m.get(id))])))
    this.current = -1
  }

  render() {
    this.renderHeader()
    this.renderTimeline()
    this.renderLegend()
    this.renderSteps()
    this.bindControls()
  }

  // ----- header
  renderHeader() {
    const m = this.meta
    const parts = [m.protocol, m.model === undefined ? undefined : `model ${m.model}`, m.variant === undefined ? undefined : `variant ${m.variant}`]
    $("title").replaceChildren(
      ...parts
        .filter((p) => p !== undefined)
        .flatMap((p, i) => (i > 0 ? [h("span", { class: "sep", text: " · " }), h("span", { text: String(p) })] : [h("span", { text: String(p) })])),
    )
    if (parts.every((p) => p === undefined)) $("title").textContent = "trace"
    document.title = `${m.property ?? "trace"} · ${[m.protocol, m.variant].filter(Boolean).join(" ")} · Quorum Workbench`
    const extra = [
      `${this.last} step${this.last === 1 ? "" : "s"}`,
      m.toolVersion === undefined ? undefined : `${m.tool ?? "tool"} ${m.toolVersion}`,
      typeof m.gitCommit === "string" ? `commit ${m.gitCommit.slice(0, 10)}` : undefined,
      typeof m.timestamp === "number" ? new Date(m.timestamp).toISOString().replace("T", " ").slice(0, 19) + " UTC" : undefined,
    ].filter(Boolean)
    $("meta-extra").textContent = extra.join(" · ")
    if (m.property !== undefined) {
      const box = $("property")
      box.hidden = false
      box.replaceChildren(
        h("span", { class: "property-label", text: "violates" }),
        h("strong", { class: "property-name", text: String(m.property) }),
        m.reason === undefined ? undefined : h("span", { class: "property-reason", text: String(m.reason) }),
        h("span", { class: "property-where", text: `at step ${this.last}` }),
      )
    }
  }

  // ----- the chart
  renderTimeline() {
    const { ids, steps, arrows, markers, partitionSpans } = this.timeline
    const width = PAD_LEFT + steps.length * COL + PAD_RIGHT
    const height = laneTop(ids.length) + BOTTOM
    const svg = $("timeline")
    svg.setAttribute("width", String(width))
    svg.setAttribute("height", String(height))
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`)
    const laneIndex = new Map(ids.map((id, i) => [id, i]))
    const bottom = laneTop(ids.length)

    // Arrowheads, one per colour (markers cannot inherit the stroke colour everywhere yet).
    const defs = s("defs")
    const heads = new Map()
    const headFor = (color, open) => {
      const id = `head-${heads.size}`
      const key = `${color}${open ? "-open" : ""}`
      if (heads.has(key)) return heads.get(key)
      defs.append(
        s(
          "marker",
          { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse", markerUnits: "userSpaceOnUse" },
          s("path", { d: "M0,0.5 L10,5 L0,9.5 z", fill: open ? "#fff" : color, stroke: color, "stroke-width": open ? 1.5 : 0 }),
        ),
      )
      heads.set(key, `url(#${id})`)
      return heads.get(key)
    }
    // Hatching for partitioned time.
    defs.append(
      s(
        "pattern",
        { id: "hatch", width: 8, height: 8, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
        s("rect", { width: 8, height: 8, fill: "#fff7ed" }),
        s("line", { x1: 0, y1: 0, x2: 0, y2: 8, stroke: "#fdba74", "stroke-width": 2.5 }),
      ),
    )
    svg.replaceChildren(defs)

    // Column backgrounds (clickable) and the header.
    const columns = s("g", { class: "columns" })
    const header = s("g", { class: "header" })
    for (const step of steps) {
      const x = xOf(step.index) - COL / 2
      const cls = `col${step.index % 2 === 1 ? " odd" : ""}${step.index === this.last && this.meta.property !== undefined ? " violation-col" : ""}`
      columns.append(
        s("rect", { class: cls, x, y: 0, width: COL, height: bottom, "data-step": step.index }, s("title", { text: `${step.index}. ${step.action}` })),
      )
      header.append(
        s("text", { class: "step-num", x: xOf(step.index), y: 16, "data-step": step.index, text: String(step.index) }),
        s(
          "text",
          { class: `step-abbr t-${step.parsed.type}`, x: xOf(step.index), y: 34, "data-step": step.index, fill: this.abbrColor(step) },
          this.abbreviation(step),
        ),
      )
    }
    const cursor = s("rect", { class: "current-step", id: "cursor", x: 0, y: 0, width: COL, height: bottom, rx: 4 })
    svg.append(columns, cursor)

    // Partition shading: the whole partitioned interval, with the two sides written at the top.
    const shading = s("g", { class: "partitions" })
    for (const span of partitionSpans) {
      const x1 = xOf(span.start)
      const x2 = span.end === null ? xOf(this.last) + COL / 2 : xOf(span.end)
      shading.append(
        s(
          "rect",
          { class: "partition-span", x: x1, y: TOP - 4, width: Math.max(x2 - x1, 2), height: bottom - TOP + 4, fill: "url(#hatch)", "data-start": span.start },
          s("title", { text: `partitioned {${span.side.join(",")}} | {${span.other.join(",")}} from step ${span.start}${span.end === null ? "" : ` until step ${span.end}`}` }),
        ),
      )
    }
    svg.append(shading, header)

    // Lanes: background, a bar coloured by role while up, dashed while down, role/term labels at changes.
    const lanes = s("g", { class: "lanes" })
    ids.forEach((id, lane) => {
      const y = yOf(lane)
      const g = s("g", { class: "lane", "data-node": id })
      g.append(s("rect", { class: `lane-bg${lane % 2 ? " odd" : ""}`, x: 0, y: laneTop(lane), width, height: LANE }))
      g.append(s("line", { class: "lane-guide", x1: xOf(0) - COL / 2, x2: xOf(this.last) + COL / 2, y1: y, y2: y }))
      for (const run of this.runs(id)) {
        const x1 = xOf(run.start) - (run.start === 0 ? COL / 2 : 0)
        const x2 = run.end === this.last ? xOf(run.end) + COL / 2 : xOf(run.end + 1)
        if (!run.up) {
          g.append(s("line", { class: "lane-down", x1, x2, y1: y, y2: y }))
          g.append(s("text", { class: "run-label down", x: x1 + 6, y: y - 9, text: "down" }))
          continue
        }
        const color = roleColor(run.role)
        g.append(s("line", { class: "lane-bar", x1, x2, y1: y, y2: y, stroke: color }, s("title", { text: this.runTitle(id, run) })))
        const label = this.runLabel(run, x2 - x1 - 8)
        if (label !== "") g.append(s("text", { class: "run-label", x: x1 + 6, y: y - 9, fill: shade(color), text: label }))
      }
      lanes.append(g)
    })
    svg.append(lanes)

    // Where each step acted: a dot on the acting node's lane.
    const events = s("g", { class: "events" })
    for (const step of steps) {
      const p = step.parsed
      const node = p.type === "deliver" ? p.to : p.type === "timeout" || p.type === "client" || p.type === "other" ? p.node : undefined
      const lane = node === undefined ? undefined : laneIndex.get(node)
      if (lane === undefined) continue
      const x = xOf(step.index)
      const y = yOf(lane)
      const g = s("g", { class: `event ${p.type}`, "data-step": step.index }, s("title", { text: `${step.index}. ${step.action}` }))
      if (p.type === "timeout") {
        g.append(s("circle", { cx: x, cy: y, r: 7, class: "timeout-dot" }), s("path", { d: `M${x},${y - 4} L${x},${y} L${x + 3},${y + 2}`, class: "clock-hand" }))
      } else if (p.type === "client") {
        g.append(s("rect", { x: x - 6, y: y - 6, width: 12, height: 12, transform: `rotate(45 ${x} ${y})`, class: "client-dot" }))
      } else {
        g.append(s("circle", { cx: x, cy: y, r: 4, class: "dot" }))
      }
      events.append(g)
    }
    svg.append(events)

    // Messages.
    const layer = s("g", { class: "arrows" })
    const pendingAt = new Map()
    for (const a of arrows) {
      const from = laneIndex.get(a.from)
      const to = laneIndex.get(a.to)
      if (from === undefined || to === undefined) continue
      const color = this.colors.get(a.kind) ?? "#475569"
      const x1 = xOf(a.sendStep)
      const y1 = yOf(from)
      let x2
      let y2
      if (a.status === "pending") {
        const k = pendingAt.get(a.to) ?? 0
        pendingAt.set(a.to, k + 1)
        x2 = xOf(this.last) + COL / 2 + 26 + (k % 4) * 12
        y2 = yOf(to)
      } else if (a.status === "lost") {
        x2 = xOf(a.endStep)
        y2 = y1 + (yOf(to) - y1) * 0.55
      } else {
        x2 = xOf(a.endStep)
        y2 = yOf(to)
      }
      // Stop at the lane bar, not at its centre.
      const dy = y2 - y1
      const dx = x2 - x1
      const len = Math.hypot(dx, dy) || 1
      const trim = a.status === "delivered" ? 5 : 0
      const ex = x2 - (dx / len) * trim
      const ey = y2 - (dy / len) * trim
      const cls = `arrow ${a.status}${a.duplicated ? " duplicated" : ""}`
      const body = fmt(decodeItf(a.msg))
      const title =
        `${body}\n${a.from} → ${a.to} · ${a.duplicated ? "duplicated" : "sent"} at step ${a.sendStep}` +
        (a.status === "delivered" ? `, delivered at step ${a.endStep}` : a.status === "lost" ? `, lost at step ${a.endStep}` : ", still in flight")
      const g = s("g", {
        class: cls,
        "data-kind": a.kind,
        "data-from": a.from,
        "data-to": a.to,
        "data-send": a.sendStep,
        "data-end": a.endStep ?? "",
        style: `--kind:${color}`,
      })
      g.append(s("title", { text: title }))
      g.append(s("line", { class: "hit", x1, y1, x2: ex, y2: ey }))
      const head = a.status === "lost" ? undefined : headFor(color, a.status === "pending")
      // A message in flight for many steps would run almost along the lanes it crosses: draw its two ends
      // and only a faint line between them (the whole arrow comes forward on hover or when it is active).
      const broken = ex - x1 > LONG_ARROW * COL
      if (broken) {
        const t1 = (STUB * COL) / (ex - x1)
        const t2 = 1 - t1
        const at = (t) => [x1 + (ex - x1) * t, y1 + (ey - y1) * t]
        const [ax, ay] = at(t1)
        const [bx, by] = at(t2)
        g.append(
          s("line", { class: "shaft stub", x1, y1, x2: ax, y2: ay, stroke: color }),
          s("line", { class: "shaft middle", x1: ax, y1: ay, x2: bx, y2: by, stroke: color }),
          s("line", { class: "shaft stub", x1: bx, y1: by, x2: ex, y2: ey, stroke: color, "marker-end": head }),
        )
        g.classList.add("long")
      } else {
        g.append(s("line", { class: "shaft", x1, y1, x2: ex, y2: ey, stroke: color, "marker-end": head }))
      }
      if (a.status === "lost") {
        const r = 5
        g.append(s("path", { class: "lost-x", d: `M${x2 - r},${y2 - r} L${x2 + r},${y2 + r} M${x2 - r},${y2 + r} L${x2 + r},${y2 - r}` }))
      }
      if (a.duplicated) g.append(s("circle", { class: "dup-origin", cx: x1, cy: y1, r: 5, stroke: color }))
      g.addEventListener("click", () => this.select(a.endStep ?? a.sendStep, { scroll: true }))
      layer.append(g)
    }
    svg.append(layer)

    // Fault markers.
    const faults = s("g", { class: "markers" })
    for (const m of markers) {
      const x = xOf(m.step)
      if (m.type === "crash" || m.type === "restart") {
        const lane = laneIndex.get(m.node)
        if (lane === undefined) continue
        const y = yOf(lane)
        const g = s("g", { class: `marker ${m.type}`, "data-node": m.node, "data-step": m.step }, s("title", { text: `${m.type} ${m.node} at step ${m.step}` }))
        g.append(s("circle", { cx: x, cy: y, r: 10 }))
        if (m.type === "crash") g.append(s("path", { d: `M${x - 4.5},${y - 4.5} L${x + 4.5},${y + 4.5} M${x - 4.5},${y + 4.5} L${x + 4.5},${y - 4.5}` }))
        else g.append(s("path", { d: `M${x - 3.5},${y - 5.5} L${x + 5.5},${y} L${x - 3.5},${y + 5.5} z` }))
        faults.append(g)
      } else {
        const label = m.type === "partition" ? `{${m.side.join(",")}} | {${m.other.join(",")}}` : "heal"
        const g = s("g", { class: `marker ${m.type}`, "data-step": m.step }, s("title", { text: `${m.type === "partition" ? "partition" : "heal"} at step ${m.step}${m.type === "partition" ? `: ${label}` : ""}` }))
        g.append(s("line", { x1: x, x2: x, y1: TOP - 4, y2: bottom }))
        g.append(s("text", { x: x + 5, y: bottom - 6, text: m.type === "partition" ? label : "heal" }))
        faults.append(g)
      }
    }
    svg.append(faults)

    // Fixed lane labels beside the scrolling chart.
    const labels = $("lane-labels")
    labels.style.setProperty("--top", `${TOP}px`)
    labels.style.setProperty("--lane", `${LANE}px`)
    labels.replaceChildren(
      ...ids.map((id) =>
        h("div", { class: "lane-label", "data-node": id }, h("span", { class: "lane-id", text: id }), h("span", { class: "lane-status" })),
      ),
    )
    if (ids.length === 0) labels.append(h("div", { class: "no-lanes", text: "no nodes in this trace" }))

    for (const rect of svg.querySelectorAll("[data-step]")) {
      if (rect.closest(".arrow")) continue
      rect.addEventListener("click", () => this.select(Number(rect.getAttribute("data-step"))))
    }
  }

  /** Runs of equal (up, role, term) on one lane. */
  runs(id) {
    const out = []
    this.summaries.forEach((m, step) => {
      const sm = m.get(id) ?? { up: true }
      const key = `${sm.up}|${sm.role}|${sm.term}`
      const last = out[out.length - 1]
      if (last !== undefined && last.key === key) last.end = step
      else out.push({ key, start: step, end: step, up: sm.up, role: sm.role, term: sm.term, termField: sm.termField })
    })
    return out
  }

  runLabel(run, room) {
    const term = run.term === undefined ? "" : `t${run.term}`
    const role = run.role === undefined ? "" : String(run.role)
    const full = [role, term].filter(Boolean).join(" · ")
    if (full.length * 6.2 <= room) return full
    const short = [role.slice(0, 1), term].filter(Boolean).join("·")
    return short.length * 6.2 <= room + 10 ? short : ""
  }

  runTitle(id, run) {
    const what = [run.role, run.term === undefined ? undefined : `${run.termField} ${run.term}`].filter((x) => x !== undefined).join(", ")
    return `${id}${what ? `: ${what}` : ""}, steps ${run.start}–${run.end}`
  }

  abbreviation(step) {
    const p = step.parsed
    switch (p.type) {
      case "init":
        return "init"
      case "deliver":
        return kindAbbreviation(p.kind)
      case "drop":
        return `✕${kindAbbreviation(p.kind)}`
      case "duplicate":
        return `2×${kindAbbreviation(p.kind)}`
      case "timeout":
        return shorten(p.timer, 9)
      case "client":
        return "client"
      case "crash":
        return "crash"
      case "restart":
        return "restart"
      case "partition":
        return "split"
      case "heal":
        return "heal"
      default:
        return shorten(p.name ?? "", 8)
    }
  }

  abbrColor(step) {
    const p = step.parsed
    if (p.type === "deliver" || p.type === "drop" || p.type === "duplicate") return this.colors.get(p.kind) ?? "#475569"
    if (p.type === "crash") return "#dc2626"
    if (p.type === "restart") return "#16a34a"
    return "#64748b"
  }

  // ----- legend
  renderLegend() {
    const line = (cls, color, dash) =>
      s(
        "svg",
        { class: `sample ${cls}`, width: 34, height: 12, viewBox: "0 0 34 12", "aria-hidden": "true" },
        s("line", { x1: 1, y1: 6, x2: 27, y2: 6, stroke: color, "stroke-width": 2, "stroke-dasharray": dash }),
        cls === "lost" ? s("path", { d: "M26,2 L34,10 M26,10 L34,2", stroke: "#dc2626", "stroke-width": 2 }) : s("path", { d: "M26,2 L33,6 L26,10 z", fill: cls === "pending" ? "#fff" : color, stroke: color }),
      )
    const kinds = this.timeline.kinds.map((k) => h("span", { class: "item" }, line("kind", this.colors.get(k)), h("span", { text: k })))
    const roles = [...new Set(this.summaries.flatMap((m) => [...m.values()].map((x) => x.role)).filter((r) => r !== undefined))]
    const chip = (color, text, extra = "") => h("span", { class: "item" }, h("span", { class: `chip ${extra}`, style: `--c:${color}` }), h("span", { text }))
    const groups = [
      h("span", { class: "legend-group" }, h("span", { class: "legend-title", text: "messages" }), ...kinds),
      h(
        "span",
        { class: "legend-group" },
        h("span", { class: "item" }, line("delivered", "#475569"), h("span", { text: "delivered" })),
        h("span", { class: "item" }, line("lost", "#475569", "1 0"), h("span", { text: "lost" })),
        h("span", { class: "item" }, line("duplicated", "#475569", "2 3"), h("span", { text: "duplicated" })),
        h("span", { class: "item" }, line("pending", "#475569", "6 4"), h("span", { text: "in flight at the end" })),
      ),
      roles.length === 0 ? undefined : h("span", { class: "legend-group" }, h("span", { class: "legend-title", text: "roles" }), ...roles.map((r) => chip(roleColor(r), String(r), "bar"))),
      h(
        "span",
        { class: "legend-group" },
        chip("#dc2626", "crash", "crash"),
        chip("#16a34a", "restart", "restart"),
        chip("#fb923c", "partition", "hatch"),
        h("span", { class: "item" }, h("span", { class: "chip timeout-chip" }), h("span", { text: "timer" })),
        h("span", { class: "item" }, h("span", { class: "chip client-chip" }), h("span", { text: "client request" })),
      ),
    ]
    $("legend").replaceChildren(...groups.filter((g) => g !== undefined))
  }

  // ----- steps list
  renderSteps() {
    const list = $("steps")
    list.replaceChildren(
      ...this.timeline.steps.map((step) =>
        h(
          "li",
          { "data-step": step.index, class: step.index === this.last && this.meta.property !== undefined ? "last" : "" },
          h("span", { class: "n", text: String(step.index) }),
          h("span", { class: `a t-${step.parsed.type}`, text: step.action }),
        ),
      ),
    )
    list.addEventListener("click", (e) => {
      const li = e.target instanceof Element ? e.target.closest("li[data-step]") : null
      if (li) this.select(Number(li.getAttribute("data-step")))
    })
  }

  // ----- controls
  bindControls() {
    const slider = $("step")
    slider.max = String(this.last)
    slider.addEventListener("input", () => this.select(Number(slider.value), { scroll: true }))
    $("first").addEventListener("click", () => this.select(0, { scroll: true }))
    $("prev").addEventListener("click", () => this.select(this.current - 1, { scroll: true }))
    $("next").addEventListener("click", () => this.select(this.current + 1, { scroll: true }))
    $("last").addEventListener("click", () => this.select(this.last, { scroll: true }))
    document.addEventListener("keydown", (e) => {
      if (e.altKey || e.ctrlKey || e.metaKey) return
      const target = e.target
      if (target instanceof HTMLElement && (target.isContentEditable || (target.tagName === "INPUT" && target.type !== "range"))) return
      const next = { ArrowLeft: this.current - 1, ArrowRight: this.current + 1, Home: 0, End: this.last, PageUp: this.current - 10, PageDown: this.current + 10 }[e.key]
      if (next === undefined) return
      e.preventDefault()
      this.select(next, { scroll: true })
    })
  }

  // ----- selecting a step
  select(step, { scroll = false } = {}) {
    const k = Math.max(0, Math.min(this.last, Number.isFinite(step) ? Math.trunc(step) : 0))
    if (k === this.current) return
    this.current = k
    const info = this.timeline.steps[k]
    $("step").value = String(k)
    $("step-label").textContent = `step ${k} / ${this.last}`
    $("action").textContent = info.action
    $("action-kind").textContent = info.actionTaken ?? info.parsed.type
    $("action-kind").className = `action-kind t-${info.parsed.type}`
    history.replaceState(null, "", `#step=${k}`)

    // Chart: the cursor, what is past and future, what this step touched.
    const cursor = $("cursor")
    cursor.setAttribute("x", String(xOf(k) - COL / 2))
    cursor.classList.toggle("at-violation", k === this.last && this.meta.property !== undefined)
    const svg = $("timeline")
    for (const node of svg.querySelectorAll(".step-num, .step-abbr")) node.classList.toggle("current", Number(node.getAttribute("data-step")) === k)
    for (const g of svg.querySelectorAll(".arrow")) {
      const send = Number(g.getAttribute("data-send"))
      const endText = g.getAttribute("data-end")
      const end = endText === "" ? Infinity : Number(endText)
      g.classList.toggle("future", send > k)
      g.classList.toggle("active", send === k || end === k)
      g.classList.toggle("in-flight", send < k && end > k)
    }
    for (const g of svg.querySelectorAll(".marker, .event")) g.classList.toggle("future", Number(g.getAttribute("data-step")) > k)
    if (scroll) this.scrollTo(k)

    // Lane labels: each node's role and term at this step; at the last step, the nodes the reason names.
    const implicated = k === this.last ? this.implicated() : new Set()
    for (const label of document.querySelectorAll(".lane-label")) {
      const id = label.getAttribute("data-node")
      label.classList.toggle("implicated", implicated.has(id))
      const sm = this.summaries[k].get(id) ?? { up: true }
      const status = label.querySelector(".lane-status")
      label.classList.toggle("down", !sm.up)
      status.textContent = !sm.up ? "down" : [sm.role, sm.term === undefined ? undefined : `term ${sm.term}`].filter((x) => x !== undefined).join(" · ")
      status.style.color = sm.up ? shade(roleColor(sm.role)) : ""
    }

    // Steps list.
    for (const li of $("steps").children) li.classList.toggle("current", Number(li.getAttribute("data-step")) === k)
    // Keep the current step visible in the list, scrolling the list only (never the page).
    const list = $("steps")
    const li = list.children[k]
    if (li instanceof HTMLElement) {
      if (li.offsetTop < list.scrollTop) list.scrollTop = li.offsetTop - 4
      else if (li.offsetTop + li.offsetHeight > list.scrollTop + list.clientHeight) list.scrollTop = li.offsetTop + li.offsetHeight - list.clientHeight + 4
    }

    // The violation banner, on the last step.
    const banner = $("violation")
    if (k === this.last && this.meta.property !== undefined) {
      banner.hidden = false
      banner.replaceChildren(
        h("span", { class: "violation-icon", text: "✗" }),
        h("span", {}, h("strong", { text: String(this.meta.property) }), " is violated in this state"),
        this.meta.reason === undefined ? undefined : h("span", { class: "violation-reason", text: String(this.meta.reason) }),
      )
    } else {
      banner.hidden = true
      banner.replaceChildren()
    }

    this.renderState(k)
    for (const card of document.querySelectorAll("#state .node")) card.classList.toggle("implicated", implicated.has(card.getAttribute("data-node")))
  }

  /** The nodes the violation's reason names ("n3, leader of term 2, lacks entry 1…" → n3). */
  implicated() {
    const reason = typeof this.meta.reason === "string" ? this.meta.reason : ""
    const escape = (id) => id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
    return new Set(this.timeline.ids.filter((id) => new RegExp(`(^|[^A-Za-z0-9_])${escape(id)}(?![A-Za-z0-9_])`).test(reason)))
  }

  scrollTo(k) {
    const scroller = $("scroller")
    const left = xOf(k) - COL
    const right = xOf(k) + COL
    if (left < scroller.scrollLeft) scroller.scrollLeft = Math.max(0, left - COL)
    else if (right > scroller.scrollLeft + scroller.clientWidth) scroller.scrollLeft = right - scroller.clientWidth + COL
  }

  // ----- the state panel
  renderState(k) {
    const panel = $("state")
    const nodes = this.nodes[k]
    const before = k > 0 ? this.nodes[k - 1] : undefined
    const cards = this.timeline.ids.map((id) => this.nodeCard(id, nodes.get(id), before?.get(id), k > 0))
    const sections = this.timeline.ids.length > 0 ? [h("div", { class: "nodes" }, ...cards)] : [this.variablesSection(k)]
    const st = this.states[k]
    const extra = [
      "network" in st || this.timeline.ids.length > 0 ? this.networkSection(k) : undefined,
      "ghost" in st || "faults" in st ? this.ghostSection(k) : undefined,
    ].filter((x) => x !== undefined)
    if (extra.length > 0) sections.push(h("div", { class: "side-by-side" }, ...extra))
    panel.replaceChildren(...sections)
  }

  nodeCard(id, node, prev, compare) {
    const sm = summaryOf(node)
    const wasUp = prev === undefined ? undefined : summaryOf(prev).up
    const upChanged = compare && wasUp !== undefined && wasUp !== sm.up
    const p = this.timeline.steps[this.current].parsed
    const acted =
      (p.type === "deliver" && p.to === id) || ((p.type === "timeout" || p.type === "client" || p.type === "crash" || p.type === "restart" || p.type === "other") && p.node === id)
    const head = h(
      "header",
      {},
      h("span", { class: "node-id", text: id }),
      h("span", { class: `badge ${sm.up ? "up" : "down"}${upChanged ? " changed" : ""}`, text: sm.up ? "up" : "down" }),
      sm.role === undefined ? undefined : h("span", { class: "role", style: `--c:${roleColor(sm.role)}`, text: String(sm.role) }),
      sm.term === undefined ? undefined : h("span", { class: "term", text: `term ${sm.term}` }),
      acted ? h("span", { class: "acted-badge", title: "this step's action ran on this node", text: "acted" }) : undefined,
    )
    const body = []
    const n = isRecord(node) ? node : {}
    const prevN = isRecord(prev) ? prev : undefined
    const section = (field, title, empty) => {
      const value = n[field]
      if (value === undefined) {
        body.push(h("div", { class: "row group muted", "data-path": field, style: "--depth:0" }, h("span", { class: "key", text: title }), h("span", { class: "tag", text: empty })))
        return
      }
      const rows = isContainer(value) && !Array.isArray(value) ? [{ label: title, path: field, depth: 0, text: "", leaf: false }, ...childRows(value, field, 1)] : treeRows(title, value, field, 0, [])
      const beforeTexts = compare ? (prevN !== undefined && prevN[field] !== undefined ? pathTexts(prevN[field], field, new Map()) : new Map()) : undefined
      body.push(...renderTree(rows, beforeTexts))
    }
    if (sm.up) section("state", "state", "—")
    else body.push(h("div", { class: "down-note", text: "down: volatile state lost; the disk survives" }))
    section("timers", "timers", "none")
    section("disk", "disk", "nothing persisted yet")
    for (const field of Object.keys(n)) {
      if (!["up", "state", "timers", "disk"].includes(field)) section(field, field, "—")
    }
    return h("article", { class: `node${sm.up ? "" : " is-down"}${acted ? " acted" : ""}`, "data-node": id }, head, h("div", { class: "tree" }, ...body))
  }

  networkSection(k) {
    const now = networkCounts(this.states[k])
    const before = k > 0 ? networkCounts(this.states[k - 1]) : new Map()
    const rows = []
    const kindCell = (kind) => h("td", { class: "kind" }, h("span", { class: "chip", style: `--c:${this.colors.get(kind) ?? "#475569"}` }), kind)
    for (const m of now.values()) {
      const fresh = k > 0 && m.count > (before.get(m.key)?.count ?? 0)
      rows.push(
        h(
          "tr",
          { class: `msg${fresh ? " changed" : ""}`, "data-kind": m.kind },
          kindCell(m.kind),
          h("td", { class: "route", text: `${m.from}→${m.to}` }),
          h("td", { class: "body", text: bodyText(m.msg) }),
          h("td", { class: "copies", text: m.count > 1 ? `×${m.count}` : "" }),
          h("td", { class: "note", text: fresh ? "new" : "" }),
        ),
      )
    }
    for (const a of this.timeline.arrows) {
      if (a.endStep !== k) continue
      rows.push(
        h(
          "tr",
          { class: `msg gone ${a.status}`, "data-kind": a.kind },
          kindCell(a.kind),
          h("td", { class: "route", text: `${a.from}→${a.to}` }),
          h("td", { class: "body", text: bodyText(a.msg) }),
          h("td", { class: "copies" }),
          h("td", { class: "note", text: a.status === "delivered" ? "delivered" : "lost" }),
        ),
      )
    }
    const count = [...now.values()].reduce((n, m) => n + m.count, 0)
    return h(
      "section",
      { class: "network" },
      h("h3", { text: `network · ${count} in flight` }),
      rows.length === 0 ? h("p", { class: "muted", text: "empty" }) : h("table", {}, h("tbody", {}, ...rows)),
    )
  }

  ghostSection(k) {
    const st = this.states[k]
    const ghost = decodeItf(st.ghost)
    const faults = decodeItf(st.faults)
    const prev = k > 0 ? this.states[k - 1] : undefined
    const parts = [h("h3", { text: "history and faults" })]
    if (ghost !== undefined) {
      const rows = isContainer(ghost) && !Array.isArray(ghost) ? childRows(ghost, "ghost", 0) : treeRows("ghost", ghost, "ghost", 0, [])
      const before = prev === undefined ? undefined : pathTexts(decodeItf(prev.ghost), "ghost", new Map())
      parts.push(h("div", { class: "tree" }, ...renderTree(rows, before)))
    }
    if (isRecord(faults)) {
      const f = faults
      const pf = prev === undefined ? undefined : decodeItf(prev.faults)
      const item = (name, value, was) =>
        h(
          "span",
          { class: `fault${was !== undefined && plain(was) !== plain(value) ? " changed" : ""}` },
          h("span", { class: "key", text: name }),
          " ",
          h("span", { class: "value", text: plain(value) }),
        )
      parts.push(
        h(
          "div",
          { class: "faults" },
          ...Object.entries(f).map(([name, value]) =>
            name === "cut" ? item("partition", Array.isArray(value) && value.length > 0 ? `{${value.join(",")}} | rest` : "none", isRecord(pf) ? (Array.isArray(pf.cut) && pf.cut.length > 0 ? `{${pf.cut.join(",")}} | rest` : "none") : undefined) : item(name, value, isRecord(pf) ? pf[name] : undefined),
          ),
        ),
      )
    }
    return h("section", { class: "ghost" }, ...parts)
  }

  /** For traces without `nodes` (another tool's ITF): every variable as a tree. */
  variablesSection(k) {
    const st = this.states[k]
    const prev = k > 0 ? this.states[k - 1] : undefined
    const rows = []
    for (const [name, raw] of Object.entries(st)) {
      if (["#meta", "action", "mbt::actionTaken", "ghost", "faults", "network"].includes(name)) continue
      const value = decodeItf(raw)
      const before = prev === undefined ? undefined : pathTexts(decodeItf(prev[name]), name, new Map())
      rows.push(...renderTree(treeRows(name, value, name, 0, []), before))
    }
    return h("section", { class: "variables" }, h("h3", { text: "variables" }), h("div", { class: "tree" }, ...rows))
  }
}

/** Rows of a container's children (the container itself has a header elsewhere). */
const childRows = (value, path, depth) => {
  const out = []
  for (const [label, child, segment] of childrenOf(value)) {
    if (label === "_tag") continue
    treeRows(label, child, path + segment, depth, out)
  }
  return out
}

/** A value as text, strings unquoted. */
const plain = (v) => (typeof v === "string" ? v : fmt(v))

/** A message without its tag (the kind column shows it). */
const bodyText = (msg) => {
  const v = decodeItf(msg)
  if (!isRecord(v)) return fmt(v)
  const { _tag, ...rest } = v
  return fmt(rest)
}

/** A darker shade of a #rrggbb colour, for text on white. */
const shade = (color) => {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color ?? "")
  if (!m) return color
  const c = [m[1], m[2], m[3]].map((x) => Math.round(parseInt(x, 16) * 0.72))
  return `rgb(${c.join(",")})`
}

main()
