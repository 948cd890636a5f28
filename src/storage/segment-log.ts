/**
 * The node-wide log: numbered segment files in one directory, shared by every bucket, so that one
 * fdatasync makes a batch of writes durable whatever buckets they belong to.
 *
 * Files: `wal-<id>.seg` hold the write-ahead log (every record has the next sequence number;
 * records are only appended to the newest, *active* segment); `cmp-<id>.seg` hold compaction output
 * (live values copied out of older segments; never replayed). Ids are 8 hex digits, allocated from
 * one counter, so names sort by age. Each file starts with a SegmentHeader record.
 *
 * Ordering rules:
 * - A batch is written with one append and made durable with one fdatasync before any of its
 *   records is applied or acknowledged.
 * - A new WAL segment is created (with its header synced and its directory entry durable) only
 *   after the previous one is fully synced. So a torn tail can only be in the newest WAL segment;
 *   damage anywhere else is corruption.
 * - A segment file is deleted only when the index state that no longer needs it is durable
 *   ({@link SegmentLog.removeGarbage} runs right after a checkpoint commit).
 *
 * The manifest (`segments`) records per segment its kind, size and *live bytes* (bytes of values
 * that index rows point into it); the engine keeps live bytes exact, and compaction reads them.
 */
import { assert } from '../core/lib/assert.js';
import { crc32c } from '../core/lib/crc32c.js';
import { corruptError } from './errors.js';
import type { FileSystem } from './file-system.js';
import type { IndexWrite } from './index-store.js';
import { Table } from './index-store.js';
import { encodeSegmentMeta, segmentMetaKey, type Checkpoint, type SegmentMeta } from './meta.js';
import type { ValuePointer } from './mvcc.js';
import {
  decodeRecord,
  findValidRecord,
  frameHeader,
  frameRecord,
  parseHeader,
  RECORD_HEADER_BYTES,
  RecordType,
  writeHeader,
  type DecodedRecord,
  type RecordCheck,
} from './record.js';
import { decodeWalRecord, encodeSegmentHeader, SegmentKind } from './wal-records.js';

/** A record waiting to be framed and written; `crc` is its payload's CRC-32C. */
export interface PendingRecord {
  readonly type: RecordType;
  readonly payload: Buffer;
  readonly crc: number;
  /**
   * For an Apply record, the CRC-32C of each op's value where it was computed while checksumming
   * the payload (values stored by pointer), so that applying it does not read the value again.
   */
  readonly valueCrcs?: readonly (number | undefined)[];
}

/** Where a record was written. */
export interface RecordPosition {
  readonly segment: number;
  /** Offset of the record's header in its segment file. */
  readonly offset: number;
}

/** The name of segment `id` of `kind`. */
export function segmentFileName(kind: SegmentKind, id: number): string {
  assert(Number.isSafeInteger(id) && id > 0 && id < 0x100000000, `segment id ${id}`);
  return `${kind === SegmentKind.Wal ? 'wal' : 'cmp'}-${id.toString(16).padStart(8, '0')}.seg`;
}

/** The kind and id of a segment file name, or null for other names. */
export function parseSegmentFileName(name: string): { kind: SegmentKind; id: number } | null {
  const match = /^(wal|cmp)-([0-9a-f]{8})\.seg$/.exec(name);
  if (match === null) return null;
  const id = parseInt(match[2] as string, 16);
  if (id === 0) return null;
  return { kind: match[1] === 'wal' ? SegmentKind.Wal : SegmentKind.Compacted, id };
}

/** Reads records of one segment file front to back through a read-ahead window. */
export class SegmentReader {
  private window: Uint8Array = new Uint8Array(0);
  private windowStart = 0;

  constructor(
    private readonly fs: FileSystem,
    readonly name: string,
    readonly size: number,
    private readonly readAheadBytes = 1024 * 1024,
  ) {}

