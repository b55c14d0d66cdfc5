/**
 * The etcd v2 keys API over HTTP+JSON, served by every Raft node, so `curl` and etcd v2 clients work:
 *
 *   PUT    /v2/keys/<key>   value=…  [prevValue=… | prevIndex=N | prevExist=true|false] [dir=true]
 *   POST   /v2/keys/<dir>   value=…                      (in-order key: <dir>/<index, 20 digits>)
 *   GET    /v2/keys/<key>   [recursive=true] [sorted=true] [quorum=false] [wait=true [waitIndex=N]]
 *   DELETE /v2/keys/<key>   [prevValue=… | prevIndex=N] [dir=true] [recursive=true]
 *
 * plus /version, /health, /v2/members, /v2/machines, /v2/stats/self and /quorum/status (this node's role,
 * term, leader, indexes and pid). Parameters come from the query string or a form body, as in etcd.
 *
 * Writes on a follower are proxied to the leader (one hop: a request forwarded to a node that is not the
 * leader is answered 503 with `X-Quorum-Not-Leader`, and the forwarding node retries once it learns the new
 * leader). Reads are linearizable (read index on the leader; a follower proxies them) unless `quorum=false`,
 * which reads this node's applied state. Watches are served by the node asked, from its applied state.
 */
import * as http from "node:http"
import type { NodeId } from "../../../spec/kernel/protocol.ts"
import { silentLogger, type Logger } from "../host.ts"
import { closeServer, forwardingAgent, forwardUrl, requestUrl, startApiServer } from "../http-util.ts"
import type { ApiRequest, ApiResponse, ApiServer, ResponseHeaders } from "../http-server.ts"
import { MAX_ENTRY_WIRE_BYTES } from "./config.ts"
import { cleanKey, etcdError, statusOf, type Command, type EtcdError, type EventJson, type Result } from "./kv.ts"
import { NotLeaderError, RequestFailed, type RaftNode } from "./raft-node.ts"

export interface Member {
  readonly id: NodeId
  readonly peerUrl: string
  readonly clientUrl: string | null
}

export interface HttpApiOptions {
  readonly node: RaftNode
  readonly host: string
  readonly port: number
  readonly members: ReadonlyArray<Member>
  readonly clusterId: string
  readonly logger?: Logger
  /** How long a request waits for a leader (elections, failover) before failing. */
  readonly leaderWaitMs?: number
  /**
   * Requests that come before this settles wait for it: the API listens while the node is still warming up
   * (warmup.ts), so clients are held, not refused, and nothing is answered from a node not yet started.
   */
  readonly ready?: Promise<void>
}

const MAX_BODY_BYTES = 2 * 1024 * 1024
const FORWARDED = "x-quorum-forwarded"
const NOT_LEADER = "x-quorum-not-leader"

