/**
 * The znode API of a ZAB node over HTTP+JSON (ZooKeeper's operations; JSON bodies decoded with Schema):
 *
 *   POST   /znodes/<path>   {"data"?: string, "sequential"?: bool}  create          → 201 {path, stat, zxid}
 *   PUT    /znodes/<path>   {"data": string, "version"?: int}        set (-1: any)   → 200 {path, stat, zxid}
 *   DELETE /znodes/<path>   ?version=N (default -1)                   delete          → 200 {path, zxid}
 *   GET    /znodes/<path>   [?children=true] [?local=true]            get / children  → 200 {path, data|children, stat}
 *   GET    /znodes/<path>   ?watch=data|children&since=ZXID           long-poll: the next change after ZXID
 *
 * plus /health and /quorum/status. Errors are `{"error": "<KeeperException name>", "code": <its code>, "path",
 * "message"}`: NoNode 404, NodeExists / BadVersion / NotEmpty 409, BadArguments 400, no leader 503, an unknown
 * outcome (the leader changed mid-write) 500 `OutcomeUnknown`. `X-Zxid` is the last zxid this node applied.
 *
 * Writes on a follower are forwarded to the leader (one hop; a node that is not the leader answers a forwarded
 * request 503 with `X-Quorum-Not-Leader` and the forwarding node retries once it learns the leader). Reads are
 * linearizable — the leader confirms its leadership with a quorum after the read arrives (zab-node.ts) — unless
 * `local=true`, which reads this node's own tree (only while it serves). Watches are served by the node asked.
 */
import { Schema } from "effect"
import * as http from "node:http"
import { silentLogger, type Logger } from "../host.ts"
import { closeServer, forwardingAgent, forwardUrl, requestUrl, startApiServer } from "../http-util.ts"
import type { ApiRequest, ApiResponse, ApiServer, ResponseHeaders } from "../http-server.ts"
import { ErrorCodes, validatePath, type ApplyResult, type Op, type ZkError } from "./datatree.ts"
import { NotLeaderError, RequestFailed, type ZabPeer } from "./zab-node.ts"

export interface ZabHttpOptions {
  readonly node: ZabPeer
  readonly host: string
  readonly port: number
  readonly logger?: Logger
  /** How long a request waits for an established leader (elections, failover) before failing. */
  readonly leaderWaitMs?: number
}

/** The largest znode data accepted (ZooKeeper's jute.maxbuffer default is about 1 MB). */
export const MAX_DATA_BYTES = 1024 * 1024
const MAX_BODY_BYTES = 2 * MAX_DATA_BYTES + 4096
const FORWARDED = "x-quorum-forwarded"
const NOT_LEADER = "x-quorum-not-leader"

const CreateBody = Schema.Struct({ data: Schema.optional(Schema.String), sequential: Schema.optional(Schema.Boolean) })
const SetBody = Schema.Struct({ data: Schema.String, version: Schema.optional(Schema.Int.check(Schema.isGreaterThanOrEqualTo(-1))) })
const decodeCreate = Schema.decodeUnknownSync(CreateBody)
const decodeSet = Schema.decodeUnknownSync(SetBody)

type ErrorName = ZkError | "NoLeader" | "OutcomeUnknown" | "Timeout" | "TooLarge" | "BadRequest" | "NotServing" | "WatchTooOld"

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly error: ErrorName,
    message: string,
    readonly path = "",
  ) {
    super(message)
  }
}

