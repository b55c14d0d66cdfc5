/**
 * What the client APIs of every protocol's nodes (etcd v2 for Raft, znodes for ZAB) do alike: parse a request
 * target as a path, forward to the leader only, listen and close (http-server.ts).
 */
import * as http from "node:http"
import { ApiServer, type ApiHandler, type ApiRequest, type ApiResponse } from "./http-server.ts"

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
 * The agent a node forwards client requests to the leader with. With a timeout of its own, Node's agent takes
 * the idle timeout the leader's answers announce (http-server.ts) and drops a pooled connection before the
 * leader closes it, rather than sending a write down a connection being closed (an outcome it could not tell).
 * Each forwarded request sets its own timeout.
 */
export const forwardingAgent = (): http.Agent => new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 60_000 })

/**
 * Starts a client API's server on host:port (rejects if the port cannot be bound). Watches are long polls, so
 * a request under way has no deadline; an idle keep-alive connection is closed after 30 s; a request whose
 * handler throws goes to `failed` (which logs and answers it).
 */
export const startApiServer = async (
  port: number,
  host: string,
  maxBodyBytes: number,
  handle: ApiHandler,
  failed: (req: ApiRequest, res: ApiResponse, error: unknown) => void,
): Promise<ApiServer> => {
  const server = new ApiServer({ maxBodyBytes, idleMs: 30_000, handle, failed })
  await server.listen(port, host)
  return server
}

/** Closes the server now, long polls included, and the agent used to forward requests. */
export const closeServer = async (server: ApiServer | undefined, agent: http.Agent): Promise<void> => {
  agent.destroy()
  await server?.close()
}
