/**
 * Serves the trace viewer (traces/viewer/) for one ITF file on a loopback HTTP server: `/` is the page,
 * `/viewer.js`, `/timeline.js` and `/viewer.css` its code, `/trace.json` the trace. The file is read and
 * checked with the strict ITF reader before anything listens, so a bad file fails here with the JSON path of
 * the problem, never as a blank page. Only the fixed list of files is served: there is no path from a URL to
 * the file system, hence no directory traversal.
 */
import * as fs from "node:fs/promises"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { readItf } from "../../traces/itf.ts"

export interface ViewerOptions {
  /** The ITF trace file to show. */
  readonly file: string
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0: a free port chosen by the system. */
  readonly port?: number
}

export interface RunningViewer {
  /** The page's address, e.g. `http://127.0.0.1:41234/`. */
  readonly url: string
  /** Stops listening and closes open connections. */
  readonly close: () => Promise<void>
}

/**
 * The trace file cannot be shown: unreadable, or not a well-formed ITF document. `detail` is the reader's
 * message, which starts with the JSON path of the problem (`$.states[3]: expected an object, found a list`).
 */
export class TraceFileError extends Error {
  constructor(
    readonly file: string,
    readonly detail: string,
  ) {
    super(`${file}: ${detail}`)
    this.name = "TraceFileError"
  }
}

/** The viewer's static files: traces/viewer/, found from this module's own location. */
const viewerDir = new URL("../../traces/viewer/", import.meta.url)

const assets: ReadonlyMap<string, { readonly file: string; readonly type: string }> = new Map([
  ["/", { file: "index.html", type: "text/html; charset=utf-8" }],
  ["/index.html", { file: "index.html", type: "text/html; charset=utf-8" }],
  ["/viewer.js", { file: "viewer.js", type: "text/javascript; charset=utf-8" }],
  ["/timeline.js", { file: "timeline.js", type: "text/javascript; charset=utf-8" }],
  ["/viewer.css", { file: "viewer.css", type: "text/css; charset=utf-8" }],
])

const readTrace = async (file: string): Promise<string> => {
  let text: string
  try {
    text = await fs.readFile(file, "utf8")
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, not a trace file" : error instanceof Error ? error.message : String(error)
    throw new TraceFileError(file, `cannot read the trace: ${why}`)
  }
  try {
    readItf(text)
  } catch (error) {
    throw new TraceFileError(file, error instanceof Error ? error.message : String(error))
  }
  return text
}

/**
 * Checks `options.file` with `readItf` (throwing a `TraceFileError` naming the JSON path of the first
 * problem), then serves the viewer for it on `host:port` (127.0.0.1, a free port by default).
 */
export const startViewer = async (options: ViewerOptions): Promise<RunningViewer> => {
  const trace = Buffer.from(await readTrace(options.file), "utf8")
  // Read the page's files now: a missing one is a broken installation and should fail at start, not per request.
  const files = new Map<string, Buffer>()
  for (const { file } of assets.values()) {
    if (!files.has(file)) files.set(file, await fs.readFile(fileURLToPath(new URL(file, viewerDir))))
  }

  const server = http.createServer((request, response) => {
    const send = (status: number, type: string, body: Buffer | string, extra: Record<string, string> = {}): void => {
      const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body
      response.writeHead(status, {
        "content-type": type,
        "content-length": String(bytes.length),
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        ...extra,
      })
      response.end(request.method === "HEAD" ? undefined : bytes)
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      send(405, "text/plain; charset=utf-8", "method not allowed\n", { allow: "GET, HEAD" })
      return
    }
    let pathname: string
    try {
      pathname = new URL(request.url ?? "/", "http://viewer.invalid").pathname
    } catch {
      send(400, "text/plain; charset=utf-8", "bad request\n")
      return
    }
    if (pathname === "/trace.json") {
      send(200, "application/json; charset=utf-8", trace)
      return
    }
    const asset = assets.get(pathname)
    if (asset === undefined) {
      send(404, "text/plain; charset=utf-8", "not found\n")
      return
    }
    send(200, asset.type, files.get(asset.file)!)
  })

  const host = options.host ?? "127.0.0.1"
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address
  return {
    url: `http://${shownHost}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)))
        server.closeAllConnections()
      }),
  }
}