const statusOfError = (e: ZkError): number => (e === "NoNode" ? 404 : e === "BadArguments" ? 400 : 409)

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export class ZabHttpApi {
  private server: ApiServer | undefined
  private readonly log: Logger
  private readonly agent = forwardingAgent()

  constructor(private readonly options: ZabHttpOptions) {
    this.log = options.logger ?? silentLogger
  }

  get node(): ZabPeer {
    return this.options.node
  }

  get url(): string {
    return `http://${this.options.host}:${this.options.port}`
  }

  async start(): Promise<void> {
    this.server = await startApiServer(this.options.port, this.options.host, MAX_BODY_BYTES, (req, res) => this.handle(req, res), (req, res, e) => {
      if (e instanceof HttpFailure) return this.sendFailure(res, e)
      this.log.error(`HTTP ${req.method} ${req.url}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
      this.send(res, 500, { error: "Internal", message: String(e) })
    })
  }

  async close(): Promise<void> {
    await closeServer(this.server, this.agent)
  }

  // -------------------------------------------------------------------------------------------------------

  private async handle(req: ApiRequest, res: ApiResponse): Promise<void> {
    const url = requestUrl(req.url)
    if (url === undefined) throw new HttpFailure(400, "BadRequest", "malformed URL")
    const body = req.body
    if (body === undefined) throw new HttpFailure(413, "TooLarge", `request body over ${MAX_BODY_BYTES} bytes`)
    if (url.pathname === "/znodes" || url.pathname.startsWith("/znodes/")) return this.znodes(req, res, url, body)
    if (req.method !== "GET" && req.method !== "HEAD") return this.send(res, 405, { error: "BadRequest", message: "Method Not Allowed" })
    switch (url.pathname) {
      case "/health":
        return this.send(res, this.node.isServing ? 200 : 503, { health: this.node.isServing })
      case "/quorum/status":
        return this.send(res, 200, { ...this.node.status(), pid: process.pid, clientUrl: this.url })
      default:
        return this.send(res, 404, { error: "BadRequest", message: "Not Found" })
    }
  }

  private async znodes(req: ApiRequest, res: ApiResponse, url: URL, body: string): Promise<void> {
    let path: string
    try {
      path = decodeURIComponent(url.pathname.slice("/znodes".length)) || "/"
    } catch {
      throw new HttpFailure(400, "BadArguments", "the path is not valid percent-encoding")
    }
    const bad = validatePath(path)
    if (bad !== undefined) throw new HttpFailure(400, "BadArguments", bad, path)
    const q = url.searchParams
    switch (req.method) {
      case "GET":
      case "HEAD":
        return this.get(req, res, path, q, body)
      case "POST": {
        const b = this.json(body, decodeCreate)
        const data = b.data ?? ""
        this.checkSize(data)
        return this.write(req, res, { _tag: "create", path, data, sequential: b.sequential ?? false }, body)
      }
      case "PUT": {
        const b = this.json(body, decodeSet)
        this.checkSize(b.data)
        return this.write(req, res, { _tag: "set", path, data: b.data, version: b.version ?? -1 }, body)
      }
      case "DELETE": {
        const v = q.get("version")
        const version = v === null || v === "" ? -1 : Number(v)
        if (!Number.isSafeInteger(version) || version < -1) throw new HttpFailure(400, "BadArguments", "version must be an integer ≥ -1", path)
        return this.write(req, res, { _tag: "delete", path, version }, body)
      }
      default:
        return this.send(res, 405, { error: "BadRequest", message: "Method Not Allowed" })
    }
  }

  private json<T>(body: string, decode: (u: unknown) => T): T {
    try {
      return decode(JSON.parse(body === "" ? "{}" : body))
    } catch (e) {
      throw new HttpFailure(400, "BadRequest", `the body is not valid JSON for this operation: ${(e as Error).message.split("\n")[0]}`)
    }
  }

  private checkSize(data: string): void {
    const n = Buffer.byteLength(data)
    if (n > MAX_DATA_BYTES) throw new HttpFailure(413, "TooLarge", `data of ${n} bytes is over the limit of ${MAX_DATA_BYTES}`)
  }

  // ---- reads ----

  private async get(req: ApiRequest, res: ApiResponse, path: string, q: URLSearchParams, body: string): Promise<void> {
    const children = q.get("children") === "true"
    const watch = q.get("watch")
    if (watch !== null) return this.watch(res, path, watch, q.get("since"))
    if (q.get("local") === "true") {
      if (!this.node.isServing) throw new HttpFailure(503, "NotServing", `${this.node.id} is not serving (${this.node.state.role._tag})`)
      return this.read(res, path, children)
    }
    const deadline = Date.now() + (this.options.leaderWaitMs ?? 5000)
    for (;;) {
      if (res.done) return
      if (this.node.isLeader) {
        try {
          await this.node.readBarrier()
          return this.read(res, path, children)
        } catch (e) {
          if (!(e instanceof NotLeaderError)) throw this.asFailure(e)
        }
      } else if (await this.tryForward(req, res, body, deadline, true)) return
      if (Date.now() > deadline) throw this.noLeader()
      await sleep(20)
    }
  }

  private read(res: ApiResponse, path: string, children: boolean): void {
    const tree = this.node.tree
    const headers = { "x-zxid": String(tree.lastZxid) }
    if (children) {
      const c = tree.children(path)
      if (c === undefined) throw new HttpFailure(404, "NoNode", `${path} does not exist`, path)
      return this.send(res, 200, { path, children: c.children, stat: c.stat }, headers)
    }
    const n = tree.get(path)
    if (n === undefined) throw new HttpFailure(404, "NoNode", `${path} does not exist`, path)
    return this.send(res, 200, { path, data: n.data, stat: n.stat }, headers)
  }

  private watch(res: ApiResponse, path: string, kind: string, sinceText: string | null): void {
    if (kind !== "data" && kind !== "children") throw new HttpFailure(400, "BadArguments", "watch must be data or children", path)
    const since = sinceText === null || sinceText === "" ? this.node.tree.lastZxid : Number(sinceText)
    if (!Number.isSafeInteger(since) || since < 0) throw new HttpFailure(400, "BadArguments", "since must be a zxid (a whole number)", path)
    const w = this.node.watch(path, kind, since)
    if (w.tooOld === true) throw new HttpFailure(410, "WatchTooOld", `changes since zxid ${since} are no longer kept; read again`, path)
    if (w.event !== undefined) return this.send(res, 200, w.event, { "x-zxid": String(this.node.tree.lastZxid) })
    // A client that hangs up stops watching (an answer sent first ends the watch itself).
    res.onAbort(w.cancel!)
    void w.wait!.then((e) => this.send(res, 200, e, { "x-zxid": String(this.node.tree.lastZxid) }))
  }

  // ---- writes ----

  private async write(req: ApiRequest, res: ApiResponse, op: Op, body: string): Promise<void> {
    const deadline = Date.now() + (this.options.leaderWaitMs ?? 5000)
    for (;;) {
      // A client that went away while this request waited for a leader gets no write done on its behalf.
      if (res.done) return
      if (this.node.isLeader) {
        let r: ApplyResult
        try {
          r = await this.node.propose(op)
        } catch (e) {
          if (e instanceof NotLeaderError) {
            if (Date.now() > deadline) throw this.noLeader()
            await sleep(20)
            continue
          }
          throw this.asFailure(e)
        }
        if (!r.ok) throw new HttpFailure(statusOfError(r.error), r.error, r.message, r.path)
        const zxid = this.node.tree.lastZxid
        if (op._tag === "create") return this.send(res, 201, { path: r.path, stat: r.stat, zxid })
        return this.send(res, 200, { path: r.path, ...(r.stat === null ? {} : { stat: r.stat }), zxid })
      }
      if (await this.tryForward(req, res, body, deadline, false)) return
      if (Date.now() > deadline) throw this.noLeader()
      await sleep(20)
    }
  }

  private noLeader(): HttpFailure {
    return new HttpFailure(503, "NoLeader", "no established leader could be reached in time; retry")
  }

  private asFailure(e: unknown): HttpFailure {
    if (e instanceof HttpFailure) return e
    if (e instanceof RequestFailed) return new HttpFailure(e.code === "unknown" ? 500 : 503, e.code === "unknown" ? "OutcomeUnknown" : "Timeout", e.message)
    if (e instanceof NotLeaderError) return new HttpFailure(503, "NoLeader", e.message)
    throw e
  }

  /**
   * Forwards the request to the leader and relays its answer. False when there is no leader to ask, the one asked
   * is not the leader, or (for a read) it could not be reached — the caller waits and tries again.
   */
  private async tryForward(req: ApiRequest, res: ApiResponse, body: string, deadline: number, idempotent: boolean): Promise<boolean> {
    if (req.headers[FORWARDED] !== undefined) {
      res.send(503, { "content-type": "application/json", [NOT_LEADER]: "1" }, JSON.stringify({ error: "NoLeader", code: 0, message: `${this.node.id} is not the leader` }) + "\n")
      return true
    }
    const target = this.node.leaderClientUrl()
    if (target === null) return false
    const answer = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer } | { error: NodeJS.ErrnoException }>((resolve) => {
      const out = http.request(
        forwardUrl(req.url, target),
        {
          method: req.method,
          agent: this.agent,
          headers: { "content-type": "application/json", [FORWARDED]: this.node.id },
          timeout: Math.max(1000, deadline - Date.now() + 10_000),
        },
        (r) => {
          const chunks: Buffer[] = []
          r.on("data", (c: Buffer) => chunks.push(c))
          r.on("end", () => resolve({ status: r.statusCode ?? 500, headers: r.headers, body: Buffer.concat(chunks) }))
          r.on("error", (error) => resolve({ error }))
        },
      )
      out.on("error", (error) => resolve({ error }))
      out.on("timeout", () => out.destroy(new Error("timed out")))
      out.end(body)
    })
    if ("error" in answer) {
      if (answer.error.code === "ECONNREFUSED" || idempotent) return false
      throw new HttpFailure(500, "OutcomeUnknown", `the leader failed while handling the request (${answer.error.message}); its outcome is unknown`)
    }
    if (answer.headers[NOT_LEADER] !== undefined) return false
    const headers: Record<string, string | ReadonlyArray<string>> = { "content-type": answer.headers["content-type"] ?? "application/json" }
    const z = answer.headers["x-zxid"]
    if (z !== undefined) headers["x-zxid"] = z
    res.send(answer.status, headers, answer.body)
    return true
  }

  // ---- responses ----

  private sendFailure(res: ApiResponse, f: HttpFailure): void {
    const code = f.error in ErrorCodes ? ErrorCodes[f.error as ZkError] : 0
    this.send(res, f.status, { error: f.error, code, path: f.path, message: f.message })
  }

  private send(res: ApiResponse, status: number, body: unknown, headers: ResponseHeaders = {}): void {
    if (res.done) return
    res.send(status, { "content-type": "application/json", ...headers }, JSON.stringify(body) + "\n")
  }
}

