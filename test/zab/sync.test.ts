/**
 * The leader's sync decision (spec/zab/sync.ts) against every oracle case of the reference page and of
 * ZooKeeper's own LearnerHandlerTest (same inputs, same expected op packet, proposals and forwarding point), and
 * fast-check properties over histories produced by abstract Zab runs: applying the decision to a learner's
 * history yields the leader's history, and a committed transaction is never truncated.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { applySync, decideSync, type SyncInput } from "../../spec/zab/sync.ts"
import { epochOf, isEpochStart, makeZxid, type Zxid } from "../../spec/zab/zxid.ts"

const p = (zxid: Zxid) => ({ zxid })
const ps = (...zxids: Zxid[]) => zxids.map(p)
const z = makeZxid

const decide = (input: Partial<SyncInput<{ zxid: Zxid }>> & { peerLastZxid: Zxid; lastProcessedZxid: Zxid }) =>
  decideSync({ committedLog: [], txnLog: [], txnLogSync: true, ...input })

const summary = (d: ReturnType<typeof decide>) => ({
  mode: d.mode,
  op: d.packets[0],
  proposals: d.proposals.map((x) => x.zxid),
  forwardFrom: d.forwardFrom,
})

describe("oracle cases of the reference page (committed log {2,3,5}, lastProcessed 6)", () => {
  const base = { committedLog: ps(2, 3, 5), lastProcessedZxid: 6 }
  it("peer 4 → TRUNC(3), then proposal 5 (TRUNC+DIFF)", () => {
    const d = decide({ ...base, peerLastZxid: 4 })
    expect(summary(d)).toEqual({ mode: "TRUNC+DIFF", op: { _tag: "TRUNC", zxid: 3 }, proposals: [5], forwardFrom: 5 })
    expect(d.truncZxid).toBe(3)
    // TRUNC + PROPOSAL + COMMIT, as LearnerHandlerTest counts them
    expect(d.packets.map((x) => x._tag)).toEqual(["TRUNC", "PROPOSAL", "COMMIT"])
  })
  it("peer 2 → DIFF(5) with 3 and 5", () => {
    const d = decide({ ...base, peerLastZxid: 2 })
    expect(summary(d)).toEqual({ mode: "DIFF", op: { _tag: "DIFF", zxid: 5 }, proposals: [3, 5], forwardFrom: 5 })
    expect(d.packets.map((x) => x._tag)).toEqual(["DIFF", "PROPOSAL", "COMMIT", "PROPOSAL", "COMMIT"])
  })
  it("peer 1 with txn-log sync off → SNAP of the data tree at 6", () => {
    const d = decide({ ...base, peerLastZxid: 1, txnLogSync: false })
    expect(summary(d)).toEqual({ mode: "SNAP", op: { _tag: "SNAP", zxid: 6 }, proposals: [], forwardFrom: 6 })
  })
  it("peer equal to lastProcessed → empty DIFF", () => {
    const d = decide({ ...base, peerLastZxid: 6 })
    expect(summary(d)).toEqual({ mode: "DIFF", op: { _tag: "DIFF", zxid: 6 }, proposals: [], forwardFrom: 6 })
    expect(d.path).toBe("in-sync")
  })
  it("peer above maxCommittedLog and not (e,0) → TRUNC to maxCommittedLog", () => {
    const d = decide({ ...base, peerLastZxid: 7 })
    expect(summary(d)).toEqual({ mode: "TRUNC", op: { _tag: "TRUNC", zxid: 5 }, proposals: [], forwardFrom: 5 })
  })
})

describe("LearnerHandlerTest cases", () => {
  it("testEmptyCommittedLog: TRUNC to lastProcessed, empty DIFF, SNAP", () => {
    expect(summary(decide({ peerLastZxid: 3, lastProcessedZxid: 1 }))).toEqual({
      mode: "TRUNC",
      op: { _tag: "TRUNC", zxid: 1 },
      proposals: [],
      forwardFrom: 1,
    })
    const inSync = decide({ peerLastZxid: 1, lastProcessedZxid: 1 })
    expect(summary(inSync)).toEqual({ mode: "DIFF", op: { _tag: "DIFF", zxid: 1 }, proposals: [], forwardFrom: 1 })
    expect(inSync.packets).toHaveLength(1)
    expect(decide({ peerLastZxid: 0, lastProcessedZxid: 1 }).mode).toBe("SNAP")
  })

  const txnLogCase = (e: number) => ({
    txnLog: ps(z(e, 2), z(e, 3), z(e, 5), z(e, 6), z(e, 7), z(e, 8), z(e, 9)),
    lastProcessedZxid: z(e, 9),
    committedLog: ps(z(e, 6), z(e, 7), z(e, 8)),
  })
  for (const e of [0, 0xf]) {
    it(`testTxnLog${e === 0 ? "" : "WithNegativeZxid"}: the on-disk log bridges to the committed log`, () => {
      const c = txnLogCase(e)
      expect(summary(decide({ ...c, peerLastZxid: z(e, 4) }))).toEqual({
        mode: "TRUNC+DIFF",
        op: { _tag: "TRUNC", zxid: z(e, 3) },
        proposals: [z(e, 5), z(e, 6), z(e, 7), z(e, 8)],
        forwardFrom: z(e, 8),
      })
      const d = decide({ ...c, peerLastZxid: z(e, 3) })
      expect(summary(d)).toEqual({
        mode: "DIFF",
        op: { _tag: "DIFF", zxid: z(e, 8) },
        proposals: [z(e, 5), z(e, 6), z(e, 7), z(e, 8)],
        forwardFrom: z(e, 8),
      })
      expect(d.packets).toHaveLength(9)
      expect(d.path).toBe("txn-log")
    })
  }

  it("testTxnLogOnly: empty committed log, the on-disk log up to lastProcessed", () => {
    const c = { txnLog: ps(2, 3, 5, 6, 7, 8), lastProcessedZxid: 7 }
    expect(summary(decide({ ...c, peerLastZxid: 4 }))).toEqual({
      mode: "TRUNC+DIFF",
      op: { _tag: "TRUNC", zxid: 3 },
      proposals: [5, 6, 7],
      forwardFrom: 7,
    })
    expect(summary(decide({ ...c, peerLastZxid: 2 }))).toEqual({
      mode: "DIFF",
      op: { _tag: "DIFF", zxid: 7 },
      proposals: [3, 5, 6, 7],
      forwardFrom: 7,
    })
    expect(decide({ ...c, peerLastZxid: 1 }).mode).toBe("SNAP")
  })

  it("testTxnLogProposalIteratorClosure: an on-disk log that ends before the committed log → SNAP", () => {
    expect(decide({ txnLog: ps(2, 3), lastProcessedZxid: 7, peerLastZxid: 4 }).mode).toBe("SNAP")
  })

  it("testNewEpochZxid: an (e,0) peer gets DIFF; an epoch-0 peer older than every log gets SNAP", () => {
    const c = {
      txnLog: ps(z(0, 1), z(1, 1), z(1, 2)),
      lastProcessedZxid: z(2, 0),
      committedLog: ps(z(1, 1), z(1, 2)),
    }
    expect(decide({ ...c, peerLastZxid: z(0, 0) }).mode).toBe("SNAP")
    const d = decide({ ...c, peerLastZxid: z(1, 0) })
    expect(summary(d)).toEqual({
      mode: "DIFF",
      op: { _tag: "DIFF", zxid: z(1, 2) },
      proposals: [z(1, 1), z(1, 2)],
      forwardFrom: z(1, 2),
    })
    expect(d.packets).toHaveLength(5)
    const same = decide({ ...c, peerLastZxid: z(2, 0) })
    expect(summary(same)).toEqual({ mode: "DIFF", op: { _tag: "DIFF", zxid: z(2, 0) }, proposals: [], forwardFrom: z(2, 0) })
  })

  it("(e,0) peer above maxCommittedLog → DIFF, never TRUNC (a new-epoch zxid has no txn to truncate to)", () => {
    const d = decide({ committedLog: ps(z(1, 1), z(1, 2)), lastProcessedZxid: z(1, 2), peerLastZxid: z(2, 0) })
    // Not in-sync, not TRUNC (new-epoch zxid), not in range, and above min: SNAP is the fallback.
    expect(d.mode).toBe("SNAP")
    const inRange = decide({ committedLog: ps(z(1, 1), z(2, 1)), lastProcessedZxid: z(2, 1), peerLastZxid: z(2, 0) })
    expect(summary(inRange)).toEqual({
      mode: "DIFF",
      op: { _tag: "DIFF", zxid: z(2, 1) },
      proposals: [z(2, 1)],
      forwardFrom: z(2, 1),
    })
  })

  it("testDuplicatedTxn: duplicates in the committed log are sent once", () => {
    const d = decide({
      txnLog: ps(z(0, 1), z(1, 1), z(1, 2), z(1, 1), z(1, 2)),
      lastProcessedZxid: z(2, 0),
      committedLog: ps(z(1, 1), z(1, 2), z(1, 1), z(1, 2)),
      peerLastZxid: z(1, 0),
    })
    expect(summary(d)).toEqual({
      mode: "DIFF",
      op: { _tag: "DIFF", zxid: z(1, 2) },
      proposals: [z(1, 1), z(1, 2)],
      forwardFrom: z(1, 2),
    })
  })

  it("testCrossEpochTrunc: a TRUNC that would cross an epoch boundary becomes SNAP", () => {
    const d = decide({
      txnLog: ps(z(1, 1), z(2, 1), z(2, 2), z(4, 1)),
      lastProcessedZxid: z(6, 0),
      peerLastZxid: z(3, 1),
    })
    expect(summary(d)).toEqual({ mode: "SNAP", op: { _tag: "SNAP", zxid: z(6, 0) }, proposals: [], forwardFrom: z(6, 0) })
  })

  it("cross-epoch inside the committed log → SNAP", () => {
    const d = decide({ committedLog: ps(z(1, 1), z(2, 1)), lastProcessedZxid: z(2, 1), peerLastZxid: z(1, 2) })
    expect(d.mode).toBe("SNAP")
  })

  it("testTxnLogGap: a gap between the on-disk log and the committed log → SNAP", () => {
    expect(decide({ txnLog: ps(2, 3, 4), lastProcessedZxid: 8, committedLog: ps(7, 8), peerLastZxid: 3 }).mode).toBe("SNAP")
  })
})

describe("diff-without-membership (release 3.3 and earlier)", () => {
  it("sends DIFF for a peer zxid inside [min, max] that is not in the log", () => {
    const d = decide({ committedLog: ps(2, 3, 5), lastProcessedZxid: 6, peerLastZxid: 4, diffWithoutMembership: true })
    expect(summary(d)).toEqual({ mode: "DIFF", op: { _tag: "DIFF", zxid: 5 }, proposals: [5], forwardFrom: 5 })
  })
  it("keeps an uncommitted transaction of an old epoch: the learner's history diverges from the leader's", () => {
    const leader = ps(z(1, 1), z(2, 1))
    const learner = ps(z(1, 1), z(1, 2))
    const d = decide({ committedLog: leader, lastProcessedZxid: z(2, 1), peerLastZxid: z(1, 2), diffWithoutMembership: true })
    expect(d.mode).toBe("DIFF")
    expect(applySync(learner, d, leader).map((x) => x.zxid)).toEqual([z(1, 1), z(1, 2), z(2, 1)])
    // The faithful rule sends SNAP instead.
    const faithful = decide({ committedLog: leader, lastProcessedZxid: z(2, 1), peerLastZxid: z(1, 2) })
    expect(faithful.mode).toBe("SNAP")
  })
})

// ---------------------------------------------------------------------------------------------------------
// Abstract Zab runs: each epoch a quorum syncs to the most recent of its members (FLE's order, and the
// leader's refusal of a more recent follower), the leader proposes a few transactions, each member receives a
// prefix of them; a transaction held by a quorum is committed. The last epoch's leader then syncs one server.

interface Server {
  history: Zxid[]
  currentEpoch: number
  /** The data tree's lastProcessedZxid: the history's last zxid, or (e,0) after a sync with no txn since. */
  lastProcessed: Zxid
}

