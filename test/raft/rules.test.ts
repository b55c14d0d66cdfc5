/**
 * Paper-rule tests for spec/raft/rules.ts: one `describe` per handler, each test quoting the sentence of
 * Figure 2 ("In Search of an Understandable Consensus Algorithm", Ongaro & Ousterhout) that it checks.
 */
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { makeContext, nodeId, nodeIds, type Effect, type NodeId } from "../../spec/kernel/protocol.ts"
import { raft } from "../../spec/raft/index.ts"
import {
  advanceCommitIndex,
  appendEntriesFor,
  becomeLeader,
  candidateLogUpToDate,
  COMPACT,
  compact,
  compactArg,
  durableOf,
  ELECTION,
  enabledInternal,
  FLUSH_LOG,
  flushLog,
  handle,
  handleAppendEntries,
  handleAppendEntriesResponse,
  handleClientRequest,
  handleInstallSnapshot,
  handleRequestVote,
  handleRequestVoteResponse,
  HEARTBEAT,
  lastLogIndex,
  lastLogTerm,
  mergeEntries,
  modelSnapshotData,
  observeTerm,
  recover,
  sendHeartbeat,
  startElection,
  type Ctx,
  type RaftState,
  type RaftStep,
} from "../../spec/raft/rules.ts"
import type {
  InstallSnapshot,
  AppendEntries,
  AppendEntriesResponse,
  ClientReply,
  Durable,
  Entry,
  Message,
  RaftFlags,
  RequestVote,
  RequestVoteResponse,
} from "../../spec/raft/schema.ts"

// ---------------------------------------------------------------------------------------------------------
// Fixtures

const must = <T>(value: T | undefined, what: string): T => {
  if (value === undefined) throw new Error(`missing ${what}`)
  return value
}

const small = must(raft.models["small"], "the small model").config
type Variant =
  | "faithful"
  | "commit-previous-term"
  | "vote-without-log-check"
  | "volatile-voted-for"
  | "parallel-append"
  | "parallel-append-counts-self"
  | "compaction"
  | "compact-uncommitted"
  | "snapshot-discards-log"
const flags = (variant: Variant): RaftFlags => must(raft.variants[variant], `variant ${variant}`).flags

const n1 = nodeId("n1")
const n2 = nodeId("n2")
const n3 = nodeId("n3")
const n4 = nodeId("n4")

/** n1's context in a cluster of `size` servers (3 unless a test needs a quorum of more than two). */
const ctxOf = (variant: Variant = "faithful", size = 3): Ctx => makeContext(n1, nodeIds(size), small, flags(variant))
const faithful = ctxOf()

const entry = (term: number, value = `v${term}`): Entry => ({ term, value })

const follower = (over: Partial<RaftState> = {}): RaftState => ({
  role: "Follower",
  currentTerm: 1,
  votedFor: null,
  log: [],
  commitIndex: 0,
  votesGranted: [],
  nextIndex: {},
  matchIndex: {},
  ...over,
})
const candidate = (over: Partial<RaftState> = {}): RaftState =>
  follower({ role: "Candidate", votedFor: n1, votesGranted: [n1], ...over })
const leader = (over: Partial<RaftState> = {}): RaftState => {
  const log = over.log ?? []
  return follower({
    role: "Leader",
    votedFor: n1,
    nextIndex: { n2: log.length + 1, n3: log.length + 1 },
    matchIndex: { n2: 0, n3: 0 },
    ...over,
  })
}

const requestVote = (term: number, lastIndex = 0, lastTerm = 0): RequestVote => ({
  _tag: "RequestVote",
  term,
  lastLogIndex: lastIndex,
  lastLogTerm: lastTerm,
})
const vote = (term: number, voteGranted = true): RequestVoteResponse => ({ _tag: "RequestVoteResponse", term, voteGranted })
const appendEntries = (over: Partial<AppendEntries> & { term: number }): AppendEntries => ({
  _tag: "AppendEntries",
  prevLogIndex: 0,
  prevLogTerm: 0,
  entries: [],
  leaderCommit: 0,
  ...over,
})
const appendOk = (term: number, matchIndex: number): AppendEntriesResponse => ({
  _tag: "AppendEntriesResponse",
  term,
  success: true,
  matchIndex,
})
const appendFailed = (term: number): AppendEntriesResponse => ({ _tag: "AppendEntriesResponse", term, success: false, matchIndex: 0 })

type Fx = Effect<Message, ClientReply>

const sends = (step: RaftStep): Array<{ to: NodeId; msg: Message }> =>
  step.effects.flatMap((e: Fx) => (e._tag === "Send" ? [{ to: e.to, msg: e.msg }] : []))
const timerEffects = (step: RaftStep): Fx[] => step.effects.filter((e) => e._tag === "SetTimer" || e._tag === "CancelTimer")
const replies = (step: RaftStep): ClientReply[] => step.effects.flatMap((e: Fx) => (e._tag === "Reply" ? [e.reply] : []))
/** The single message a step sends, to whom. */
const onlySend = (step: RaftStep): { to: NodeId; msg: Message } => {
  const all = sends(step)
  expect(all).toHaveLength(1)
  return all[0]!
}

/** Freezes a value and everything reachable from it, so a handler that writes to its input throws. */
const deepFreeze = <T>(value: T): T => {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const member of Object.values(value)) deepFreeze(member)
  }
  return value
}

/** Runs `f` on deep-frozen inputs and checks they still equal a snapshot taken before. */
const withFrozen = <A extends ReadonlyArray<unknown>, R>(inputs: A, f: (...args: A) => R): R => {
  const before = structuredClone(inputs)
  const result = f(...(deepFreeze(inputs) as A))
  expect(inputs).toEqual(before)
  return result
}

// ---------------------------------------------------------------------------------------------------------

describe("recover", () => {
  it("boots from nothing as a Follower of term 0 with no vote, an empty log and the election timer armed", () => {
    const step = recover(faithful, undefined)
    expect(step.state).toEqual(follower({ currentTerm: 0 }))
    expect(step.persist).toBeUndefined()
    expect(step.effects).toEqual([{ _tag: "SetTimer", timer: ELECTION }])
  })

  it("restarts from disk keeping currentTerm, votedFor and log — \"Persistent state on all servers\" — with commitIndex 0", () => {
    const disk: Durable = { currentTerm: 3, votedFor: n2, log: [entry(1), entry(3)] }
    const step = withFrozen([faithful, disk] as const, recover)
    expect(step.state).toEqual({
      role: "Follower",
      currentTerm: 3,
      votedFor: n2,
      log: [entry(1), entry(3)],
      // "commitIndex: index of highest log entry known to be committed (initialized to 0…)": volatile state.
      commitIndex: 0,
      votesGranted: [],
      nextIndex: {},
      matchIndex: {},
    })
    expect(step.persist).toBeUndefined()
    expect(step.effects).toEqual([{ _tag: "SetTimer", timer: ELECTION }])
  })
})