class HttpFailure extends Error {
  constructor(readonly error: EtcdError) {
    super(error.message)
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Bytes `command` takes as an entry on the wire (its JSON as a JSON string), or a bound on them that is under
 * `MAX_ENTRY_WIRE_BYTES`. A UTF-16 unit of a string field takes at most 7 bytes there (a control character
 * escaped twice, `\\u0001`; 12 are counted) and the other fields, names and punctuation well under 512; only a
 * command that might be over the limit is measured exactly (serializing every command twice more showed in a
 * loaded leader's profile).
 */
export const entryWireBytes = (command: Command): number => {
  let units = 0
  for (const v of Object.values(command)) if (typeof v === "string") units += v.length
  const bound = 12 * units + 512
  return bound <= MAX_ENTRY_WIRE_BYTES ? bound : Buffer.byteLength(JSON.stringify(JSON.stringify(command)))
}

export class EtcdHttpApi {
  private server: ApiServer | undefined
  private readonly log: Logger
  private readonly agent = forwardingAgent()
  readonly startedAt = new Date().toISOString()
  /** Whether `options.ready` has settled (checked first on every request: one await less once it has). */
  private started = false

  constructor(private readonly options: HttpApiOptions) {
    this.log = options.logger ?? silentLogger
  }

  get node(): RaftNode {
    return this.options.node
  }

  get url(): string {
    return `http://${this.options.host}:${this.options.port}`
  }

  async start(): Promise<void> {
    this.server = await startApiServer(this.options.port, this.options.host, MAX_BODY_BYTES, (req, res) => this.handle(req, res), (req, res, e) => {
      this.log.error(`HTTP ${req.method} ${req.url}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)
      this.sendError(res, etcdError("RaftInternal", String(e), this.node.kv.index))
    })
  }

  async close(): Promise<void> {
    await closeServer(this.server, this.agent)
  }

  // -------------------------------------------------------------------------------------------------------

  private async handle(req: ApiRequest, res: ApiResponse): Promise<void> {
    if (!this.started) {
      await this.options.ready
      this.started = true
    }
    const url = requestUrl(req.url)
    if (url === undefined) return this.send(res, 400, { message: "Bad Request" })
    const body = req.body
    if (body === undefined) {
      this.send(res, 413, { errorCode: 209, message: "Invalid field", cause: `request body over ${MAX_BODY_BYTES} bytes`, index: this.node.kv.index })
      return
    }
    const path = url.pathname
    if (path === "/v2/keys" || path.startsWith("/v2/keys/")) return this.keys(req, res, url, body)
    if (req.method !== "GET" && req.method !== "HEAD") {
      this.send(res, 405, { message: "Method Not Allowed" })
      return
    }
    switch (path) {
      case "/version":
        return this.send(res, 200, { etcdserver: "2.3.8", etcdcluster: "2.3.0", server: "quorum-workbench" })
      case "/health":
        return this.send(res, 200, { health: this.node.leader !== null ? "true" : "false" })
      case "/v2/members":
        return this.send(res, 200, { members: this.members() })
      case "/v2/machines":
        res.send(
          200,
          { "content-type": "text/plain" },
          this.members()
            .flatMap((m) => m.clientURLs)
            .join(", "),
        )
        return
      case "/v2/stats/self": {
        const s = this.node.status()
        return this.send(res, 200, {
          name: s.id,
          id: s.id,
          state: s.role === "Leader" ? "StateLeader" : s.role === "Candidate" ? "StateCandidate" : "StateFollower",
          startTime: this.startedAt,
          leaderInfo: { leader: s.leader ?? "" },
        })
      }
      case "/quorum/status":
        return this.send(res, 200, { ...this.node.status(), pid: process.pid, clientUrl: this.url })
      default:
        this.send(res, 404, { message: "Not Found" })
    }
  }

  private members() {
    return this.options.members.map((m) => {
      const client = m.id === this.node.id ? this.url : (this.node.options.transport.peer(m.id)?.clientUrl ?? m.clientUrl)
      return { id: m.id, name: m.id, peerURLs: [m.peerUrl], clientURLs: client === null ? [] : [client] }
    })
  }

  private async keys(req: ApiRequest, res: ApiResponse, url: URL, body: string): Promise<void> {
    const params = new URLSearchParams(url.search)
    if (body.length > 0) for (const [k, v] of new URLSearchParams(body)) params.set(k, v)
    let key: string
    try {
      key = cleanKey(decodeURIComponent(url.pathname.slice("/v2/keys".length)))
    } catch {
      // A malformed percent-escape (say `%zz`) is the client's error: 400, as etcd's HTTP server answers it,
      // not a 500 from the internal-error path (found by raft-fuzz.test.ts).
      return this.sendError(res, etcdError("InvalidField", "the key is not valid percent-encoded UTF-8", this.node.kv.index))
    }
    try {
      switch (req.method) {
        case "GET":
        case "HEAD":
          return await this.get(req, res, key, params, body)
        case "PUT":
          return await this.write(req, res, this.setCommand(key, params), body)
        case "POST":
          return await this.write(req, res, this.postCommand(key, params), body)
        case "DELETE":
          return await this.write(req, res, this.deleteCommand(key, params), body)
        default:
          this.send(res, 405, { message: "Method Not Allowed" })
      }
    } catch (e) {
      if (e instanceof HttpFailure) this.sendError(res, e.error)
      else throw e
    }
  }

  // ---- parameters → commands ----

  private fail(name: Parameters<typeof etcdError>[0], cause: string): never {
    throw new HttpFailure(etcdError(name, cause, this.node.kv.index))
  }

  private bool(params: URLSearchParams, name: string): boolean | undefined {
    const v = params.get(name)
    if (v === null || v === "") return undefined
    if (v === "true") return true
    if (v === "false") return false
    return this.fail("InvalidField", `invalid value for ${name}`)
  }

  private int(params: URLSearchParams, name: string): number | undefined {
    const v = params.get(name)
    if (v === null || v === "") return undefined
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < 0) return this.fail("IndexNaN", name)
    return n
  }

  private checkTtl(params: URLSearchParams): void {
    const ttl = params.get("ttl")
    if (ttl === null || ttl === "") return
    if (!Number.isFinite(Number(ttl))) this.fail("TTLNaN", "ttl")
    this.fail("InvalidField", "ttl is not supported by this server (keys do not expire)")
  }

  private setCommand(key: string, params: URLSearchParams): Command {
    this.checkTtl(params)
    const prevValue = params.get("prevValue")
    if (prevValue === "") this.fail("PrevValueRequired", "prevValue")
    const prevIndex = this.int(params, "prevIndex")
    const prevExist = this.bool(params, "prevExist")
    const dir = this.bool(params, "dir")
    const value = params.get("value")
    if (dir === true && value !== null && value !== "") this.fail("InvalidField", "a directory has no value")
    return {
      _tag: "set",
      key,
      ...(dir === true ? { dir: true } : { value: value ?? "" }),
      ...(prevValue === null ? {} : { prevValue }),
      ...(prevIndex === undefined ? {} : { prevIndex }),
      ...(prevExist === undefined ? {} : { prevExist }),
    }
  }

  private postCommand(key: string, params: URLSearchParams): Command {
    this.checkTtl(params)
    const dir = this.bool(params, "dir")
    return { _tag: "post", key, ...(dir === true ? { dir: true } : { value: params.get("value") ?? "" }) }
  }

  private deleteCommand(key: string, params: URLSearchParams): Command {
    const prevValue = params.get("prevValue")
    if (prevValue === "") this.fail("PrevValueRequired", "prevValue")
    const prevIndex = this.int(params, "prevIndex")
    const dir = this.bool(params, "dir")
    const recursive = this.bool(params, "recursive")
    return {
      _tag: "delete",
      key,
      ...(dir === undefined ? {} : { dir }),
      ...(recursive === undefined ? {} : { recursive }),
      ...(prevValue === null ? {} : { prevValue }),
      ...(prevIndex === undefined ? {} : { prevIndex }),
    }
  }

  // ---- reads ----

  private async get(req: ApiRequest, res: ApiResponse, key: string, params: URLSearchParams, body: string): Promise<void> {
    const recursive = this.bool(params, "recursive") === true
    const sorted = this.bool(params, "sorted") === true
    if (this.bool(params, "wait") === true) return this.watch(res, key, recursive, this.int(params, "waitIndex"))
    if (this.bool(params, "quorum") === false) return this.sendResult(res, this.node.kv.get(key, { recursive, sorted }))
    const deadline = Date.now() + (this.options.leaderWaitMs ?? 5000)
    for (;;) {
      if (this.node.isLeader) {
        try {
          await this.node.readBarrier()
          return this.sendResult(res, this.node.kv.get(key, { recursive, sorted }))
        } catch (e) {
          if (!(e instanceof NotLeaderError)) throw this.asFailure(e)
        }
      } else if (await this.tryForward(req, res, body, deadline, true)) return
      if (Date.now() > deadline) throw this.noLeader()
      await sleep(20)
    }
  }

  private watch(res: ApiResponse, key: string, recursive: boolean, waitIndex: number | undefined): void {
    const w = this.node.kv.watch(
      key,
      { recursive, ...(waitIndex === undefined ? {} : { waitIndex }) },
      (e) => this.send(res, 200, e.event, this.headers(this.node.kv.index)),
      (error) => this.sendError(res, error),
    )
    if (w.error !== undefined) return this.sendError(res, w.error)
    // A client that hangs up stops watching (an answer sent first ends the watch itself).
    res.onAbort(() => w.cancel())
  }

  // ---- writes ----

  private async write(req: ApiRequest, res: ApiResponse, command: Command, body: string): Promise<void> {
    const bytes = entryWireBytes(command)
    if (bytes > MAX_ENTRY_WIRE_BYTES) {
      return this.send(res, 413, { errorCode: 209, message: "Invalid field", cause: `request of ${bytes} bytes is over the limit of ${MAX_ENTRY_WIRE_BYTES}`, index: this.node.kv.index })
    }
    const deadline = Date.now() + (this.options.leaderWaitMs ?? 5000)
    for (;;) {
      if (this.node.isLeader) {
        // Answered from inside the apply loop, as soon as this write's entry is applied.
        const failed = await new Promise<unknown>((settle) =>
          this.node.proposeThen(
            command,
            (r) => {
              // Never throws into the node's apply loop: a failure to answer fails this request alone.
              try {
                this.sendResult(res, r ?? { ok: false, error: etcdError("RaftInternal", "no result", this.node.kv.index) })
                settle(undefined)
              } catch (e) {
                settle(e)
              }
            },
            settle,
          ),
        )
        if (failed === undefined) return
        // Not taken (not leader any more) or taken and dropped by a later leader: safe to retry.
        const retry = failed instanceof NotLeaderError || (failed instanceof RequestFailed && failed.code === "dropped")
        if (!retry) throw this.asFailure(failed)
      } else if (await this.tryForward(req, res, body, deadline, false)) return
      if (Date.now() > deadline) throw this.noLeader()
      await sleep(20)
    }
  }

  private noLeader(): HttpFailure {
    return new HttpFailure(etcdError("RaftInternal", "no leader could be reached in time; retry", this.node.kv.index))
  }

  private asFailure(e: unknown): HttpFailure {
    if (e instanceof HttpFailure) return e
    if (e instanceof RequestFailed) return new HttpFailure(etcdError("RaftInternal", e.message, this.node.kv.index))
    if (e instanceof NotLeaderError) return new HttpFailure(etcdError("RaftInternal", e.message, this.node.kv.index))
    throw e
  }

  /**
   * Forwards the request to the leader and relays its answer. Returns false when there is no leader to ask,
   * the leader refused because it is no longer leader, or (for requests that are safe to repeat) it could not
   * be reached — the caller waits and tries again.
   */
  private async tryForward(req: ApiRequest, res: ApiResponse, body: string, deadline: number, idempotent: boolean): Promise<boolean> {
    if (req.headers[FORWARDED] !== undefined) {
      // One hop only: tell the forwarding node to find the leader again.
      res.send(503, { "content-type": "application/json", [NOT_LEADER]: "1" }, JSON.stringify(etcdError("RaftInternal", `${this.node.id} is not the leader`, this.node.kv.index)) + "\n")
      return true
    }
    const target = this.node.leaderClientUrl()
    if (target === null) return false
    const answer = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer } | { error: NodeJS.ErrnoException }>(
      (resolve) => {
        const out = http.request(
          forwardUrl(req.url, target),
          {
            method: req.method,
            agent: this.agent,
            // An explicit Content-Length: Node sends a DELETE's body with neither it nor chunked encoding, so the
            // leader read the request without its body (a compare-and-delete lost its condition) and parsed the
            // body as the next request on the pooled connection (found by raft-fuzz.test.ts).
            headers: {
              "content-type": req.headers["content-type"] ?? "application/x-www-form-urlencoded",
              "content-length": Buffer.byteLength(body),
              [FORWARDED]: this.node.id,
            },
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
      },
    )
    if ("error" in answer) {
      const refused = answer.error.code === "ECONNREFUSED"
      if (refused || idempotent) return false
      throw new HttpFailure(etcdError("RaftInternal", `the leader failed while handling the request (${answer.error.message}); its outcome is unknown`, this.node.kv.index))
    }
    if (answer.headers[NOT_LEADER] !== undefined) return false
    const headers: Record<string, string | ReadonlyArray<string>> = {}
    for (const h of ["content-type", "x-etcd-index", "x-raft-index", "x-raft-term", "x-etcd-cluster-id"]) {
      const v = answer.headers[h]
      if (v !== undefined) headers[h] = v
    }
    res.send(answer.status, headers, answer.body)
    return true
  }

  // ---- responses ----

  private headers(index: number): ResponseHeaders {
    const s = this.node.state
    return {
      "x-etcd-index": String(index),
      "x-raft-index": String(s.commitIndex),
      "x-raft-term": String(s.currentTerm),
      "x-etcd-cluster-id": this.options.clusterId,
    }
  }

  private sendResult(res: ApiResponse, r: Result): void {
    if (!r.ok) return this.sendError(res, r.error)
    const e: EventJson = r.event
    const created = e.action === "create" || (e.action === "set" && e.prevNode === undefined)
    this.send(res, created ? 201 : 200, e, this.headers(r.index))
  }

  private sendError(res: ApiResponse, error: EtcdError): void {
    this.send(res, statusOf(error.errorCode), error, this.headers(error.index))
  }

  private send(res: ApiResponse, status: number, body: unknown, headers: ResponseHeaders = {}): void {
    if (res.done) return
    res.send(status, { "content-type": "application/json", ...headers }, JSON.stringify(body) + "\n")
  }
}

