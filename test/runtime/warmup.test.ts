/**
 * The JIT warm-up of a Raft node (warmup.ts): its writes go through a real throw-away cluster — three nodes
 * over loopback TCP with their log files — every one acknowledged, and nothing of it is left on disk.
 */
import * as fs from "node:fs"
import { describe, expect, it } from "vitest"
import { startRaftServer } from "../../src/runtime/raft/server.ts"
import { warmUpRaft } from "../../src/runtime/raft/warmup.ts"

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
})