describe("observeTerm", () => {
  it("\"If RPC request or response contains term T > currentTerm: set currentTerm = T, convert to follower\" and clears votedFor", () => {
    const s = leader({ currentTerm: 2, log: [entry(2)], commitIndex: 1 })
    const next = withFrozen([s, 5] as const, observeTerm)
    expect(next).toEqual({
      role: "Follower",
      currentTerm: 5,
      votedFor: null,
      log: [entry(2)],
      commitIndex: 1,
      votesGranted: [],
      nextIndex: {},
      matchIndex: {},
    })
  })

  it("a candidate seeing a higher term also converts to follower and forgets its votes", () => {
    const next = observeTerm(candidate({ currentTerm: 2 }), 3)
    expect(next.role).toBe("Follower")
    expect(next.votedFor).toBeNull()
    expect(next.votesGranted).toEqual([])
  })

  it("returns the very same state for an equal or lower term", () => {
    const s = candidate({ currentTerm: 2 })
    expect(observeTerm(s, 2)).toBe(s)
    expect(observeTerm(s, 1)).toBe(s)
  })

  // "Persistent state on all servers (Updated on stable storage before responding to RPCs)": the adopted
  // term and the cleared vote are written by the step that observed them, whatever the message kind.
  const higherTermMessages: ReadonlyArray<[string, Message]> = [
    // The candidate's log (empty) is behind ours, so the vote is refused and votedFor stays null.
    ["RequestVote", requestVote(5)],
    ["RequestVoteResponse", vote(5, false)],
    ["AppendEntries", appendEntries({ term: 5, prevLogIndex: 9, prevLogTerm: 4 })],
    ["AppendEntriesResponse", appendFailed(5)],
  ]
  it.each(higherTermMessages)("a %s with a higher term is persisted as the new term with votedFor null", (_, msg) => {
    const s = leader({ currentTerm: 2, log: [entry(2)] })
    const step = handle(faithful, deepFreeze(s), { _tag: "Deliver", from: n2, msg: deepFreeze(msg) })
    expect(step.state.role).toBe("Follower")
    expect(step.state.currentTerm).toBe(5)
    expect(step.persist).toEqual({ currentTerm: 5, votedFor: null, log: [entry(2)] })
    // A leader that steps down stops its heartbeat and arms the election timer.
    expect(timerEffects(step)).toEqual([
      { _tag: "CancelTimer", timer: HEARTBEAT },
      { _tag: "SetTimer", timer: ELECTION },
    ])
  })
})

describe("startElection", () => {
  // "If election timeout elapses without receiving AppendEntries RPC from current leader or granting vote to
  // candidate: convert to candidate" — "On conversion to candidate, start election: Increment currentTerm,
  // Vote for self, Reset election timer, Send RequestVote RPCs to all other servers".
  const s = follower({ currentTerm: 1, log: [entry(1), entry(1, "w")], commitIndex: 1 })

  it("\"Increment currentTerm\" and \"Vote for self\"", () => {
    const step = withFrozen([faithful, s] as const, startElection)
    expect(step.state.role).toBe("Candidate")
    expect(step.state.currentTerm).toBe(2)
    expect(step.state.votedFor).toBe(n1)
    expect(step.state.votesGranted).toEqual([n1])
    expect(step.state.log).toBe(s.log)
  })

  it("persists the new term with votedFor = self before the RequestVotes leave", () => {
    const step = startElection(faithful, s)
    expect(step.persist).toEqual({ currentTerm: 2, votedFor: n1, log: [entry(1), entry(1, "w")] })
  })

  it("\"Send RequestVote RPCs to all other servers\" carrying lastLogIndex and lastLogTerm", () => {
    const rv = requestVote(2, 2, 1)
    expect(sends(startElection(faithful, s))).toEqual([
      { to: n2, msg: rv },
      { to: n3, msg: rv },
    ])
  })

  it("\"Reset election timer\"", () => {
    const step = startElection(faithful, s)
    expect(timerEffects(step)).toEqual([{ _tag: "SetTimer", timer: ELECTION }])
  })

  it("a candidate whose election times out starts a new one with a fresh set of votes (\"If election timeout elapses: start new election\")", () => {
    const five = ctxOf("faithful", 5)
    const step = startElection(five, candidate({ currentTerm: 2, votesGranted: [n1, n2] }))
    expect(step.state.currentTerm).toBe(3)
    expect(step.state.votesGranted).toEqual([n1])
    expect(sends(step).map((m) => m.to)).toEqual([n2, n3, n4, nodeId("n5")])
  })

  it("a leader ignores the election timer", () => {
    const s = leader({ currentTerm: 2 })
    const step = startElection(faithful, s)
    expect(step.state).toBe(s)
    expect(step.persist).toBeUndefined()
    expect(step.effects).toEqual([])
  })

  it("in volatile-voted-for the vote for self stays in memory: the persisted votedFor is null", () => {
    const step = startElection(ctxOf("volatile-voted-for"), s)
    expect(step.state.votedFor).toBe(n1)
    expect(step.persist).toEqual({ currentTerm: 2, votedFor: null, log: s.log })
  })
})

describe("candidateLogUpToDate", () => {
  // §5.4.1: "If the logs have last entries with different terms, then the log with the later term is more
  // up-to-date. If the logs end with the same term, then whichever log is longer is more up-to-date."
  const voter = [entry(1), entry(2), entry(2)]

  it("a higher last term wins even with a shorter log", () => {
    expect(candidateLogUpToDate({ log: voter }, 1, 3)).toBe(true)
  })
  it("a lower last term loses even with a longer log", () => {
    expect(candidateLogUpToDate({ log: voter }, 9, 1)).toBe(false)
  })
  it("with the same last term, a log at least as long wins and a shorter one loses", () => {
    expect(candidateLogUpToDate({ log: voter }, 3, 2)).toBe(true)
    expect(candidateLogUpToDate({ log: voter }, 4, 2)).toBe(true)
    expect(candidateLogUpToDate({ log: voter }, 2, 2)).toBe(false)
  })
  it("anything is at least as up to date as an empty log", () => {
    expect(candidateLogUpToDate({ log: [] }, 0, 0)).toBe(true)
  })

  const logArb = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 4 }).map((terms) => terms.map((t) => entry(t)))
  it("is a total preorder: every log is up to date w.r.t. itself, and of any two logs one is at least as up to date", () => {
    fc.assert(
      fc.property(logArb, logArb, (a, b) => {
        expect(candidateLogUpToDate({ log: a }, lastLogIndex({ log: a }), lastLogTerm({ log: a }))).toBe(true)
        const aOverB = candidateLogUpToDate({ log: b }, lastLogIndex({ log: a }), lastLogTerm({ log: a }))
        const bOverA = candidateLogUpToDate({ log: a }, lastLogIndex({ log: b }), lastLogTerm({ log: b }))
        expect(aOverB || bOverA).toBe(true)
      }),
    )
  })
})

