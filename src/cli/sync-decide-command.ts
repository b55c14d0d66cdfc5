/**
 * `quorum sync-decide --committed 2,3,5 --last-processed 6 --peer 4`: the leader's synchronization decision
 * (`decideSync`, spec/zab/sync.ts) for one learner, printed for people learning ZooKeeper's sync rules — the
 * mode, which case of `LearnerHandler.syncFollower` fired and why, and the packets the leader queues in order.
 *
 * Zxids are written three ways:
 *   - a plain number is the zxid itself, as ZooKeeper's LearnerHandlerTest writes them: `4` is epoch 0,
 *     counter 4. The decision depends only on the order of the zxids and on epoch boundaries, so plain numbers
 *     behave as any single epoch would; this keeps the reference page's oracle cases (2,3,5 / 6 / 4) literal,
 *     and `4` and `0x4` mean the same zxid;
 *   - `e:c` — epoch e, counter c (`1:4`);
 *   - `0x…` — the 64-bit zxid in hex, as ZooKeeper logs it (`0x100000004` is `1:4`).
 * Output shows zxids as plain numbers when every one given is in epoch 0, else as `(e,c)`.
 */
import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { zab } from "../../spec/zab/index.ts"
import { committedLogBounds, decideSync, txnLogFrom, type SyncDecision, type SyncPacket } from "../../spec/zab/sync.ts"
import { epochOf, isEpochStart, MAX_EPOCH, makeZxid, showZxid, type Zxid } from "../../spec/zab/zxid.ts"
import { ExitCode } from "./exit-codes.ts"
import { colorsFor } from "./render.ts"
import { UsageError } from "./resolve.ts"

/** The flags as typed, before any parsing: every problem with them is reported here, naming the flag. */
export interface SyncDecideArgs {
  readonly committed: string
  readonly lastProcessed: string
  readonly peer: string
  readonly txnLog: string | undefined
  readonly txnLogSync: boolean
  readonly variant: string | undefined
  readonly json: boolean
}

export interface SyncDecideInput {
  readonly committed: ReadonlyArray<Zxid>
  readonly lastProcessed: Zxid
  readonly peer: Zxid
  readonly txnLog: ReadonlyArray<Zxid>
  readonly txnLogSync: boolean
  readonly variant: string
  readonly diffWithoutMembership: boolean
}

const TWO_32 = 2 ** 32
const zxidForms = "a number (4), epoch:counter (1:4) or hex (0x100000004)"

/** One zxid as typed; throws a UsageError naming `flag`. */
export const parseZxid = (flag: string, text: string): Zxid => {
  const t = text.trim()
  const bad = (problem: string): never => {
    throw new UsageError(`--${flag}: ${problem}`)
  }
  let zxid: number
  const pair = /^(\d+):(\d+)$/.exec(t)
  if (pair !== null) {
    const epoch = Number(pair[1])
    const counter = Number(pair[2])
    if (epoch > MAX_EPOCH) bad(`epoch ${pair[1]} in "${t}" is too large (at most ${MAX_EPOCH} here)`)
    if (counter >= TWO_32) bad(`counter ${pair[2]} in "${t}" does not fit in 32 bits`)
    zxid = makeZxid(epoch, counter)
  } else if (/^0x[0-9a-f]+$/i.test(t)) {
    zxid = Number.parseInt(t.slice(2), 16)
  } else if (/^\d+$/.test(t)) {
    zxid = Number(t)
  } else {
    return bad(`"${t}" is not a zxid; write ${zxidForms}`)
  }
  // Zxids are exact JavaScript numbers only while the epoch stays below 2^21 (spec/zab/zxid.ts).
  if (!Number.isSafeInteger(zxid) || epochOf(zxid) > MAX_EPOCH) bad(`"${t}" is too large: the epoch must be at most ${MAX_EPOCH}`)
  return zxid
}

