/**
 * The node's NDJSON event log (DIR/<id>/events.ndjson): one JSON object per line, in the order the host did
 * things. Lines are buffered and written asynchronously, at most every `FLUSH_MS`; a kill -9 can lose the last
 * few (the log is a record for conformance checking and debugging, not part of the durable state).
 *
 * Line shapes (every line has `t`, milliseconds since the node started, and `node`):
 * - `{"ev":"restart","protocol","seed","disk":<durable|null>,"digest","persist"?:true}` — the node booted from `disk` (recover
 *   ran; `persist` when the boot itself persisted, as a ZAB server writing its first epoch files does).
 * - `{"ev":"deliver","from","msg":<encoded message>,"digest","persist"?:true}` — a message was handled.
 * - `{"ev":"timer","timer","digest","persist"?:true}` — a timer fired and was handled.
 * - `{"ev":"client","request":<encoded request>,"digest","persist"?:true}` — a client request was handled.
 * - `{"ev":"internal","action":{"name","arg"?},"digest","persist"?:true}` — an internal step (FLE's finalize…).
 * - `{"ev":"send","to","msg":<encoded message>}` — a message left (after everything it depends on was durable).
 * - `{"ev":"persist","seq","bytes"}` — a group of persists became durable; `seq` is the number of the last
 *   step it covers (the value written is that step's, which a validator replays).
 * - `{"ev":"checkpoint","protocol","variant","state","digest","held":[[to, <encoded message>], …]}` — the first
 *   line of a new file after a rotation: the node's whole state, and the sends its steps asked for that have not
 *   left yet (they wait for a persist), so the file can be checked on its own.
 * `digest` is `stateDigest` (digest.ts) of the state after the step. Restart and checkpoint lines always carry
 * one; a step line carries one when the sink's `digestEveryMs` have passed since the last (0: every step). A
 * digest per step cost a loaded cluster about a sixth of its CPU, and the validator replays every step anyway
 * (sends and persists are checked on each): a sampled digest still catches a node whose state left the spec's
 * within that many milliseconds, only with a coarser position.
 *
 * Rotation: once the file holds `EVENTS_ROTATE_BYTES`, the host renames it to `events.1.ndjson` (replacing the
 * previous one) and starts a new file with a checkpoint, so a node keeps at most two files' worth of events.
 */
import * as fs from "node:fs"
import * as path from "node:path"

export interface EventSink {
  /** Appends one line; `json` must be one JSON object without a trailing newline. */
  line(json: string): void
  /** Whether the log has reached its size limit: the host then calls `rotate` and writes a checkpoint. */
  readonly full: boolean
  /** Keeps what was written as the previous file and starts an empty one. */
  rotate(): void
  /** Milliseconds between state digests on step lines; 0 puts one on every step. */
  readonly digestEveryMs: number
  close(): Promise<void>
}

export const noEvents: EventSink = { line: () => {}, full: false, rotate: () => {}, digestEveryMs: 0, close: async () => {} }

/** Hands every line to `line` (a replay's nodes forward theirs, with a digest on every step); never rotates. */
export const forwardEvents = (line: (json: string) => void): EventSink => ({ line, full: false, rotate: () => {}, digestEveryMs: 0, close: async () => {} })

/** A file of events is rotated past this size (so a node keeps at most about twice this much). */
export const EVENTS_ROTATE_BYTES = 64 * 1024 * 1024

/**
 * A running node's state digests: at most one per this many milliseconds of steps (README, "Benchmark": every
 * step's digest cost ~15 % of a loaded cluster's CPU; one per 10 ms leaves it within noise of none).
 */
export const DEFAULT_DIGEST_EVERY_MS = 10

/** Whether a line starts a node's run of steps (a restart, or a rotated file's checkpoint): it names the protocol and variant. */
export const isStartLine = (line: string): boolean => line.includes('"ev":"restart"') || line.includes('"ev":"checkpoint"')

/** The file a rotated `events.ndjson` becomes. */
export const rotatedEventsFile = (file: string): string => file.replace(/\.ndjson$/, "") + ".1.ndjson"

/**
 * Collects lines in memory (tests); with `maxLines`, rotates like a file, keeping the earlier files' lines.
 * Digests every step unless told otherwise.
 */