describe("handleRequestVote", () => {
  const deliver = (ctx: Ctx, s: RaftState, from: NodeId, m: RequestVote): RaftStep =>
    withFrozen([ctx, s, from, m] as const, (c, st, f, msg) => handleRequestVote(c, st, f, msg))
  const response = (step: RaftStep) => onlySend(step).msg as RequestVoteResponse

  it("\"Reply false if term < currentTerm\" — with the current term, changing nothing", () => {
    const s = follower({ currentTerm: 3 })
    const step = deliver(faithful, s, n2, requestVote(2, 5, 2))
    expect(onlySend(step)).toEqual({ to: n2, msg: vote(3, false) })
    expect(step.state).toBe(s)
    expect(step.persist).toBeUndefined()
  })

  it("\"If votedFor is null or candidateId, and candidate's log is at least as up-to-date as receiver's log, grant vote\"", () => {
    const s = follower({ currentTerm: 1, log: [entry(1)] })
    const step = deliver(faithful, s, n2, requestVote(1, 1, 1))
    expect(onlySend(step)).toEqual({ to: n2, msg: vote(1, true) })
    expect(step.state.votedFor).toBe(n2)
  })

  it("a grant is persisted (votedFor = candidate) in the same step that sends the response", () => {
    const s = follower({ currentTerm: 1, log: [entry(1)] })
    const step = deliver(faithful, s, n2, requestVote(1, 1, 1))
    expect(step.persist).toEqual({ currentTerm: 1, votedFor: n2, log: [entry(1)] })
  })

  it("a request with a higher term is granted after adopting the term, and both are persisted", () => {
    const s = follower({ currentTerm: 1, votedFor: n3 })
    const step = deliver(faithful, s, n2, requestVote(2))
    expect(response(step)).toEqual(vote(2, true))
    expect(step.persist).toEqual({ currentTerm: 2, votedFor: n2, log: [] })
  })

  it("votedFor is another candidate: a second candidate of the same term is refused", () => {
    const s = follower({ currentTerm: 2, votedFor: n2 })
    const step = deliver(faithful, s, n3, requestVote(2, 5, 2))
    expect(onlySend(step)).toEqual({ to: n3, msg: vote(2, false) })
    expect(step.state).toBe(s)
    expect(step.persist).toBeUndefined()
  })

  it("votedFor is candidateId: a repeated request from the same candidate is granted again", () => {
    const s = follower({ currentTerm: 2, votedFor: n2 })
    const step = deliver(faithful, s, n2, requestVote(2))
    expect(response(step)).toEqual(vote(2, true))
    expect(step.state.votedFor).toBe(n2)
  })

  it("a candidate or leader has voted for itself and refuses other candidates of its term", () => {
    expect(response(deliver(faithful, candidate({ currentTerm: 2 }), n2, requestVote(2, 3, 2)))).toEqual(vote(2, false))
    expect(response(deliver(faithful, leader({ currentTerm: 2 }), n2, requestVote(2, 3, 2)))).toEqual(vote(2, false))
  })

  describe("\"candidate's log is at least as up-to-date as receiver's log\"", () => {
    const s = follower({ currentTerm: 3, log: [entry(1), entry(2), entry(2)] })
    it("a higher last term is granted even with a shorter log", () => {
      expect(response(deliver(faithful, s, n2, requestVote(3, 1, 3)))).toEqual(vote(3, true))
    })
    it("a lower last term is refused even with a longer log", () => {
      expect(response(deliver(faithful, s, n2, requestVote(3, 5, 1)))).toEqual(vote(3, false))
    })
    it("the same last term needs a log at least as long", () => {
      expect(response(deliver(faithful, s, n2, requestVote(3, 3, 2)))).toEqual(vote(3, true))
      expect(response(deliver(faithful, s, n2, requestVote(3, 2, 2)))).toEqual(vote(3, false))
    })
    it("a refused candidate of a higher term still makes the voter adopt that term, persisted with no vote", () => {
      const step = deliver(faithful, s, n2, requestVote(4, 2, 2))
      expect(response(step)).toEqual(vote(4, false))
      expect(step.state.votedFor).toBeNull()
      expect(step.persist).toEqual({ currentTerm: 4, votedFor: null, log: s.log })
    })
  })

  describe("variant vote-without-log-check", () => {
    const flawed = ctxOf("vote-without-log-check")
    const s = follower({ currentTerm: 3, log: [entry(1), entry(2), entry(2)] })
    it("grants a candidate whose log is behind", () => {
      const step = deliver(flawed, s, n2, requestVote(3, 0, 0))
      expect(response(step)).toEqual(vote(3, true))
      expect(step.state.votedFor).toBe(n2)
    })
    it("still refuses stale terms and a second candidate", () => {
      expect(response(deliver(flawed, s, n2, requestVote(2, 9, 2)))).toEqual(vote(3, false))
      expect(response(deliver(flawed, follower({ currentTerm: 3, votedFor: n3 }), n2, requestVote(3)))).toEqual(vote(3, false))
    })
  })

  it("variant volatile-voted-for: the grant is persisted, but with votedFor null", () => {
    const s = follower({ currentTerm: 1 })
    const step = deliver(ctxOf("volatile-voted-for"), s, n2, requestVote(1))
    expect(response(step)).toEqual(vote(1, true))
    expect(step.state.votedFor).toBe(n2)
    expect(step.persist).toEqual({ currentTerm: 1, votedFor: null, log: [] })
  })
})

describe("handleRequestVoteResponse", () => {
  const deliver = (ctx: Ctx, s: RaftState, from: NodeId, m: RequestVoteResponse): RaftStep =>
    withFrozen([ctx, s, from, m] as const, (c, st, f, msg) => handleRequestVoteResponse(c, st, f, msg))

  it("\"If votes received from majority of servers: become leader\" with nextIndex = lastIndex+1 and matchIndex = 0", () => {
    const s = candidate({ currentTerm: 2, log: [entry(1), entry(1, "w")] })
    const step = deliver(faithful, s, n2, vote(2))
    expect(step.state).toEqual({
      ...s,
      role: "Leader",
      votesGranted: [],
      // "nextIndex[]: … initialized to leader last log index + 1", "matchIndex[]: … initialized to 0".
      nextIndex: { n2: 3, n3: 3 },
      matchIndex: { n2: 0, n3: 0 },
    })
  })

  it("a new leader cancels the election timer and arms the heartbeat timer, and persists nothing", () => {
    const step = deliver(faithful, candidate({ currentTerm: 2 }), n3, vote(2))
    expect(timerEffects(step)).toEqual([
      { _tag: "CancelTimer", timer: ELECTION },
      { _tag: "SetTimer", timer: HEARTBEAT },
    ])
    expect(step.persist).toBeUndefined()
  })

  it("below a majority a granted vote is only recorded (sorted) — seven servers need four votes", () => {
    const seven = ctxOf("faithful", 7)
    const step = deliver(seven, candidate({ currentTerm: 2, votesGranted: [n1, n3] }), n2, vote(2))
    expect(step.state.role).toBe("Candidate")
    expect(step.state.votesGranted).toEqual([n1, n2, n3])
  })

  it("a duplicated vote from the same peer is not counted twice", () => {
    const five = ctxOf("faithful", 5)
    const once = deliver(five, candidate({ currentTerm: 2 }), n2, vote(2))
    expect(once.state.votesGranted).toEqual([n1, n2])
    const twice = deliver(five, once.state, n2, vote(2))
    expect(twice.state.role).toBe("Candidate")
    expect(twice.state.votesGranted).toEqual([n1, n2])
    // A third distinct voter makes the majority.
    expect(deliver(five, twice.state, n3, vote(2)).state.role).toBe("Leader")
  })

  it("a refused vote changes nothing", () => {
    const s = candidate({ currentTerm: 2 })
    const step = deliver(faithful, s, n2, vote(2, false))
    expect(step.state).toBe(s)
    expect(step.effects).toEqual([])
  })

  it("a granted vote of an older term is ignored", () => {
    const s = candidate({ currentTerm: 3 })
    const step = deliver(faithful, s, n2, vote(2))
    expect(step.state).toBe(s)
    expect(step.persist).toBeUndefined()
    expect(step.effects).toEqual([])
  })

  it("a late vote reaching the leader or a follower is ignored", () => {
    const l = leader({ currentTerm: 2 })
    expect(deliver(faithful, l, n3, vote(2)).state).toBe(l)
    const f = follower({ currentTerm: 2, votedFor: n1 })
    expect(deliver(faithful, f, n3, vote(2)).state).toBe(f)
  })

  it("a response with a higher term turns the candidate into a follower of that term, persisted", () => {
    const step = deliver(faithful, candidate({ currentTerm: 2 }), n2, vote(3, false))
    expect(step.state.role).toBe("Follower")
    expect(step.state.currentTerm).toBe(3)
    expect(step.persist).toEqual({ currentTerm: 3, votedFor: null, log: [] })
  })
})

