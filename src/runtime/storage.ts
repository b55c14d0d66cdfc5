/**
 * Durable storage for one node: an append-only log of records, each one the node's whole durable value.
 *
 * File layout in the node's directory: `wal-<generation>.log` (16 decimal digits). Record format:
 *
 *   [u32 BE payload length][u32 BE CRC32C of the payload][payload: UTF-8 JSON]
 *
 * The payload is `{"d": <durable value encoded with the protocol's durable Schema>}` for a full record, or
 * `{"k": {"<field>": n, …}, "d": …}` for a record whose array-valued top-level fields keep the first `n`
 * elements of the previous record's value and append the elements in `d` (for Raft: the log keeps its prefix
 * and only new entries are written). Every record still *means* a full durable value; the prefix form is
 * only a smaller spelling of it. The first record of every generation is full.
 *
 * Compaction: when a generation grows past `compactBytes`, the next append goes to generation g+1, written as
 * one full record to a temporary file, fsync'd, renamed into place and the directory fsync'd; then older
 * generations are deleted. Recovery reads only the highest generation.
 *
 * Recovery reads to the last valid record. A torn *last* record (short header, length past the end of the
 * file, CRC mismatch with nothing valid after it) is truncated with a warning: it was never acknowledged,
 * because an append returns only after its fsync. A bad record followed by a valid one is corruption inside
 * the durable prefix: `CorruptLogError` names the file and offset and the node refuses to start.
 */
import { crc32c } from "@node-rs/crc32"
import { Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { plainEncoder } from "./codec.ts"
import { sharedPrefix } from "./prefix.ts"

export const RECORD_HEADER_BYTES = 8

/** The durable state of a node as the host sees it: what was recovered, and a way to append. */
export interface DurableStore<D> {
  /** The value recovered when the store was opened; undefined if the node never persisted. */
  readonly recovered: D | undefined
  /** Writes one record and returns after it is durable (write + fdatasync). Calls must not overlap. */
  append(value: D): Promise<AppendInfo>
  close(): Promise<void>
}

export interface AppendInfo {
  /** Bytes written for this record, header included. */
  readonly bytes: number
  /** True when this append started a new generation (compaction). */
  readonly compacted: boolean
}

/** Corruption inside the durable prefix: the node must not start. Stable code `corrupt-log`. */
export class CorruptLogError extends Error {
  readonly code = "corrupt-log"
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(
      `${file}: the record at byte offset ${offset} is corrupt (${reason}) and valid data follows it, so this is ` +
        `damage inside the durable log, not a torn final write. Refusing to start rather than serve wrong data. ` +
        `Restore the file from a backup; or, if a majority of the cluster is healthy, move this node's directory ` +
        `aside and rejoin it as a new empty node (this forgets its votes: do it for one node at a time).`,
    )
    this.name = "CorruptLogError"
  }
}

export interface StorageLogger {
  warn(message: string): void
}

// ---------------------------------------------------------------------------------------------------------
// Records

/**
 * Opens `file` for durable writes: O_DSYNC makes each write return once its data is on disk, so an append is
 * one write, not a write and an fdatasync (two trips to the thread pool). `extra`: more open flags — O_APPEND
 * for a log that grows at its end (ZAB's segments), O_CREAT…; without it, writes go to the offsets given (a
 * `FileStore` overwriting the zeros it allocated ahead).
 */
export const openDurable = (file: string, extra = 0): number => {
  const { O_WRONLY, O_DSYNC } = fs.constants
  return fs.openSync(file, O_WRONLY | O_DSYNC | extra)
}

/**
 * Writes all of `buf` at the end of `fd`, or at file offset `at` (a short write continues where it stopped).
 */
export const writeAll = (fd: number, buf: Buffer, at: number | null = null): Promise<void> =>
  new Promise((resolve, reject) => {
    const from = (offset: number): void =>
      fs.write(fd, buf, offset, buf.length - offset, at === null ? null : at + offset, (error, written) => {
        if (error !== null) reject(error)
        else if (offset + written < buf.length) from(offset + written)
        else resolve()
      })
    from(0)
  })

/** `writeAll` on this thread: returns once the bytes are written (durable, for a descriptor opened O_DSYNC). */
export const writeAllSync = (fd: number, buf: Buffer, at: number): void => {
  let offset = 0
  while (offset < buf.length) offset += fs.writeSync(fd, buf, offset, buf.length - offset, at + offset)
}

