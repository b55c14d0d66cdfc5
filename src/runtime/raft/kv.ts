/**
 * The etcd v2 key space as a deterministic state machine: every node applies the same committed commands in
 * log order and computes the same results. Commands travel as the value of a Raft log entry (the spec's
 * `Put { value }` carries them unchanged), JSON text decoded here with `Command`.
 *
 * Indexes: a node's `modifiedIndex` / `createdIndex` and the `X-Etcd-Index` are Raft log indexes (etcd v2
 * numbers modifications with a store index of its own; here the log index plays that role, so indexes grow
 * by more than one when entries such as a leader's no-op or a failed compare-and-swap are in between).
 */
import { Schema } from "effect"

const Str = Schema.String
const Opt = <S extends Schema.Top>(s: S) => Schema.optionalKey(s)

export const SetCommand = Schema.TaggedStruct("set", {
  key: Str,
  value: Opt(Str),
  dir: Opt(Schema.Boolean),
  prevValue: Opt(Str),
  prevIndex: Opt(Schema.Int),
  prevExist: Opt(Schema.Boolean),
  id: Opt(Str),
})
export const PostCommand = Schema.TaggedStruct("post", { key: Str, value: Opt(Str), dir: Opt(Schema.Boolean), id: Opt(Str) })
export const DeleteCommand = Schema.TaggedStruct("delete", {
  key: Str,
  dir: Opt(Schema.Boolean),
  recursive: Opt(Schema.Boolean),
  prevValue: Opt(Str),
  prevIndex: Opt(Schema.Int),
  id: Opt(Str),
})
export const NoopCommand = Schema.TaggedStruct("noop", { id: Opt(Str) })
export const Command = Schema.Union([SetCommand, PostCommand, DeleteCommand, NoopCommand])
export type Command = typeof Command.Type

const decodeCommandSync = Schema.decodeUnknownSync(Command)

/**
 * The entry value that carries `c` through the log. A command's encoded form is the command itself (its fields
 * are strings, numbers and booleans), so it is written as it is — running it through the Schema encoder cost
 * the leader ~1 % of its CPU per write — and every node that applies it decodes it with `Command`.
 */
export const encodeCommand = (c: Command): string => JSON.stringify(c)

/** The command an entry value carries, or undefined for anything else (applied as a no-op). */
export const decodeCommand = (value: string): Command | undefined => {
  try {
    const json: unknown = JSON.parse(value)
    return isPlainSet(json) ? json : decodeCommandSync(json)
  } catch {
    return undefined
  }
}

/**
 * Whether `v` is a plain PUT as the API proposes it — `{_tag: "set", key, value, id}`, strings, nothing else —
 * which `Command` decodes to an equal object. Nearly every entry is one; the Schema's generic walk of the
 * union cost a loaded follower ~6 % of its main thread (`npm run bench:cluster`, CPU profile). Anything else
 * goes through the Schema, which stays the definition (kv.test.ts checks the two agree).
 */
const isPlainSet = (v: unknown): v is Command => {
  if (typeof v !== "object" || v === null) return false
  const o = v as Record<string, unknown>
  if (o["_tag"] !== "set" || typeof o["key"] !== "string" || typeof o["value"] !== "string" || typeof o["id"] !== "string") return false
  let fields = 0
  for (const _ in o) fields++
  return fields === 4
}

// ---------------------------------------------------------------------------------------------------------
// JSON shapes of the etcd v2 API

export interface NodeJson {
  readonly key: string
  readonly value?: string
  readonly dir?: true
  readonly nodes?: ReadonlyArray<NodeJson>
  readonly modifiedIndex: number
  readonly createdIndex: number
}

export interface EventJson {
  readonly action: string
  readonly node: NodeJson
  readonly prevNode?: NodeJson
}

export interface EtcdError {
  readonly errorCode: number
  readonly message: string
  readonly cause: string
  readonly index: number
}

export type Result = { readonly ok: true; readonly event: EventJson; readonly index: number } | { readonly ok: false; readonly error: EtcdError }