describe("becomeLeader", () => {
  it("\"Upon election\": role Leader, nextIndex = last log index + 1, matchIndex = 0 for every peer", () => {
    const before = candidate({ currentTerm: 3, log: [entry(1)] })
    const step = withFrozen([faithful, before, before] as const, becomeLeader)
    expect(step.state.role).toBe("Leader")
    expect(step.state.nextIndex).toEqual({ n2: 2, n3: 2 })
    expect(step.state.matchIndex).toEqual({ n2: 0, n3: 0 })
    // "The heartbeat timer sends the first round": the timer is armed here, the messages leave when it fires.
    expect(timerEffects(step)).toContainEqual({ _tag: "SetTimer", timer: HEARTBEAT })
  })
})

describe("sendHeartbeat and appendEntriesFor", () => {
  // "Upon election: send initial empty AppendEntries RPCs (heartbeat) to each server; repeat during idle
  // periods" and "If last log index ≥ nextIndex for a follower: send AppendEntries RPC with log entries
  // starting at nextIndex".
  const s = leader({
    currentTerm: 3,
    log: [entry(1), entry(3, "a"), entry(3, "b")],
    commitIndex: 2,
    nextIndex: { n2: 2, n3: 4 },
    matchIndex: { n2: 1, n3: 3 },
  })

  it("sends each peer the entries from its nextIndex (at most maxEntriesPerMessage) and re-arms the heartbeat", () => {
    const step = withFrozen([faithful, s] as const, sendHeartbeat)
    expect(step.state).toBe(s)
    expect(step.persist).toBeUndefined()
    expect(timerEffects(step)).toEqual([{ _tag: "SetTimer", timer: HEARTBEAT }])
    expect(sends(step)).toEqual([
      {
        to: n2,
        msg: appendEntries({ term: 3, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(3, "a")], leaderCommit: 2 }),
      },
      // n3 already holds everything: an empty heartbeat that carries the commit index.
      { to: n3, msg: appendEntries({ term: 3, prevLogIndex: 3, prevLogTerm: 3, entries: [], leaderCommit: 2 }) },
    ])
  })

  it("leaderCommit never exceeds the index of the last entry carried", () => {
    const msg = appendEntriesFor(faithful, { ...s, commitIndex: 3, nextIndex: { n2: 1, n3: 4 } }, n2)
    expect(msg).toEqual(appendEntries({ term: 3, prevLogIndex: 0, prevLogTerm: 0, entries: [entry(1)], leaderCommit: 1 }))
  })

  it("only leaders send heartbeats", () => {
    const f = follower({ currentTerm: 3 })
    expect(sendHeartbeat(faithful, f)).toEqual({ state: f, effects: [] })
  })
})

describe("handleAppendEntries", () => {
  const deliver = (ctx: Ctx, s: RaftState, from: NodeId, m: AppendEntries): RaftStep =>
    withFrozen([ctx, s, from, m] as const, (c, st, f, msg) => handleAppendEntries(c, st, f, msg))
  const response = (step: RaftStep) => onlySend(step).msg as AppendEntriesResponse

  it("\"Reply false if term < currentTerm\" — with the current term, so the stale leader steps down", () => {
    const s = follower({ currentTerm: 3, log: [entry(1)] })
    const step = deliver(faithful, s, n2, appendEntries({ term: 2, entries: [entry(2)] }))
    expect(onlySend(step)).toEqual({ to: n2, msg: appendFailed(3) })
    expect(step.state).toBe(s)
    expect(step.persist).toBeUndefined()
  })

  it("\"If AppendEntries RPC received from new leader: convert to follower\" — a candidate of the same term steps down", () => {
    const s = candidate({ currentTerm: 2 })
    const step = deliver(faithful, s, n2, appendEntries({ term: 2 }))
    expect(step.state.role).toBe("Follower")
    expect(step.state.currentTerm).toBe(2)
    expect(step.state.votesGranted).toEqual([])
    // Its vote for itself in term 2 stands; nothing durable changed.
    expect(step.state.votedFor).toBe(n1)
    expect(step.persist).toBeUndefined()
    expect(response(step)).toEqual(appendOk(2, 0))
  })

  it("a leader of a higher term makes a stale leader a follower, persisted, with the election timer armed", () => {
    const step = deliver(faithful, leader({ currentTerm: 1 }), n2, appendEntries({ term: 2 }))
    expect(step.state.role).toBe("Follower")
    expect(step.persist).toEqual({ currentTerm: 2, votedFor: null, log: [] })
    expect(timerEffects(step)).toEqual([
      { _tag: "CancelTimer", timer: HEARTBEAT },
      { _tag: "SetTimer", timer: ELECTION },
    ])
  })

  describe("\"Reply false if log doesn't contain an entry at prevLogIndex whose term matches prevLogTerm\"", () => {
    const s = follower({ currentTerm: 2, log: [entry(1)] })
    it("the entry at prevLogIndex has another term", () => {
      const step = deliver(faithful, s, n2, appendEntries({ term: 2, prevLogIndex: 1, prevLogTerm: 2, entries: [entry(2)] }))
      expect(response(step)).toEqual(appendFailed(2))
      expect(step.state).toBe(s)
      expect(step.persist).toBeUndefined()
    })
    it("there is no entry at prevLogIndex", () => {
      const step = deliver(faithful, s, n2, appendEntries({ term: 2, prevLogIndex: 2, prevLogTerm: 1, entries: [entry(2)] }))
      expect(response(step)).toEqual(appendFailed(2))
      expect(step.state).toBe(s)
    })
  })

  it("\"If an existing entry conflicts with a new one (same index but different terms), delete the existing entry and all that follow it\"", () => {
    const s = follower({ currentTerm: 2, log: [entry(1, "a"), entry(1, "b"), entry(1, "c")] })
    const step = deliver(faithful, s, n2, appendEntries({ term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, "x")] }))
    expect(step.state.log).toEqual([entry(1, "a"), entry(2, "x")])
    expect(response(step)).toEqual(appendOk(2, 2))
    expect(step.persist).toEqual({ currentTerm: 2, votedFor: null, log: [entry(1, "a"), entry(2, "x")] })
  })

  it("\"Append any new entries not already in the log\"", () => {
    const s = follower({ currentTerm: 2, log: [entry(1, "a")] })
    const step = deliver(faithful, s, n2, appendEntries({ term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(2, "b")] }))
    expect(step.state.log).toEqual([entry(1, "a"), entry(2, "b")])
    expect(response(step)).toEqual(appendOk(2, 2))
    expect(step.persist?.log).toEqual([entry(1, "a"), entry(2, "b")])
  })

  it("a stale or duplicated AppendEntries carrying entries already present truncates nothing (delete only from the first CONFLICTING entry)", () => {
    const s = follower({ currentTerm: 2, log: [entry(1, "a"), entry(2, "b"), entry(2, "c")] })
    const step = deliver(faithful, s, n2, appendEntries({ term: 2, prevLogIndex: 0, prevLogTerm: 0, entries: [entry(1, "a")] }))
    expect(step.state.log).toBe(s.log)
    // matchIndex reports what this request covered, not the follower's whole log.
    expect(response(step)).toEqual(appendOk(2, 1))
    expect(step.persist).toBeUndefined()
  })

  describe("\"If leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new entry)\"", () => {
    const s = follower({ currentTerm: 2, log: [entry(1), entry(1), entry(2)] })
    it("is capped by the index of the last new entry", () => {
      const step = deliver(faithful, s, n2, appendEntries({ term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(1)], leaderCommit: 3 }))
      expect(step.state.commitIndex).toBe(2)
    })
    it("is capped by leaderCommit", () => {
      const step = deliver(faithful, s, n2, appendEntries({ term: 2, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(1)], leaderCommit: 1 }))
      expect(step.state.commitIndex).toBe(1)
    })
    it("an empty heartbeat's last new entry is prevLogIndex, even when the follower's log is longer", () => {
      const step = deliver(faithful, s, n2, appendEntries({ term: 2, prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 3 }))
      expect(step.state.commitIndex).toBe(1)
    })
    it("never decreases (\"initialized to 0, increases monotonically\")", () => {
      const step = deliver(faithful, { ...s, commitIndex: 3 }, n2, appendEntries({ term: 2, prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 1 }))
      expect(step.state.commitIndex).toBe(3)
    })
  })

  it("persists only when the log or the term changed: a heartbeat of the current term writes nothing", () => {
    const s = follower({ currentTerm: 2, votedFor: n2, log: [entry(1)] })
    const step = deliver(faithful, s, n2, appendEntries({ term: 2, prevLogIndex: 1, prevLogTerm: 1, leaderCommit: 1 }))
    expect(step.persist).toBeUndefined()
    expect(step.state.commitIndex).toBe(1)
    expect(step.state.log).toBe(s.log)
  })
})

