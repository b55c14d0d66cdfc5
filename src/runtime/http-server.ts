/**
 * The HTTP/1.1 server of the client APIs (etcd v2 keys for Raft, znodes for ZAB): requests with their whole
 * body in, one complete response out, on `node:net` sockets.
 *
 * Why not `node:http`: a request there is a Readable stream and a response a Writable one, each with its event
 * machinery, and a cold leader compiles all of it while it serves its first thousands of writes. The same etcd
 * v2 PUT, 20,000 of them with 64 in flight, cost a `node:http` server 30 µs of CPU each cold (19-22 warm) and
 * this one 18-20 (15-17 warm): ~10 µs of a loaded Raft leader's ~70 µs per write (a stub answering like etcd,
 * each server in its own process, the same client).
 *
 * What it speaks: HTTP/1.0 and 1.1 requests with a Content-Length or chunked body (trailers ignored), `Expect:
 * 100-continue`, keep-alive (HTTP/1.1 by default, HTTP/1.0 when asked) and pipelining (answers in request
 * order; a long poll holds the answers behind it, as HTTP/1.1 requires), HEAD (headers only). A request whose
 * body is over `maxBodyBytes` is read to its end and handed over with `body` undefined. Anything malformed —
 * a bad request line or header, a header section over 16 KiB, conflicting lengths, a transfer coding other than
 * chunked — is answered 400 / 431 / 501 and the connection closed; a request head still incomplete `headMs`
 * after its first byte gets 408 and is closed; a connection idle past `idleMs` between requests is closed.
 */
import * as http from "node:http"
import * as net from "node:net"

export interface ApiRequest {
  readonly method: string
  /** The request target as sent: a path and query (or an absolute URL). */
  readonly url: string
  /** Header values by lower-case name (repeated headers joined with ", "). */
  readonly headers: Readonly<Record<string, string | undefined>>
  /** The whole body as UTF-8 text; undefined when it was over the server's limit. */
  readonly body: string | undefined
}

export type ResponseHeaders = Readonly<Record<string, string | number | ReadonlyArray<string>>>

export interface ApiResponse {
  /** Whether the answer was given, or the client went away: nothing more can be sent. */
  readonly done: boolean
  /** Answers with a complete body (its Content-Length is added). Only the first call counts. */
  send(status: number, headers: ResponseHeaders, body: string | Buffer): void
  /** Calls `f` if the client goes away before the answer is sent; returns a function that cancels that. */
  onAbort(f: () => void): () => void
}

export type ApiHandler = (req: ApiRequest, res: ApiResponse) => Promise<void>

export interface ApiServerOptions {
  readonly maxBodyBytes: number
  /** A connection with no request under way is closed after this long. */
  readonly idleMs: number
  /** A request's head (line and headers) must arrive within this long of its first byte (default 60 s). */
  readonly headMs?: number
  readonly handle: ApiHandler
  /** A handler threw (or rejected): log it and answer, if the response is still open. */
  readonly failed: (req: ApiRequest, res: ApiResponse, error: unknown) => void
}

export const MAX_HEADER_BYTES = 16 * 1024

class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

const CRLF2 = Buffer.from("\r\n\r\n")
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const CONTINUE = "HTTP/1.1 100 Continue\r\n\r\n"

/** An answer waiting for the answers of earlier requests on its connection (pipelining keeps order). */
class Exchange implements ApiResponse {
  text: string | undefined
  body: Buffer | undefined
  finished = false
  aborted = false
  private aborts: Set<() => void> | undefined

  constructor(
    private readonly conn: Connection,
    readonly head: boolean,
    readonly close: boolean,
    /** What a kept-alive answer says about the connection: a client's pool then drops it before we close it. */
    private readonly keepAlive: string,
  ) {}

  get done(): boolean {
    return this.finished || this.aborted
  }