/** etcd v2 error codes (Documentation/v2/errorcode.md) with their messages and HTTP statuses. */
export const Ecode = {
  KeyNotFound: { code: 100, message: "Key not found", status: 404 },
  TestFailed: { code: 101, message: "Compare failed", status: 412 },
  NotFile: { code: 102, message: "Not a file", status: 403 },
  NotDir: { code: 104, message: "Not a directory", status: 403 },
  NodeExist: { code: 105, message: "Key already exists", status: 412 },
  RootROnly: { code: 107, message: "Root is read only", status: 403 },
  DirNotEmpty: { code: 108, message: "Directory not empty", status: 403 },
  ValueRequired: { code: 200, message: "Value is Required in POST form", status: 400 },
  PrevValueRequired: { code: 201, message: "PrevValue is Required in POST form", status: 400 },
  TTLNaN: { code: 202, message: "The given TTL in POST form is not a number", status: 400 },
  IndexNaN: { code: 203, message: "The given index in POST form is not a number", status: 400 },
  InvalidField: { code: 209, message: "Invalid field", status: 400 },
  InvalidForm: { code: 210, message: "Invalid POST form", status: 400 },
  RaftInternal: { code: 300, message: "Raft Internal Error", status: 500 },
  LeaderElect: { code: 301, message: "During Leader Election", status: 500 },
  WatcherCleared: { code: 400, message: "watcher is cleared due to etcd recovery", status: 400 },
  EventIndexCleared: { code: 401, message: "The event in requested index is outdated and cleared", status: 400 },
} as const
export type EcodeName = keyof typeof Ecode

const failure = (name: EcodeName, cause: string, index: number): Result => ({ ok: false, error: etcdError(name, cause, index) })

export const statusOf = (errorCode: number): number => {
  for (const e of Object.values(Ecode)) if (e.code === errorCode) return e.status
  return 500
}

export const etcdError = (name: EcodeName, cause: string, index: number): EtcdError => ({
  errorCode: Ecode[name].code,
  message: Ecode[name].message,
  cause,
  index,
})

/** etcd's key cleaning: leading slash, no empty or trailing segments. */
export const cleanKey = (key: string): string =>
  isClean(key) ? key : "/" + key.split("/").filter((p) => p !== "" && p !== ".").join("/")

const SLASH = 47
const DOT = 46

/** Whether `key` is already clean: every key of every write is checked, and almost all are (no split needed). */
const isClean = (key: string): boolean => {
  const n = key.length
  if (n === 0 || key.charCodeAt(0) !== SLASH) return false
  if (n === 1) return true
  for (let i = 0; i < n; i++) {
    if (key.charCodeAt(i) !== SLASH) continue
    if (i + 1 === n) return false
    const next = key.charCodeAt(i + 1)
    if (next === SLASH || (next === DOT && (i + 2 === n || key.charCodeAt(i + 2) === SLASH))) return false
  }
  return true
}

const parentOf = (key: string): string => {
  const i = key.lastIndexOf("/")
  return i <= 0 ? "/" : key.slice(0, i)
}

// ---------------------------------------------------------------------------------------------------------
// The store

interface KvNode {
  readonly key: string
  value: string | undefined
  readonly dir: boolean
  readonly createdIndex: number
  modifiedIndex: number
  /** Directories: child name → node. */
  readonly children: Map<string, KvNode> | undefined
}

const fileJson = (n: KvNode): NodeJson =>
  n.dir
    ? { key: n.key, dir: true, modifiedIndex: n.modifiedIndex, createdIndex: n.createdIndex }
    : { key: n.key, value: n.value ?? "", modifiedIndex: n.modifiedIndex, createdIndex: n.createdIndex }

interface Watcher {
  readonly key: string
  readonly recursive: boolean
  readonly sinceIndex: number
  readonly notify: (e: HistoryEvent) => void
  readonly cleared: (error: EtcdError) => void
}

export interface HistoryEvent {
  readonly index: number
  readonly key: string
  readonly event: EventJson
}

export const HISTORY_LIMIT = 1000

const emptyRoot = (): KvNode => ({ key: "/", value: undefined, dir: true, createdIndex: 0, modifiedIndex: 0, children: new Map() })