export const encodeRecord = (payload: Buffer): Buffer => {
  const out = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.length)
  out.writeUInt32BE(payload.length, 0)
  out.writeUInt32BE(crc32c(payload) >>> 0, 4)
  payload.copy(out, RECORD_HEADER_BYTES)
  return out
}

/** Whether a CRC-valid record that looks like one of ours starts at `at`. */
const validRecordAt = (buf: Buffer, at: number): boolean => {
  if (at + RECORD_HEADER_BYTES > buf.length) return false
  const len = buf.readUInt32BE(at)
  const start = at + RECORD_HEADER_BYTES
  if (len < 2 || start + len > buf.length) return false
  if (buf[start] !== 0x7b || buf[start + len - 1] !== 0x7d) return false
  return crc32c(buf.subarray(start, start + len)) >>> 0 === buf.readUInt32BE(at + 4)
}

/** Whether any valid record starts after `from` (used to tell corruption from a torn tail). */
const validRecordAfter = (buf: Buffer, from: number): boolean => {
  for (let p = from; p + RECORD_HEADER_BYTES < buf.length; p++) {
    if (validRecordAt(buf, p)) return true
  }
  return false
}

export interface ScanResult {
  /** Payloads of the valid records, in order. */
  readonly payloads: ReadonlyArray<Buffer>
  /**
   * Offset just past the last valid record; bytes beyond it are a torn tail to truncate, or the zeros a
   * `FileStore` allocated ahead of its end (`preallocated`).
   */
  readonly validBytes: number
  /** Why the tail was cut, when it was. */
  readonly tornReason?: string
  /** Whether every byte after the last record is zero: space allocated ahead, not a torn write. */
  readonly preallocated?: boolean
}

const allZero = (buf: Buffer, from: number): boolean => {
  for (let i = from; i < buf.length; i++) if (buf[i] !== 0) return false
  return true
}

/**
 * Splits a log file's bytes into records; throws `CorruptLogError` for damage before the tail. `zerosAhead`:
 * the file's writer allocates zeros ahead of its last record (`FileStore`), so a tail of zeros is not torn.
 */
export const scanRecords = (file: string, buf: Buffer, zerosAhead = false): ScanResult => {
  const payloads: Buffer[] = []
  let at = 0
  while (at < buf.length) {
    if (zerosAhead && buf[at] === 0 && allZero(buf, at)) return { payloads, validBytes: at, preallocated: true }
    let reason: string | undefined
    if (buf.length - at < RECORD_HEADER_BYTES) {
      reason = `${buf.length - at} bytes, shorter than a record header`
    } else {
      const len = buf.readUInt32BE(at)
      const start = at + RECORD_HEADER_BYTES
      // No record is empty (a payload is a JSON object); zeros where a header belongs are a write that never landed.
      if (len < 2) reason = `a record length of ${len}`
      else if (start + len > buf.length) reason = `length ${len} runs past the end of the file`
      else if (crc32c(buf.subarray(start, start + len)) >>> 0 !== buf.readUInt32BE(at + 4)) reason = "CRC32C mismatch"
      else {
        payloads.push(buf.subarray(start, start + len))
        at = start + len
        continue
      }
    }
    if (validRecordAfter(buf, at + 1)) throw new CorruptLogError(file, at, reason)
    return { payloads, validBytes: at, tornReason: reason }
  }
  return { payloads, validBytes: at }
}

// ---------------------------------------------------------------------------------------------------------
// Values ↔ payloads (full or prefix-sharing)

type Plain = Record<string, unknown>
const isPlainObject = (v: unknown): v is Plain => typeof v === "object" && v !== null && !Array.isArray(v)

// Building a codec is costly next to running it: an append runs one per group commit, recovery one per record.
const encoders = new WeakMap<object, (value: unknown) => unknown>()
const decoders = new WeakMap<object, (value: unknown) => unknown>()
const encoderOf = (schema: Schema.Codec<unknown, unknown>): ((value: unknown) => unknown) => {
  let e = encoders.get(schema)
  if (e === undefined) {
    e = plainEncoder(schema)
    encoders.set(schema, e)
  }
  return e
}
const decoderOf = <D>(schema: Schema.Codec<D, unknown>): ((value: unknown) => D) => {
  let d = decoders.get(schema)
  if (d === undefined) {
    d = Schema.decodeUnknownSync(schema)
    decoders.set(schema, d)
  }
  return d as (value: unknown) => D
}

