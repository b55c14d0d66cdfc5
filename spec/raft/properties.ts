/**
 * Raft's safety properties (Figure 3 of the paper, plus "committed entries are never lost" from etcd's TLA+
 * spec), the ghost variables they need, and the witnesses that show a model exercises each property's premise.
 */
import type { Invariant, NodeView, Transition, TransitionProperty, Witness, WorldView } from "../kernel/protocol.ts"
import { lastLogIndex, type LogView, type RaftState } from "./rules.ts"
import type { ClientRequest, Durable, Entry, Message } from "./schema.ts"

export interface Election {
  readonly term: number
  readonly leader: string
  /** Whether some server had crashed before this election: the "leader after a crash" witness. */
  readonly afterCrash: boolean
}

export interface CommittedEntry {
  readonly index: number
  readonly term: number
  readonly value: string
  /** The term in which it was first committed (the committing server's currentTerm); §5.4 counts from it. */
  readonly inTerm: number
  /** Crashes so far when the entry was first committed: a later crash shows durability was exercised. */
  readonly crashesAtCommit: number
}

/** History: every leader ever elected and every entry any server ever considered committed. */
export interface RaftGhost {
  readonly elections: ReadonlyArray<Election>
  readonly committed: ReadonlyArray<CommittedEntry>
}

export type RaftWorld = WorldView<RaftState, Message, Durable, RaftGhost>
type RaftTransition = Transition<RaftState, Message, Durable, ClientRequest, RaftGhost>
type Node = NodeView<RaftState, Durable>

export const initialGhost: RaftGhost = { elections: [], committed: [] }

/**
 * Every entry of a log, compacted ones included. Only the checker's models can be read this way: their
 * snapshots hold the compacted entries (`modelSnapshotData`); a running node's hold its key space.
 */
export const fullLog = (v: LogView): ReadonlyArray<Entry> =>
  v.snapshot === undefined ? v.log : [...(JSON.parse(v.snapshot.data) as ReadonlyArray<Entry>), ...v.log]

/** A server's whole log: in memory while up, on disk while down. */
export const logOf = (n: Node): ReadonlyArray<Entry> => fullLog(n.up ? n.state! : (n.disk ?? { log: [] }))

const sameEntry = (a: Entry | undefined, b: Entry | undefined): boolean =>
  a !== undefined && b !== undefined && a.term === b.term && a.value === b.value

const byElection = (a: Election, b: Election) => a.term - b.term || (a.leader < b.leader ? -1 : a.leader > b.leader ? 1 : 0)
const byEntry = (a: CommittedEntry, b: CommittedEntry) =>
  a.index - b.index || a.term - b.term || (a.value < b.value ? -1 : a.value > b.value ? 1 : 0)

/** The ghost with its lists in their canonical order (needed after servers are renamed). */
export const normalizeGhost = (ghost: RaftGhost): RaftGhost => ({
  elections: [...ghost.elections].sort(byElection),
  committed: ghost.committed,
})

export const updateGhost = (ghost: RaftGhost, t: RaftTransition): RaftGhost => {
  let elections = ghost.elections
  let committed = ghost.committed
  const { before, after } = t
  for (let i = 0; i < after.nodes.length; i++) {
    const was = before.nodes[i]!
    const now = after.nodes[i]!
    if (now === was || !now.up) continue
    const s = now.state!
    const prev = was.up ? was.state : undefined
    if (s.role === "Leader" && (prev === undefined || prev.role !== "Leader" || prev.currentTerm !== s.currentTerm)) {
      if (!elections.some((e) => e.term === s.currentTerm && e.leader === now.id)) {
        elections = [...elections, { term: s.currentTerm, leader: now.id, afterCrash: after.crashes > 0 }].sort(byElection)
      }
    }
    const from = prev?.commitIndex ?? 0
    const log = s.commitIndex > from ? fullLog(s) : s.log
    for (let index = from + 1; index <= s.commitIndex; index++) {
      const e = log[index - 1]!
      if (committed.some((c) => c.index === index && c.term === e.term && c.value === e.value)) continue
      committed = [...committed, { index, term: e.term, value: e.value, inTerm: s.currentTerm, crashesAtCommit: after.crashes }].sort(byEntry)
    }
  }
  return elections === ghost.elections && committed === ghost.committed ? ghost : { elections, committed }
}

export const electionSafety: Invariant<RaftState, Message, Durable, RaftGhost> = {
  name: "electionSafety",
  description: "Election Safety: at most one leader can be elected in a given term (§5.2)",
  witness: "leadersInTwoTerms",
  check: (w) => {
    const e = w.ghost.elections
    for (let k = 1; k < e.length; k++) {
      if (e[k]!.term === e[k - 1]!.term) return `${e[k - 1]!.leader} and ${e[k]!.leader} were both elected leader of term ${e[k]!.term}`
    }
    return undefined
  },
}

export const leaderAppendOnly: TransitionProperty<RaftState, Message, Durable, ClientRequest, RaftGhost> = {
  name: "leaderAppendOnly",
  description: "Leader Append-Only: a leader never overwrites or deletes entries in its log; it only appends (§5.3)",
  witness: "leaderAppendedEntry",
  check: ({ before, after }) => {
    for (let i = 0; i < after.nodes.length; i++) {
      const a = before.nodes[i]!.state
      const b = after.nodes[i]!.state
      if (a === undefined || b === undefined || a === b) continue
      if (a.role !== "Leader" || b.role !== "Leader" || a.currentTerm !== b.currentTerm) continue
      // Compaction moves entries into the snapshot; the whole log must still only grow.
      const was = fullLog(a)
      const now = fullLog(b)
      if (now.length < was.length) return `leader ${after.nodes[i]!.id} shrank its log from ${was.length} to ${now.length} entries`
      for (let k = 0; k < was.length; k++) {
        if (!sameEntry(was[k], now[k])) return `leader ${after.nodes[i]!.id} overwrote its entry ${k + 1}`
      }
    }
    return undefined
  },
}