export class KvStore {
  private root: KvNode = emptyRoot()
  /** Index of the last applied log entry. */
  index = 0
  private readonly history: HistoryEvent[] = []
  /** Events older than this index have been dropped from `history`. */
  private historyStart = 1
  private readonly watchers = new Set<Watcher>()

  /** The node at a clean key. Walks the key by its slashes: no array of segments per call. */
  private lookup(key: string): KvNode | undefined {
    if (key === "/") return this.root
    let n: KvNode | undefined = this.root
    let start = 1
    for (;;) {
      const slash = key.indexOf("/", start)
      n = n.children?.get(slash === -1 ? key.slice(start) : key.slice(start, slash))
      if (n === undefined || slash === -1) return n
      start = slash + 1
    }
  }

  /**
   * Applies the entry at `index` (its value is the command text). Deterministic. `known` is that text already
   * decoded — the leader's own proposal — so the leader need not decode it again.
   */
  apply(index: number, entryValue: string, known?: Command): Result | undefined {
    if (index !== this.index + 1) throw new Error(`kv: applying entry ${index} after ${this.index}`)
    this.index = index
    const c = known ?? decodeCommand(entryValue)
    if (c === undefined || c._tag === "noop") return undefined
    const r = this.execute(c, index)
    if (r.ok) this.record({ index, key: r.event.node.key, event: r.event })
    return r
  }

  private execute(c: Exclude<Command, { _tag: "noop" }>, index: number): Result {
    switch (c._tag) {
      case "post": {
        const dirKey = cleanKey(c.key)
        const key = dirKey === "/" ? `/${String(index).padStart(20, "0")}` : `${dirKey}/${String(index).padStart(20, "0")}`
        return this.put(key, c.dir === true ? undefined : (c.value ?? ""), c.dir === true, index, "create")
      }
      case "set": {
        const key = cleanKey(c.key)
        if (key === "/") return failure("RootROnly", "/", index)
        const compare = c.prevValue !== undefined || c.prevIndex !== undefined
        // A plain set does not look at what it replaces before `put` (which finds it anyway).
        const existing = compare || c.prevExist !== undefined ? this.lookup(key) : undefined
        if (c.prevExist === false && existing !== undefined) return failure("NodeExist", key, index)
        if ((compare || c.prevExist === true) && existing === undefined) return failure("KeyNotFound", key, index)
        if (compare && existing !== undefined) {
          if (existing.dir) return failure("NotFile", key, index)
          const why = this.compareFailure(existing, c.prevValue, c.prevIndex)
          if (why !== undefined) return failure("TestFailed", why, index)
        }
        const action = c.prevExist === false ? "create" : compare ? "compareAndSwap" : c.prevExist === true ? "update" : "set"
        return this.put(key, c.dir === true ? undefined : (c.value ?? ""), c.dir === true, index, action)
      }
      case "delete": {
        const key = cleanKey(c.key)
        if (key === "/") return failure("RootROnly", "/", index)
        const existing = this.lookup(key)
        if (existing === undefined) return failure("KeyNotFound", key, index)
        const compare = c.prevValue !== undefined || c.prevIndex !== undefined
        if (existing.dir) {
          if (compare) return failure("NotFile", key, index)
          if (c.dir !== true && c.recursive !== true) return failure("NotFile", key, index)
          if (c.recursive !== true && existing.children!.size > 0) return failure("DirNotEmpty", key, index)
        } else if (compare) {
          const why = this.compareFailure(existing, c.prevValue, c.prevIndex)
          if (why !== undefined) return failure("TestFailed", why, index)
        }
        const prevNode = fileJson(existing)
        this.lookup(parentOf(key))!.children!.delete(key.slice(key.lastIndexOf("/") + 1))
        const node: NodeJson = existing.dir
          ? { key, dir: true, modifiedIndex: index, createdIndex: existing.createdIndex }
          : { key, modifiedIndex: index, createdIndex: existing.createdIndex }
        return { ok: true, index, event: { action: compare ? "compareAndDelete" : "delete", node, prevNode } }
      }
    }
  }

