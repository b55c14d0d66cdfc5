/**
 * Fast Leader Election as a protocol of its own: messages, durable state, model settings and variant flags.
 */
import { Schema } from "effect"
import { Notification } from "../election.ts"

export const Message = Notification
export type Message = Notification
export const messageKinds = ["Notification"] as const

const Nat = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/**
 * What a server votes with, kept on disk: its currentEpoch and its last zxid. FLE itself never writes them;
 * they are the durable inputs ZAB leaves behind.
 */
export const Durable = Schema.Struct({ epoch: Nat, zxid: Nat })
export type Durable = typeof Durable.Type

/** FLE has no client requests: the model never submits this one (it exists so the types line up). */
export const ClientRequest = Schema.TaggedStruct("NoRequest", {})
export type ClientRequest = typeof ClientRequest.Type
export type ClientReply = never

export const FleConfig = Schema.Struct({
  /** Per server (n1, n2, …): the currentEpoch and last zxid it votes with. */
  summaries: Schema.Array(Durable),
  /**
   * Per server: the logical clock of its first election in the model, as if it had already run that many
   * rounds before (1 = fresh). After a crash a server starts again from 1: the clock lives in memory.
   */
  firstRound: Schema.Array(Nat.check(Schema.isGreaterThanOrEqualTo(1))),
  /** The last `observers` servers are observers (quorum weight 0). */
  observers: Nat,
  /** No server's logical clock exceeds this (a state constraint). */
  maxRound: Nat.check(Schema.isGreaterThanOrEqualTo(1)),
  /** A LOOKING server re-sends its vote when its notification timer fires. */
  resend: Schema.Boolean,
  /**
   * A LEADING server may give up (ZAB could not establish it) and go back to LOOKING in a new round; a server
   * following it does the same when that new round's notification reaches it.
   */
  reelect: Schema.Boolean,
})
export type FleConfig = typeof FleConfig.Type

export interface FleFlags {
  /** The vote order before release 3.4.0: zxid, then sid — no epoch term. */
  readonly withoutEpoch: boolean
}