describe("mergeEntries", () => {
  // Entries are identified by (index, term) — Log Matching: "If two entries in different logs have the same
  // index and term, then they store the same command" — so values are a function of both.
  const at = (index: number, term: number): Entry => ({ term, value: `${index}@${term}` })
  const termsArb = fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 6 })
  const caseArb = fc
    .record({ logTerms: termsArb, entryTerms: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 4 }), prev: fc.nat() })
    .map(({ logTerms, entryTerms, prev }) => {
      const prevLogIndex = prev % (logTerms.length + 1)
      return {
        log: logTerms.map((t, i) => at(i + 1, t)),
        prevLogIndex,
        entries: entryTerms.map((t, k) => at(prevLogIndex + k + 1, t)),
      }
    })
  const merge = (c: { log: Entry[]; prevLogIndex: number; entries: Entry[] }) => {
    const { log, prevLogIndex, entries } = deepFreeze(c)
    return mergeEntries(log, prevLogIndex, entries)
  }

  it("always keeps log[0..prevLogIndex) as it was", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const out = merge(c)
        for (let i = 0; i < c.prevLogIndex; i++) expect(out[i]).toBe(c.log[i])
      }),
    )
  })

  it("holds every entry of the request at its position (prevLogIndex + k)", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const out = merge(c)
        c.entries.forEach((e, k) => expect(out[c.prevLogIndex + k]).toEqual(e))
      }),
    )
  })

  it("keeps the tail after the request when nothing conflicts, and drops it after a conflict", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const out = merge(c)
        const conflict = c.entries.some((e, k) => {
          const existing = c.log[c.prevLogIndex + k]
          return existing !== undefined && existing.term !== e.term
        })
        const end = c.prevLogIndex + c.entries.length
        expect(out.length).toBe(conflict ? end : Math.max(c.log.length, end))
        if (!conflict) for (let i = end; i < c.log.length; i++) expect(out[i]).toBe(c.log[i])
      }),
    )
  })

  it("returns the input log itself (===) exactly when nothing changes", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const out = merge(c)
        const unchanged = out.length === c.log.length && out.every((e, i) => e.term === c.log[i]!.term)
        expect(out === c.log).toBe(unchanged)
      }),
    )
  })

  it("is idempotent: merging the same request again (a duplicate) returns the merged log itself", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const once = merge(c)
        expect(mergeEntries(once, c.prevLogIndex, c.entries)).toBe(once)
      }),
    )
  })
})

describe("handleAppendEntriesResponse", () => {
  const deliver = (ctx: Ctx, s: RaftState, from: NodeId, m: AppendEntriesResponse): RaftStep =>
    withFrozen([ctx, s, from, m] as const, (c, st, f, msg) => handleAppendEntriesResponse(c, st, f, msg))
  const base = leader({
    currentTerm: 2,
    log: [entry(1), entry(2), entry(2)],
    nextIndex: { n2: 2, n3: 4 },
    matchIndex: { n2: 1, n3: 0 },
  })

  it("\"If successful: update nextIndex and matchIndex for follower\"", () => {
    const step = deliver(faithful, base, n2, appendOk(2, 2))
    expect(step.state.matchIndex).toEqual({ n2: 2, n3: 0 })
    expect(step.state.nextIndex).toEqual({ n2: 3, n3: 4 })
    expect(step.persist).toBeUndefined()
  })

  it("a late or duplicated success never moves matchIndex or nextIndex back (\"matchIndex … increases monotonically\")", () => {
    const advanced = deliver(faithful, base, n2, appendOk(2, 3)).state
    expect(advanced.matchIndex["n2"]).toBe(3)
    expect(deliver(faithful, advanced, n2, appendOk(2, 1)).state).toBe(advanced)
    const again = deliver(faithful, advanced, n2, appendOk(2, 3))
    expect(again.state.matchIndex["n2"]).toBe(3)
    expect(again.state.nextIndex["n2"]).toBe(4)
  })

  it("under any order of success responses, matchIndex is the highest reported and nextIndex stays above it", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 8 }), (reported) => {
        let s = base
        let highest = base.matchIndex["n2"]!
        for (const m of reported) {
          const before = s
          s = deliver(faithful, s, n2, appendOk(2, m)).state
          highest = Math.max(highest, m)
          expect(s.matchIndex["n2"]).toBe(highest)
          expect(s.nextIndex["n2"]!).toBeGreaterThanOrEqual(before.nextIndex["n2"]!)
          expect(s.nextIndex["n2"]!).toBeGreaterThan(highest)
          expect(s.commitIndex).toBeGreaterThanOrEqual(before.commitIndex)
        }
      }),
    )
  })

  it("\"If AppendEntries fails because of log inconsistency: decrement nextIndex and retry\"", () => {
    const step = deliver(faithful, base, n3, appendFailed(2))
    expect(step.state.nextIndex).toEqual({ n2: 2, n3: 3 })
    expect(step.state.matchIndex).toBe(base.matchIndex)
  })

  it("nextIndex is never decremented below 1", () => {
    const s = { ...base, nextIndex: { n2: 1, n3: 4 } }
    const step = deliver(faithful, s, n2, appendFailed(2))
    expect(step.state.nextIndex["n2"]).toBe(1)
    let t: RaftState = base
    for (let i = 0; i < 10; i++) t = deliver(faithful, t, n3, appendFailed(2)).state
    expect(t.nextIndex["n3"]).toBe(1)
  })

  it("a response with a higher term makes the leader a follower of that term, persisted, with the election timer armed", () => {
    const step = deliver(faithful, base, n2, appendFailed(3))
    expect(step.state.role).toBe("Follower")
    expect(step.state.currentTerm).toBe(3)
    expect(step.state.votedFor).toBeNull()
    expect(step.persist).toEqual({ currentTerm: 3, votedFor: null, log: base.log })
    expect(timerEffects(step)).toEqual([
      { _tag: "CancelTimer", timer: HEARTBEAT },
      { _tag: "SetTimer", timer: ELECTION },
    ])
  })

  it("responses of an older term, and responses reaching a non-leader, are ignored", () => {
    const stale = { ...base, currentTerm: 3 }
    expect(deliver(faithful, stale, n2, appendOk(2, 3)).state).toBe(stale)
    const f = follower({ currentTerm: 2 })
    expect(deliver(faithful, f, n2, appendOk(2, 3)).state).toBe(f)
  })

  it("a success that gives an entry of the current term a majority commits it", () => {
    const step = deliver(faithful, base, n3, appendOk(2, 2))
    expect(step.state.commitIndex).toBe(2)
  })
})