  send(status: number, headers: ResponseHeaders, body: string | Buffer): void {
    if (this.done) return
    const bytes = typeof body === "string" ? Buffer.byteLength(body) : body.length
    let head = statusLine(status)
    for (const name in headers) {
      const value = headers[name]!
      if (!validName(name)) throw new Error(`invalid response header name ${JSON.stringify(name)}`)
      if (typeof value === "number") head += `${name}: ${value}\r\n`
      else for (const text of typeof value === "string" ? [value] : value) {
        // A line break in a value would let whoever chose it write headers of their own.
        if (text.includes("\r") || text.includes("\n")) throw new Error(`invalid value of response header ${name}`)
        head += `${name}: ${text}\r\n`
      }
    }
    head += `content-length: ${bytes}\r\ndate: ${httpDate()}\r\n${this.close ? "connection: close\r\n" : this.keepAlive}\r\n`
    this.finished = true
    this.aborts = undefined
    if (this.head) this.text = head
    else if (typeof body === "string") this.text = head + body
    else {
      this.text = head
      this.body = body
    }
    this.conn.flush()
  }

  onAbort(f: () => void): () => void {
    if (this.done) return () => {}
    const aborts = (this.aborts ??= new Set())
    aborts.add(f)
    return () => aborts.delete(f)
  }

  abort(): void {
    if (this.done) return
    this.aborted = true
    const aborts = this.aborts
    this.aborts = undefined
    if (aborts !== undefined) for (const f of aborts) f()
  }
}

const statusLines = new Map<number, string>()
const statusLine = (status: number): string => {
  let line = statusLines.get(status)
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Unknown"}\r\n`
    statusLines.set(status, line)
  }
  return line
}

/** Header names already checked (and their lower-case form): a server sees the same few again and again. */
const headerNames = new Map<string, string>()
const headerKey = (name: string): string | undefined => {
  let key = headerNames.get(name)
  if (key === undefined) {
    if (!TOKEN.test(name)) return undefined
    key = name.toLowerCase()
    if (headerNames.size < 1000) headerNames.set(name, key)
  }
  return key
}
const validName = (name: string): boolean => headerKey(name) !== undefined

let dateText = ""
let dateAt = 0
/** The Date header's value, computed at most once a second. */
const httpDate = (): string => {
  const now = Date.now()
  if (now - dateAt >= 1000) {
    dateAt = now - (now % 1000)
    dateText = new Date(dateAt).toUTCString()
  }
  return dateText
}

interface Head {
  readonly method: string
  readonly url: string
  readonly headers: Record<string, string>
  readonly close: boolean
  /** Body bytes announced, or "chunked". */
  readonly length: number | "chunked"
  readonly expectContinue: boolean
}

/** Parses a request's head (the request line and headers, without the blank line). */
const parseHead = (text: string): Head => {
  const lines = text.split("\r\n")
  const parts = lines[0]!.split(" ")
  if (parts.length !== 3 || !TOKEN.test(parts[0]!) || parts[1] === "" || !/^HTTP\/1\.[01]$/.test(parts[2]!)) {
    throw new BadRequest(400, "bad request line")
  }
  const [method, url, version] = parts as [string, string, string]
  const headers: Record<string, string> = {}
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!
    const colon = line.indexOf(":")
    if (colon <= 0) throw new BadRequest(400, "bad header line")
    const key = headerKey(line.slice(0, colon))
    if (key === undefined) throw new BadRequest(400, "bad header name")
    const value = line.slice(colon + 1).trim()
    if (value.includes("\r") || value.includes("\n") || value.includes("\0")) throw new BadRequest(400, "bad header value")
    if (key === "content-length" && headers[key] !== undefined && headers[key] !== value) throw new BadRequest(400, "conflicting Content-Length")
    headers[key] = headers[key] === undefined || key === "content-length" ? value : `${headers[key]}, ${value}`
  }
  const connection = (headers["connection"] ?? "").toLowerCase()
  const close = connection.includes("close") || (version === "HTTP/1.0" && !connection.includes("keep-alive"))
  const te = headers["transfer-encoding"]
  let length: number | "chunked" = 0
  if (te !== undefined) {
    if (te.toLowerCase() !== "chunked") throw new BadRequest(501, "only the chunked transfer coding is understood")
    if (headers["content-length"] !== undefined) throw new BadRequest(400, "both Transfer-Encoding and Content-Length")
    length = "chunked"
  } else if (headers["content-length"] !== undefined) {
    const cl = headers["content-length"]
    if (!/^\d{1,15}$/.test(cl)) throw new BadRequest(400, "bad Content-Length")
    length = Number(cl)
  }
  const expectContinue = (headers["expect"] ?? "").toLowerCase() === "100-continue" && version === "HTTP/1.1"
  return { method, url, headers, close, length, expectContinue }
}