  /** The record at `offset` (which must be below the file size), checked. */
  at(offset: number): RecordCheck {
    assert(offset < this.size, 'read past the end of a segment');
    this.ensure(offset, RECORD_HEADER_BYTES);
    const rel = offset - this.windowStart;
    const header = parseHeader(this.window, rel);
    if (header.kind === 'ok') this.ensure(offset, RECORD_HEADER_BYTES + header.length);
    return decodeRecord(this.window, offset - this.windowStart);
  }

  /** Offset of the first valid record at or after `from`, or -1. */
  findValid(from: number): number {
    if (from >= this.size) return -1;
    const rest = this.fs.read(this.name, from, this.size - from);
    const at = findValidRecord(rest, 0);
    return at < 0 ? -1 : from + at;
  }

  /** Makes the window cover [offset, min(offset + bytes, size)). */
  private ensure(offset: number, bytes: number): void {
    const want = Math.min(offset + bytes, this.size);
    const end = this.windowStart + this.window.length;
    if (offset >= this.windowStart && want <= end) return;
    const length = Math.min(Math.max(bytes, this.readAheadBytes), this.size - offset);
    this.window = this.fs.read(this.name, offset, length);
    this.windowStart = offset;
    if (this.window.length < want - offset) {
      throw corruptError(this.name, offset, 'file shorter than its size');
    }
  }
}

/** Options of {@link SegmentLog}. */
export interface SegmentLogOptions {
  /** A WAL segment is sealed and a new one started once it reaches this size. */
  readonly segmentBytesTarget: number;
}

/** The segment files, the manifest and the WAL counters; see the file comment. */
export class SegmentLog {
  /** The manifest: every segment the log knows, by id. */
  readonly segments = new Map<number, SegmentMeta>();
  private readonly dirty = new Set<number>();
  private readonly deleted = new Set<number>();
  /** Segments being read by compaction: never removed as garbage meanwhile. */
  private readonly protectedIds = new Set<number>();
  /** Id of the active WAL segment (0 before the first one starts). */
  private activeId = 0;
  /** Sequence number of the next WAL record. */
  private nextSeqValue = 1;
  private nextSegmentValue = 1;

  constructor(
    private readonly fs: FileSystem,
    private readonly options: SegmentLogOptions,
  ) {
    assert(options.segmentBytesTarget >= 4096, 'segments of at least 4 KiB');
    assert(options.segmentBytesTarget < 0xffffffff / 2, 'segment offsets fit in 32 bits');
  }

  get active(): number {
    return this.activeId;
  }

  get nextSeq(): number {
    return this.nextSeqValue;
  }

  /** The position after the last record written: what a checkpoint taken now reflects. */
  position(): Checkpoint {
    const active = this.segments.get(this.activeId);
    assert(active !== undefined, 'no active segment');
    return {
      segment: this.activeId,
      offset: active.bytes,
      seq: this.nextSeqValue,
      nextSegment: this.nextSegmentValue,
    };
  }

  /** Loads the manifest and counters saved by the last checkpoint. */
  load(checkpoint: Checkpoint | null, segments: ReadonlyMap<number, SegmentMeta>): void {
    for (const [id, meta] of segments) this.segments.set(id, { ...meta });
    if (checkpoint !== null) {
      this.nextSeqValue = checkpoint.seq;
      this.nextSegmentValue = checkpoint.nextSegment;
    }
    for (const name of this.fs.list()) {
      const parsed = parseSegmentFileName(name);
      if (parsed !== null) this.nextSegmentValue = Math.max(this.nextSegmentValue, parsed.id + 1);
    }
  }

  /**
   * Registers a segment found on disk with its size, sealed: after recovery nothing is appended
   * to an old file (a new active segment is started).
   */
  adopt(id: number, kind: SegmentKind, bytes: number): void {
    const meta = this.segments.get(id);
    if (meta === undefined) this.segments.set(id, { kind, sealed: true, bytes, liveBytes: 0 });
    else {
      meta.bytes = bytes;
      meta.sealed = true;
    }
    this.dirty.add(id);
  }