export const logMatching: Invariant<RaftState, Message, Durable, RaftGhost> = {
  name: "logMatching",
  description:
    "Log Matching: if two logs contain an entry with the same index and term, the logs are identical in all entries up through that index (§5.3)",
  witness: "twoLogsShareAnEntry",
  check: (w) => {
    for (let i = 0; i < w.nodes.length; i++) {
      for (let j = i + 1; j < w.nodes.length; j++) {
        const a = logOf(w.nodes[i]!)
        const b = logOf(w.nodes[j]!)
        let last = -1
        for (let k = Math.min(a.length, b.length) - 1; k >= 0; k--) {
          if (a[k]!.term === b[k]!.term) {
            last = k
            break
          }
        }
        for (let k = 0; k <= last; k++) {
          if (!sameEntry(a[k], b[k])) {
            return `${w.nodes[i]!.id} and ${w.nodes[j]!.id} agree on entry ${last + 1} (term ${a[last]!.term}) but differ at entry ${k + 1}`
          }
        }
      }
    }
    return undefined
  },
}

export const leaderCompleteness: Invariant<RaftState, Message, Durable, RaftGhost> = {
  name: "leaderCompleteness",
  description:
    "Leader Completeness: if a log entry is committed in a given term, that entry will be present in the logs of the leaders for all higher-numbered terms (§5.4)",
  witness: "laterLeaderAfterCommit",
  check: (w) => {
    for (const c of w.ghost.committed) {
      for (const n of w.nodes) {
        const s = n.state
        if (s === undefined || s.role !== "Leader" || s.currentTerm <= c.inTerm) continue
        if (!sameEntry(fullLog(s)[c.index - 1], c)) {
          return `${n.id}, leader of term ${s.currentTerm}, lacks entry ${c.index} (term ${c.term}, ${c.value}) committed in term ${c.inTerm}`
        }
      }
    }
    return undefined
  },
}

export const stateMachineSafety: Invariant<RaftState, Message, Durable, RaftGhost> = {
  name: "stateMachineSafety",
  description:
    "State Machine Safety: if a server has applied a log entry at a given index, no other server will ever apply a different log entry for the same index (§5.4.3)",
  witness: "entryCommitted",
  check: (w) => {
    const c = w.ghost.committed
    for (let k = 1; k < c.length; k++) {
      if (c[k]!.index === c[k - 1]!.index) {
        return `two different entries were committed at index ${c[k]!.index}: (term ${c[k - 1]!.term}, ${c[k - 1]!.value}) and (term ${c[k]!.term}, ${c[k]!.value})`
      }
    }
    return undefined
  },
}

export const committedEntriesNeverLost: Invariant<RaftState, Message, Durable, RaftGhost> = {
  name: "committedEntriesNeverLost",
  description: "Committed entries are never lost: once committed, an entry stays in the logs of a majority of servers",
  witness: "committedEntrySurvivesCrash",
  check: (w) => {
    const majority = Math.floor(w.nodes.length / 2) + 1
    for (const c of w.ghost.committed) {
      const holders = w.nodes.filter((n) => sameEntry(logOf(n)[c.index - 1], c))
      if (holders.length < majority) {
        const names = holders.map((n) => n.id).join(", ") || "no server"
        return `entry ${c.index} (term ${c.term}, ${c.value}) was committed but only ${names} still hold it`
      }
    }
    return undefined
  },
}

const leaders = (w: RaftWorld) => w.nodes.filter((n) => n.state?.role === "Leader")

export const witnesses: ReadonlyArray<Witness<RaftState, Message, Durable, RaftGhost>> = [
  {
    name: "leadersInTwoTerms",
    description: "leaders were elected in two different terms",
    holds: (w) => new Set(w.ghost.elections.map((e) => e.term)).size >= 2,
  },
  {
    name: "leaderElectedAfterCrash",
    description: "a second leader is elected after a server crashed",
    holds: (w) => w.ghost.elections.length >= 2 && w.ghost.elections.some((e) => e.afterCrash),
  },
  {
    name: "leaderAppendedEntry",
    description: "a leader appended a client entry to its log",
    holds: (w) => leaders(w).some((n) => lastLogIndex(n.state!) > 0),
  },
  {
    name: "twoLogsShareAnEntry",
    description: "two servers hold the same entry (index and term)",
    holds: (w) =>
      w.nodes.some((a, i) =>
        w.nodes.some((b, j) => j > i && logOf(a).some((e, k) => logOf(b)[k]?.term === e.term)),
      ),
  },
  {
    name: "entryCommitted",
    description: "an entry is committed",
    holds: (w) => w.ghost.committed.length > 0,
  },
  {
    name: "laterLeaderAfterCommit",
    description: "a leader exists of a term later than the one in which an entry was committed",
    holds: (w) => w.ghost.committed.some((c) => leaders(w).some((n) => n.state!.currentTerm > c.inTerm)),
  },
  {
    name: "committedEntrySurvivesCrash",
    description: "a server crashed after an entry was committed",
    holds: (w) => w.ghost.committed.some((c) => w.crashes > c.crashesAtCommit),
  },
]

export const invariants = [electionSafety, logMatching, leaderCompleteness, stateMachineSafety, committedEntriesNeverLost]
export const transitionProperties = [leaderAppendOnly]
