/**
 * The pure part of the trace viewer: from the raw ITF document (as `quorum check` writes it, see
 * traces/README.md) to what the page draws — nodes, message arrows from send to delivery, crashes, restarts,
 * partitions and heals. No DOM here, so Node can import it too (test/viewer.test.ts); types in timeline.d.ts.
 *
 * Messages are matched by diffing the network of consecutive states as multisets keyed by
 * (from, to, canonical JSON of msg): every copy that appears is one arrow, and copies that disappear close the
 * oldest open arrows of their key first (FIFO). A disappearance at a step whose action is
 * `deliver K a→b` for that key is the delivery; any other disappearance (a `drop`, or a FIFO connection cut by
 * a crash or partition) is a loss. A copy that appears at a `duplicate K a→b` step is a duplicate.
 */

/** Canonical JSON: object keys sorted, so equal values give equal text. */
export const canonicalJson = (value) => {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value).sort()
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(",")}}`
  }
  return JSON.stringify(value) ?? "null"
}

const isRecord = (value) => value !== null && typeof value === "object" && !Array.isArray(value)

/**
 * ITF value → plain data, as traces/itf.ts `fromItf` does: `#bigint` → number (a bigint beyond 2^53),
 * `#tup` → array, `#set` → Set, `#map` → Map, and the `#unserializable` texts "null", "undefined" and numbers
 * back to their values.
 */
export const decodeItf = (value) => {
  if (Array.isArray(value)) return value.map(decodeItf)
  if (!isRecord(value)) return value
  if ("#bigint" in value) {
    const n = BigInt(value["#bigint"])
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n
  }
  if ("#tup" in value) return value["#tup"].map(decodeItf)
  if ("#set" in value) return new Set(value["#set"].map(decodeItf))
  if ("#map" in value) return new Map(value["#map"].map(([k, v]) => [decodeItf(k), decodeItf(v)]))
  if ("#unserializable" in value) {
    const text = value["#unserializable"]
    if (text === "null") return null
    if (text === "undefined") return undefined
    const n = Number(text)
    return text.trim() !== "" && !Number.isNaN(n) ? n : value
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeItf(v)]))
}

/** An ITF integer (`{"#bigint": "3"}` or a plain JSON number) as a number; 0 for anything else. */
export const itfNumber = (value) => {
  if (typeof value === "number") return value
  if (isRecord(value) && typeof value["#bigint"] === "string") return Number(value["#bigint"])
  return 0
}

/** The kind of a message: its `_tag` (tagged unions, as every spec's messages are), else "message". */
export const messageKind = (msg) => (isRecord(msg) && typeof msg._tag === "string" ? msg._tag : "message")

/** Short form of a kind for narrow places: the capitals of a CamelCase name (`AppendEntries` → `AE`). */
export const kindAbbreviation = (kind) => {
  const capitals = kind.replace(/[^A-Z]/g, "")
  return capitals.length >= 2 ? capitals : kind.slice(0, 4)
}

const nodeList = (text) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")

/**
 * The action line of a state, parsed: `deliver K a→b`, `drop K a→b`, `duplicate K a→b`, `timeout n t`,
 * `client n {…}`, `crash n`, `restart n`, `partition {a} | {b,c}`, `heal`, `init`; anything else is
 * `{type: "other", node}` with the node guessed from the second word (internal actions: `name node arg`).
 */
export const parseAction = (text) => {
  const t = typeof text === "string" ? text.trim() : ""
  let m
  if (t === "init" || t === "") return { type: "init" }
  if (t === "heal") return { type: "heal" }
  if ((m = /^(deliver|drop|duplicate) (\S+) (\S+)→(\S+)$/.exec(t))) return { type: m[1], kind: m[2], from: m[3], to: m[4] }
  if ((m = /^timeout (\S+) (\S+)$/.exec(t))) return { type: "timeout", node: m[1], timer: m[2] }
  if ((m = /^client (\S+)(?: (.*))?$/.exec(t))) return { type: "client", node: m[1], request: m[2] ?? "" }
  if ((m = /^(crash|restart) (\S+)$/.exec(t))) return { type: m[1], node: m[2] }
  if ((m = /^partition \{([^}]*)\} \| \{([^}]*)\}$/.exec(t))) return { type: "partition", side: nodeList(m[1]), other: nodeList(m[2]) }
  const words = t.split(" ")
  return { type: "other", name: words[0] ?? t, node: words[1] }
}

