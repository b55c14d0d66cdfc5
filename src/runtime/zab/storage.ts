/**
 * A ZAB server's durable state laid out as ZooKeeper lays out its dataDir:
 *
 *   <node dir>/version-2/acceptedEpoch       decimal text (QuorumPeer's epoch files), replaced atomically
 *   <node dir>/version-2/currentEpoch        idem
 *   <node dir>/version-2/log.<hex zxid>      the transaction log, one file per segment, named by its first zxid
 *   <node dir>/version-2/snapshot.<hex zxid> the newest snapshot (the data tree as of that zxid)
 *
 * Record format in logs and snapshots (storage.ts): [u32 BE length][u32 BE CRC32C][payload: UTF-8 JSON]. A log
 * record is one transaction `{"zxid","value"}`; a snapshot is a header record `{"zxid","count"}` followed by
 * `count` transaction records. (ZooKeeper's own files use jute and Adler32; the layout and roles are its own.)
 *
 * An append makes the spec's whole durable value (`Durable`) durable:
 * - **Fast path** (every broadcast write): the log only grows → its new records are appended to the current
 *   segment and fdatasync'd. A new snapshot (zxid not lower) is written to a temp file, fsync'd and renamed; a
 *   new log segment starts after it, as ZooKeeper rolls its log at a snapshot. Changed epochs are written last
 *   (temp file, fsync, rename, directory fsync).
 * - **Slow path** (the log is cut or replaced — TRUNC, SNAP — or the snapshot goes back): the whole value is
 *   written to `version-2.tmp/`, fsync'd, and swapped in by two renames; recovery finishes or undoes a swap that
 *   a crash interrupted, so the value on disk is the old one or the new one.
 *
 * Recovery: the epoch files, the highest snapshot, every log segment in zxid order. A torn last record of the
 * last segment (short header, length past the end, CRC mismatch with nothing valid after it) is truncated with a
 * warning — its append never returned, so nothing depending on it left. Anything else — a bad record followed by
 * a valid one, a torn record in an earlier segment, a CRC-valid record that does not decode, a segment whose
 * first zxid is not its name, a damaged snapshot or epoch file — is `CorruptLogError` naming the file and offset:
 * the node refuses to start rather than serve wrong data.
 *
 * Divergence: a fast-path append that changes several files (a new snapshot and currentEpoch at NEWLEADER, or
 * group-committed steps touching the log and an epoch) is not atomic across them; a crash between them leaves
 * the earlier files new and the later ones old (ZooKeeper writes them separately too).
 */
import { Schema } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Snapshot, Txn, type Durable } from "../../../spec/zab/schema.ts"
import {
  CorruptLogError,
  encodeRecord,
  fsyncPath,
  openDurable,
  RECORD_HEADER_BYTES,
  scanRecords,
  writeAll,
  writeFileAtomicSync,
  type AppendInfo,
  type DurableStore,
  type StorageLogger,
} from "../storage.ts"
import { plainEncoder } from "../codec.ts"

const VERSION_DIR = "version-2"
const LOG = /^log\.([0-9a-f]+)$/
const SNAP = /^snapshot\.([0-9a-f]+)$/
/** A new log segment starts once the current one is this large. */
const SEGMENT_BYTES = 64 * 1024 * 1024

const hex = (zxid: number): string => zxid.toString(16)
const decodeTxn = Schema.decodeUnknownSync(Txn)
const encodeTxn = plainEncoder(Txn)
const SnapHeader = Schema.Struct({ zxid: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)), count: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)) })
const decodeSnapHeader = Schema.decodeUnknownSync(SnapHeader)
const decodeSnapshot = Schema.decodeUnknownSync(Snapshot)

const txnRecord = (t: Txn): Buffer => encodeRecord(Buffer.from(JSON.stringify(encodeTxn(t)), "utf8"))

const snapshotChunks = (s: Snapshot): Buffer[] => [
  encodeRecord(Buffer.from(JSON.stringify({ zxid: s.zxid, count: s.tree.length }), "utf8")),
  ...s.tree.map(txnRecord),
]

const sameTxn = (a: Txn, b: Txn): boolean => a === b || (a.zxid === b.zxid && a.value === b.value)

