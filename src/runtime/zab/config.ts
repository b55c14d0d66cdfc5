/**
 * The configuration a real ZAB node runs with: model `fle`'s config (FastLeaderElection, the on-disk log usable
 * for sync) with the checker's bounds lifted. `maxRound`, `maxTxns`, `maxEpoch` and `maxTimeouts` are read only
 * by the protocol's state constraint (a checker concern), `values` only by `enabledClient` (the model's client),
 * and `disks` only by `recover` when a node has no disk — so a running node sets them unbounded / empty / absent.
 * `resend` (off in every model) turns on FastLeaderElection's notification resends, which a real network needs.
 */
import { Schema } from "effect"
import { zab } from "../../../spec/zab/index.ts"
import type { ZabConfig, ZabFlags } from "../../../spec/zab/schema.ts"
import { MAX_EPOCH } from "../../../spec/zab/zxid.ts"

export const runtimeConfig = (): ZabConfig => {
  const m = zab.models.fle
  if (m === undefined) throw new Error("spec/zab has no model named fle")
  const { disks: _disks, ...config } = m.config
  return Schema.decodeUnknownSync(zab.schemas.config)({
    ...config,
    election: "fle",
    maxRound: Number.MAX_SAFE_INTEGER,
    maxTxns: Number.MAX_SAFE_INTEGER,
    maxEpoch: MAX_EPOCH,
    maxTimeouts: Number.MAX_SAFE_INTEGER,
    values: [],
    txnLogSync: true,
    // FastLeaderElection's notification timeout: resends keep a LOOKING server from waiting for ever.
    resend: true,
  })
}

/** The faithful protocol (variant `zab`): a real cluster never runs a flawed variant. */
export const faithfulFlags = (): ZabFlags => zab.variants[zab.defaultVariant]!.flags

export interface ZabTimings {
  /**
   * The TIMEOUT timer (ZooKeeper's syncLimit·tickTime): a follower that has not heard from its leader for this
   * long, or a leader that has not heard from a quorum, goes back to LOOKING.
   */
  readonly timeoutMs: number
  /** A leader's keepalive (and read-confirmation) probes to its learners. */
  readonly heartbeatMs: number
  /** FastLeaderElection's finalizeWait: how long a quorum's agreement waits for a better vote. */
  readonly finalizeMs: number
}

export const defaultTimings: ZabTimings = { timeoutMs: 2000, heartbeatMs: 50, finalizeMs: 200 }