  private compareFailure(n: KvNode, prevValue: string | undefined, prevIndex: number | undefined): string | undefined {
    const reasons: string[] = []
    if (prevValue !== undefined && prevValue !== n.value) reasons.push(`[${prevValue} != ${n.value ?? ""}]`)
    if (prevIndex !== undefined && prevIndex !== n.modifiedIndex) reasons.push(`[${prevIndex} != ${n.modifiedIndex}]`)
    return reasons.length === 0 ? undefined : reasons.join(" ")
  }

  private put(
    key: string,
    value: string | undefined,
    dir: boolean,
    index: number,
    action: string,
  ): Result {
    // Walk (and create) the parent directories; a file on the way is "Not a directory".
    let parent = this.root
    let start = 1
    for (let slash = key.indexOf("/", start); slash !== -1; slash = key.indexOf("/", start)) {
      const part = key.slice(start, slash)
      let next = parent.children!.get(part)
      if (next === undefined) {
        next = { key: key.slice(0, slash), value: undefined, dir: true, createdIndex: index, modifiedIndex: index, children: new Map() }
        parent.children!.set(part, next)
      } else if (!next.dir) return failure("NotDir", key.slice(0, slash), index)
      parent = next
      start = slash + 1
    }
    const name = key.slice(start)
    const existing = parent.children!.get(name)
    if (existing !== undefined && existing.dir) return failure("NotFile", key, index)
    if (existing !== undefined && dir) return failure("NotFile", key, index)
    const node: KvNode = dir
      ? { key, value: undefined, dir: true, createdIndex: index, modifiedIndex: index, children: new Map() }
      : {
          key,
          value,
          dir: false,
          createdIndex: existing !== undefined && action !== "set" ? existing.createdIndex : index,
          modifiedIndex: index,
          children: undefined,
        }
    parent.children!.set(name, node)
    const event: EventJson =
      existing === undefined ? { action, node: fileJson(node) } : { action, node: fileJson(node), prevNode: fileJson(existing) }
    return { ok: true, index, event }
  }

  /** GET of a key: a file, or a directory listing (children sorted when `sorted`; whole subtree when `recursive`). */
  get(rawKey: string, options: { recursive?: boolean; sorted?: boolean } = {}): Result {
    const key = cleanKey(rawKey)
    const n = this.lookup(key)
    if (n === undefined) return { ok: false, error: etcdError("KeyNotFound", key, this.index) }
    return { ok: true, index: this.index, event: { action: "get", node: this.listing(n, options, true) } }
  }

  private listing(n: KvNode, options: { recursive?: boolean; sorted?: boolean }, top: boolean): NodeJson {
    if (!n.dir) return fileJson(n)
    const base = { key: n.key, dir: true as const, modifiedIndex: n.modifiedIndex, createdIndex: n.createdIndex }
    if (!top && options.recursive !== true) return base
    let kids = [...n.children!.values()]
    if (options.sorted === true) kids = kids.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    const nodes = kids.map((k) => this.listing(k, options, false))
    // etcd shows the root as {"dir": true, "nodes": […]}, without a key or indexes.
    if (n === this.root) return { dir: true, ...(nodes.length > 0 ? { nodes } : {}) } as unknown as NodeJson
    return { ...base, ...(nodes.length > 0 ? { nodes } : {}) }
  }

  // ---- snapshots (Raft §7) ----

  /**
   * The key space as the data of a Raft snapshot at `this.index`: JSON `{"v":1,"index","nodes":[[key, value
   * or null for a directory, createdIndex, modifiedIndex], …]}`, parents before their children.
   */
  snapshot(): string {
    const nodes: Array<[string, string | null, number, number]> = []
    const walk = (n: KvNode): void => {
      for (const c of n.children!.values()) {
        nodes.push([c.key, c.dir ? null : (c.value ?? ""), c.createdIndex, c.modifiedIndex])
        if (c.dir) walk(c)
      }
    }
    walk(this.root)
    return JSON.stringify({ v: 1, index: this.index, nodes })
  }