/** Whether `next` keeps all of `prev` as its prefix (the spec copies arrays, so elements keep their identity). */
const extendsLog = (prev: ReadonlyArray<Txn>, next: ReadonlyArray<Txn>): boolean => {
  if (next.length < prev.length) return false
  if (prev.length === 0) return true
  if (next[prev.length - 1] === prev[prev.length - 1] && next[0] === prev[0]) return true
  for (let i = 0; i < prev.length; i++) if (!sameTxn(prev[i]!, next[i]!)) return false
  return true
}

const sameSnapshot = (a: Snapshot | null, b: Snapshot | null): boolean =>
  a === b || (a !== null && b !== null && a.zxid === b.zxid && a.tree.length === b.tree.length && (a.tree === b.tree || a.tree.every((t, i) => sameTxn(t, b.tree[i]!))))

export interface ZabRecoveryReport {
  readonly dir: string
  readonly logFiles: number
  readonly txns: number
  readonly snapshot: string | null
  readonly truncatedBytes: number
}

export class ZabFileStore implements DurableStore<Durable> {
  private last: Durable | undefined
  private busy = false
  /**
   * The open log segment (appends go here), or none: the next new record starts a segment. Its `fd` is opened
   * with O_DSYNC on first use: one write is a write and an fdatasync in one trip to the thread pool.
   */
  private segment: { fd: number | undefined; file: string; bytes: number } | undefined

  private constructor(
    readonly dir: string,
    readonly recovered: Durable | undefined,
    readonly report: ZabRecoveryReport,
    segment: { file: string; bytes: number } | undefined,
  ) {
    this.last = recovered
    if (segment !== undefined) this.segment = { fd: undefined, ...segment }
  }

