/**
 * Fast Leader Election as one protocol value: rules, properties, bounded models and variants.
 */
import type { ModelConfig, Protocol, VariantInfo } from "../../kernel/protocol.ts"
import { displayZxids, makeZxid } from "../zxid.ts"
import { initialGhost, invariants, updateGhost, witnesses, type FleGhost } from "./properties.ts"
import { enabledInternal, FINALIZE, handle, NOT_TIMEOUT, recover, REELECT, type FleNode } from "./rules.ts"
import {
  ClientRequest,
  Durable,
  FleConfig,
  Message,
  messageKinds,
  type ClientReply,
  type FleFlags,
} from "./schema.ts"

const noFaults = { crashes: 0, partitions: 0, losses: 0, duplications: 0 }

/**
 * The servers' durable summaries in the models below. n1 accepted NEWLEADER of epoch 2 with nothing logged in it,
 * so its last zxid is still (1,1); n2 stayed in epoch 1 with an extra, uncommitted (1,2); n3 is at (1,1) in
 * epoch 1. The vote order (epoch first) makes n1 the best; the pre-3.4.0 order (zxid first) picks n2.
 */
const divergent = [
  { epoch: 2, zxid: makeZxid(1, 1) },
  { epoch: 1, zxid: makeZxid(1, 2) },
  { epoch: 1, zxid: makeZxid(1, 1) },
]

const models: Record<string, ModelConfig<FleConfig>> = {
  default: {
    description: "3 voters with divergent (epoch, zxid), n2 starting a round ahead, no faults",
    mustReach: [
      "leaderElected",
      "leaderCountedALowerServer",
      "followerDecidedInItsRound",
      "joinedEstablishedLeader",
      "leaderInLaterRound",
    ],
    // FLE alone lets two servers reach LEADING in one round; this model must show it (as the TLA+ spec of FLE does).
    expectedViolations: ["atMostOneLeadingPerRound"],
    servers: 3,
    network: "fifo",
    faults: noFaults,
    config: { summaries: divergent, firstRound: [1, 2, 1], observers: 0, maxRound: 2, resend: false, reelect: false },
  },
  crash: {
    description: "the default model with one crash (a restarted server starts again from round 1): ~1M states",
    mustReach: ["leaderElected", "leaderCountedALowerServer", "followerDecidedInItsRound", "joinedEstablishedLeader"],
    expectedViolations: ["atMostOneLeadingPerRound"],
    servers: 3,
    network: "fifo",
    faults: { crashes: 1, partitions: 0, losses: 0, duplications: 0 },
    config: { summaries: divergent, firstRound: [1, 2, 1], observers: 0, maxRound: 2, resend: false, reelect: false },
  },
  rounds: {
    description: "3 voters with divergent (epoch, zxid), rounds ≤ 2: a leader may give up and its followers re-elect (large: over 1.5 M states; use --max-seconds or simulate)",
    mustReach: ["leaderElected", "leaderCountedALowerServer", "followerDecidedInItsRound", "leaderInLaterRound"],
    expectedViolations: ["atMostOneLeadingPerRound"],
    servers: 3,
    network: "fifo",
    faults: noFaults,
    config: { summaries: divergent, firstRound: [1, 1, 1], observers: 0, maxRound: 2, resend: false, reelect: true },
  },
  small: {
    description: "3 voters with divergent (epoch, zxid), one round, no re-sends, no faults",
    mustReach: ["leaderElected", "leaderCountedALowerServer", "followerDecidedInItsRound"],
    expectedViolations: ["atMostOneLeadingPerRound"],
    servers: 3,
    network: "fifo",
    faults: noFaults,
    config: { summaries: divergent, firstRound: [1, 1, 1], observers: 0, maxRound: 1, resend: false, reelect: false },
  },
  observer: {
    description:
      "2 voters and 1 observer (with the most recent data: it must not win), one round, re-sends, ≤ 4 messages in flight",
    mustReach: ["leaderElected", "observerObserving"],
    servers: 3,
    network: "fifo",
    faults: noFaults,
    maxInFlight: 4,
    config: {
      summaries: [divergent[1]!, divergent[2]!, { epoch: 2, zxid: makeZxid(2, 5) }],
      firstRound: [1, 1, 1],
      observers: 1,
      maxRound: 1,
      resend: true,
      reelect: false,
    },
  },
}

const faithful: FleFlags = { withoutEpoch: false }

const variants: Record<string, VariantInfo<FleFlags>> = {
  fle: { description: "FastLeaderElection as in ZooKeeper 3.4.0 and later", flags: faithful },
  "fle-no-epoch": {
    description: "the vote order before 3.4.0: zxid, then sid, ignoring the epoch a server last accepted",
    flags: { withoutEpoch: true },
    breaks: { property: "followerFollowsABetterVote", model: "small" },
  },
}

export const fle: Protocol<FleNode, Message, Durable, ClientRequest, ClientReply, FleGhost, FleConfig, FleFlags> = {
  name: "fle",
  description: "ZooKeeper's Fast Leader Election: votes, logical-clock rounds, the finalize window, joining a leader",
  schemas: { message: Message, durable: Durable, config: FleConfig, clientRequest: ClientRequest },
  messageKinds,
  messageKind: (m) => m._tag,
  display: displayZxids,
  timers: [NOT_TIMEOUT, REELECT],
  internalActions: () => [FINALIZE],
  recover,
  handle,
  enabledInternal,
  enabledClient: () => [],
  ghost: { init: initialGhost, update: updateGhost },
  constraint: (w, config) => w.nodes.every((n) => n.state === undefined || n.state.election.logicalclock <= config.maxRound),
  invariants,
  transitionProperties: [],
  witnesses,
  defaultModel: "default",
  models,
  defaultVariant: "fle",
  variants,
}
