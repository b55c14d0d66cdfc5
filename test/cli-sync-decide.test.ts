/**
 * `quorum sync-decide` end to end, through the real bin as a learner would run it: every oracle case of the
 * reference page (committed log {2,3,5}, lastProcessed 6: peer 4 → TRUNC 3 then 5; peer 2 → DIFF with 3, 5;
 * peer 1 without txn-log sync → SNAP), the other branches of syncFollower, the three ways to write a zxid, and
 * bad input (exit 2 naming the flag).
 */
import { execFile } from "node:child_process"
import * as path from "node:path"
import { describe, expect, it } from "vitest"

const repoRoot = path.resolve(import.meta.dirname, "..")
const bin = path.join("src", "cli", "quorum.mjs")

interface Run {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Asynchronous, so that a test's runs overlap: each one spends most of its time starting tsx. */
const quorum = (...args: string[]): Promise<Run> =>
  new Promise((resolve) => {
    execFile(process.execPath, [bin, "sync-decide", ...args], { cwd: repoRoot, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === "number" ? error.code : null
      resolve({ status, stdout, stderr })
    })
  })

interface Decision {
  readonly mode: string
  readonly path: string
  readonly case: number | null
  readonly rule: string
  readonly why: string
  readonly packets: ReadonlyArray<{ readonly type: string; readonly zxid?: number }>
  readonly proposals: ReadonlyArray<number>
  readonly truncZxid?: number
  readonly forwardFrom: number
  readonly zxids: string
}

/** A --json run: exit 0, exactly one JSON object on stdout, nothing on stderr. */
const decide = async (...args: string[]): Promise<Decision> => {
  const run = await quorum(...args, "--json")
  expect(run.status, run.stderr).toBe(0)
  expect(run.stderr).toBe("")
  return JSON.parse(run.stdout) as Decision
}

/** The packets as the README writes them: "TRUNC 3", "PROPOSAL 5", …, "NEWLEADER". */
const packets = (d: Decision): ReadonlyArray<string> => d.packets.map((p) => (p.zxid === undefined ? p.type : `${p.type} ${p.zxid}`))

const oracle = ["--committed", "2,3,5", "--last-processed", "6"]
const TWO_32 = 2 ** 32

describe("oracle cases of the reference page (committed log {2,3,5}, lastProcessed 6)", () => {
  it("peer 4 → TRUNC to 3, then proposal 5 (TRUNC+DIFF), then NEWLEADER; the text names the rule and why", async () => {
    const [run, d] = await Promise.all([quorum(...oracle, "--peer", "4"), decide(...oracle, "--peer", "4")])
    expect(run.status, run.stderr).toBe(0)
    expect(run.stderr).toBe("")
    const out = run.stdout
    expect(out).toMatch(/^decision {2}TRUNC\+DIFF$/m)
    expect(out).toContain("LearnerHandler.syncFollower case 4")
    expect(out).toMatch(/4 is not in the committed log, but the first proposal above it, 5, is of the same epoch/)
    expect(out).toMatch(/truncates to 3/)
    const lines = out.split("\n").filter((l) => /^\s+\d+\. /.test(l))
    expect(lines.map((l) => l.replace(/^\s+\d+\. (\S+(?: \S+)?).*$/, "$1"))).toEqual(["TRUNC 3", "PROPOSAL 5", "COMMIT 5", "NEWLEADER"])

    expect(d).toMatchObject({ mode: "TRUNC+DIFF", path: "committed-log", case: 4, truncZxid: 3, proposals: [5], forwardFrom: 5, zxids: "plain" })
    expect(packets(d)).toEqual(["TRUNC 3", "PROPOSAL 5", "COMMIT 5", "NEWLEADER"])
  })

  it("peer 2 → DIFF with 3 and 5; peer 1 with txn-log sync off → SNAP of the data tree at 6", async () => {
    const [diff, snap] = await Promise.all([decide(...oracle, "--peer", "2"), decide(...oracle, "--peer", "1", "--no-txn-log-sync")])
    expect(diff).toMatchObject({ mode: "DIFF", path: "committed-log", case: 4, proposals: [3, 5], forwardFrom: 5 })
    expect(diff).not.toHaveProperty("truncZxid")
    expect(packets(diff)).toEqual(["DIFF 5", "PROPOSAL 3", "COMMIT 3", "PROPOSAL 5", "COMMIT 5", "NEWLEADER"])
    expect(snap).toMatchObject({ mode: "SNAP", path: "snapshot", case: null, proposals: [], forwardFrom: 6 })
    expect(snap.why).toMatch(/txn-log sync is off/)
    expect(packets(snap)).toEqual(["SNAP 6", "NEWLEADER"])
  })

  it("zxids written as e:c and as hex mean the same; in a later epoch the text shows (e,c)", async () => {
    const z = (c: number) => TWO_32 + c
    const [epoch0, epoch1, text] = await Promise.all([
      decide("--committed", "0:2,0x3,0:5", "--last-processed", "0x6", "--peer", "0:4"),
      decide("--committed", "1:2,1:3,1:5", "--last-processed", "0x100000006", "--peer", "1:4"),
      quorum("--committed", "1:2,1:3,1:5", "--last-processed", "1:6", "--peer", "1:4"),
    ])
    expect(packets(epoch0)).toEqual(["TRUNC 3", "PROPOSAL 5", "COMMIT 5", "NEWLEADER"])
    expect(epoch0.zxids).toBe("plain")
    expect(epoch1).toMatchObject({ mode: "TRUNC+DIFF", truncZxid: z(3), proposals: [z(5)], zxids: "epoch-counter" })
    expect(text.stdout).toMatch(/TRUNC \(1,3\)/)
  })
})

describe("the other rules of the leader's decision", () => {
  it("peer equal to lastProcessed → an empty DIFF (case 2); above maxCommittedLog → TRUNC to it (case 3)", async () => {
    const [inSync, ahead] = await Promise.all([decide(...oracle, "--peer", "6"), decide(...oracle, "--peer", "7")])
    expect(inSync).toMatchObject({ mode: "DIFF", path: "in-sync", case: 2, proposals: [] })
    expect(packets(inSync)).toEqual(["DIFF 6", "NEWLEADER"])
    expect(ahead).toMatchObject({ mode: "TRUNC", path: "newer-than-log", case: 3, truncZxid: 5, proposals: [] })
    expect(packets(ahead)).toEqual(["TRUNC 5", "NEWLEADER"])
  })

  it("an (e,0) peer gets DIFF with everything above it; above the log it gets SNAP; a TRUNC across epochs → SNAP", async () => {
    const [start, above, across] = await Promise.all([
      decide("--committed", "1:1,1:2", "--last-processed", "2:0", "--peer", "1:0", "--txn-log", "0:1,1:1,1:2"),
      decide("--committed", "1:1,1:2", "--last-processed", "1:2", "--peer", "2:0"),
      decide("--committed", "1:1,2:1", "--last-processed", "2:1", "--peer", "1:2"),
    ])
    expect(start).toMatchObject({ mode: "DIFF", path: "txn-log", case: 5, proposals: [TWO_32 + 1, TWO_32 + 2] })
    expect(above).toMatchObject({ mode: "SNAP", case: null })
    expect(above.why).toMatch(/start of an epoch/)
    expect(across).toMatchObject({ mode: "SNAP", case: null })
    expect(across.why).toMatch(/later epoch/)
  })

  it("peer below the committed log: the on-disk log bridges it (case 5), or SNAP when it cannot", async () => {
    const committed = ["--committed", "6,7,8", "--last-processed", "9"]
    const disk = ["--txn-log", "2,3,5,6,7,8,9"]
    const [trunc, diff, off, noLog, gap] = await Promise.all([
      decide(...committed, "--peer", "4", ...disk),
      decide(...committed, "--peer", "3", ...disk),
      decide(...committed, "--peer", "3", ...disk, "--no-txn-log-sync"),
      decide(...committed, "--peer", "3"),
      decide("--committed", "", "--last-processed", "7", "--peer", "4", "--txn-log", "2,3"),
    ])
    expect(trunc).toMatchObject({ mode: "TRUNC+DIFF", path: "txn-log", case: 5, truncZxid: 3, proposals: [5, 6, 7, 8], forwardFrom: 8 })
    expect(diff).toMatchObject({ mode: "DIFF", path: "txn-log", proposals: [5, 6, 7, 8] })
    expect(off.mode).toBe("SNAP")
    expect(noLog.mode).toBe("SNAP")
    expect(noLog.why).toMatch(/on-disk txn log is empty/)
    expect(gap.mode).toBe("SNAP")
    expect(gap.why).toMatch(/does not join the committed log/)
  })

  it("--variant diff-without-membership: the 3.3 rule sends DIFF for a peer zxid that is not in the log", async () => {
    const [d, acrossEpochs] = await Promise.all([
      decide(...oracle, "--peer", "4", "--variant", "diff-without-membership"),
      decide("--committed", "1:1,2:1", "--last-processed", "2:1", "--peer", "1:2", "--variant", "diff-without-membership"),
    ])
    expect(d).toMatchObject({ mode: "DIFF", path: "committed-log", proposals: [5] })
    expect(packets(d)).toEqual(["DIFF 5", "PROPOSAL 5", "COMMIT 5", "NEWLEADER"])
    expect(d.why).toMatch(/3\.3/)
    // It ignores epochs too: DIFF where the current rule sends SNAP.
    expect(acrossEpochs.mode).toBe("DIFF")
  })
})

describe("bad input exits 2 with a message naming the flag", () => {
  const rejects = async (args: ReadonlyArray<string>, message: RegExp): Promise<void> => {
    const run = await quorum(...args)
    expect(run.status, run.stdout + run.stderr).toBe(2)
    expect(run.stdout).toBe("")
    expect(run.stderr).toMatch(message)
  }

  it("a zxid that is not a number", async () => {
    await Promise.all([
      rejects(["--committed", "2,x,5", "--last-processed", "6", "--peer", "4"], /--committed: "x" is not a zxid/),
      rejects([...oracle, "--peer", "4.5"], /--peer: "4\.5" is not a zxid/),
      rejects([...oracle, "--peer", "4", "--txn-log", "1,0xZZ"], /--txn-log: "0xZZ" is not a zxid/),
      rejects([...oracle, "--peer", "1:4294967296"], /--peer: counter .* does not fit in 32 bits/),
    ])
  })

  it("an unsorted or duplicated committed log (and txn log)", async () => {
    await Promise.all([
      rejects(["--committed", "2,5,3", "--last-processed", "6", "--peer", "4"], /--committed: 3 comes after 5; list the log in ascending zxid order/),
      rejects(["--committed", "2,3,3,5", "--last-processed", "6", "--peer", "4"], /--committed: 3 is listed twice/),
      rejects([...oracle, "--peer", "4", "--txn-log", "3,2"], /--txn-log: 2 comes after 3/),
    ])
  })

  it("lastProcessed below the last committed zxid; an unknown variant, listing the valid ones", async () => {
    await Promise.all([
      rejects(["--committed", "2,3,5", "--last-processed", "4", "--peer", "4"], /--last-processed 4 is below the last zxid of --committed \(5\)/),
      rejects([...oracle, "--peer", "4", "--variant", "nope"], /--variant: unknown variant "nope"; valid variants: zab, .*diff-without-membership/),
    ])
  })

  it("missing flags", async () => {
    await Promise.all([
      rejects(["--committed", "2,3,5", "--last-processed", "6"], /Missing required flag: --peer/),
      rejects(["--last-processed", "6", "--peer", "4"], /Missing required flag: --committed/),
      rejects(["--committed", "2,3,5", "--peer", "4"], /Missing required flag: --last-processed/),
    ])
  })
})
