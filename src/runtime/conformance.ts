/**
 * Conformance of a cluster run to the spec: every step a running node logged (events.ndjson) must be a
 * legal transition of the protocol. For each node the validator replays the logged events through the
 * spec's own `recover`/`handle` and checks that the state reached has the logged digest (where the line has one:
 * running nodes sample them, events.ts), that the step
 * persisted exactly when the log says it did, and that every message the node logged as sent was one its
 * steps asked to send. Across nodes, a delivered message with no matching send is reported as a warning
 * only: a kill -9 can lose the sender's last buffered event lines, and a rotated log drops its oldest file. A
 * rotated file starts with a checkpoint (the state and the held sends), from which it is checked on its own.
 */
import { Schema } from "effect"
import { canonical } from "../../checker/canonical.ts"
import { makeContext, nodeId, type AnyProtocol, type Event, type NodeId, type Step } from "../../spec/kernel/protocol.ts"
import { DigestCache, stateDigest } from "./digest.ts"
import { isStartLine } from "./events.ts"

export interface NodeConformance {
  readonly events: number
  readonly steps: number
  /** Steps (restarts included) whose logged state digest was compared with the spec's. */
  readonly digests: number
  readonly restarts: number
  /** Rotations of the event log the validated lines cross or start from. */
  readonly checkpoints: number
  readonly sends: number
}

export interface ConformanceReport {
  readonly ok: boolean
  readonly nodes: Readonly<Record<string, NodeConformance>>
  /** Illegal steps: a state, persist or send the spec does not produce. Empty when `ok`. */
  readonly problems: ReadonlyArray<string>
  /** Cross-node mismatches that a kill -9 can explain. */
  readonly warnings: ReadonlyArray<string>
}

export interface ConformanceInput {
  readonly protocol: AnyProtocol
  readonly config: unknown
  readonly variant: unknown
  /** Each node's event lines, in the order it wrote them. */
  readonly events: ReadonlyMap<string, ReadonlyArray<string>>
}

type Line = Record<string, unknown>

/** Multiset of canonical texts. */
class Bag {
  private readonly counts = new Map<string, number>()
  add(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
  }
  take(key: string): boolean {
    const n = this.counts.get(key) ?? 0
    if (n === 0) return false
    if (n === 1) this.counts.delete(key)
    else this.counts.set(key, n - 1)
    return true
  }
}

/**
 * The variant the nodes ran, as their restart lines name it (logs written before they did ran the protocol's
 * default variant). Throws when nodes name different variants or one the protocol lacks.
 */
export const loggedVariant = (protocol: AnyProtocol, events: ReadonlyMap<string, ReadonlyArray<string>>): string => {
  const named = new Set<string>()
  for (const lines of events.values()) {
    for (const line of lines) {
      if (!isStartLine(line)) continue
      named.add(/"variant":"([^"]*)"/.exec(line)?.[1] ?? protocol.defaultVariant)
    }
  }
  if (named.size > 1) throw new Error(`the event logs name several variants: ${[...named].join(", ")}`)
  const variant = [...named][0] ?? protocol.defaultVariant
  if (protocol.variants[variant] === undefined) throw new Error(`the event logs name variant "${variant}", which ${protocol.name} does not have`)
  return variant
}