/** A log as a comma-separated list in ascending zxid order; "" or "none" is the empty log. */
export const parseZxidList = (flag: string, text: string): ReadonlyArray<Zxid> => {
  const t = text.trim()
  if (t === "" || t.toLowerCase() === "none") return []
  const items = t.split(",").map((s) => s.trim())
  if (items.some((s) => s === "")) throw new UsageError(`--${flag}: "${t}" has an empty item; write zxids separated by commas, such as 2,3,5`)
  const zxids = items.map((s) => parseZxid(flag, s))
  for (let i = 1; i < zxids.length; i++) {
    if (zxids[i] === zxids[i - 1]) throw new UsageError(`--${flag}: ${items[i]} is listed twice; a log holds each zxid once`)
    if (zxids[i]! < zxids[i - 1]!) {
      throw new UsageError(`--${flag}: ${items[i]} comes after ${items[i - 1]}; list the log in ascending zxid order`)
    }
  }
  return zxids
}

/** Checks the flags together and turns them into `decideSync`'s inputs. */
export const parseSyncDecideArgs = (args: SyncDecideArgs): SyncDecideInput => {
  const committed = parseZxidList("committed", args.committed)
  const lastProcessed = parseZxid("last-processed", args.lastProcessed)
  const peer = parseZxid("peer", args.peer)
  const txnLog = args.txnLog === undefined ? [] : parseZxidList("txn-log", args.txnLog)
  const last = committed.at(-1)
  if (last !== undefined && lastProcessed < last) {
    // The committed log holds transactions the data tree has already applied; it cannot run ahead of it.
    throw new UsageError(
      `--last-processed ${args.lastProcessed.trim()} is below the last zxid of --committed (${args.committed.split(",").at(-1)!.trim()}); ` +
        `the leader's data tree has applied every committed proposal, so lastProcessedZxid is at least the last one`,
    )
  }
  const variant = args.variant ?? zab.defaultVariant
  const info = zab.variants[variant]
  if (info === undefined) {
    throw new UsageError(`--variant: unknown variant "${variant}"; valid variants: ${Object.keys(zab.variants).join(", ")}`)
  }
  return { committed, lastProcessed, peer, txnLog, txnLogSync: args.txnLogSync, variant, diffWithoutMembership: info.flags.diffWithoutMembership }
}

type Proposal = { readonly zxid: Zxid }

export interface Explanation {
  /** The case of LearnerHandler.syncFollower that decided (its comment numbers them 1–5); null for the fallback. */
  readonly case: 2 | 3 | 4 | 5 | null
  /** The rule, in a few words. */
  readonly rule: string
  /** Why it fired, and what it means for the learner: one or two sentences. */
  readonly why: string
}

export interface SyncDecideResult {
  readonly input: SyncDecideInput
  readonly decision: SyncDecision<Proposal>
  readonly minCommittedLog: Zxid
  readonly maxCommittedLog: Zxid
  readonly explanation: Explanation
  /** Whether zxids print as plain numbers (every one given is in epoch 0) or as (e,c). */
  readonly plain: boolean
}

export const runSyncDecide = (input: SyncDecideInput): SyncDecideResult => {
  const decision = decideSync<Proposal>({
    peerLastZxid: input.peer,
    lastProcessedZxid: input.lastProcessed,
    committedLog: input.committed.map((zxid) => ({ zxid })),
    txnLog: input.txnLog.map((zxid) => ({ zxid })),
    txnLogSync: input.txnLogSync,
    diffWithoutMembership: input.diffWithoutMembership,
  })
  const { min, max } = committedLogBounds(
    input.committed.map((zxid) => ({ zxid })),
    input.lastProcessed,
  )
  const all = [...input.committed, ...input.txnLog, input.lastProcessed, input.peer]
  const plain = all.every((z) => epochOf(z) === 0)
  const show = (z: Zxid): string => (plain ? String(z) : showZxid(z))
  return { input, decision, minCommittedLog: min, maxCommittedLog: max, explanation: explain(input, decision, min, max, show), plain }
}

/**
 * Which case fired and why, in words. `decideSync` records the branch (`path`); what made a fallback to SNAP
 * necessary is read back from the inputs here, because the learner needs the cause, not only the branch.
 */