/** The entries of a `#map` ITF value (or of a plain record), as [key, value] pairs. */
const mapEntries = (value) => {
  if (isRecord(value) && Array.isArray(value["#map"])) return value["#map"]
  if (isRecord(value)) return Object.entries(value)
  return []
}

/** The node ids of a trace in their order in the first state's `nodes` map. */
export const nodeIds = (states) => {
  const first = states[0]
  if (first === undefined) return []
  return mapEntries(first.nodes).map(([id]) => String(decodeItf(id)))
}

/** Each node of a state by id: the raw ITF record `{up, state, disk, timers}`. */
export const nodesOf = (state) => new Map(mapEntries(state?.nodes).map(([id, node]) => [String(decodeItf(id)), node]))

/** The in-flight messages of a state grouped by key: from, to, msg (raw ITF), kind and total copies. */
export const networkCounts = (state) => {
  const counts = new Map()
  const network = Array.isArray(state?.network) ? state.network : []
  for (const entry of network) {
    if (!isRecord(entry)) continue
    const from = String(decodeItf(entry.from))
    const to = String(decodeItf(entry.to))
    const key = canonicalJson([from, to, entry.msg ?? null])
    const copies = "copies" in entry ? itfNumber(entry.copies) : 1
    const known = counts.get(key)
    if (known === undefined) counts.set(key, { key, from, to, msg: entry.msg, kind: messageKind(entry.msg), count: copies })
    else known.count += copies
  }
  return counts
}

/**
 * One arrow per copy of a message that entered the network, FIFO-matched to the step where it left it.
 * `status`: "delivered" (left by `deliver`), "lost" (dropped, or cut by a crash or partition), "pending"
 * (still in flight in the last state, `endStep` null). `duplicated`: the copy was made by a `duplicate` step.
 */
export const matchMessages = (states) => {
  const arrows = []
  const open = new Map() // key → arrows still in flight, oldest first
  const add = (msg, step, duplicated) => {
    const arrow = {
      id: arrows.length,
      key: msg.key,
      from: msg.from,
      to: msg.to,
      kind: msg.kind,
      msg: msg.msg,
      sendStep: step,
      endStep: null,
      status: "pending",
      duplicated,
    }
    arrows.push(arrow)
    const queue = open.get(msg.key)
    if (queue === undefined) open.set(msg.key, [arrow])
    else queue.push(arrow)
  }
  let previous = new Map()
  states.forEach((state, step) => {
    const current = networkCounts(state)
    const action = step === 0 ? { type: "init" } : parseAction(state.action)
    const removed = []
    const appeared = []
    for (const key of new Set([...previous.keys(), ...current.keys()])) {
      const before = previous.get(key)?.count ?? 0
      const now = current.get(key)
      const delta = (now?.count ?? 0) - before
      if (delta < 0) removed.push({ key, n: -delta, msg: previous.get(key) })
      if (delta > 0) appeared.push({ key, n: delta, msg: now })
    }
    // The delivered copy: the removed key matching the action's sender, receiver and kind (kind optional).
    let deliveredKey
    if (action.type === "deliver") {
      const pair = removed.filter((r) => r.msg.from === action.from && r.msg.to === action.to)
      deliveredKey = (pair.find((r) => r.msg.kind === action.kind) ?? pair[0] ?? (removed.length === 1 ? removed[0] : undefined))?.key
    }
    for (const r of removed) {
      const queue = open.get(r.key) ?? []
      for (let i = 0; i < r.n; i++) {
        const arrow = queue.shift()
        if (arrow === undefined) break
        arrow.endStep = step
        arrow.status = r.key === deliveredKey && i === 0 ? "delivered" : "lost"
      }
    }
    let duplicatedKey
    if (action.type === "duplicate") {
      const pair = appeared.filter((a) => a.msg.from === action.from && a.msg.to === action.to)
      duplicatedKey = (pair.find((a) => a.msg.kind === action.kind) ?? pair[0])?.key
    }
    for (const a of appeared) {
      for (let i = 0; i < a.n; i++) add(a.msg, step, a.key === duplicatedKey && i === 0)
    }
    previous = current
  })
  return arrows
}

