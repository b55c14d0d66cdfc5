/** Types of timeline.js (plain JavaScript, so the browser loads it without a build step). */

/** A raw ITF state as it appears in the file: `action`, `mbt::actionTaken`, `nodes`, `network`, `ghost`, `faults`. */
export type RawState = { readonly [variable: string]: unknown }

export interface RawDocument {
  readonly "#meta"?: { readonly [key: string]: unknown }
  readonly states: ReadonlyArray<RawState>
}

export type ParsedAction =
  | { readonly type: "init" }
  | { readonly type: "heal" }
  | { readonly type: "deliver" | "drop" | "duplicate"; readonly kind: string; readonly from: string; readonly to: string }
  | { readonly type: "timeout"; readonly node: string; readonly timer: string }
  | { readonly type: "client"; readonly node: string; readonly request: string }
  | { readonly type: "crash" | "restart"; readonly node: string }
  | { readonly type: "partition"; readonly side: ReadonlyArray<string>; readonly other: ReadonlyArray<string> }
  | { readonly type: "other"; readonly name: string; readonly node: string | undefined }

export interface InFlightGroup {
  readonly key: string
  readonly from: string
  readonly to: string
  /** The raw ITF message. */
  readonly msg: unknown
  readonly kind: string
  count: number
}

export interface MessageArrow {
  readonly id: number
  readonly key: string
  readonly from: string
  readonly to: string
  readonly kind: string
  readonly msg: unknown
  readonly sendStep: number
  /** The step where the copy left the network; null while still in flight at the last step. */
  endStep: number | null
  status: "delivered" | "lost" | "pending"
  readonly duplicated: boolean
}

export type Marker =
  | { readonly type: "crash" | "restart"; readonly step: number; readonly node: string }
  | { readonly type: "partition"; readonly step: number; readonly side: ReadonlyArray<string>; readonly other: ReadonlyArray<string> }
  | { readonly type: "heal"; readonly step: number }

export interface DownSpan {
  readonly node: string
  readonly start: number
  end: number | null
}

export interface PartitionSpan {
  readonly start: number
  end: number | null
  readonly side: ReadonlyArray<string>
  readonly other: ReadonlyArray<string>
}

export interface FaultEvents {
  readonly markers: ReadonlyArray<Marker>
  readonly downSpans: ReadonlyArray<DownSpan>
  readonly partitionSpans: ReadonlyArray<PartitionSpan>
}

export interface TimelineStep {
  readonly index: number
  readonly action: string
  readonly actionTaken: string | undefined
  readonly parsed: ParsedAction
}

export interface Timeline extends FaultEvents {
  readonly meta: { readonly [key: string]: unknown }
  readonly ids: ReadonlyArray<string>
  readonly steps: ReadonlyArray<TimelineStep>
  readonly arrows: ReadonlyArray<MessageArrow>
  /** Message kinds in order of first appearance. */
  readonly kinds: ReadonlyArray<string>
}

export declare const canonicalJson: (value: unknown) => string
export declare const decodeItf: (value: unknown) => unknown
export declare const itfNumber: (value: unknown) => number
export declare const messageKind: (msg: unknown) => string
export declare const kindAbbreviation: (kind: string) => string
export declare const parseAction: (text: unknown) => ParsedAction
export declare const nodeIds: (states: ReadonlyArray<RawState>) => string[]
export declare const nodesOf: (state: RawState | undefined) => Map<string, unknown>
export declare const networkCounts: (state: RawState | undefined) => Map<string, InFlightGroup>
export declare const matchMessages: (states: ReadonlyArray<RawState>) => MessageArrow[]
export declare const faultEvents: (states: ReadonlyArray<RawState>) => FaultEvents
export declare const buildTimeline: (doc: RawDocument) => Timeline
