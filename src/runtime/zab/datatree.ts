/**
 * The znode tree a ZAB node serves, as a deterministic state machine over committed transactions (ZooKeeper's
 * DataTree). A transaction's value in the spec is a string; here it is the JSON of one znode operation (`Op`),
 * stamped by the leader with the time and a request id. Every server applies the same transactions in zxid order
 * and gets the same tree and the same result for each — a failed version check is an error *result* at the
 * transaction's position (ZooKeeper checks in PrepRequestProcessor before proposing; checking at apply time keeps
 * the check and the write atomic without a second, speculative tree on the leader).
 *
 * Paths are ZooKeeper's: absolute, `/`-separated, no empty, `.` or `..` component, no trailing `/` (except the
 * root). A sequential create appends the parent's 10-digit child counter (its cversion), as ZooKeeper does.
 */
import { Schema } from "effect"

export const Op = Schema.Union([
  Schema.TaggedStruct("create", { path: Schema.String, data: Schema.String, sequential: Schema.Boolean }),
  Schema.TaggedStruct("set", { path: Schema.String, data: Schema.String, version: Schema.Int }),
  Schema.TaggedStruct("delete", { path: Schema.String, version: Schema.Int }),
])
export type Op = typeof Op.Type

/**
 * What a transaction's value holds: the leader's time and one or more operations, each with the id of the request
 * it answers. Several requests arriving together share one transaction (applied in order, each with its own
 * result: not atomic, unlike ZooKeeper's multi), which spreads the per-transaction cost over them.
 */
export const TxnBody = Schema.Struct({ time: Schema.Number, ops: Schema.Array(Schema.Struct({ id: Schema.String, op: Op })) })
export type TxnBody = typeof TxnBody.Type
const decodeBody = Schema.decodeUnknownSync(TxnBody)

export const encodeTxnBody = (b: TxnBody): string => JSON.stringify(b)

export interface Stat {
  readonly czxid: number
  readonly mzxid: number
  readonly pzxid: number
  readonly ctime: number
  readonly mtime: number
  readonly version: number
  readonly cversion: number
  readonly dataLength: number
  readonly numChildren: number
}

/** ZooKeeper's KeeperException codes for the errors a write can meet. */
export const ErrorCodes = { NoNode: -101, BadVersion: -103, NodeExists: -110, NotEmpty: -111, BadArguments: -8 } as const
export type ZkError = keyof typeof ErrorCodes

export type ApplyResult =
  | { readonly ok: true; readonly path: string; readonly stat: Stat | null }
  | { readonly ok: false; readonly error: ZkError; readonly path: string; readonly message: string }

export type WatchEventType = "NodeCreated" | "NodeDeleted" | "NodeDataChanged" | "NodeChildrenChanged"
export interface WatchEvent {
  readonly type: WatchEventType
  readonly path: string
  readonly zxid: number
}

interface ZNode {
  data: string
  stat: Stat
  readonly children: Set<string>
}

export const validatePath = (p: string): string | undefined => {
  if (!p.startsWith("/")) return "the path must start with /"
  if (p === "/") return undefined
  if (p.endsWith("/")) return "the path must not end with /"
  for (const part of p.slice(1).split("/")) {
    if (part === "") return "empty path component"
    if (part === "." || part === "..") return "relative path component"
    if (/[\u0000-\u001f\u007f]/.test(part)) return "control character in the path"
  }
  return undefined
}

const parentOf = (p: string): string => {
  const i = p.lastIndexOf("/")
  return i <= 0 ? "/" : p.slice(0, i)
}
const nameOf = (p: string): string => p.slice(p.lastIndexOf("/") + 1)

const rootStat: Stat = { czxid: 0, mzxid: 0, pzxid: 0, ctime: 0, mtime: 0, version: 0, cversion: 0, dataLength: 0, numChildren: 0 }

export class DataTree {
  private readonly nodes = new Map<string, ZNode>([["/", { data: "", stat: rootStat, children: new Set() }]])
  /** zxid of the last transaction applied. */
  lastZxid = 0
  /** Transactions applied (the length of the spec's data tree this mirrors). */
  applied = 0

  get size(): number {
    return this.nodes.size
  }

  get(path: string): { data: string; stat: Stat } | undefined {
    const n = this.nodes.get(path)
    return n === undefined ? undefined : { data: n.data, stat: n.stat }
  }

  children(path: string): { children: string[]; stat: Stat } | undefined {
    const n = this.nodes.get(path)
    return n === undefined ? undefined : { children: [...n.children].sort(), stat: n.stat }
  }