export class MemoryEvents implements EventSink {
  lines: string[] = []
  /** Lines of the files rotated away, oldest first. */
  readonly rotated: string[][] = []
  constructor(
    private readonly maxLines = Number.POSITIVE_INFINITY,
    readonly digestEveryMs = 0,
  ) {}
  line(json: string): void {
    this.lines.push(json)
  }
  get full(): boolean {
    return this.lines.length >= this.maxLines
  }
  rotate(): void {
    this.rotated.push(this.lines)
    this.lines = []
  }
  async close(): Promise<void> {}
  parsed(): Array<Record<string, unknown>> {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  }
}

/**
 * How long lines may wait in memory. Flushing at the end of every event-loop turn cost a write syscall per
 * turn — thousands a second on a loaded leader; this makes it a hundred at most.
 */
export const FLUSH_MS = 10

/** Bytes of lines gathered before they are written (the file gets them in writes of at most this). */
const CHUNK_BYTES = 256 * 1024

export class FileEvents implements EventSink {
  /**
   * Lines are encoded into this off-heap buffer as they come, not kept as strings until the flush: a loaded
   * leader's lines (whole AppendEntries, client batches) then die young instead of surviving scavenges.
   */
  private chunk = Buffer.allocUnsafe(CHUNK_BYTES)
  private used = 0
  private scheduled = false
  private stream: fs.WriteStream
  /** Bytes in the current file, its checkpoint line left out. */
  private size: number
  /** The next line is a rotation's checkpoint: the file's base, which can be as large as the node's state. */
  private baseLine = false

  constructor(
    private readonly file: string,
    private readonly maxBytes = EVENTS_ROTATE_BYTES,
    readonly digestEveryMs = DEFAULT_DIGEST_EVERY_MS,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    this.size = fs.existsSync(file) ? fs.statSync(file).size : 0
    this.stream = this.open()
  }

  private open(): fs.WriteStream {
    // Opened now, not when the stream gets to it: a rotation renames the file, which must exist by then.
    const stream = fs.createWriteStream(this.file, { fd: fs.openSync(this.file, "a") })
    stream.on("error", (e) => process.stderr.write(`events log ${this.file}: ${e.message}\n`))
    return stream
  }

  get full(): boolean {
    return this.size >= this.maxBytes
  }

  rotate(): void {
    this.flush()
    // The old stream keeps writing what it has queued into the renamed file: its descriptor follows the rename.
    fs.renameSync(this.file, rotatedEventsFile(this.file))
    this.stream.end()
    this.stream = this.open()
    this.size = 0
    this.baseLine = true
  }

  line(json: string): void {
    let bytes: number
    // A UTF-16 unit is at most 3 bytes of UTF-8: a line that may not fit goes after what is gathered.
    if (json.length * 3 + 1 > CHUNK_BYTES - this.used) {
      this.flush()
      if (json.length * 3 + 1 > CHUNK_BYTES) {
        // Encoded once here: a string given to the stream is encoded again after its length was measured
        // (a compaction's line holds the whole key space, 3 MB for 20,000 keys).
        const text = Buffer.from(json + "\n", "utf8")
        bytes = text.length
        this.stream.write(text)
      } else bytes = this.append(json)
    } else bytes = this.append(json)
    if (this.baseLine) this.baseLine = false
    else this.size += bytes
    if (this.used > 0 && !this.scheduled) {
      this.scheduled = true
      setTimeout(() => this.flush(), FLUSH_MS).unref()
    }
  }

  private append(json: string): number {
    const n = this.chunk.write(json, this.used) + 1
    this.used += n - 1
    this.chunk[this.used++] = 10
    return n
  }

  private flush(): void {
    this.scheduled = false
    if (this.used === 0) return
    // The stream keeps the slice until it is written: later lines go to a fresh chunk.
    this.stream.write(this.chunk.subarray(0, this.used))
    this.chunk = Buffer.allocUnsafe(CHUNK_BYTES)
    this.used = 0
  }

  close(): Promise<void> {
    this.flush()
    return new Promise((resolve) => this.stream.end(resolve))
  }
}