/** One client connection: parses requests as bytes arrive and writes the answers in order. */
class Connection {
  private buf: Buffer = Buffer.alloc(0)
  private head: Head | undefined
  /** The body so far (within the limit), and how much of it was seen (beyond the limit too). */
  private chunks: Buffer[] = []
  private seen = 0
  /** Chunked bodies: bytes left in the current chunk, or -1 between chunks; "trailers" after the last. */
  private chunkLeft: number | "trailers" = -1
  private continued = false
  /** When the first byte of the request head being read arrived. */
  private headStartedAt = 0
  private readonly exchanges: Exchange[] = []
  private closing = false
  /**
   * Announces the idle timeout (as node:http does): Node's agent, which followers forward writes with, then
   * retires a pooled connection a second before this server would close it, instead of racing the close with a
   * write whose outcome it could not tell.
   */
  private readonly keepAlive: string

  constructor(
    private readonly socket: net.Socket,
    private readonly options: ApiServerOptions,
  ) {
    this.keepAlive = `connection: keep-alive\r\nkeep-alive: timeout=${Math.floor(options.idleMs / 1000)}\r\n`
    socket.setNoDelay(true)
    socket.setTimeout(options.idleMs)
    socket.on("timeout", () => {
      if (this.exchanges.length === 0) socket.destroy()
    })
    socket.on("data", (chunk: Buffer) => this.onData(chunk))
    socket.on("error", () => socket.destroy())
    socket.on("close", () => {
      this.closing = true
      for (const e of this.exchanges) e.abort()
      this.exchanges.length = 0
    })
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk])
    try {
      while (!this.closing && this.step()) {}
    } catch (e) {
      if (!(e instanceof BadRequest)) throw e
      this.refuse(e.status, e.message)
    }
  }

  /** Consumes what it can of the buffer; true when it finished a request and more may follow. */
  private step(): boolean {
    if (this.head === undefined) {
      if (this.buf.length === 0) return false
      if (this.headStartedAt === 0) this.headStartedAt = Date.now()
      const end = this.buf.indexOf(CRLF2)
      if (end < 0) {
        if (this.buf.length > MAX_HEADER_BYTES) throw new BadRequest(431, "header section too large")
        // A client trickling a head byte by byte keeps the connection from idling out: it gets a deadline.
        if (Date.now() - this.headStartedAt > (this.options.headMs ?? 60_000)) throw new BadRequest(408, "request head too slow")
        return false
      }
      this.headStartedAt = 0
      if (end > MAX_HEADER_BYTES) throw new BadRequest(431, "header section too large")
      // Blank lines before a request line are allowed (RFC 9112 §2.2).
      let text = this.buf.toString("latin1", 0, end)
      if (text.startsWith("\r\n")) text = text.replace(/^(\r\n)+/, "")
      this.head = parseHead(text)
      this.buf = this.buf.subarray(end + 4)
      this.chunks = []
      this.seen = 0
      this.chunkLeft = -1
      this.continued = false
    }
    const head = this.head
    if (!(head.length === "chunked" ? this.readChunked() : this.readLength(head.length))) {
      if (head.expectContinue && !this.continued && this.buf.length === 0) {
        this.continued = true
        this.socket.write(CONTINUE)
      }
      return false
    }
    this.head = undefined
    const chunks = this.chunks
    const body = this.seen > this.options.maxBodyBytes ? undefined : chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8")
    this.chunks = []
    this.dispatch(head, body)
    return true
  }

  private take(n: number): void {
    const part = this.buf.subarray(0, n)
    this.seen += n
    if (this.seen <= this.options.maxBodyBytes) this.chunks.push(part)
    else this.chunks = []
    this.buf = this.buf.subarray(n)
  }

  private readLength(length: number): boolean {
    const want = length - this.seen
    if (want > 0) this.take(Math.min(want, this.buf.length))
    return this.seen === length
  }

  private readChunked(): boolean {
    for (;;) {
      if (this.chunkLeft === "trailers") {
        const end = this.buf.indexOf("\r\n")
        if (end < 0) {
          if (this.buf.length > MAX_HEADER_BYTES) throw new BadRequest(431, "trailers too large")
          return false
        }
        this.buf = this.buf.subarray(end + 2)
        if (end === 0) return true
        continue
      }
      if (this.chunkLeft === -1) {
        const end = this.buf.indexOf("\r\n")
        if (end < 0) {
          if (this.buf.length > 1024) throw new BadRequest(400, "bad chunk size line")
          return false
        }
        const size = /^([0-9A-Fa-f]{1,12})(;.*)?$/.exec(this.buf.toString("latin1", 0, end))
        if (size === null) throw new BadRequest(400, "bad chunk size line")
        this.buf = this.buf.subarray(end + 2)
        const n = parseInt(size[1]!, 16)
        this.chunkLeft = n === 0 ? "trailers" : n
        continue
      }
      if (this.chunkLeft > 0) {
        const n = Math.min(this.chunkLeft, this.buf.length)
        this.take(n)
        this.chunkLeft -= n
        if (this.chunkLeft > 0) return false
      }
      if (this.buf.length < 2) return false
      if (this.buf[0] !== 13 || this.buf[1] !== 10) throw new BadRequest(400, "a chunk not followed by CRLF")
      this.buf = this.buf.subarray(2)
      this.chunkLeft = -1
    }
  }

  private dispatch(head: Head, body: string | undefined): void {
    const exchange = new Exchange(this, head.method === "HEAD", head.close, this.keepAlive)
    this.exchanges.push(exchange)
    this.socket.setTimeout(0)
    const req: ApiRequest = { method: head.method, url: head.url, headers: head.headers, body }
    let handled: Promise<void>
    try {
      handled = this.options.handle(req, exchange)
    } catch (e) {
      handled = Promise.reject(e)
    }
    handled.catch((e: unknown) => {
      if (exchange.done) return
      this.options.failed(req, exchange, e)
      // Nothing answered (the failure handler could not): cut the connection rather than leave it waiting.
      if (!exchange.done) this.socket.destroy()
    })
    if (head.close) {
      // Nothing after a request that closes the connection is read.
      this.closing = true
      this.buf = Buffer.alloc(0)
    }
  }

  /** Writes every finished answer at the head of the queue. */
  flush(): void {
    if (this.socket.writableEnded || this.socket.destroyed) return
    let out = ""
    let close = false
    while (this.exchanges.length > 0 && this.exchanges[0]!.finished) {
      const e = this.exchanges.shift()!
      if (e.body !== undefined) {
        if (out !== "") this.socket.write(out)
        out = ""
        this.socket.write(e.text!)
        this.socket.write(e.body)
      } else out += e.text!
      if (e.close) {
        close = true
        break
      }
    }
    if (out !== "") this.socket.write(out)
    if (close) this.socket.end()
    else if (this.exchanges.length === 0 && !this.closing) this.socket.setTimeout(this.options.idleMs)
  }

  /** Answers a malformed request and closes the connection (what follows it cannot be framed). */
  private refuse(status: number, message: string): void {
    this.closing = true
    this.buf = Buffer.alloc(0)
    const body = `${JSON.stringify({ message: `${http.STATUS_CODES[status]}: ${message}` })}\n`
    // Behind any answers still due on this connection, which are then lost: the client broke the framing.
    this.socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
  }

  destroy(): void {
    this.socket.destroy()
  }
}

export class ApiServer {
  private readonly server: net.Server
  private readonly connections = new Set<Connection>()

  constructor(private readonly options: ApiServerOptions) {
    this.server = net.createServer((socket) => {
      const c = new Connection(socket, this.options)
      this.connections.add(c)
      socket.on("close", () => this.connections.delete(c))
    })
  }

  /** Listens on host:port (rejects if the port cannot be bound). */
  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject)
      this.server.listen(port, host, () => {
        this.server.off("error", reject)
        resolve()
      })
    })
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port
  }

  /** Stops listening and closes every connection, long polls included. */
  async close(): Promise<void> {
    for (const c of this.connections) c.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