  /** Applies one committed transaction; returns each operation's result and the watch events they trigger. */
  apply(zxid: number, value: string): { results: Array<{ id: string; result: ApplyResult }>; events: WatchEvent[] } {
    this.lastZxid = zxid
    this.applied++
    let body: TxnBody
    try {
      body = decodeBody(JSON.parse(value))
    } catch {
      // Not a znode operation (a value written by something else): applied as a no-op, deterministically.
      return { results: [], events: [] }
    }
    const results: Array<{ id: string; result: ApplyResult }> = []
    const events: WatchEvent[] = []
    for (const { id, op } of body.ops) {
      const r = this.applyOp(zxid, body.time, op)
      results.push({ id, result: r.result })
      events.push(...r.events)
    }
    return { results, events }
  }

  private applyOp(zxid: number, time: number, op: Op): { result: ApplyResult; events: WatchEvent[] } {
    const bad = validatePath(op.path)
    if (bad !== undefined) return { result: { ok: false, error: "BadArguments", path: op.path, message: bad }, events: [] }
    switch (op._tag) {
      case "create": {
        if (op.path === "/") return { result: fail("NodeExists", "/"), events: [] }
        const parentPath = parentOf(op.path)
        const parent = this.nodes.get(parentPath)
        if (parent === undefined) return { result: fail("NoNode", op.path, `the parent ${parentPath} does not exist`), events: [] }
        const path = op.sequential ? `${op.path}${String(parent.stat.cversion).padStart(10, "0")}` : op.path
        if (this.nodes.has(path)) return { result: fail("NodeExists", path), events: [] }
        const stat: Stat = {
          czxid: zxid,
          mzxid: zxid,
          pzxid: zxid,
          ctime: time,
          mtime: time,
          version: 0,
          cversion: 0,
          dataLength: Buffer.byteLength(op.data),
          numChildren: 0,
        }
        this.nodes.set(path, { data: op.data, stat, children: new Set() })
        parent.children.add(nameOf(path))
        parent.stat = { ...parent.stat, cversion: parent.stat.cversion + 1, pzxid: zxid, numChildren: parent.children.size }
        return {
          result: { ok: true, path, stat },
          events: [
            { type: "NodeCreated", path, zxid },
            { type: "NodeChildrenChanged", path: parentPath, zxid },
          ],
        }
      }
      case "set": {
        const n = this.nodes.get(op.path)
        if (n === undefined) return { result: fail("NoNode", op.path), events: [] }
        if (op.version !== -1 && op.version !== n.stat.version) {
          return { result: fail("BadVersion", op.path, `version ${op.version} expected, the node is at ${n.stat.version}`), events: [] }
        }
        n.data = op.data
        n.stat = { ...n.stat, mzxid: zxid, mtime: time, version: n.stat.version + 1, dataLength: Buffer.byteLength(op.data) }
        return { result: { ok: true, path: op.path, stat: n.stat }, events: [{ type: "NodeDataChanged", path: op.path, zxid }] }
      }
      case "delete": {
        if (op.path === "/") return { result: fail("BadArguments", "/", "the root cannot be deleted"), events: [] }
        const n = this.nodes.get(op.path)
        if (n === undefined) return { result: fail("NoNode", op.path), events: [] }
        if (op.version !== -1 && op.version !== n.stat.version) {
          return { result: fail("BadVersion", op.path, `version ${op.version} expected, the node is at ${n.stat.version}`), events: [] }
        }
        if (n.children.size > 0) return { result: fail("NotEmpty", op.path, `${n.children.size} children`), events: [] }
        this.nodes.delete(op.path)
        const parentPath = parentOf(op.path)
        const parent = this.nodes.get(parentPath)!
        parent.children.delete(nameOf(op.path))
        parent.stat = { ...parent.stat, cversion: parent.stat.cversion + 1, pzxid: zxid, numChildren: parent.children.size }
        return {
          result: { ok: true, path: op.path, stat: null },
          events: [
            { type: "NodeDeleted", path: op.path, zxid },
            { type: "NodeChildrenChanged", path: parentPath, zxid },
          ],
        }
      }
    }
  }
}

const fail = (error: ZkError, path: string, message?: string): ApplyResult => ({
  ok: false,
  error,
  path,
  message: message ?? (error === "NoNode" ? `${path} does not exist` : error === "NodeExists" ? `${path} already exists` : error),
})