const explain = (
  input: SyncDecideInput,
  d: SyncDecision<Proposal>,
  min: Zxid,
  max: Zxid,
  show: (z: Zxid) => string,
): Explanation => {
  const peer = show(input.peer)
  const sent = d.proposals.map((p) => show(p.zxid))
  const then = sent.length === 0 ? "there is nothing later to send" : `then ${sent.join(", ")}, each as PROPOSAL and COMMIT`
  const range = `[${show(min)}, ${show(max)}]`
  const epochStart = isEpochStart(input.peer)
  /** The first zxid of `log` above the peer (up to `bound`), when the peer is not in it. */
  const nextAbove = (log: ReadonlyArray<Zxid>, bound: Zxid): Zxid | undefined =>
    log.includes(input.peer) ? undefined : log.find((z) => z > input.peer && z <= bound)
  /** The DIFF / TRUNC+DIFF sentence of a walk over a log (case 4 or 5). */
  const walked = (where: string): string => {
    if (d.mode === "DIFF") {
      if (epochStart) return `${peer} is the start of epoch ${epochOf(input.peer)} (counter 0), which names no transaction: DIFF with every proposal above it — ${then}.`
      return `${peer} is in ${where}, so the learner's history is a prefix of the leader's: DIFF, ${then}.`
    }
    const first = sent[0] ?? "nothing"
    return (
      `${peer} is not in ${where}, but the first proposal above it, ${first}, is of the same epoch: ` +
      `the learner has a transaction the leader never saw, so it truncates to ${show(d.truncZxid ?? -1)}, the last proposal below ${peer}, ${then}.`
    )
  }

  switch (d.path) {
    case "in-sync":
      return {
        case: 2,
        rule: "already in sync",
        why: `The learner's last zxid ${peer} equals the leader's lastProcessedZxid: an empty DIFF, nothing else to send.`,
      }
    case "newer-than-log":
      return {
        case: 3,
        rule: "the learner is ahead of the committed log",
        why:
          `${peer} is above maxCommittedLog ${show(max)} and is not the start of an epoch: the learner holds transactions ` +
          `the leader does not have (it may have led an earlier epoch), so it truncates to ${show(max)}.`,
      }
    case "committed-log":
      return {
        case: 4,
        rule: `the learner is within the committed log ${range}`,
        why:
          input.diffWithoutMembership && !input.committed.includes(input.peer) && !epochStart
            ? `${peer} lies within ${range}, and the rule of 3.3 and earlier sends DIFF with every proposal above it without checking that ${peer} is in the log: ${then}. ` +
              `The learner keeps ${peer}, which the leader does not have — the flaw of variant diff-without-membership.`
            : walked("the committed log"),
      }
    case "txn-log":
      return {
        case: 5,
        rule: `the learner is behind the committed log; the on-disk txn log bridges the gap`,
        why: `${peer} is below minCommittedLog ${show(min)}; the on-disk log reaches back to it, so the leader walks it up to ${show(min)}, then the committed log. ${walked("the on-disk log")}`,
      }
    case "snapshot": {
      const tree = `the whole data tree at ${show(input.lastProcessed)}`
      if (input.peer > max) {
        return {
          case: null,
          rule: "no log can be used: SNAP",
          why: `${peer} is the start of an epoch above maxCommittedLog ${show(max)}: there is no transaction to truncate to (case 3 excludes it), and it is not within the committed log, so the leader sends ${tree}.`,
        }
      }
      if (input.peer >= min) {
        const next = nextAbove(input.committed, max)
        return {
          case: null,
          rule: `case 4 (within the committed log ${range}) cannot be used: SNAP`,
          why: `${peer} is not in the committed log and the first proposal above it, ${next === undefined ? "?" : show(next)}, is of a later epoch: a TRUNC may not cross an epoch boundary (the learner would fail), so the leader sends ${tree}.`,
        }
      }
      const below = `${peer} is below minCommittedLog ${show(min)}`
      if (!input.txnLogSync) {
        return { case: null, rule: "case 5 (on-disk txn log) is off: SNAP", why: `${below} and txn-log sync is off, so the leader sends ${tree}.` }
      }
      const fromDisk = txnLogFrom(
        input.txnLog.map((zxid) => ({ zxid })),
        input.peer,
      ).map((p) => p.zxid)
      if (fromDisk.length === 0) {
        const log = input.txnLog.length === 0 ? "the on-disk txn log is empty" : `the on-disk txn log starts at ${show(input.txnLog[0]!)}, after it`
        return { case: null, rule: "case 5 (on-disk txn log) cannot reach the learner: SNAP", why: `${below} and ${log}, so the leader sends ${tree}.` }
      }
      const next = nextAbove(fromDisk, min)
      if (next !== undefined && !epochStart && epochOf(next) !== epochOf(input.peer)) {
        return {
          case: null,
          rule: "case 5 (on-disk txn log) cannot be used: SNAP",
          why: `${below}; ${peer} is not in the on-disk log and the entry above it, ${show(next)}, is of a later epoch: a TRUNC may not cross an epoch boundary, so the leader sends ${tree}.`,
        }
      }
      return {
        case: null,
        rule: "case 5 (on-disk txn log) leaves a gap: SNAP",
        why: `${below}; the on-disk log reaches back to it but does not join the committed log at ${show(min)}, so the leader sends ${tree}.`,
      }
    }
  }
}