  /**
   * Replaces the key space by a snapshot's (`snapshot()`), taken at `index`. The history of changes starts
   * over, so pending watches end with etcd's "watcher is cleared due to etcd recovery" (400). Throws, changing
   * nothing, when the data is not such a snapshot.
   */
  restore(data: string, index: number): void {
    const root = emptyRoot()
    const parsed = JSON.parse(data) as { v?: unknown; index?: unknown; nodes?: unknown }
    if (parsed.v !== 1 || parsed.index !== index || !Array.isArray(parsed.nodes)) throw new Error(`kv: not a key-space snapshot of index ${index}`)
    const byKey = new Map<string, KvNode>([["/", root]])
    for (const item of parsed.nodes as unknown[]) {
      const [key, value, createdIndex, modifiedIndex] = item as [unknown, unknown, unknown, unknown]
      if (typeof key !== "string" || (value !== null && typeof value !== "string") || typeof createdIndex !== "number" || typeof modifiedIndex !== "number") {
        throw new Error(`kv: malformed snapshot node ${JSON.stringify(item)}`)
      }
      const slash = key.lastIndexOf("/")
      const parent = byKey.get(slash === 0 ? "/" : key.slice(0, slash))
      if (parent?.children === undefined) throw new Error(`kv: snapshot node ${key} comes before its directory`)
      const dir = value === null
      const node: KvNode = { key, value: dir ? undefined : value, dir, createdIndex, modifiedIndex, children: dir ? new Map() : undefined }
      parent.children.set(key.slice(slash + 1), node)
      if (dir) byKey.set(key, node)
    }
    this.root = root
    this.index = index
    this.history.length = 0
    this.historyStart = index + 1
    const pending = [...this.watchers]
    this.watchers.clear()
    for (const w of pending) w.cleared(etcdError("WatcherCleared", `the key space was replaced by a snapshot at index ${index}`, index))
  }

  // ---- watches ----

  private record(e: HistoryEvent): void {
    this.history.push(e)
    if (this.history.length > HISTORY_LIMIT) {
      this.history.shift()
      this.historyStart = this.history[0]!.index
    }
    if (this.watchers.size === 0) return
    for (const w of [...this.watchers]) {
      if (e.index >= w.sinceIndex && matches(w.key, w.recursive, e)) {
        this.watchers.delete(w)
        w.notify(e)
      }
    }
  }

  /**
   * Watches `key` for the first change with index ≥ `waitIndex` (default: the next change). Resolves at once
   * from history when such a change already happened; `cancel` drops a pending watch (client went away).
   */
  watch(
    rawKey: string,
    options: { recursive?: boolean; waitIndex?: number },
    notify: (e: HistoryEvent) => void,
    cleared: (error: EtcdError) => void = () => {},
  ): { readonly error?: EtcdError; readonly cancel: () => void } {
    const key = cleanKey(rawKey)
    const recursive = options.recursive === true
    const since = options.waitIndex ?? this.index + 1
    if (options.waitIndex !== undefined && options.waitIndex <= this.index) {
      // Events before historyStart were dropped (the history filled up, or a snapshot replaced the key space).
      if (options.waitIndex < this.historyStart && this.historyStart > 1) {
        return {
          error: etcdError("EventIndexCleared", `the requested history has been cleared [${this.historyStart}/${options.waitIndex}]`, this.index),
          cancel: () => {},
        }
      }
      const hit = this.history.find((e) => e.index >= since && matches(key, recursive, e))
      if (hit !== undefined) {
        notify(hit)
        return { cancel: () => {} }
      }
    }
    const w: Watcher = { key, recursive, sinceIndex: since, notify, cleared }
    this.watchers.add(w)
    return { cancel: () => this.watchers.delete(w) }
  }

  get watcherCount(): number {
    return this.watchers.size
  }
}

const matches = (key: string, recursive: boolean, e: HistoryEvent): boolean => {
  if (e.key === key) return true
  if (recursive && (key === "/" || e.key.startsWith(key + "/"))) return true
  // Deleting a directory is a change of every key under it.
  const a = e.event.action
  return (a === "delete" || a === "compareAndDelete") && e.event.node.dir === true && key.startsWith(e.key + "/")
}