describe("advanceCommitIndex", () => {
  // "If there exists an N such that N > commitIndex, a majority of matchIndex[i] ≥ N, and log[N].term ==
  // currentTerm: set commitIndex = N".
  it("commits the highest N held by a majority whose entry is of the current term", () => {
    const s = leader({ currentTerm: 2, log: [entry(2), entry(2), entry(2)], matchIndex: { n2: 2, n3: 1 } })
    expect(withFrozen([faithful, s] as const, advanceCommitIndex).commitIndex).toBe(2)
  })

  it("does nothing without a majority", () => {
    const five = ctxOf("faithful", 5)
    const s = leader({ currentTerm: 2, log: [entry(2)], matchIndex: { n2: 1, n3: 0, n4: 0, n5: 0 } })
    expect(advanceCommitIndex(five, s)).toBe(s)
    expect(advanceCommitIndex(five, { ...s, matchIndex: { ...s.matchIndex, n4: 1 } }).commitIndex).toBe(1)
  })

  it("Figure 8: an entry of an older term is NOT committed by counting replicas (\"log[N].term == currentTerm\")", () => {
    const s = leader({ currentTerm: 4, log: [entry(2)], matchIndex: { n2: 1, n3: 1 } })
    expect(advanceCommitIndex(faithful, s)).toBe(s)
  })

  it("an older entry is committed indirectly, once an entry of the current term after it has a majority", () => {
    const s = leader({ currentTerm: 4, log: [entry(2), entry(4)], matchIndex: { n2: 2, n3: 0 } })
    expect(advanceCommitIndex(faithful, s).commitIndex).toBe(2)
  })

  it("variant commit-previous-term: the older entry IS committed by counting replicas", () => {
    const s = leader({ currentTerm: 4, log: [entry(2)], matchIndex: { n2: 1, n3: 0 } })
    expect(advanceCommitIndex(ctxOf("commit-previous-term"), s).commitIndex).toBe(1)
  })

  it("never lowers commitIndex", () => {
    const s = leader({ currentTerm: 2, log: [entry(2), entry(2)], commitIndex: 2, matchIndex: { n2: 0, n3: 0 } })
    expect(advanceCommitIndex(faithful, s)).toBe(s)
  })
})

describe("handleClientRequest", () => {
  // "If command received from client: append entry to local log, respond after entry applied to state machine".
  it("a leader appends {term: currentTerm, value} and persists the log before replying", () => {
    const s = leader({ currentTerm: 3, log: [entry(1)] })
    const step = withFrozen([faithful, s, { _tag: "Put", value: "x" }] as const, handleClientRequest)
    expect(step.state.log).toEqual([entry(1), { term: 3, value: "x" }])
    expect(step.persist).toEqual({ currentTerm: 3, votedFor: n1, log: [entry(1), { term: 3, value: "x" }] })
    expect(replies(step)).toEqual([{ _tag: "Accepted", index: 2, term: 3 }])
  })

  it("a PutBatch is the Puts of its values in turn, in one step: appended in order, one reply naming the first index", () => {
    const s = leader({ currentTerm: 3, log: [entry(1)] })
    const step = withFrozen([faithful, s, { _tag: "PutBatch", values: ["x", "y", "z"] }] as const, handleClientRequest)
    const oneByOne = ["x", "y", "z"].reduce((st, value) => handleClientRequest(faithful, st, { _tag: "Put", value }).state, s)
    expect(step.state).toEqual(oneByOne)
    expect(step.persist).toEqual(durableOf(faithful, oneByOne))
    expect(replies(step)).toEqual([{ _tag: "Accepted", index: 2, term: 3 }])
  })

  it("a follower or candidate replies NotLeader and changes nothing", () => {
    for (const s of [follower({ currentTerm: 3, log: [entry(1)] }), candidate({ currentTerm: 3 })]) {
      const batch = withFrozen([faithful, s, { _tag: "PutBatch", values: ["x", "y"] }] as const, handleClientRequest)
      expect(batch.state).toBe(s)
      expect(batch.effects).toEqual([{ _tag: "Reply", reply: { _tag: "NotLeader", leaderHint: null } }])
      const step = withFrozen([faithful, s, { _tag: "Put", value: "x" }] as const, handleClientRequest)
      expect(step.state).toBe(s)
      expect(step.persist).toBeUndefined()
      expect(step.effects).toEqual([{ _tag: "Reply", reply: { _tag: "NotLeader", leaderHint: null } }])
    }
  })
})

