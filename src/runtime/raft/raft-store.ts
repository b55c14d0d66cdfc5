/**
 * A Raft node's durable store: the write-ahead log of `FileStore`, with each snapshot in a file of its own.
 *
 *   <node dir>/wal-<generation>.log          records of the durable value (storage.ts), whose `snapshot` names
 *                                           its file: {"index","term","file","bytes","crc"}
 *   <node dir>/snap-<index:16 digits>.snap   [u32 BE length][u32 BE CRC32C][header JSON {"index","term","bytes","crc"}]
 *                                           followed by the snapshot's data, `bytes` bytes of UTF-8 with CRC32C `crc`
 *                                           (data with unpaired surrogates, which UTF-8 cannot hold, as a JSON
 *                                           string instead, and `"json": true` in the header and the record)
 *
 * Why a file of its own: a key space of 20,000 keys is a 3.2 MB snapshot. Written inside a log record it was
 * JSON-escaped and copied on the node's thread (~8 ms) and its O_DSYNC write held every later append for
 * ~20 ms — a node answered nothing meanwhile (README, "Snapshot stalls"). Now `prepareSnapshot` writes the
 * file on the thread pool while appends go on, and the node takes its `compact` step once the file is
 * durable: the step's record only names the file. A snapshot installed from the leader has no file yet; its
 * append writes one first.
 *
 * Recovery reads the log (FileStore) and then the file its last record names: a missing file, or one whose
 * header or CRC does not match the record, is `CorruptSnapshotError` and the node refuses to start. Snapshot
 * files no durable record needs are deleted: older ones once a record naming a newer one is durable (a torn
 * last record falls back to one at least that new), and any the log does not name when the store opens (a
 * crash between a file and its record). Logs written before snapshots had files, with the data inside the
 * record, still recover; their next append moves the snapshot into a file.
 */
import { crc32c } from "@node-rs/crc32"
import { Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Durable, Snapshot } from "../../../spec/raft/schema.ts"
import {
  CorruptLogError,
  encodeRecord,
  FileStore,
  RECORD_HEADER_BYTES,
  writeFileAtomic,
  type AppendInfo,
  type DurableStore,
  type FileStoreOptions,
  type RecoveryReport,
} from "../storage.ts"

const Bytes = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** What a log record holds for a snapshot: the file with its data, and how to check it. */
export const SnapshotFile = Schema.Struct({
  index: Snapshot.fields.index,
  term: Snapshot.fields.term,
  file: Schema.String,
  bytes: Bytes,
  crc: Bytes,
  json: Schema.optionalKey(Schema.Literal(true)),
})
export type SnapshotFile = typeof SnapshotFile.Type

/** The durable value as the log holds it: the snapshot named by its file (or, in older logs, inline). */
export const DiskDurable = Schema.Struct({ ...Durable.fields, snapshot: Schema.optional(Schema.Union([SnapshotFile, Snapshot])) })
export type DiskDurable = typeof DiskDurable.Type

const SnapshotHeader = Schema.Struct({ index: Snapshot.fields.index, term: Snapshot.fields.term, bytes: Bytes, crc: Bytes, json: Schema.optionalKey(Schema.Literal(true)) })
const headerOf = (ref: SnapshotFile): typeof SnapshotHeader.Type => ({ index: ref.index, term: ref.term, bytes: ref.bytes, crc: ref.crc, ...(ref.json === true ? { json: true } : {}) })
const decodeHeader = Schema.decodeUnknownSync(SnapshotHeader)

const SNAP = /^snap-(\d{16})\.snap$/
export const snapshotFileName = (index: number): string => `snap-${String(index).padStart(16, "0")}.snap`

/** A snapshot file that a durable record names is missing or damaged: the node must not start. */
export class CorruptSnapshotError extends CorruptLogError {
  constructor(file: string, offset: number, reason: string) {
    super(file, offset, reason)
    this.name = "CorruptSnapshotError"
    this.message =
      `${file}: the node's log names this snapshot file as part of its durable state, but ${reason}. Refusing to ` +
      `start rather than serve wrong data. Restore the file from a backup; or, if a majority of the cluster is ` +
      `healthy, move this node's directory aside and rejoin it as a new empty node (this forgets its votes: do ` +
      `it for one node at a time).`
  }
}

