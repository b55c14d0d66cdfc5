/**
 * Helpers shared by the process tests of both clusters (Raft and ZAB): free loopback ports, polling without
 * wall-clock limits, and one-shot HTTP calls.
 */
import * as net from "node:net"
import * as path from "node:path"

export const repo = path.resolve(import.meta.dirname, "../..")
export const bin = path.join(repo, "src/cli/quorum.mjs")
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export { freeBase } from "../../src/runtime/ports.ts"

export interface Reply {
  status: number
  json: Record<string, unknown>
}

/**
 * One HTTP call; undefined when the node cannot be reached or the answer is not JSON. A string body is sent
 * as a form (the etcd v2 API), anything else as JSON (the znode API).
 */
export const call = async (method: string, url: string, body?: unknown): Promise<Reply | undefined> => {
  const init =
    body === undefined
      ? {}
      : typeof body === "string"
        ? { body, headers: { "content-type": "application/x-www-form-urlencoded" } }
        : { body: JSON.stringify(body), headers: { "content-type": "application/json" } }
  try {
    const res = await fetch(url, { method, ...init })
    return { status: res.status, json: (await res.json()) as Record<string, unknown> }
  } catch {
    return undefined
  }
}

export const retry = async <T>(what: string, attempt: () => Promise<T | undefined>, tries = 600, pauseMs = 100): Promise<T> => {
  for (let i = 0; i < tries; i++) {
    const r = await attempt()
    if (r !== undefined) return r
    await sleep(pauseMs)
  }
  throw new Error(`gave up waiting for ${what}`)
}

/** Connects, writes `bytes`, half-closes and waits until the peer closes (or 2 s of silence). */
export const rawSend = (port: number, bytes: Uint8Array): Promise<void> =>
  new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port }, () => s.end(bytes))
    s.setTimeout(2000, () => s.destroy())
    s.on("error", () => resolve())
    s.on("close", () => resolve())
  })

/** A peer frame (`[u32 BE length][u8 kind][payload]`) with any kind byte, valid or not. */
export const rawFrame = (kind: number, payload: Uint8Array | string): Buffer => {
  const body = typeof payload === "string" ? Buffer.from(payload) : Buffer.from(payload)
  const head = Buffer.alloc(5)
  head.writeUInt32BE(body.length, 0)
  head.writeUInt8(kind, 4)
  return Buffer.concat([head, body])
}