/**
 * Encodes `value` as a record payload, sharing array prefixes with `previous` when it can, and leaving out
 * object fields that are the very same object as in `previous` (a Raft snapshot: written once, not per record).
 */
export const encodePayload = <D>(schema: Schema.Codec<D, unknown>, value: D, previous: D | undefined): Buffer => {
  const encode = encoderOf(schema as Schema.Codec<unknown, unknown>)
  if (previous !== undefined && isPlainObject(value) && isPlainObject(previous)) {
    const keep: Record<string, number> = {}
    let kept = false
    const unchanged: string[] = []
    const cut: Plain = { ...value }
    for (const [field, v] of Object.entries(value)) {
      const p = previous[field]
      if (isPlainObject(v) && v === p) {
        unchanged.push(field)
        delete cut[field]
        continue
      }
      if (!Array.isArray(v) || !Array.isArray(p)) continue
      const k = sharedPrefix(v, p)
      if (k > 0) {
        keep[field] = k
        cut[field] = v.slice(k)
        kept = true
      }
    }
    if (kept || unchanged.length > 0) {
      try {
        return Buffer.from(JSON.stringify({ k: keep, ...(unchanged.length > 0 ? { u: unchanged } : {}), d: encode(cut) }), "utf8")
      } catch {
        // A schema that rejects a cut value (a minimum length, a required field) gets a full record instead.
      }
    }
  }
  return Buffer.from(JSON.stringify({ d: encode(value) }), "utf8")
}

/** Decodes a record payload into a full value, given the value of the record before it. */
export const decodePayload = <D>(
  schema: Schema.Codec<D, unknown>,
  payload: Buffer,
  previous: D | undefined,
): D => {
  const json = JSON.parse(payload.toString("utf8")) as unknown
  if (!isPlainObject(json) || !("d" in json)) throw new Error('record payload is not {"d": …}')
  const decoded = decoderOf(schema)(json.d)
  const keep = json.k
  const unchanged = json.u
  if (keep === undefined && unchanged === undefined) return decoded
  if (!isPlainObject(keep) || !isPlainObject(decoded) || !isPlainObject(previous)) {
    throw new Error("a prefix record has no previous value to extend")
  }
  const out: Plain = { ...decoded }
  // Left out as unchanged (only optional fields can be: the encoder falls back to a full record otherwise).
  if (unchanged !== undefined) {
    if (!Array.isArray(unchanged)) throw new Error("a record's unchanged fields are not a list")
    for (const field of unchanged) {
      if (typeof field !== "string" || !isPlainObject(previous[field]) || field in decoded) {
        throw new Error(`unchanged field ${JSON.stringify(field)} does not fit the previous value`)
      }
      out[field] = previous[field]
    }
  }
  for (const [field, n] of Object.entries(keep)) {
    const prior = previous[field]
    const tail = decoded[field]
    if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || !Array.isArray(prior) || !Array.isArray(tail) || n > prior.length) {
      throw new Error(`prefix of field ${field} (${String(n)}) does not fit the previous value`)
    }
    out[field] = [...prior.slice(0, n), ...tail]
  }
  return out as D
}

// ---------------------------------------------------------------------------------------------------------
// The file store

const WAL = /^wal-(\d{16})\.log$/
const walName = (gen: number): string => `wal-${String(gen).padStart(16, "0")}.log`