  /** Forgets a segment (its file is gone or garbage). */
  forget(id: number): void {
    if (this.segments.delete(id)) {
      this.deleted.add(id);
      this.dirty.delete(id);
    }
  }

  /** Adds `delta` to the live bytes of `segment`. */
  addLive(segment: number, delta: number): void {
    const meta = this.segments.get(segment);
    assert(meta !== undefined, `live bytes of unknown segment ${segment}`);
    meta.liveBytes += delta;
    assert(meta.liveBytes >= 0, `live bytes of segment ${segment} below zero`);
    assert(meta.liveBytes <= meta.bytes, `live bytes of segment ${segment} above its size`);
    this.dirty.add(segment);
  }

  /** Manifest changes since the last call, as index writes for the next checkpoint. */
  takeManifestWrites(): IndexWrite[] {
    const writes: IndexWrite[] = [];
    for (const id of this.deleted)
      writes.push({ table: Table.Meta, key: segmentMetaKey(id), value: null });
    for (const id of this.dirty) {
      const meta = this.segments.get(id) as SegmentMeta;
      writes.push({ table: Table.Meta, key: segmentMetaKey(id), value: encodeSegmentMeta(meta) });
    }
    this.deleted.clear();
    this.dirty.clear();
    return writes;
  }

  /**
   * Writes `records` at the end of the active segment with one append and one fdatasync, giving
   * them consecutive sequence numbers. Returns their positions, in order.
   */
  appendBatch(records: readonly PendingRecord[]): RecordPosition[] {
    const meta = this.segments.get(this.activeId);
    assert(meta !== undefined && !meta.sealed, 'append without an active segment');
    const name = segmentFileName(SegmentKind.Wal, this.activeId);
    const chunks: Uint8Array[] = [];
    const positions: RecordPosition[] = [];
    const headers = Buffer.allocUnsafe(RECORD_HEADER_BYTES * records.length);
    let offset = meta.bytes;
    records.forEach((r, i) => {
      const at = i * RECORD_HEADER_BYTES;
      writeHeader(headers, at, r.type, this.nextSeqValue, r.payload.length, r.crc);
      chunks.push(headers.subarray(at, at + RECORD_HEADER_BYTES), r.payload);
      positions.push({ segment: this.activeId, offset });
      offset += RECORD_HEADER_BYTES + r.payload.length;
      this.nextSeqValue += 1;
    });
    this.fs.append(name, chunks);
    this.fs.sync(name);
    meta.bytes = offset;
    this.dirty.add(this.activeId);
    return positions;
  }

  /** Starts a new active WAL segment if the current one reached its target size. */
  maybeRoll(): boolean {
    const meta = this.segments.get(this.activeId);
    if (meta !== undefined && meta.bytes < this.options.segmentBytesTarget) return false;
    this.startSegment();
    return true;
  }

  /**
   * Seals the active WAL segment (if any) and starts a new one whose header record is durable,
   * with a durable directory entry, before this returns.
   */
  startSegment(): void {
    const id = this.allocateId();
    const name = segmentFileName(SegmentKind.Wal, id);
    this.fs.create(name);
    const header = frameRecord(
      RecordType.SegmentHeader,
      this.nextSeqValue,
      encodeSegmentHeader(id, SegmentKind.Wal),
    );
    this.fs.append(name, [header]);
    this.fs.sync(name);
    this.nextSeqValue += 1;
    const previous = this.segments.get(this.activeId);
    if (previous !== undefined) {
      previous.sealed = true;
      this.dirty.add(this.activeId);
    }
    this.activeId = id;
    this.segments.set(id, {
      kind: SegmentKind.Wal,
      sealed: false,
      bytes: header.length,
      liveBytes: 0,
    });
    this.dirty.add(id);
  }