  /** Opens the dataDir under `nodeDir` and recovers. Throws `CorruptLogError` for damage in the durable prefix. */
  static open(nodeDir: string, logger?: StorageLogger): ZabFileStore {
    fs.mkdirSync(nodeDir, { recursive: true })
    const dir = path.join(nodeDir, VERSION_DIR)
    const tmpDir = `${dir}.tmp`
    const oldDir = `${dir}.old`
    // A slow-path swap interrupted by a crash: before the second rename the old value is whole in .old.
    if (!fs.existsSync(dir) && fs.existsSync(oldDir)) fs.renameSync(oldDir, dir)
    fs.rmSync(oldDir, { recursive: true, force: true })
    fs.rmSync(tmpDir, { recursive: true, force: true })
    const empty: ZabRecoveryReport = { dir, logFiles: 0, txns: 0, snapshot: null, truncatedBytes: 0 }
    if (!fs.existsSync(dir)) return new ZabFileStore(dir, undefined, empty, undefined)
    const names = fs.readdirSync(dir)
    for (const n of names) if (n.endsWith(".tmp")) fs.rmSync(path.join(dir, n), { force: true })
    const acceptedEpoch = readEpoch(dir, "acceptedEpoch")
    const currentEpoch = readEpoch(dir, "currentEpoch")
    const logs = names
      .map((n) => LOG.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[0], zxid: parseInt(m[1]!, 16) }))
      .sort((a, b) => a.zxid - b.zxid)
    const snaps = names
      .map((n) => SNAP.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ name: m[0], zxid: parseInt(m[1]!, 16) }))
      .sort((a, b) => a.zxid - b.zxid)
    if (acceptedEpoch === undefined || currentEpoch === undefined) {
      if (logs.length === 0 && snaps.length === 0 && acceptedEpoch === undefined && currentEpoch === undefined) {
        return new ZabFileStore(dir, undefined, empty, undefined)
      }
      const missing = acceptedEpoch === undefined ? "acceptedEpoch" : "currentEpoch"
      throw new CorruptLogError(path.join(dir, missing), 0, "the epoch file is missing while other data is present")
    }
    // The newest snapshot is the durable one; older ones are left over from before it (a crash before deletion).
    const newest = snaps.at(-1)
    let snapshot: Snapshot | null = null
    if (newest !== undefined) {
      snapshot = readSnapshot(path.join(dir, newest.name), newest.zxid)
      for (const s of snaps.slice(0, -1)) fs.rmSync(path.join(dir, s.name), { force: true })
    }
    const log: Txn[] = []
    let truncatedBytes = 0
    let segment: { file: string; bytes: number } | undefined
    for (let i = 0; i < logs.length; i++) {
      const file = path.join(dir, logs[i]!.name)
      const isLast = i === logs.length - 1
      const buf = fs.readFileSync(file)
      const scan = scanRecords(file, buf)
      if (scan.tornReason !== undefined && !isLast) {
        throw new CorruptLogError(file, scan.validBytes, `${scan.tornReason}, in a log segment that later segments follow`)
      }
      let offset = 0
      for (const payload of scan.payloads) {
        let t: Txn
        try {
          t = decodeTxn(JSON.parse(payload.toString("utf8")))
        } catch (e) {
          throw new CorruptLogError(file, offset, `a CRC-valid record does not decode: ${(e as Error).message.split("\n")[0]}`)
        }
        if (offset === 0 && t.zxid !== logs[i]!.zxid) {
          throw new CorruptLogError(file, 0, `the first transaction is ${hex(t.zxid)}, not the zxid the file is named after`)
        }
        log.push(t)
        offset += RECORD_HEADER_BYTES + payload.length
      }
      if (scan.tornReason !== undefined) {
        const cut = buf.length - scan.validBytes
        logger?.warn(
          `${file}: truncating a torn final record at byte offset ${scan.validBytes} (${scan.tornReason}); ${cut} bytes dropped — that write was never acknowledged`,
        )
        truncatedBytes += cut
        if (scan.validBytes === 0) {
          fs.rmSync(file)
          fsyncPath(dir)
          continue
        }
        const fd = fs.openSync(file, "r+")
        try {
          fs.ftruncateSync(fd, scan.validBytes)
          fs.fsyncSync(fd)
        } finally {
          fs.closeSync(fd)
        }
      } else if (scan.payloads.length === 0) {
        // Created, then the process died before its first record was durable.
        fs.rmSync(file)
        continue
      }
      if (isLast && (snapshot === null || logs[i]!.zxid > snapshot.zxid)) segment = { file, bytes: scan.validBytes }
    }
    const recovered: Durable = { acceptedEpoch, currentEpoch, log, snapshot }
    const report: ZabRecoveryReport = {
      dir,
      logFiles: logs.length,
      txns: log.length,
      snapshot: newest === undefined ? null : newest.name,
      truncatedBytes,
    }
    return new ZabFileStore(dir, recovered, report, segment)
  }

  async append(value: Durable): Promise<AppendInfo> {
    if (this.busy) throw new Error("ZabFileStore.append called while another append is in flight")
    this.busy = true
    try {
      const prev = this.last
      const bytes =
        prev !== undefined && extendsLog(prev.log, value.log) && (value.snapshot === null ? prev.snapshot === null : prev.snapshot === null || value.snapshot.zxid >= prev.snapshot.zxid)
          ? await this.appendFast(prev, value)
          : await this.rewrite(value)
      this.last = value
      return { bytes, compacted: false }
    } finally {
      this.busy = false
    }
  }

  private async appendFast(prev: Durable, value: Durable): Promise<number> {
    let bytes = 0
    if (!sameSnapshot(prev.snapshot, value.snapshot) && value.snapshot !== null) {
      const name = `snapshot.${hex(value.snapshot.zxid)}`
      bytes += writeFileAtomicSync(this.dir, name, snapshotChunks(value.snapshot))
      for (const n of fs.readdirSync(this.dir)) if (SNAP.test(n) && n !== name) fs.rmSync(path.join(this.dir, n), { force: true })
      await this.closeSegment() // ZooKeeper rolls its log at a snapshot
    }
    if (value.log.length > prev.log.length) {
      const fresh = value.log.slice(prev.log.length)
      const records = Buffer.concat(fresh.map(txnRecord))
      if (this.segment === undefined || this.segment.bytes >= SEGMENT_BYTES) {
        await this.closeSegment()
        const file = path.join(this.dir, `log.${hex(fresh[0]!.zxid)}`)
        this.segment = { fd: openDurable(file, fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_EXCL), file, bytes: 0 }
        fsyncPath(this.dir)
      }
      const seg = this.segment
      seg.fd ??= openDurable(seg.file, fs.constants.O_APPEND)
      await writeAll(seg.fd, records)
      seg.bytes += records.length
      bytes += records.length
    }
    if (value.acceptedEpoch !== prev.acceptedEpoch) bytes += writeFileAtomicSync(this.dir, "acceptedEpoch", [Buffer.from(String(value.acceptedEpoch))])
    if (value.currentEpoch !== prev.currentEpoch) bytes += writeFileAtomicSync(this.dir, "currentEpoch", [Buffer.from(String(value.currentEpoch))])
    return bytes
  }

  /** The whole value into version-2.tmp, then swapped in (see the file comment). */
  private async rewrite(value: Durable): Promise<number> {
    await this.closeSegment()
    const tmpDir = `${this.dir}.tmp`
    const oldDir = `${this.dir}.old`
    fs.rmSync(tmpDir, { recursive: true, force: true })
    fs.mkdirSync(tmpDir, { recursive: true })
    let bytes = 0
    bytes += writeFileAtomicSync(tmpDir, "acceptedEpoch", [Buffer.from(String(value.acceptedEpoch))])
    bytes += writeFileAtomicSync(tmpDir, "currentEpoch", [Buffer.from(String(value.currentEpoch))])
    if (value.snapshot !== null) bytes += writeFileAtomicSync(tmpDir, `snapshot.${hex(value.snapshot.zxid)}`, snapshotChunks(value.snapshot))
    const first = value.log[0]
    let logName: string | undefined
    if (first !== undefined) {
      logName = `log.${hex(first.zxid)}`
      bytes += writeFileAtomicSync(tmpDir, logName, [Buffer.concat(value.log.map(txnRecord))])
    }
    const parent = path.dirname(this.dir)
    const had = fs.existsSync(this.dir)
    if (had) fs.renameSync(this.dir, oldDir)
    fs.renameSync(tmpDir, this.dir)
    fsyncPath(parent)
    if (had) fs.rmSync(oldDir, { recursive: true, force: true })
    // Appends continue the segment just written, unless a snapshot is newer than its start.
    if (logName !== undefined && (value.snapshot === null || first!.zxid > value.snapshot.zxid)) {
      const file = path.join(this.dir, logName)
      this.segment = { fd: undefined, file, bytes: fs.statSync(file).size }
    }
    return bytes
  }

  private async closeSegment(): Promise<void> {
    const seg = this.segment
    this.segment = undefined
    if (seg?.fd !== undefined) fs.closeSync(seg.fd)
  }

  async close(): Promise<void> {
    await this.closeSegment()
  }
}