interface Scenario {
  readonly servers: ReadonlyArray<Server>
  readonly committed: ReadonlyArray<Zxid>
  readonly leader: number
  readonly learner: number
  readonly leaderLastProcessed: Zxid
  readonly committedLog: ReadonlyArray<Zxid>
  readonly txnLog: ReadonlyArray<Zxid>
  readonly txnLogSync: boolean
}

const last = (h: ReadonlyArray<Zxid>): Zxid => (h.length === 0 ? 0 : h[h.length - 1]!)
const moreRecent = (a: Server, b: Server): boolean =>
  a.currentEpoch > b.currentEpoch || (a.currentEpoch === b.currentEpoch && a.lastProcessed > b.lastProcessed)

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    size: fc.constantFrom(3, 5),
    epochs: fc.array(
      fc.record({
        members: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
        proposals: fc.nat({ max: 3 }),
        received: fc.array(fc.nat({ max: 3 }), { minLength: 5, maxLength: 5 }),
        epochStart: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
      }),
      { minLength: 0, maxLength: 4 },
    ),
    final: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
    learner: fc.nat({ max: 4 }),
    established: fc.boolean(),
    committedWindow: fc.nat({ max: 12 }),
    txnWindow: fc.nat({ max: 12 }),
    txnLogSync: fc.boolean(),
  })
  .map((r): Scenario => {
    const n = r.size
    const majority = Math.floor(n / 2) + 1
    const servers: Server[] = Array.from({ length: n }, () => ({ history: [], currentEpoch: 0, lastProcessed: 0 }))
    const committed: Zxid[] = []
    // A quorum from a boolean mask, topped up in id order to a majority.
    const quorum = (mask: ReadonlyArray<boolean>): number[] => {
      const q = servers.map((_, i) => i).filter((i) => mask[i] === true)
      for (let i = 0; q.length < majority; i++) if (!q.includes(i)) q.push(i)
      return q.sort((a, b) => a - b)
    }
    const mostRecent = (q: ReadonlyArray<number>): number =>
      q.reduce((best, i) => (moreRecent(servers[i]!, servers[best]!) ? i : best), q[0]!)
    let epoch = 0
    for (const e of r.epochs) {
      epoch++
      const q = quorum(e.members)
      const l = mostRecent(q)
      const base = servers[l]!.history.slice()
      for (const i of q) {
        const s = servers[i]!
        s.history = base.slice()
        s.currentEpoch = epoch
        s.lastProcessed = e.epochStart[i] === true ? makeZxid(epoch, 0) : last(base)
      }
      const mine = Array.from({ length: e.proposals }, (_, k) => makeZxid(epoch, k + 1))
      for (const i of q) {
        const s = servers[i]!
        const got = i === l ? mine.length : Math.min(e.received[i] ?? 0, mine.length)
        if (got > 0) {
          s.history.push(...mine.slice(0, got))
          s.lastProcessed = last(s.history)
        }
      }
      for (const zx of mine) {
        if (q.filter((i) => servers[i]!.history.includes(zx)).length >= majority) committed.push(zx)
      }
    }
    const q = quorum(r.final)
    const leader = mostRecent(q)
    const candidates = servers.map((_, i) => i).filter((i) => i !== leader)
    const learner = candidates[r.learner % candidates.length]!
    const h = servers[leader]!.history
    const leaderLastProcessed = r.established ? makeZxid(epoch + 1, 0) : servers[leader]!.lastProcessed
    return {
      servers,
      committed,
      leader,
      learner,
      leaderLastProcessed,
      committedLog: h.slice(Math.max(0, h.length - r.committedWindow)),
      txnLog: h.slice(Math.max(0, h.length - r.txnWindow)),
      txnLogSync: r.txnLogSync,
    }
  })