const cutOf = (state) => {
  const faults = decodeItf(state?.faults)
  if (!isRecord(faults) || !Array.isArray(faults.cut)) return undefined
  return faults.cut.map(String)
}

/**
 * Crashes and restarts (from each node's `up` flag, else from the action text), partitions and heals (from
 * `faults.cut`, else from the action text), as point markers and as spans: when each node was down, and when
 * the network was partitioned (`end` null: still at the last step).
 */
export const faultEvents = (states) => {
  const ids = nodeIds(states)
  const markers = []
  const downSpans = []
  const partitionSpans = []
  const down = new Map()
  let partition
  states.forEach((state, step) => {
    const action = step === 0 ? { type: "init" } : parseAction(state.action)
    const nodes = nodesOf(state)
    for (const id of ids) {
      const node = nodes.get(id)
      const up = isRecord(node) && typeof node.up === "boolean" ? node.up : undefined
      const wasDown = down.has(id)
      const isDown = up === undefined ? (action.type === "crash" && action.node === id) || (wasDown && !(action.type === "restart" && action.node === id)) : !up
      if (isDown && !wasDown) {
        const span = { node: id, start: step, end: null }
        down.set(id, span)
        downSpans.push(span)
        if (step > 0) markers.push({ type: "crash", step, node: id })
      } else if (!isDown && wasDown) {
        down.get(id).end = step
        down.delete(id)
        markers.push({ type: "restart", step, node: id })
      }
    }
    const cut = cutOf(state)
    let side
    let other
    if (cut !== undefined) {
      if (cut.length > 0) {
        side = cut
        other = ids.filter((id) => !cut.includes(id))
      }
    } else if (action.type === "partition") {
      side = action.side
      other = action.other
    } else if (action.type !== "heal" && partition !== undefined) {
      side = partition.side
      other = partition.other
    }
    const key = side === undefined ? "" : canonicalJson([side, other])
    const openKey = partition === undefined ? "" : canonicalJson([partition.side, partition.other])
    if (key !== openKey) {
      if (partition !== undefined) {
        partition.end = step
        if (side === undefined) markers.push({ type: "heal", step })
        partition = undefined
      }
      if (side !== undefined) {
        partition = { start: step, end: null, side, other }
        partitionSpans.push(partition)
        markers.push({ type: "partition", step, side, other })
      }
    }
  })
  return { markers, downSpans, partitionSpans }
}

/** Everything the page draws, from a raw ITF document. */
export const buildTimeline = (doc) => {
  const states = Array.isArray(doc?.states) ? doc.states : []
  const steps = states.map((s, index) => {
    const taken = typeof s["mbt::actionTaken"] === "string" ? s["mbt::actionTaken"] : undefined
    // Another tool's trace may name only the action's kind (Quint's mbt::actionTaken), or nothing.
    const action = typeof s.action === "string" ? s.action : index === 0 ? "init" : (taken ?? `step ${index}`)
    return { index, action, actionTaken: taken, parsed: index === 0 ? { type: "init" } : parseAction(action) }
  })
  const kinds = []
  const arrows = matchMessages(states)
  for (const a of arrows) if (!kinds.includes(a.kind)) kinds.push(a.kind)
  return { meta: isRecord(doc?.["#meta"]) ? doc["#meta"] : {}, ids: nodeIds(states), steps, arrows, kinds, ...faultEvents(states) }
}