/** Reads and checks the data of the snapshot file `ref` names. */
const readSnapshotFile = (dir: string, ref: SnapshotFile): string => {
  const file = path.join(dir, ref.file)
  if (ref.file !== snapshotFileName(ref.index)) throw new CorruptSnapshotError(file, 0, `its name does not match index ${ref.index}`)
  let buf: Buffer
  try {
    buf = fs.readFileSync(file)
  } catch (e) {
    throw new CorruptSnapshotError(file, 0, `it cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`)
  }
  const headerBytes = buf.length >= RECORD_HEADER_BYTES ? buf.readUInt32BE(0) : -1
  const dataAt = RECORD_HEADER_BYTES + headerBytes
  if (headerBytes < 0 || dataAt > buf.length) throw new CorruptSnapshotError(file, 0, "its header is cut short")
  const headerPayload = buf.subarray(RECORD_HEADER_BYTES, dataAt)
  if (crc32c(headerPayload) >>> 0 !== buf.readUInt32BE(4)) throw new CorruptSnapshotError(file, 0, "its header fails its CRC")
  let header: typeof SnapshotHeader.Type
  try {
    header = decodeHeader(JSON.parse(headerPayload.toString("utf8")))
  } catch (e) {
    throw new CorruptSnapshotError(file, 0, `its header does not decode (${(e as Error).message.split("\n")[0]})`)
  }
  if (JSON.stringify(header) !== JSON.stringify(headerOf(ref))) {
    throw new CorruptSnapshotError(file, 0, `its header (${JSON.stringify(header)}) is not the one the log names (${JSON.stringify(ref)})`)
  }
  const data = buf.subarray(dataAt)
  if (data.length !== ref.bytes) throw new CorruptSnapshotError(file, dataAt, `it holds ${data.length} bytes of data, not ${ref.bytes}`)
  if (crc32c(data) >>> 0 !== ref.crc) throw new CorruptSnapshotError(file, dataAt, "its data fails its CRC")
  const text = data.toString("utf8")
  if (ref.json !== true) return text
  try {
    const parsed: unknown = JSON.parse(text)
    if (typeof parsed === "string") return parsed
  } catch {
    // reported below
  }
  throw new CorruptSnapshotError(file, dataAt, "its data is not the JSON string its header says")
}

/** `String.prototype.isWellFormed` (Node 20 has it; the ES2022 library this project compiles against does not). */
const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed()

const isFile = (s: NonNullable<DiskDurable["snapshot"]>): s is SnapshotFile => "file" in s

export class RaftStore implements DurableStore<Durable> {
  /** The newest snapshot with a durable file, and what a log record says for it. */
  private written: { readonly snapshot: Snapshot; readonly ref: SnapshotFile } | undefined
  /** The index of the snapshot that the newest durable record names (0: none). */
  private namedIndex: number
  /** Older snapshot files being deleted (not awaited by the append: the node's next one need not wait). */
  private removing: Promise<void> = Promise.resolve()

  private constructor(
    readonly dir: string,
    private readonly wal: FileStore<DiskDurable>,
    readonly recovered: Durable | undefined,
    written: { readonly snapshot: Snapshot; readonly ref: SnapshotFile } | undefined,
  ) {
    this.written = written
    this.namedIndex = recovered?.snapshot?.index ?? 0
  }

