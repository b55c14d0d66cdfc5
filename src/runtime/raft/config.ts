/**
 * The configuration a real Raft node runs with: the model's config with the checker's bounds lifted (terms
 * and log length unbounded, no model values), and a batch size whose worst-case frame fits the wire limit.
 */
import { Schema } from "effect"
import { raft } from "../../../spec/raft/index.ts"
import type { RaftConfig, RaftFlags } from "../../../spec/raft/schema.ts"
import { MAX_FRAME_BYTES, MAX_PEER_FRAME_BYTES } from "../frame.ts"

/** Entries per AppendEntries on a real network. */
export const MAX_ENTRIES_PER_MESSAGE = 64

/**
 * The largest command (entry value) a client may submit, in bytes of its JSON text inside a frame. With
 * `MAX_ENTRIES_PER_MESSAGE` of them plus framing, an AppendEntries stays under `MAX_FRAME_BYTES`.
 */
export const MAX_ENTRY_WIRE_BYTES = Math.floor((MAX_FRAME_BYTES - 64 * 1024) / MAX_ENTRIES_PER_MESSAGE)

/** Builds and validates (with the protocol's config Schema) the runtime config from a model's config. */
export const runtimeConfig = (model: string = raft.defaultModel): RaftConfig => {
  const m = raft.models[model]
  if (m === undefined) throw new Error(`no Raft model named ${model}`)
  return Schema.decodeUnknownSync(raft.schemas.config)({
    ...m.config,
    maxTerm: Number.MAX_SAFE_INTEGER,
    maxLogLen: Number.MAX_SAFE_INTEGER,
    values: [],
    maxEntriesPerMessage: MAX_ENTRIES_PER_MESSAGE,
  })
}

/**
 * The variant real nodes run unless told otherwise: Figure 2 plus the leader's parallel disk write of thesis
 * §10.2.1, as etcd does it — the leader's fsync no longer sits between a write and its AppendEntries — and
 * log compaction (§7), so a long-running node's log stays bounded. Checked like every variant (`quorum check
 * raft --variant parallel-append-compaction`).
 */
export const RUNTIME_VARIANT = "parallel-append-compaction"

/**
 * Applied entries between two snapshots at least (variants with compaction; more once the key space is large,
 * see `SNAPSHOT_LOG_RATIO` in raft-node.ts). Each snapshot serializes the key space and writes it once (to the
 * log file, and to a follower that needs it); between snapshots the log — kept in memory, and copied by the
 * steps that change it — holds the entries past the snapshot.
 */
export const DEFAULT_SNAPSHOT_EVERY = 10_000

/** How long a leader holding a snapshot waits for every peer to hold its entries before it compacts anyway. */
export const SNAPSHOT_CATCH_UP_MS = 5_000

/** How long a leader waits for a peer to answer an InstallSnapshot before it sends the snapshot again. */
export const SNAPSHOT_RESEND_MS = 1_000

/** A larger key-space snapshot would not fit one peer frame (`MAX_PEER_FRAME_BYTES`); the log is kept instead. */
export const MAX_SNAPSHOT_BYTES = MAX_PEER_FRAME_BYTES - 64 * 1024

/** Variants a real node may run: those that break no property (a flawed one only runs under `quorum replay`). */
export const deployableVariants = (): ReadonlyArray<string> =>
  Object.entries(raft.variants)
    .filter(([, info]) => info.breaks === undefined)
    .map(([name]) => name)

/** A deployable variant's flags; throws naming the valid ones otherwise. */
export const runtimeFlags = (variant: string = RUNTIME_VARIANT): RaftFlags => {
  const info = raft.variants[variant]
  if (info === undefined || info.breaks !== undefined) {
    const why = info === undefined ? "is not a variant of raft" : `breaks ${info.breaks!.property}, so no real node runs it`
    throw new Error(`variant "${variant}" ${why}; nodes run: ${deployableVariants().join(", ")}`)
  }
  return info.flags
}

export interface RaftTimings {
  /** Election timeout T: each arming draws uniformly from [T, 2T]. */
  readonly electionMs: number
  readonly heartbeatMs: number
  /**
   * Longest a leader holds back an AppendEntries for more entries to fill it, when many writes are in flight
   * (raft-node.ts, `maybeKick`); 0 sends at once.
   */
  readonly coalesceMs: number
}

export const defaultTimings: RaftTimings = { electionMs: 300, heartbeatMs: 50, coalesceMs: 3 }