/** Greedy word wrap: sentences read better than one 300-column line. */
const wrap = (text: string, width: number): ReadonlyArray<string> => {
  const lines: string[] = []
  let line = ""
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line)
      line = word
    } else line = line === "" ? word : `${line} ${word}`
  }
  if (line !== "") lines.push(line)
  return lines
}

const packetText = (p: SyncPacket<Proposal>, show: (z: Zxid) => string): string =>
  p._tag === "PROPOSAL" ? `PROPOSAL ${show(p.proposal.zxid)}` : `${p._tag} ${show(p.zxid)}`

/** The packets in order, NEWLEADER last (Leader.startForwarding queues outstanding proposals just before it). */
export const packetLines = (r: SyncDecideResult): ReadonlyArray<readonly [string, string]> => {
  const show = (z: Zxid): string => (r.plain ? String(z) : showZxid(z))
  const lines: Array<readonly [string, string]> = r.decision.packets.map((p) => {
    switch (p._tag) {
      case "DIFF":
        return [packetText(p, show), `the learner keeps its log; proposals follow (${show(p.zxid)}: the leader's last committed zxid)`]
      case "TRUNC":
        return [packetText(p, show), `the learner cuts its log after ${show(p.zxid)}`]
      case "SNAP":
        return [packetText(p, show), `followed by the data tree as of ${show(p.zxid)}`]
      case "PROPOSAL":
        return [packetText(p, show), ""]
      case "COMMIT":
        return [packetText(p, show), ""]
    }
  })
  lines.push(["NEWLEADER", `after any proposal still outstanding above ${show(r.decision.forwardFrom)} (Leader.startForwarding)`])
  return lines
}

export const syncDecideJson = (r: SyncDecideResult): object => {
  const d = r.decision
  return {
    input: {
      committed: r.input.committed,
      lastProcessed: r.input.lastProcessed,
      peer: r.input.peer,
      txnLog: r.input.txnLog,
      txnLogSync: r.input.txnLogSync,
      variant: r.input.variant,
      diffWithoutMembership: r.input.diffWithoutMembership,
    },
    minCommittedLog: r.minCommittedLog,
    maxCommittedLog: r.maxCommittedLog,
    mode: d.mode,
    path: d.path,
    case: r.explanation.case,
    rule: r.explanation.rule,
    why: r.explanation.why,
    packets: [
      ...d.packets.map((p) => (p._tag === "PROPOSAL" ? { type: "PROPOSAL", zxid: p.proposal.zxid } : { type: p._tag, zxid: p.zxid })),
      { type: "NEWLEADER" },
    ],
    proposals: d.proposals.map((p) => p.zxid),
    ...(d.truncZxid === undefined ? {} : { truncZxid: d.truncZxid }),
    forwardFrom: d.forwardFrom,
    zxids: r.plain ? "plain" : "epoch-counter",
  }
}

