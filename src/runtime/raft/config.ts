/**
 * The configuration a real Raft node runs with: the model's config with the checker's bounds lifted (terms
 * and log length unbounded, no model values), and a batch size whose worst-case frame fits the wire limit.
 */
import { Schema } from "effect"
import { raft } from "../../../spec/raft/index.ts"
import type { RaftConfig, RaftFlags } from "../../../spec/raft/schema.ts"
import { MAX_FRAME_BYTES } from "../frame.ts"

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

/** The faithful protocol: a real cluster never runs a flawed variant. */
export const faithfulFlags = (): RaftFlags => raft.variants[raft.defaultVariant]!.flags

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