describe("parallel append (thesis §10.2.1)", () => {
  // "The leader writes its log entry to its disk in parallel with replicating … the leader may even commit an
  // entry before it has been written to its own disk, if a majority of other servers have written it."
  const parallel = ctxOf("parallel-append")
  const fiveParallel = ctxOf("parallel-append", 5)

  it("a new leader starts with its whole log flushed; the faithful protocol has no such field at all", () => {
    const s = candidate({ currentTerm: 2, log: [entry(1)], votesGranted: [n1] })
    expect(becomeLeader(parallel, s, s).state.flushed).toBe(1)
    expect("flushed" in becomeLeader(faithful, s, s).state).toBe(false)
  })

  it("a leader's client step appends and replies but persists nothing; flushLog becomes enabled", () => {
    const s = leader({ currentTerm: 3, log: [entry(1)], flushed: 1 })
    const step = withFrozen([parallel, s, { _tag: "PutBatch", values: ["x", "y"] }] as const, handleClientRequest)
    expect(step.state.log).toEqual([entry(1), { term: 3, value: "x" }, { term: 3, value: "y" }])
    expect(step.state.flushed).toBe(1)
    expect(step.persist).toBeUndefined()
    expect(replies(step)).toEqual([{ _tag: "Accepted", index: 2, term: 3 }])
    expect(enabledInternal(parallel, s)).toEqual([])
    expect(enabledInternal(parallel, step.state)).toEqual([{ name: FLUSH_LOG }])
  })

  it("the AppendEntries carrying unflushed entries may leave at once: the heartbeat persists nothing", () => {
    const s = leader({ currentTerm: 3, log: [entry(3)], flushed: 0, nextIndex: { n2: 1, n3: 1 } })
    const step = sendHeartbeat(parallel, s)
    expect(step.persist).toBeUndefined()
    expect(sends(step).map((x) => (x.msg as AppendEntries).entries)).toEqual([[entry(3)], [entry(3)]])
  })

  it("the leader does not count itself for an unflushed entry: one follower of three is not enough", () => {
    const s = leader({ currentTerm: 3, log: [entry(3)], flushed: 0 })
    const acked = handleAppendEntriesResponse(parallel, s, n2, appendOk(3, 1)).state
    expect(acked.commitIndex).toBe(0)
    // The flaw: counting itself commits it with one durable copy (n2's).
    expect(handleAppendEntriesResponse(ctxOf("parallel-append-counts-self"), s, n2, appendOk(3, 1)).state.commitIndex).toBe(1)
  })

  it("…but a majority of followers commits it before the leader's own write is durable", () => {
    const s = leader({ currentTerm: 3, log: [entry(3)], flushed: 0, matchIndex: { n2: 1, n3: 0, n4: 0, n5: 0 }, nextIndex: { n2: 2, n3: 1, n4: 1, n5: 1 } })
    expect(handleAppendEntriesResponse(fiveParallel, s, n3, appendOk(3, 1)).state.commitIndex).toBe(0)
    const two = handleAppendEntriesResponse(fiveParallel, s, n3, appendOk(3, 1)).state
    expect(handleAppendEntriesResponse(fiveParallel, two, n4, appendOk(3, 1)).state.commitIndex).toBe(1)
  })

  it("flushLog persists the log, counts the leader for it, and commits what a follower had already acknowledged", () => {
    const s = leader({ currentTerm: 3, log: [entry(3), entry(3, "w")], flushed: 0, matchIndex: { n2: 2, n3: 0 }, nextIndex: { n2: 3, n3: 1 } })
    const step = withFrozen([parallel, s] as const, flushLog)
    expect(step.state.flushed).toBe(2)
    expect(step.state.commitIndex).toBe(2)
    expect(step.persist).toEqual(durableOf(parallel, s))
    expect(step.effects).toEqual([])
    expect(handle(parallel, s, { _tag: "Internal", action: { name: FLUSH_LOG } })).toEqual(step)
  })

  it("flushLog with nothing to flush, or on a non-leader, changes nothing", () => {
    for (const s of [leader({ currentTerm: 3, log: [entry(3)], flushed: 1 }), follower({ log: [entry(1)] })]) {
      const step = flushLog(parallel, s)
      expect(step.state).toBe(s)
      expect(step.persist).toBeUndefined()
    }
  })

  it("a leader that steps down drops `flushed` and persists its whole log with the new term", () => {
    const s = leader({ currentTerm: 3, log: [entry(3)], flushed: 0 })
    const step = handleAppendEntriesResponse(parallel, s, n2, appendFailed(4))
    expect("flushed" in step.state).toBe(false)
    expect(step.state.role).toBe("Follower")
    expect(step.persist).toEqual({ currentTerm: 4, votedFor: null, log: [entry(3)] })
  })

  it("the variant lists flushLog among its internal actions; the faithful protocol lists none", () => {
    expect(raft.internalActions(flags("parallel-append"))).toEqual([FLUSH_LOG])
    expect(raft.internalActions(flags("faithful"))).toEqual([])
  })
})

describe("durableOf", () => {
  const s = candidate({ currentTerm: 2, log: [entry(1)], commitIndex: 1 })
  it("is \"Persistent state on all servers\": currentTerm, votedFor, log — nothing volatile", () => {
    expect(durableOf(faithful, s)).toEqual({ currentTerm: 2, votedFor: n1, log: [entry(1)] })
  })
  it("drops votedFor in the volatile-voted-for variant", () => {
    expect(durableOf(ctxOf("volatile-voted-for"), s)).toEqual({ currentTerm: 2, votedFor: null, log: [entry(1)] })
  })
})

describe("handle", () => {
  it("dispatches each message kind to its rule", () => {
    const s = follower({ currentTerm: 2 })
    const cases: ReadonlyArray<[Message, RaftStep]> = [
      [requestVote(2), handleRequestVote(faithful, s, n2, requestVote(2))],
      [vote(2), handleRequestVoteResponse(faithful, s, n2, vote(2))],
      [appendEntries({ term: 2 }), handleAppendEntries(faithful, s, n2, appendEntries({ term: 2 }))],
      [appendFailed(2), handleAppendEntriesResponse(faithful, s, n2, appendFailed(2))],
    ]
    for (const [msg, expected] of cases) expect(handle(faithful, s, { _tag: "Deliver", from: n2, msg })).toEqual(expected)
  })

  it("the election timer starts an election, the heartbeat timer sends heartbeats", () => {
    const f = follower()
    expect(handle(faithful, f, { _tag: "Timeout", timer: ELECTION })).toEqual(startElection(faithful, f))
    const l = leader({ currentTerm: 2 })
    expect(handle(faithful, l, { _tag: "Timeout", timer: HEARTBEAT })).toEqual(sendHeartbeat(faithful, l))
  })

  it("client requests go to handleClientRequest; internal actions do nothing", () => {
    const l = leader({ currentTerm: 2 })
    const put = { _tag: "Put", value: "v1" } as const
    expect(handle(faithful, l, { _tag: "Client", request: put })).toEqual(handleClientRequest(faithful, l, put))
    expect(handle(faithful, l, { _tag: "Internal", action: { name: "anything" } })).toEqual({ state: l, effects: [] })
  })
})