  /** Opens the store in `dir` and recovers its value (synchronous, before the node starts). */
  static open(dir: string, options: FileStoreOptions = {}): RaftStore {
    const wal = FileStore.open(dir, DiskDurable, options)
    const disk = wal.recovered
    let recovered: Durable | undefined = disk as Durable | undefined
    let written: { snapshot: Snapshot; ref: SnapshotFile } | undefined
    if (disk?.snapshot !== undefined && isFile(disk.snapshot)) {
      const ref = disk.snapshot
      const snapshot: Snapshot = { index: ref.index, term: ref.term, data: readSnapshotFile(dir, ref) }
      recovered = { ...disk, snapshot }
      written = { snapshot, ref }
    }
    for (const name of fs.readdirSync(dir)) {
      if (SNAP.test(name) && name !== written?.ref.file) fs.rmSync(path.join(dir, name), { force: true })
    }
    return new RaftStore(dir, wal, recovered, written)
  }

  get report(): RecoveryReport {
    return this.wal.report
  }

  /**
   * Writes `snapshot` to its file, durably, on the thread pool — appends go on meanwhile. A later append whose
   * value holds this snapshot then only names the file.
   */
  async prepareSnapshot(snapshot: Snapshot): Promise<SnapshotFile> {
    return this.fileOf(snapshot) ?? (await this.writeSnapshotFile(snapshot)).ref
  }

  async append(value: Durable): Promise<AppendInfo> {
    const snapshot = value.snapshot
    if (snapshot === undefined) return this.wal.append(value)
    let fileBytes = 0
    let ref = this.fileOf(snapshot)
    if (ref === undefined) {
      // Installed from the leader (or recovered from a log that held it inline): the file comes first.
      ;({ ref, bytes: fileBytes } = await this.writeSnapshotFile(snapshot))
    }
    const info = await this.wal.append({ ...value, snapshot: ref })
    if (ref.index > this.namedIndex) {
      this.namedIndex = ref.index
      const before = ref.index
      // A file left behind by a failed delete is removed when the store next opens.
      this.removing = this.removing.then(() => this.removeSnapshotFilesBefore(before)).catch(() => {})
    }
    return { bytes: info.bytes + fileBytes, compacted: info.compacted }
  }

  async close(): Promise<void> {
    await this.removing
    await this.wal.close()
  }

  /**
   * The reference of `snapshot`'s durable file, if it has one — the very same object each time, so a record
   * leaves it out as unchanged. An equal snapshot (the `compact` step's, made from the prepared one) is
   * remembered in its place: the later values of the node hold that object, found then without comparing data.
   */
  private fileOf(snapshot: Snapshot): SnapshotFile | undefined {
    const w = this.written
    if (w === undefined) return undefined
    if (w.snapshot === snapshot) return w.ref
    if (w.ref.index !== snapshot.index || w.ref.term !== snapshot.term || w.snapshot.data !== snapshot.data) return undefined
    this.written = { snapshot, ref: w.ref }
    return w.ref
  }

  private async writeSnapshotFile(snapshot: Snapshot): Promise<{ ref: SnapshotFile; bytes: number }> {
    // UTF-8 drops unpaired surrogates; such data (no key space has it) is kept as JSON text, which escapes them.
    const json = !isWellFormed(snapshot.data)
    const data = Buffer.from(json ? JSON.stringify(snapshot.data) : snapshot.data, "utf8")
    const ref: SnapshotFile = {
      index: snapshot.index,
      term: snapshot.term,
      file: snapshotFileName(snapshot.index),
      bytes: data.length,
      crc: crc32c(data) >>> 0,
      ...(json ? { json: true as const } : {}),
    }
    const header = encodeRecord(Buffer.from(JSON.stringify(headerOf(ref)), "utf8"))
    const bytes = await writeFileAtomic(this.dir, ref.file, [header, data])
    if (this.written === undefined || ref.index >= this.written.ref.index) this.written = { snapshot, ref }
    return { ref, bytes }
  }

  /** Files of snapshots older than the one a durable record now names: no recovery can need them. */
  private async removeSnapshotFilesBefore(index: number): Promise<void> {
    for (const name of await fs.promises.readdir(this.dir)) {
      const m = SNAP.exec(name)
      if (m !== null && Number(m[1]) < index) await fs.promises.rm(path.join(this.dir, name), { force: true })
    }
  }
}