const readEpoch = (dir: string, name: string): number | undefined => {
  const file = path.join(dir, name)
  if (!fs.existsSync(file)) return undefined
  const text = fs.readFileSync(file, "utf8").trim()
  if (!/^\d{1,16}$/.test(text)) throw new CorruptLogError(file, 0, `"${text.slice(0, 40)}" is not an epoch number`)
  return Number(text)
}

const readSnapshot = (file: string, zxid: number): Snapshot => {
  const buf = fs.readFileSync(file)
  // A snapshot is renamed into place whole: any damage, a torn tail included, is corruption.
  const scan = scanRecords(file, buf)
  if (scan.tornReason !== undefined) throw new CorruptLogError(file, scan.validBytes, scan.tornReason)
  const [head, ...rest] = scan.payloads
  if (head === undefined) throw new CorruptLogError(file, 0, "an empty snapshot file")
  let header: { zxid: number; count: number }
  try {
    header = decodeSnapHeader(JSON.parse(head.toString("utf8")))
  } catch (e) {
    throw new CorruptLogError(file, 0, `the snapshot header does not decode: ${(e as Error).message.split("\n")[0]}`)
  }
  if (header.zxid !== zxid || header.count !== rest.length) {
    throw new CorruptLogError(file, 0, `the header says zxid ${hex(header.zxid)} with ${header.count} transactions; the file is named ${hex(zxid)} and holds ${rest.length}`)
  }
  const tree: unknown[] = []
  let offset = RECORD_HEADER_BYTES + head.length
  for (const p of rest) {
    try {
      tree.push(JSON.parse(p.toString("utf8")))
    } catch (e) {
      throw new CorruptLogError(file, offset, `a CRC-valid record does not decode: ${(e as Error).message}`)
    }
    offset += RECORD_HEADER_BYTES + p.length
  }
  try {
    return decodeSnapshot({ zxid, tree })
  } catch (e) {
    throw new CorruptLogError(file, 0, `a snapshot transaction does not decode: ${(e as Error).message.split("\n")[0]}`)
  }
}