export const syncDecideText = (r: SyncDecideResult, c = colorsFor(process.stdout)): string => {
  const show = (z: Zxid): string => (r.plain ? String(z) : showZxid(z))
  const list = (zs: ReadonlyArray<Zxid>): string => (zs.length === 0 ? "empty" : `[${zs.map(show).join(", ")}]`)
  const i = r.input
  const rule = i.diffWithoutMembership ? "the sync rule of 3.3 and earlier" : "the sync rule of 3.5 onwards"
  const bounds = i.committed.length === 0 ? `min = max = lastProcessedZxid` : `min ${show(r.minCommittedLog)}, max ${show(r.maxCommittedLog)}`
  const columns = Math.max(60, process.stdout.isTTY === true ? (process.stdout.columns ?? 100) : 100)
  const e = r.explanation
  const labelled = (label: string, text: string): ReadonlyArray<string> =>
    wrap(text, columns - 10).map((line, k) => (k === 0 ? `${c.bold(label)}${" ".repeat(10 - label.length)}${line}` : `          ${line}`))
  const packets = packetLines(r)
  const width = Math.max(...packets.map(([p]) => p.length))
  return [
    `${c.bold("decision")}  ${c.bold(r.decision.mode)}`,
    "",
    `leader    committed log ${list(i.committed)} (${bounds}), lastProcessedZxid ${show(i.lastProcessed)}`,
    `          on-disk txn log ${list(i.txnLog)}, txn-log sync ${i.txnLogSync ? "on" : "off"}; ${rule} (variant ${i.variant})`,
    `learner   last zxid ${show(i.peer)} (from its ACKEPOCH)`,
    "",
    ...labelled("rule", `${e.case === null ? "" : `LearnerHandler.syncFollower case ${e.case}: `}${e.rule}`),
    ...labelled("why", e.why),
    "",
    `${c.bold("packets")}   the leader queues, in order:`,
    ...packets.map(([p, note], k) => `  ${String(k + 1).padStart(2)}. ${p.padEnd(width)}${note === "" ? "" : `  ${c.dim(note)}`}`.trimEnd()),
    "",
  ].join("\n")
}

export const syncDecideCommand = (args: SyncDecideArgs): number => {
  const result = runSyncDecide(parseSyncDecideArgs(args))
  process.stdout.write(args.json ? JSON.stringify(syncDecideJson(result), null, 2) + "\n" : syncDecideText(result))
  return ExitCode.ok
}

const exitWith = (body: () => number) =>
  Effect.try({ try: body, catch: (error) => error }).pipe(
    Effect.map((code) => {
      process.exitCode = code
    }),
  )

export const syncDecideCli = Command.make(
  "sync-decide",
  {
    committed: Flag.String("committed").pipe(
      Flag.withDescription(`The leader's in-memory committed log, ascending, comma-separated: zxids as ${zxidForms}; "" for none`),
    ),
    lastProcessed: Flag.String("last-processed").pipe(Flag.withDescription("The leader's lastProcessedZxid (≥ the last committed zxid)")),
    peer: Flag.String("peer").pipe(Flag.withDescription("The learner's last zxid, from its ACKEPOCH")),
    txnLog: Flag.String("txn-log").pipe(
      Flag.withDescription("The leader's on-disk txn log, ascending, comma-separated (default: empty); read when the peer is below the committed log"),
      Flag.optional,
    ),
    txnLogSync: Flag.Boolean("txn-log-sync").pipe(
      Flag.withDescription("Whether the on-disk txn log may be used (zookeeper.snapshotSizeFactor ≥ 0); --no-txn-log-sync turns it off"),
      Flag.withDefault(true),
    ),
    variant: Flag.String("variant").pipe(
      Flag.withDescription("A zab variant: diff-without-membership applies the rule of 3.3 and earlier (default: zab, the current rule)"),
      Flag.optional,
    ),
    json: Flag.Boolean("json").pipe(Flag.withDescription("Print one JSON object on stdout and nothing else"), Flag.withDefault(false)),
  },
  (input) =>
    exitWith(() =>
      syncDecideCommand({
        committed: input.committed,
        lastProcessed: input.lastProcessed,
        peer: input.peer,
        txnLog: Option.getOrUndefined(input.txnLog),
        txnLogSync: input.txnLogSync,
        variant: Option.getOrUndefined(input.variant),
        json: input.json,
      }),
    ),
).pipe(
  Command.withDescription("ZooKeeper's sync decision for one learner: DIFF, TRUNC, TRUNC+DIFF or SNAP, why, and the packets in order"),
  Command.withExamples([
    { command: "quorum sync-decide --committed 2,3,5 --last-processed 6 --peer 4", description: "TRUNC to 3, then proposal 5" },
    { command: "quorum sync-decide --committed 2,3,5 --last-processed 6 --peer 1 --no-txn-log-sync", description: "SNAP" },
    { command: "quorum sync-decide --committed 1:1,2:1 --last-processed 2:1 --peer 1:2", description: "An epoch boundary: SNAP" },
  ]),
)