  /** Creates an unsealed compaction output segment holding only its header; returns its id. */
  createCompacted(): number {
    const id = this.allocateId();
    const name = segmentFileName(SegmentKind.Compacted, id);
    this.fs.create(name);
    const header = frameRecord(
      RecordType.SegmentHeader,
      0,
      encodeSegmentHeader(id, SegmentKind.Compacted),
    );
    this.fs.append(name, [header]);
    this.segments.set(id, {
      kind: SegmentKind.Compacted,
      sealed: false,
      bytes: header.length,
      liveBytes: 0,
    });
    this.dirty.add(id);
    return id;
  }

  /** Appends records (sequence number 0) to compaction segment `id` and fdatasyncs it. */
  appendCompacted(id: number, records: readonly PendingRecord[]): RecordPosition[] {
    const meta = this.segments.get(id);
    assert(meta !== undefined && meta.kind === SegmentKind.Compacted && !meta.sealed, 'bad target');
    const name = segmentFileName(SegmentKind.Compacted, id);
    const chunks: Uint8Array[] = [];
    const positions: RecordPosition[] = [];
    let offset = meta.bytes;
    for (const r of records) {
      chunks.push(frameHeader(r.type, 0, r.payload.length, r.crc), r.payload);
      positions.push({ segment: id, offset });
      offset += RECORD_HEADER_BYTES + r.payload.length;
    }
    this.fs.append(name, chunks);
    this.fs.sync(name);
    meta.bytes = offset;
    this.dirty.add(id);
    return positions;
  }

  /** Marks compaction segment `id` complete. */
  seal(id: number): void {
    const meta = this.segments.get(id);
    assert(meta !== undefined && !meta.sealed, `seal of segment ${id}`);
    this.fs.sync(segmentFileName(meta.kind, id));
    meta.sealed = true;
    this.dirty.add(id);
  }

  /** The bytes a pointer refers to, checked against the pointer's CRC. */
  readValue(pointer: ValuePointer): Uint8Array {
    const meta = this.segments.get(pointer.segment);
    if (meta === undefined) {
      throw corruptError(
        `segment ${pointer.segment}`,
        pointer.offset,
        'pointer to a missing segment',
      );
    }
    const name = segmentFileName(meta.kind, pointer.segment);
    const bytes = this.fs.read(name, pointer.offset, pointer.length);
    if (bytes.length !== pointer.length) throw corruptError(name, pointer.offset, 'short value');
    if (crc32c(bytes) !== pointer.crc)
      throw corruptError(name, pointer.offset, 'value checksum mismatch');
    return Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  }

  /** Keeps segment `id` from being removed until {@link unprotect}. */
  protect(id: number): void {
    this.protectedIds.add(id);
  }

  unprotect(id: number): void {
    this.protectedIds.delete(id);
  }

  /** A reader of segment `id`. */
  reader(id: number): SegmentReader {
    const meta = this.segments.get(id);
    assert(meta !== undefined, `reader of unknown segment ${id}`);
    return new SegmentReader(this.fs, segmentFileName(meta.kind, id), meta.bytes);
  }

  /**
   * Deletes every sealed segment that nothing needs: no live bytes, and, for WAL segments, wholly
   * before `checkpointSegment` (replay starts there). Call only when the index state is durable.
   * Returns the ids removed.
   */
  removeGarbage(checkpointSegment: number): number[] {
    const removed: number[] = [];
    for (const [id, meta] of [...this.segments].sort(([a], [b]) => a - b)) {
      if (!meta.sealed || meta.liveBytes > 0 || this.protectedIds.has(id)) continue;
      if (meta.kind === SegmentKind.Wal && id >= checkpointSegment) continue;
      this.fs.remove(segmentFileName(meta.kind, id));
      this.forget(id);
      removed.push(id);
    }
    return removed;
  }