const decideFor = (s: Scenario, diffWithoutMembership = false) => {
  const learner = s.servers[s.learner]!
  return decideSync({
    peerLastZxid: learner.lastProcessed,
    lastProcessedZxid: s.leaderLastProcessed,
    committedLog: s.committedLog.map(p),
    txnLog: s.txnLog.map(p),
    txnLogSync: s.txnLogSync,
    diffWithoutMembership,
  })
}

describe("decideSync over abstract Zab runs (fast-check)", () => {
  it("applying the decision to the learner's history yields the leader's history", () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const leader = s.servers[s.leader]!.history
        const d = decideFor(s)
        const after = applySync(s.servers[s.learner]!.history.map(p), d, leader.map(p)).map((x) => x.zxid)
        expect(after).toEqual(leader)
      }),
      { numRuns: 3000 },
    )
  })

  it("a committed transaction is never truncated", () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const d = decideFor(s)
        if (d.truncZxid === undefined) return
        for (const c of s.committed) {
          if (s.servers[s.learner]!.history.includes(c)) expect(c).toBeLessThanOrEqual(d.truncZxid)
        }
      }),
      { numRuns: 3000 },
    )
  })

  it("every mode is produced by some run (the generator is not vacuous)", () => {
    const seen = new Set<string>()
    fc.assert(
      fc.property(scenarioArb, (s) => {
        seen.add(decideFor(s).mode)
      }),
      { numRuns: 3000, seed: 42 },
    )
    // TRUNC+DIFF needs a learner zxid missing from a log that holds a later zxid of the same epoch: in runs
    // where every server's log is its history this cannot happen (see the README), so it is not required here.
    expect([...seen].sort()).toEqual(expect.arrayContaining(["DIFF", "SNAP", "TRUNC"]))
  })

  it("the 3.3 rule breaks the property: some run leaves the learner's history different from the leader's", () => {
    const result = fc.check(
      fc.property(scenarioArb, (s) => {
        const leader = s.servers[s.leader]!.history
        const after = applySync(s.servers[s.learner]!.history.map(p), decideFor(s, true), leader.map(p))
        return after.map((x) => x.zxid).join() === leader.join()
      }),
      { numRuns: 5000, seed: 7 },
    )
    expect(result.failed).toBe(true)
  })
})