export const validateEvents = (input: ConformanceInput): ConformanceReport => {
  const { protocol } = input
  const ids = [...input.events.keys()].sort().map(nodeId)
  const decodeMessage = Schema.decodeUnknownSync(protocol.schemas.message)
  const decodeDurable = Schema.decodeUnknownSync(protocol.schemas.durable)
  const decodeRequest = Schema.decodeUnknownSync(protocol.schemas.clientRequest)
  const problems: string[] = []
  const warnings: string[] = []
  const nodes: Record<string, NodeConformance> = {}
  /** Messages each node logged as sent, keyed by (from, to, msg). */
  const sent = new Bag()
  const delivered: Array<{ key: string; where: string }> = []

  for (const id of ids) {
    const ctx = makeContext(id, ids, input.config, input.variant)
    const lines = input.events.get(id)!
    let state: unknown
    let up = false
    let steps = 0
    let digests = 0
    let restarts = 0
    let checkpoints = 0
    let sends = 0
    /** Sends the spec asked for and the node has not logged yet (they leave after their persist). */
    let expectedSends = new Bag()
    const digestCache = new DigestCache()
    const fail = (k: number, why: string) => problems.push(`${id} event ${k + 1}: ${why}`)
    const takeStep = (k: number, line: Line, step: Step<unknown, unknown, unknown, unknown>, what: string): void => {
      steps++
      state = step.state
      if (line.digest !== undefined) {
        digests++
        const digest = stateDigest(step.state, digestCache)
        if (line.digest !== digest) fail(k, `${what} leads the spec to a state with digest ${digest}, the node logged ${String(line.digest)}`)
      }
      const persisted = line.persist === true
      if (persisted !== (step.persist !== undefined)) {
        fail(k, `${what}: the spec ${step.persist === undefined ? "persists nothing" : "persists"} but the node logged ${persisted ? "a persist" : "none"}`)
      }
      for (const e of step.effects) if (e._tag === "Send") expectedSends.add(canonical([e.to, e.msg]))
    }
    for (let k = 0; k < lines.length; k++) {
      let line: Line
      try {
        line = JSON.parse(lines[k]!) as Line
      } catch {
        // A kill -9 can tear the last line a process wrote; anything else unreadable is a problem.
        const next = lines[k + 1]
        if (next === undefined || next.includes('"ev":"restart"')) continue
        fail(k, "not a JSON line")
        continue
      }
      try {
        switch (line.ev) {
          case "restart": {
            restarts++
            up = true
            if (line.digest === undefined) fail(k, "a restart without the digest of the state it recovered")
            expectedSends = new Bag()
            const disk = line.disk === null || line.disk === undefined ? undefined : decodeDurable(line.disk)
            // A boot may persist (ZAB writes its empty epoch files); the host logs it as on any step.
            takeStep(k, { ...line, persist: line.persist === true }, protocol.recover(ctx, disk), "restart")
            break
          }
          case "checkpoint": {
            // A rotated log starts here: the node's state and the sends still held. After earlier lines it must
            // also be the state they led to.
            const digest = stateDigest(line.state, digestCache)
            if (line.digest !== digest) fail(k, `the checkpoint's state has digest ${digest}, the node logged ${String(line.digest)}`)
            if (up && stateDigest(state, digestCache) !== digest) fail(k, "the checkpoint's state is not the state the events before it led to")
            up = true
            state = line.state
            expectedSends = new Bag()
            if (!Array.isArray(line.held)) throw new Error("a checkpoint without its held sends")
            for (const h of line.held as unknown[]) {
              const [to, msg] = h as [unknown, unknown]
              expectedSends.add(canonical([to, decodeMessage(msg)]))
            }
            checkpoints++
            break
          }
          case "deliver":
          case "timer":
          case "client":
          case "internal": {
            if (!up) {
              fail(k, `${String(line.ev)} before the node started`)
              break
            }
            const event = toEvent(line, decodeMessage, decodeRequest)
            if (event._tag === "Deliver") {
              delivered.push({ key: canonical([event.from, id, event.msg]), where: `${id} event ${k + 1}` })
            }
            takeStep(k, line, protocol.handle(ctx, state, event), describe(event))
            break
          }
          case "send": {
            sends++
            const msg = decodeMessage(line.msg)
            const key = canonical([line.to, msg])
            if (!expectedSends.take(key)) fail(k, `sent ${protocol.messageKind(msg)} to ${String(line.to)}, which no step of the spec asked for`)
            sent.add(canonical([id, line.to, msg]))
            break
          }
          case "persist":
            break // persist flags are checked on the steps themselves
          default:
            fail(k, `unknown event ${JSON.stringify(line.ev)}`)
        }
      } catch (error) {
        fail(k, `does not decode: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`)
      }
    }
    nodes[id] = { events: lines.length, steps, digests, restarts, checkpoints, sends }
  }
  for (const d of delivered) {
    if (!sent.take(d.key)) warnings.push(`${d.where}: delivered a message its sender never logged as sent (its lines lost to a kill -9, or rotated away)`)
  }
  return { ok: problems.length === 0, nodes, problems, warnings }
}

const toEvent = (
  line: Line,
  decodeMessage: (u: unknown) => unknown,
  decodeRequest: (u: unknown) => unknown,
): Event<unknown, unknown> => {
  switch (line.ev) {
    case "deliver":
      return { _tag: "Deliver", from: nodeId(String(line.from)) as NodeId, msg: decodeMessage(line.msg) }
    case "timer":
      return { _tag: "Timeout", timer: String(line.timer) }
    case "client":
      return { _tag: "Client", request: decodeRequest(line.request) }
    default:
      return { _tag: "Internal", action: line.action as { name: string; arg?: string } }
  }
}

const describe = (event: Event<unknown, unknown>): string => {
  switch (event._tag) {
    case "Deliver":
      return `a delivery from ${event.from}`
    case "Timeout":
      return `timeout ${event.timer}`
    case "Client":
      return "a client request"
    case "Internal":
      return `internal ${event.action.name}`
  }
}