/** fsyncs a file or directory by path (a directory: so that a rename or a new name in it is durable). */
export const fsyncPath = (p: string): void => {
  const fd = fs.openSync(p, "r")
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** Writes a file durably under its final name: temp file, fsync, rename, directory fsync. Returns its bytes. */
export const writeFileAtomicSync = (dir: string, name: string, chunks: ReadonlyArray<Buffer>): number => {
  const tmp = path.join(dir, `${name}.tmp`)
  const fd = fs.openSync(tmp, "w")
  let bytes = 0
  try {
    for (const c of chunks) {
      fs.writeSync(fd, c)
      bytes += c.length
    }
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.renameSync(tmp, path.join(dir, name))
  fsyncPath(dir)
  return bytes
}

/**
 * `writeFileAtomicSync` on the thread pool: the caller's thread goes on meanwhile (a large file's fsync takes
 * tens of milliseconds).
 */
export const writeFileAtomic = async (dir: string, name: string, chunks: ReadonlyArray<Buffer>): Promise<number> => {
  const tmp = path.join(dir, `${name}.tmp`)
  const fh = await fs.promises.open(tmp, "w")
  let bytes = 0
  try {
    for (const c of chunks) {
      await fh.write(c, 0, c.length)
      bytes += c.length
    }
    await fh.sync()
  } finally {
    await fh.close()
  }
  await fs.promises.rename(tmp, path.join(dir, name))
  const dh = await fs.promises.open(dir, "r")
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
  return bytes
}

export interface FileStoreOptions {
  /** Start a new generation (one full record) once the current one exceeds this many bytes. */
  readonly compactBytes?: number
  readonly logger?: StorageLogger
}

export interface RecoveryReport {
  readonly file: string | undefined
  readonly records: number
  readonly truncatedBytes: number
  readonly tornReason?: string
}

/**
 * Zeros a `FileStore` keeps allocated ahead of its log's end, so that an append overwrites them in place: an
 * O_DSYNC write that neither allocates blocks nor changes the file's size has no metadata for the file system's
 * journal to commit. On this machine's ext4, 10 KB appends: 153 → 87 µs each, 61 → 37 µs of CPU (README,
 * "Durability rules", for `npm run bench:cluster`). Written on the thread pool while appends go on, half a
 * chunk before they reach it.
 */
export const PREALLOCATE_BYTES = 2 * 1024 * 1024
const zeros = Buffer.alloc(PREALLOCATE_BYTES)

export class FileStore<D> implements DurableStore<D> {
  /** The current generation, opened with O_DSYNC: a write returns once its data is durable. */
  private fd: number | undefined
  private last: D | undefined
  private busy = false
  /** The file holds zeros from `size` up to here (written and durable). */
  private zeroedEnd = 0
  /** The zeros being written, from `zeroingFrom`; an append that would reach them waits. */
  private zeroing: Promise<void> | undefined
  private zeroingFrom = 0

  private constructor(
    readonly dir: string,
    private readonly schema: Schema.Codec<D, unknown>,
    readonly recovered: D | undefined,
    readonly report: RecoveryReport,
    private gen: number,
    private size: number,
    private readonly compactBytes: number,
    private readonly logger: StorageLogger | undefined,
  ) {
    this.last = recovered
  }

  /**
   * Opens (creating if needed) the store in `dir` and recovers its value. Synchronous: it runs once before the
   * node starts. Throws `CorruptLogError` for damage inside the durable prefix.
   */
  static open<D>(dir: string, schema: Schema.Codec<D, unknown>, options: FileStoreOptions = {}): FileStore<D> {
    fs.mkdirSync(dir, { recursive: true })
    const names = fs.readdirSync(dir)
    for (const n of names) if (n.endsWith(".tmp")) fs.rmSync(path.join(dir, n), { force: true })
    const gens = names
      .map((n) => WAL.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b)
    const compactBytes = options.compactBytes ?? 64 * 1024 * 1024
    const gen = gens.at(-1)
    if (gen === undefined) {
      return new FileStore(dir, schema, undefined, { file: undefined, records: 0, truncatedBytes: 0 }, 0, 0, compactBytes, options.logger)
    }
    const file = path.join(dir, walName(gen))
    const buf = fs.readFileSync(file)
    const scan = scanRecords(file, buf, true)
    let value: D | undefined
    let offset = 0
    for (const payload of scan.payloads) {
      try {
        if (offset === 0 && value === undefined) value = decodePayload(schema, payload, undefined)
        else value = decodePayload(schema, payload, value)
      } catch (e) {
        throw new CorruptLogError(file, offset, `a CRC-valid record does not decode: ${(e as Error).message}`)
      }
      offset += RECORD_HEADER_BYTES + payload.length
    }
    const truncated = scan.preallocated === true ? 0 : buf.length - scan.validBytes
    if (truncated > 0) {
      options.logger?.warn(
        `${file}: truncating a torn final record at byte offset ${scan.validBytes} (${scan.tornReason}); ` +
          `${truncated} bytes dropped — that write was never acknowledged`,
      )
      const fd = fs.openSync(file, "r+")
      try {
        fs.ftruncateSync(fd, scan.validBytes)
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
    }
    // Older generations are fully contained in this one.
    for (const g of gens) if (g < gen) fs.rmSync(path.join(dir, walName(g)), { force: true })
    const report: RecoveryReport = {
      file,
      records: scan.payloads.length,
      truncatedBytes: truncated,
      ...(scan.tornReason === undefined ? {} : { tornReason: scan.tornReason }),
    }
    const store = new FileStore(dir, schema, value, report, gen, scan.validBytes, compactBytes, options.logger)
    if (scan.preallocated === true) store.zeroedEnd = buf.length
    return store
  }

  get generation(): number {
    return this.gen
  }

  get bytes(): number {
    return this.size
  }

  async append(value: D): Promise<AppendInfo> {
    if (this.busy) throw new Error("FileStore.append called while another append is in flight")
    this.busy = true
    try {
      if (this.gen === 0 || this.size === 0 || this.size >= this.compactBytes) {
        const bytes = await this.startGeneration(value)
        return { bytes, compacted: bytes > 0 && this.gen > 1 }
      }
      const record = encodeRecord(encodePayload(this.schema, value, this.last))
      const fd = this.fd ?? this.openLog()
      if (this.zeroing !== undefined && this.size + record.length > this.zeroingFrom) await this.zeroing
      // On this thread, not the thread pool's: the host has sent what the step sent already, and a node has
      // nothing else to do before its append is durable that is worth two thread hand-offs (a wake-up of a
      // pool thread, then of this one). Warm nodes (raft/warmup.ts), ABBA pairs of `bench:cluster --only raft
      // --no-failover`: 8 with a switch, 10,069 against 11,031 writes/s (7 faster); 9 of this code against the
      // commit before, +0.5 % (6 faster). The zeros ahead and snapshot files, which are large, stay on the pool.
      writeAllSync(fd, record, this.size)
      this.size += record.length
      this.last = value
      this.preallocate(fd)
      return { bytes: record.length, compacted: false }
    } finally {
      this.busy = false
    }
  }

  /** Writes `value` as the one full record of a new generation (`writeFileAtomic`). */
  private async startGeneration(value: D): Promise<number> {
    if (this.zeroing !== undefined) await this.zeroing
    const next = this.gen + 1
    const record = encodeRecord(encodePayload(this.schema, value, undefined))
    await writeFileAtomic(this.dir, walName(next), [record])
    const old = this.gen
    this.closeFd()
    this.gen = next
    this.size = record.length
    this.last = value
    if (old > 0) await fs.promises.rm(path.join(this.dir, walName(old)), { force: true })
    return record.length
  }

  private openLog(): number {
    this.fd = openDurable(path.join(this.dir, walName(this.gen)))
    return this.fd
  }

  /** Starts writing the next chunk of zeros once less than half a chunk is left ahead of the log's end. */
  private preallocate(fd: number): void {
    if (this.zeroing !== undefined || this.zeroedEnd - this.size >= PREALLOCATE_BYTES / 2) return
    const from = Math.max(this.zeroedEnd, this.size)
    this.zeroingFrom = from
    this.zeroing = writeAll(fd, zeros, from).then(
      () => {
        this.zeroedEnd = from + PREALLOCATE_BYTES
        this.zeroing = undefined
      },
      (error: Error) => {
        // Appends still work past the zeros (they extend the file); only their speed is lost.
        this.zeroedEnd = Number.POSITIVE_INFINITY
        this.zeroing = undefined
        this.logger?.warn(`${path.join(this.dir, walName(this.gen))}: could not allocate log space ahead (${error.message}); appends extend the file`)
      },
    )
  }

  private closeFd(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd)
    this.fd = undefined
    this.zeroedEnd = 0
  }

  async close(): Promise<void> {
    if (this.zeroing !== undefined) await this.zeroing
    this.closeFd()
  }
}

/**
 * An in-memory store for simulation: `append` completes after `delay()` (a simulated fsync), and `durable` is
 * what a crash would keep — the value of the last completed append.
 */
export class MemoryStore<D> implements DurableStore<D> {
  durable: D | undefined
  appends = 0
  constructor(
    readonly recovered: D | undefined,
    private readonly delay: () => Promise<void> = () => Promise.resolve(),
  ) {
    this.durable = recovered
  }
  async append(value: D): Promise<AppendInfo> {
    await this.delay()
    this.durable = value
    this.appends++
    return { bytes: 0, compacted: false }
  }
  async close(): Promise<void> {}
}