describe("decisions are well formed on any input (fast-check)", () => {
  const zxidArb = fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 5 })).map(([e, c]) => makeZxid(e, c))
  const logArb = fc.uniqueArray(zxidArb.filter((x) => !isEpochStart(x))).map((xs) => xs.sort((a, b) => a - b))
  it("proposals ascend above the trunc point and the peer, come from the logs, and each is followed by its COMMIT", () => {
    fc.assert(
      fc.property(zxidArb, zxidArb, logArb, logArb, fc.boolean(), (peer, lastProcessed, committed, txn, sync) => {
        const d = decideSync({ peerLastZxid: peer, lastProcessedZxid: lastProcessed, committedLog: committed.map(p), txnLog: txn.map(p), txnLogSync: sync })
        const zs = d.proposals.map((x) => x.zxid)
        for (let k = 1; k < zs.length; k++) expect(zs[k]!).toBeGreaterThan(zs[k - 1]!)
        for (const x of zs) {
          expect(committed.includes(x) || txn.includes(x)).toBe(true)
          expect(x).toBeGreaterThan(d.truncZxid ?? peer)
        }
        if (d.mode === "SNAP") expect(d.packets).toEqual([{ _tag: "SNAP", zxid: lastProcessed }])
        else {
          const tail = d.packets.slice(1)
          expect(tail.length).toBe(2 * zs.length)
          tail.forEach((pk, k) =>
            expect(pk).toEqual(k % 2 === 0 ? { _tag: "PROPOSAL", proposal: { zxid: zs[k / 2] } } : { _tag: "COMMIT", zxid: zs[(k - 1) / 2] }),
          )
        }
        if (d.mode === "TRUNC" || d.mode === "TRUNC+DIFF") {
          // A TRUNC never crosses into an older epoch than the peer's, except to the leader's maxCommittedLog.
          if (d.path !== "newer-than-log") expect(epochOf(d.proposals[0]!.zxid)).toBe(epochOf(peer))
        }
      }),
      { numRuns: 5000 },
    )
  })
})