describe("log compaction (§7)", () => {
  // "Each server takes snapshots independently, covering just the committed entries in its log."
  const compacting = ctxOf("compaction")
  const snap = (index: number, term: number, data = "kv") => ({ index, term, data })
  const installSnapshot = (term: number, index: number, lastTerm: number, data = "kv"): InstallSnapshot => ({
    _tag: "InstallSnapshot",
    term,
    lastIncludedIndex: index,
    lastIncludedTerm: lastTerm,
    data,
  })

  it("compacts committed entries only, keeps the ones after, and persists the snapshot with the log", () => {
    const s = follower({ currentTerm: 2, log: [entry(1), entry(1), entry(2)], commitIndex: 2 })
    const step = withFrozen([compacting, s, 2, "state@2"] as const, compact)
    expect(step.state.log).toEqual([entry(2)])
    expect(step.state.snapshot).toEqual(snap(2, 1, "state@2"))
    expect(lastLogIndex(step.state)).toBe(3)
    expect(lastLogTerm(step.state)).toBe(2)
    expect(step.persist).toEqual({ currentTerm: 2, votedFor: null, log: [entry(2)], snapshot: snap(2, 1, "state@2") })
    // Not committed, not past the snapshot, or a variant without compaction: nothing happens.
    expect(compact(compacting, s, 3, "x").state).toBe(s)
    expect(compact(compacting, step.state, 2, "x").state).toBe(step.state)
    expect(compact(faithful, s, 2, "x").state).toBe(s)
    // The flawed variant compacts what is not committed — and then takes it as committed.
    expect(compact(ctxOf("compact-uncommitted"), s, 3, "x").state.commitIndex).toBe(3)
  })

  it("the compact action carries its index and data; the models compact every committed entry, with the entries as data", () => {
    const s = follower({ currentTerm: 2, log: [entry(1), entry(2)], commitIndex: 1 })
    const data = modelSnapshotData(s, 1)
    expect(JSON.parse(data)).toEqual([entry(1)])
    expect(enabledInternal(compacting, s)).toEqual([{ name: COMPACT, arg: compactArg(1, data) }])
    expect(enabledInternal(faithful, s)).toEqual([])
    const step = handle(compacting, s, { _tag: "Internal", action: { name: COMPACT, arg: compactArg(1, data) } })
    expect(step.state.snapshot).toEqual(snap(1, 1, data))
    expect(enabledInternal(compacting, step.state)).toEqual([])
    // A later compaction's data extends the earlier one's, so the models' snapshots always hold every entry.
    const later = { ...step.state, commitIndex: 2 }
    expect(JSON.parse(modelSnapshotData(later, 2))).toEqual([entry(1), entry(2)])
    // A malformed arg changes nothing.
    expect(handle(compacting, s, { _tag: "Internal", action: { name: COMPACT, arg: "garbage" } }).state).toBe(s)
  })

  it("a restarted server's commit index starts at its snapshot (the state machine is restored from it)", () => {
    const disk: Durable = { currentTerm: 2, votedFor: null, log: [entry(2)], snapshot: snap(3, 1) }
    const s = recover(compacting, disk).state
    expect(s.commitIndex).toBe(3)
    expect(s.snapshot).toEqual(snap(3, 1))
    expect(lastLogIndex(s)).toBe(4)
    expect("snapshot" in recover(faithful, { currentTerm: 1, votedFor: null, log: [] }).state).toBe(false)
  })

  it("a leader sends its snapshot to a follower that needs a compacted entry, and AppendEntries otherwise", () => {
    // "The leader uses a new RPC called InstallSnapshot to send snapshots to followers that are too far behind."
    const s = leader({ currentTerm: 3, log: [entry(3)], snapshot: snap(2, 1), commitIndex: 2, nextIndex: { n2: 2, n3: 3 } })
    expect(appendEntriesFor(compacting, s, n2)).toEqual(installSnapshot(3, 2, 1))
    // nextIndex right after the snapshot: prevLogTerm is the snapshot's term.
    expect(appendEntriesFor(compacting, s, n3)).toEqual(appendEntries({ term: 3, prevLogIndex: 2, prevLogTerm: 1, entries: [entry(3)], leaderCommit: 2 }))
  })

  it("an AppendEntries reaching back into the receiver's snapshot is matched at the snapshot and appends the rest", () => {
    const s = follower({ currentTerm: 3, log: [], snapshot: snap(2, 1), commitIndex: 2 })
    const m = appendEntries({ term: 3, prevLogIndex: 1, prevLogTerm: 1, entries: [entry(1), entry(3)], leaderCommit: 3 })
    const step = withFrozen([compacting, s, n2, m] as const, handleAppendEntries)
    expect(step.state.log).toEqual([entry(3)])
    expect(step.state.commitIndex).toBe(3)
    expect(onlySend(step).msg).toEqual(appendOk(3, 3))
    // Entirely inside the snapshot: nothing to append, and the match is still reported.
    const old = appendEntries({ term: 3, prevLogIndex: 0, prevLogTerm: 0, entries: [entry(1)], leaderCommit: 1 })
    const again = handleAppendEntries(compacting, s, n2, old)
    expect(again.state).toEqual(s)
    expect(again.persist).toBeUndefined()
    expect(onlySend(again).msg).toEqual(appendOk(3, 1))
  })

  it("InstallSnapshot: a matching entry at its last index keeps the entries after it", () => {
    // "If existing log entry has same index and term as snapshot's last included entry, retain log entries following it and reply."
    const s = follower({ currentTerm: 3, log: [entry(1), entry(1), entry(3)], commitIndex: 0 })
    const step = withFrozen([compacting, s, n2, installSnapshot(3, 2, 1)] as const, handleInstallSnapshot)
    expect(step.state.log).toEqual([entry(3)])
    expect(step.state.snapshot).toEqual(snap(2, 1))
    expect(step.state.commitIndex).toBe(2)
    expect(step.persist).toEqual(durableOf(compacting, step.state))
    expect(onlySend(step).msg).toEqual(appendOk(3, 2))
    // The flawed variant discards them even so.
    expect(handleInstallSnapshot(ctxOf("snapshot-discards-log"), s, n2, installSnapshot(3, 2, 1)).state.log).toEqual([])
  })

  it("InstallSnapshot: otherwise the whole log is discarded", () => {
    // "Discard the entire log. Reset state machine using snapshot contents."
    const s = follower({ currentTerm: 3, log: [entry(1), entry(2), entry(2)], commitIndex: 1 })
    const step = handleInstallSnapshot(compacting, s, n2, installSnapshot(3, 2, 1))
    expect(step.state.log).toEqual([])
    expect(step.state.snapshot).toEqual(snap(2, 1))
    expect(step.state.commitIndex).toBe(2)
  })

  it("InstallSnapshot: one this server already covers changes nothing; a stale term is refused", () => {
    const s = follower({ currentTerm: 3, log: [entry(1), entry(3)], commitIndex: 2 })
    const covered = handleInstallSnapshot(compacting, s, n2, installSnapshot(3, 1, 1))
    expect(covered.state).toBe(s)
    expect(covered.persist).toBeUndefined()
    expect(onlySend(covered).msg).toEqual(appendOk(3, 1))
    const stale = handleInstallSnapshot(compacting, s, n2, installSnapshot(2, 2, 1))
    expect(stale.state).toBe(s)
    expect(onlySend(stale).msg).toEqual(appendFailed(3))
  })

  it("a higher term in InstallSnapshot makes a leader step down before it installs", () => {
    const s = leader({ currentTerm: 2, log: [entry(1)], commitIndex: 1 })
    const step = handleInstallSnapshot(compacting, s, n2, installSnapshot(4, 3, 4))
    expect(step.state.role).toBe("Follower")
    expect(step.state.currentTerm).toBe(4)
    expect(step.state.snapshot).toEqual(snap(3, 4))
    expect(step.state.log).toEqual([])
  })

  it("faithful steps never create a snapshot field, so the faithful state space is unchanged", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom("a", "b"), { maxLength: 4 }), (values) => {
        let s = leader({ currentTerm: 1, log: [], commitIndex: 0 })
        for (const value of values) s = handleClientRequest(faithful, s, { _tag: "Put", value }).state
        expect("snapshot" in s).toBe(false)
        expect(enabledInternal(faithful, { ...s, commitIndex: s.log.length })).toEqual([])
      }),
    )
  })
})
