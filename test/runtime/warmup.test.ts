/**
 * The JIT warm-up of a Raft node (warmup.ts): its writes go through a real throw-away cluster — three nodes
 * over loopback TCP with their log files — every one acknowledged, and nothing of it is left on disk; its load
 * never hangs a node's start on a server that hangs up.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import { describe, expect, it } from "vitest"
import { startRaftServer } from "../../src/runtime/raft/server.ts"
import { putLoad, warmUpRaft } from "../../src/runtime/raft/warmup.ts"

/** A loopback server answering each request (anything ending a head, no body) with `answer(socket)`. */
const fakeServer = async (answer: (socket: net.Socket) => void): Promise<{ port: number; close: () => void }> => {
  const server = net.createServer((socket) => {
    let buf = ""
    socket.on("data", (d) => {
      buf += d.toString("latin1")
      // The warm-up's requests carry a 134-byte form body after their head.
      while (buf.includes("\r\n\r\n") && buf.length >= buf.indexOf("\r\n\r\n") + 4 + 134) {
        buf = buf.slice(buf.indexOf("\r\n\r\n") + 4 + 134)
        answer(socket)
      }
    })
    socket.on("error", () => {})
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() }
}

describe("warmUpRaft", () => {
  it("has every write acknowledged by a throw-away three-node cluster and deletes its directory", async () => {
    const started: string[] = []
    const result = await warmUpRaft(400, async (config) => {
      started.push(`${config.id} ${config.dir}`)
      const server = await startRaftServer(config)
      // The throw-away nodes keep their logs in the temporary directory, not in any node's own.
      expect(fs.existsSync(server.nodeDir)).toBe(true)
      return server
    })
    expect(started).toHaveLength(3)
    expect(new Set(started.map((s) => s.split(" ")[1]))).toEqual(new Set([result.dir]))
    expect(result).toMatchObject({ writes: 400, failed: 0 })
    expect(fs.existsSync(result.dir)).toBe(false)
  })

  it("counts answers that are not 2xx, and gives up on a server that hangs up instead of waiting forever", async () => {
    let n = 0
    const mixed = await fakeServer((s) => s.write(n++ % 2 === 0 ? "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}" : "HTTP/1.1 500 Oops\r\ncontent-length: 0\r\n\r\n"))
    expect(await putLoad(mixed.port, 40, 4)).toBe(20)
    mixed.close()
    const rude = await fakeServer((s) => s.destroy())
    await expect(putLoad(rude.port, 40, 4)).rejects.toThrow(/closed with its request unanswered/)
    rude.close()
  })
})
