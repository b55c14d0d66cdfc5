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
 * - `{"ev":"persist","seq","bytes","digest"}` — a group of persists became durable; `digest` is of the durable
 *   value written, `seq` the number of the last step it covers.
 * `digest` is `stateDigest` (digest.ts) of the state after the step.
 */
import * as fs from "node:fs"
import * as path from "node:path"

export interface EventSink {
  /** Appends one line; `json` must be one JSON object without a trailing newline. */
  line(json: string): void
  close(): Promise<void>
}

export const noEvents: EventSink = { line: () => {}, close: async () => {} }

/** Collects lines in memory (tests). */
export class MemoryEvents implements EventSink {
  readonly lines: string[] = []
  line(json: string): void {
    this.lines.push(json)
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

export class FileEvents implements EventSink {
  private buffer: string[] = []
  private bytes = 0
  private scheduled = false
  private readonly stream: fs.WriteStream

  constructor(file: string) {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    this.stream = fs.createWriteStream(file, { flags: "a" })
    this.stream.on("error", (e) => process.stderr.write(`events log ${file}: ${e.message}\n`))
  }

  line(json: string): void {
    this.buffer.push(json)
    this.bytes += json.length + 1
    if (this.bytes > 256 * 1024) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      setTimeout(() => this.flush(), FLUSH_MS).unref()
    }
  }

  private flush(): void {
    this.scheduled = false
    if (this.buffer.length === 0) return
    this.stream.write(this.buffer.join("\n") + "\n")
    this.buffer = []
    this.bytes = 0
  }

  close(): Promise<void> {
    this.flush()
    return new Promise((resolve) => this.stream.end(resolve))
  }
}
