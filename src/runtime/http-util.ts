/**
 * What the client APIs of every protocol's nodes (etcd v2 for Raft, znodes for ZAB) do alike with Node's HTTP
 * server: parse a request target as a path, forward to the leader only, read a bounded body, listen and close.
 */
import * as http from "node:http"

/**
 * The request target as a URL on this server. A target is always a path: `//x/a` must not be read as host `x`
 * (that would serve `/a`, or forward to a host a client chose — found by raft-fuzz.test.ts). An absolute-form
 * target (`http://h/p`) is read for its path and query only. Undefined if it does not parse.
 */
export const requestUrl = (target: string | undefined): URL | undefined => {
  const t = target ?? "/"
  try {
    return t.startsWith("/") ? new URL(`http://local${t}`) : new URL(t, "http://local")
  } catch {
    return undefined
  }
}

/** Where a request is forwarded: the leader's client URL with the request's path and query, never another host. */
export const forwardUrl = (target: string | undefined, leaderUrl: string): URL => {
  const u = requestUrl(target)
  const out = new URL(leaderUrl)
  out.pathname = u?.pathname ?? "/"
  out.search = u?.search ?? ""
  return out
}

/**
 * Answers with a complete body and its Content-Length. `writeHead` then `end(body)` alone makes Node send the
 * body chunked (the header is fixed before the body is known), which costs every client a chunked parse and a
 * terminating chunk per response.
 */
export const respond = (res: http.ServerResponse, status: number, headers: http.OutgoingHttpHeaders, body: string | Buffer): void => {
  res.writeHead(status, { ...headers, "content-length": typeof body === "string" ? Buffer.byteLength(body) : body.length })
  res.end(body)
}

/** Reads a request body as text, or undefined past `maxBytes`, or null if the client went away first. */
export const readBody = (req: http.IncomingMessage, maxBytes: number): Promise<string | undefined | null> =>
  new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    let over = false
    req.on("data", (c: Buffer) => {
      size += c.length
      if (size > maxBytes) over = true
      else chunks.push(c)
    })
    req.on("end", () => resolve(over ? undefined : Buffer.concat(chunks).toString("utf8")))
    // An error here is the client's connection failing mid-body ("aborted", when a Content-Length is never
    // delivered), not a server fault: it must not reach the internal-error path (found by raft-fuzz.test.ts).
    req.on("error", () => resolve(null))
  })

/**
 * Starts a client API's server on host:port (rejects if the port cannot be bound). Watches are long polls, so
 * there is no overall request deadline (Node's default would cut them at 5 minutes); a client sending bad HTTP
 * loses its socket; a request whose handler throws goes to `failed` (which logs and answers it), and its socket
 * is destroyed when the response had already begun.
 */
export const startApiServer = async (
  port: number,
  host: string,
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>,
  failed: (req: http.IncomingMessage, res: http.ServerResponse, error: unknown) => void,
): Promise<http.Server> => {
  const server = http.createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const begun = res.headersSent
      failed(req, res, e)
      // A response already under way cannot carry the error: cut it rather than leave the client waiting.
      if (begun) res.destroy()
    })
  })
  server.keepAliveTimeout = 30_000
  server.requestTimeout = 0
  server.on("clientError", (_e, socket) => socket.destroy())
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(port, host, () => {
      server.off("error", reject)
      resolve()
    })
  })
  return server
}

/** Closes the server now, long polls included, and the agent used to forward requests. */
export const closeServer = async (server: http.Server | undefined, agent: http.Agent): Promise<void> => {
  agent.destroy()
  if (server === undefined) return
  server.closeAllConnections()
  await new Promise<void>((resolve) => server.close(() => resolve()))
}
