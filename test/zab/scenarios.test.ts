/**
 * Golden scenarios for ZAB: the histories that lead to the disks some models start from, replayed from empty
 * disks with the models' own rules (so those starting states are reachable), and the traces behind two findings.
 */
import { describe, expect, it } from "vitest"
import { canonical } from "../../checker/canonical.ts"
import type { AnyProtocol, ModelConfig } from "../../spec/kernel/protocol.ts"
import { afterEpoch1, afterEpoch2, lagging, zab } from "../../spec/zab/index.ts"
import type { ZabConfig } from "../../spec/zab/schema.ts"
import { replay } from "./scenario.ts"

const p = zab as unknown as AnyProtocol
/** Empty disks, the oracle election, budgets large enough for any script. */
const open: ModelConfig<ZabConfig> = {
  description: "scenario",
  mustReach: [],
  servers: 3,
  network: "fifo",
  faults: { crashes: 10, partitions: 0, losses: 0, duplications: 0 },
  config: { election: "oracle", maxRound: 0, values: ["x"], maxTxns: 10, maxEpoch: 10, maxTimeouts: 10, txnLogSync: true },
}

const W1 = 'client n1 {"_tag":"Write","value":"x"}'
const W2 = 'client n2 {"_tag":"Write","value":"x"}'
const disks = (r: ReturnType<typeof replay>) => r.worlds[r.worlds.length - 1]!.nodes.map((n) => canonical(n.disk))

/** Epoch 1: n1 leads, n3 accepts the epoch and crashes, n2 syncs; (1,1) committed, (1,2) logged by n1 alone. */
export const epoch1 = [
  "lead n1",
  "follow n2 n1",
  "follow n3 n1",
  "deliver FOLLOWERINFO n2→n1",
  "deliver FOLLOWERINFO n3→n1",
  "deliver LEADERINFO n1→n2",
  "deliver LEADERINFO n1→n3",
  "crash n3",
  "deliver ACKEPOCH n2→n1",
  "deliver SYNC DIFF n1→n2",
  "deliver NEWLEADER n1→n2",
  "deliver ACK n2→n1",
  "deliver UPTODATE n1→n2",
  W1,
  "deliver PROPOSAL n1→n2",
  "deliver ACK n2→n1",
  "deliver COMMIT n1→n2",
  W1,
  "crash n1",
  "crash n2",
]

/** Epochs 1 and 2 as the afterEpoch2 disks describe them (ZooKeeper's storage: SNAP leaves n1's log stale). */
const epochs1and2 = [
  "lead n1",
  "follow n2 n1",
  "follow n3 n1",
  "deliver FOLLOWERINFO n2→n1",
  "deliver FOLLOWERINFO n3→n1",
  "deliver LEADERINFO n1→n2",
  "deliver LEADERINFO n1→n3",
  "deliver ACKEPOCH n2→n1",
  "deliver ACKEPOCH n3→n1",
  "deliver SYNC DIFF n1→n2",
  "deliver NEWLEADER n1→n2",
  "deliver SYNC DIFF n1→n3",
  "deliver NEWLEADER n1→n3",
  "deliver ACK n2→n1",
  "deliver ACK n3→n1",
  "deliver UPTODATE n1→n2",
  "deliver UPTODATE n1→n3",
  W1,
  "deliver PROPOSAL n1→n2",
  "deliver PROPOSAL n1→n3",
  "deliver ACK n2→n1",
  "deliver ACK n3→n1",
  "deliver COMMIT n1→n2",
  "deliver COMMIT n1→n3",
  W1,
  "crash n1",
  "restart n1",
  "deliver HELLO n1→n2",
  "deliver HELLO n1→n3",
  "deliver RESET n2→n1",
  "deliver RESET n3→n1",
  "lead n2",
  "follow n3 n2",
  "deliver FOLLOWERINFO n3→n2",
  "deliver LEADERINFO n2→n3",
  "deliver ACKEPOCH n3→n2",
  "deliver SYNC DIFF n2→n3",
  "deliver NEWLEADER n2→n3",
  "deliver ACK n3→n2",
  "deliver UPTODATE n2→n3",
  W2,
  "deliver PROPOSAL n2→n3",
  "deliver ACK n3→n2",
  "deliver COMMIT n2→n3",
  "follow n1 n2",
  "deliver FOLLOWERINFO n1→n2",
  "deliver LEADERINFO n2→n1",
  "deliver ACKEPOCH n1→n2",
  "deliver SYNC SNAP n2→n1",
  "deliver NEWLEADER n2→n1",
  "deliver ACK n1→n2",
  "deliver UPTODATE n2→n1",
  W2,
  "deliver PROPOSAL n2→n1",
  "deliver ACK n1→n2",
  "deliver COMMIT n2→n1",
  "crash n3",
  "crash n2",
  "crash n1",
]

/** Epoch 1 with all three synchronized; (1,1) committed everywhere, (1,2) committed with n2 before n3 saw it. */
const epoch1Lagging = [
  ...epochs1and2.slice(0, epochs1and2.indexOf("deliver COMMIT n1→n3") + 1),
  W1,
  "deliver PROPOSAL n1→n2",
  "deliver ACK n2→n1",
  "deliver COMMIT n1→n2",
  "crash n3",
  "crash n1",
  "crash n2",
]

describe("the disks models start from are reachable from empty disks", () => {
  it("lagging (model lagging): (1,1) and (1,2) committed, n3 crashed before it logged (1,2)", () => {
    const r = replay(p, open, "zab", epoch1Lagging)
    expect(disks(r)).toEqual(lagging.map((d) => canonical(d)))
  })
  it("afterEpoch1 (models default, recovery): epoch 1 with a lagging n3 and an uncommitted (1,2) on n1", () => {
    const r = replay(p, open, "zab", epoch1)
    expect(disks(r)).toEqual(afterEpoch1.map((d) => canonical(d)))
  })
  it("afterEpoch2 (model stale-log): with ZooKeeper's storage, SNAP leaves (1,2) in n1's log", () => {
    const r = replay(p, open, "zk-storage", epochs1and2)
    expect(disks(r)).toEqual(afterEpoch2.map((d) => canonical(d)))
  })
  it("with the Zab papers' single history, the same SNAP replaces n1's log too (no stale log)", () => {
    const r = replay(p, open, "zab", epochs1and2)
    const n1 = r.worlds[r.worlds.length - 1]!.nodes[0]!.disk as { log: ReadonlyArray<{ zxid: number }> }
    expect(n1.log.map((t) => t.zxid)).toEqual([4294967297, 8589934593, 8589934594])
  })
})

describe("findings", () => {
  it("stale log: from afterEpoch2 a TRUNC+DIFF truncates to (1,2), below the committed (2,1); FileTxnLog.truncate keeps (2,1)", () => {
    const base = zab.models["stale-log"]!
    const r = replay(p, base, "zk-storage", [
      "lead n1",
      "follow n3 n1",
      "deliver FOLLOWERINFO n3→n1",
      "deliver LEADERINFO n1→n3",
      "deliver ACKEPOCH n3→n1",
      "deliver SYNC TRUNC+DIFF n1→n3",
    ])
    const n3 = r.worlds[r.worlds.length - 1]!.nodes[2]!.state as { tree: ReadonlyArray<{ zxid: number }>; lastProcessed: number }
    // The decision: TRUNC to (1,2) — a zxid that is not in n1's history — then (2,2).
    expect(n3.tree.map((t) => t.zxid)).toEqual([4294967297, 8589934593, 8589934594])
    expect(n3.lastProcessed).toBe(8589934594)
  })
})