  /**
   * Replays the WAL from `from` (or from the first segment when the index has no checkpoint),
   * calling `visit` for each record after the segment headers, in log order. Checks framing,
   * sequence continuity and segment headers. A torn tail of the newest segment is cut off
   * (durably); any other damage throws `STORAGE_CORRUPT` naming the file and offset.
   */
  replay(
    from: Checkpoint | null,
    visit: (record: DecodedRecord, at: RecordPosition) => void,
  ): void {
    const wal = this.fs
      .list()
      .map(parseSegmentFileName)
      .filter((p) => p !== null && p.kind === SegmentKind.Wal)
      .map((p) => (p as { id: number }).id)
      .sort((a, b) => a - b);
    const ids = from === null ? wal : wal.filter((id) => id >= from.segment);
    if (from !== null && ids[0] !== from.segment) {
      throw corruptError(
        segmentFileName(SegmentKind.Wal, from.segment),
        0,
        'checkpoint segment missing',
      );
    }
    let expectedSeq: number | null = from === null ? null : from.seq;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      const name = segmentFileName(SegmentKind.Wal, id);
      const size = this.fs.size(name) ?? 0;
      this.adopt(id, SegmentKind.Wal, size);
      let offset = i === 0 && from !== null ? from.offset : 0;
      if (offset > size) throw corruptError(name, offset, 'checkpoint past the end of the segment');
      const reader = new SegmentReader(this.fs, name, size);
      while (offset < size) {
        const check = reader.at(offset);
        if (check.kind !== 'ok') {
          this.cutTornTail(reader, id, offset, check, i === ids.length - 1);
          break;
        }
        const record = check.record;
        this.checkWalRecord(name, id, offset, record, expectedSeq);
        expectedSeq = record.seq + 1;
        if (record.type !== RecordType.SegmentHeader) visit(record, { segment: id, offset });
        offset += record.bytes;
      }
    }
    if (expectedSeq !== null) this.nextSeqValue = expectedSeq;
  }

  private checkWalRecord(
    name: string,
    id: number,
    offset: number,
    record: DecodedRecord,
    expectedSeq: number | null,
  ): void {
    if (expectedSeq === null && record.seq !== 1) {
      throw corruptError(
        name,
        offset,
        `log starts at seq ${record.seq}, not 1, and the index has no checkpoint`,
      );
    }
    if (expectedSeq !== null && record.seq !== expectedSeq) {
      throw corruptError(name, offset, `seq ${record.seq} where ${expectedSeq} was expected`);
    }
    const isHeader = record.type === RecordType.SegmentHeader;
    if ((offset === 0) !== isHeader) throw corruptError(name, offset, 'segment header misplaced');
    if (isHeader) {
      let header;
      try {
        header = decodeWalRecord(record.type, record.payload);
      } catch (error) {
        throw corruptError(name, offset, `bad segment header (${String(error)})`);
      }
      if (
        header.type !== RecordType.SegmentHeader ||
        header.segment !== id ||
        header.kind !== SegmentKind.Wal
      ) {
        throw corruptError(name, offset, 'segment header names another segment');
      }
    }
  }

  /** Handles a bad or cut record at `offset`: a torn tail is cut off, anything else is corruption. */
  private cutTornTail(
    reader: SegmentReader,
    id: number,
    offset: number,
    check: Exclude<RecordCheck, { kind: 'ok' }>,
    newest: boolean,
  ): void {
    const reason = check.kind === 'truncated' ? 'record cut short' : check.reason;
    if (!newest) throw corruptError(reader.name, offset, `${reason} in a sealed segment`);
    if (check.kind === 'bad') {
      const after = reader.findValid(
        check.recordBytes === null ? offset + 1 : offset + check.recordBytes,
      );
      if (after >= 0) {
        throw corruptError(
          reader.name,
          offset,
          `${reason}, followed by a valid record at offset ${after}`,
        );
      }
    }
    if (offset === 0) {
      this.fs.remove(reader.name);
      this.forget(id);
      return;
    }
    this.fs.truncate(reader.name, offset);
    (this.segments.get(id) as SegmentMeta).bytes = offset;
    this.dirty.add(id);
  }

  private allocateId(): number {
    const id = this.nextSegmentValue;
    this.nextSegmentValue += 1;
    return id;
  }
}
