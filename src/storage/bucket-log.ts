/**
 * The durable store of a node's bucket replicas: one log of numbered segment files shared by every
 * bucket the node hosts, so that one append and one fdatasync make the writes of all buckets durable
 * at once (group commit). Each bucket sees a `BucketStore` (src/core/bucket/store.ts) and the node
 * calls {@link NodeBucketLog.sync} once per round of Readies.
 *
 * Files, in one directory (see docs/storage.md, "Bucket logs"):
 *   bkt-<id>.log   log segments: records appended in order; only the newest is ever appended to
 *   bkt-<id>.cmp   compaction output: the live state of every bucket, closed by a BucketLogCompacted
 *                  record; it replaces every segment with a smaller id
 *   LOCK           the pid of the process that has the directory open (NodeFileSystem)
 *
 * Records use the framing of record.ts (CRC-32C over header and payload). Every record carries the
 * next sequence number, across files, so a missing segment is found. A segment starts with a
 * BucketLogHeader record. A persist batch of one bucket is one BucketOps record whose payload is
 * msgpack `[bucket, ops]`; a payload over `recordBytesMax` is cut into BucketOpsPart records closed by
 * a BucketOps record with the last slice, and replay applies the batch only when its closing record
 * is there: a chunked batch is atomic like a small one.
 *
 * Invariant: the durable state of the directory is the replay of the newest complete compaction
 * segment (or of nothing, when there is none) followed by every log segment with a larger id, in id
 * order. Files with a smaller id than that compaction segment are garbage. A torn tail can only be
 * in the newest file, because a file is created only after the previous newest one is fully synced.
 */
import { Packr, Unpackr } from 'msgpackr';
import { assert } from '../core/lib/assert.js';
import { crc32c } from '../core/lib/crc32c.js';
import { logIndex } from '../core/lib/ids.js';
import type { BucketStore, StoredBucket } from '../core/bucket/store.js';
import type { LogEntry, PersistOp, ReplicaMeta, SnapshotImage } from '../core/bucket/types.js';
import { corruptError, StorageError } from './errors.js';
import { NodeFileSystem, type FileSystem } from './file-system.js';
import {
  frameHeader,
  RECORD_HEADER_BYTES,
  RECORD_PAYLOAD_BYTES_MAX,
  RecordType,
  type DecodedRecord,
} from './record.js';
import { SegmentReader } from './segment-log.js';

/** Options of a {@link NodeBucketLog}. */
export interface BucketLogOptions {
  /** A log segment is closed and a new one started once it reaches this size. */
  readonly segmentBytesMax: number;
  /** Largest record payload; a larger batch is chunked across records. */
  readonly recordBytesMax: number;
  /** Bytes staged and not yet synced above which `persist` throws `QUEUE_FULL`. */
  readonly stagedBytesMax: number;
  /** {@link NodeBucketLog.compactIfNeeded} compacts when dead bytes reach this share of the files. */
  readonly compactDeadRatio: number;
  /** ... and the files hold at least this many bytes. */
  readonly compactBytesMin: number;
}

export const defaultBucketLogOptions: BucketLogOptions = {
  segmentBytesMax: 64 * 1024 * 1024,
  recordBytesMax: 1024 * 1024,
  stagedBytesMax: 256 * 1024 * 1024,
  compactDeadRatio: 0.5,
  compactBytesMin: 64 * 1024 * 1024,
};

/** Counters and sizes, for metrics and the compaction trigger. */
export interface BucketLogStats {
  readonly segments: number;
  /** Bytes of every segment file. */
  readonly fileBytes: number;
  /** Estimated bytes that compaction would keep. */
  readonly liveBytes: number;
  readonly stagedBytes: number;
  readonly syncs: number;
  readonly compactions: number;
}

/** The store of every bucket replica of a node. */
export interface NodeBucketLog {
  /** The per-bucket view; its `sync` syncs the whole node log. */
  store(bucket: number): BucketStore;
  /** Makes everything staged by every bucket durable: one append and one fdatasync. */
  sync(): void;
  /** `sync` with the fdatasync off the event loop; one at a time. */
  syncAsync(): Promise<void>;
  /** Buckets with durable state, ascending. */
  buckets(): number[];
  /** Rewrites the live state into a new segment and deletes the old ones; durable on return. */
  compact(): void;
  /** Compacts when the dead share of the files reaches `compactDeadRatio`; says if it did. */
  compactIfNeeded(): boolean;
  stats(): BucketLogStats;
  /** Releases the files. Staged writes that were never synced are lost, as on a crash. */
  close(): void;
}

/** Opens (creating or recovering) the bucket log in directory `dir`, holding its LOCK file. */
export function openBucketLog(dir: string, options: Partial<BucketLogOptions> = {}): NodeBucketLog {
  const fs = new NodeFileSystem(dir);
  try {
    return BucketLog.open(fs, options);
  } catch (error) {
    fs.close();
    throw error;
  }
}

/** A segment file's name: `bkt-<8 hex digits>.log` or `.cmp`. */
export function bucketSegmentName(id: number, compacted: boolean): string {
  assert(Number.isSafeInteger(id) && id > 0 && id < 0x100000000, `segment id ${id}`);
  return `bkt-${id.toString(16).padStart(8, '0')}.${compacted ? 'cmp' : 'log'}`;
}

/** The id and kind of a segment file name, or null for other names. */
export function parseBucketSegmentName(name: string): { id: number; compacted: boolean } | null {
  const match = /^bkt-([0-9a-f]{8})\.(log|cmp)$/.exec(name);
  if (match === null) return null;
  const id = parseInt(match[1] as string, 16);
  return id === 0 ? null : { id, compacted: match[2] === 'cmp' };
}

const FORMAT_VERSION = 1;

// Plain maps, undefined as nil, maps of any size (as src/net/codec.ts). Decoded binary values are
// copied: they must not pin the read-ahead window they were read from.
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, variableMapSize: true });
const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  copyBuffers: true,
  int64AsType: 'auto' as 'number',
});
// Entries are decoded by `load` from a run's own bytes: views into them are fine.
const entryUnpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  structuredClone: false,
  int64AsType: 'auto' as 'number',
});

/**
 * A persist op as stored: an append carries its entries as one msgpack array (`entries`), so that
 * replay and compaction never decode entries one by one; `load` does.
 */
type StoredOp =
  | { readonly op: 'meta'; readonly meta: ReplicaMeta }
  | { readonly op: 'truncate'; readonly after: number }
  | {
      readonly op: 'append';
      readonly first: number;
      readonly count: number;
      readonly entries: Uint8Array;
    }
  | { readonly op: 'commit'; readonly index: number }
  | { readonly op: 'snapshot'; readonly image: SnapshotImage }
  | { readonly op: 'drop' };

/**
 * Where a batch's records lie in a segment: `[start, end)` of file `name`, its closing record
 * last. A run names its batch and the index of its append op there, and is read back from the
 * file when needed (`load`, compaction): the entries are not kept in memory.
 */
interface BatchRef {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Consecutive entries `first ..< first + count`, stored encoded as the `entries` of op `op` of the
 * batch at `batch`: the first `count` of an array of `encoded`.
 */
interface Run {
  readonly first: number;
  count: number;
  /** How many entries the stored array holds (more than `count` after a truncate). */
  readonly encoded: number;
  /** Bytes of the stored array. */
  readonly size: number;
  readonly batch: BatchRef;
  readonly op: number;
}

interface BucketState {
  meta: ReplicaMeta | null;
  snapshot: SnapshotImage | null;
  /** Encoded bytes of the snapshot's batch, for the live-bytes estimate. */
  snapshotBytes: number;
  runs: Run[];
  runBytes: number;
  /** Index of the last durable entry. */
  last: number;
  commit: number;
  /** Snapshot base and last index including staged ops, to check ops when they are staged. */
  acceptedBase: number;
  acceptedLast: number;
}

interface Staged {
  readonly bucket: number;
  readonly ops: readonly StoredOp[];
  /** Payload slices with their CRCs: one per record. */
  readonly parts: readonly { readonly bytes: Uint8Array; readonly crc: number }[];
  readonly bytes: number;
  /** Where it was written (set by `writeStaged`). */
  batch: BatchRef | null;
}

interface Segment {
  readonly id: number;
  readonly compacted: boolean;
  bytes: number;
}

/** The implementation of {@link NodeBucketLog} on any {@link FileSystem}. */
export class BucketLog implements NodeBucketLog {
  private readonly states = new Map<number, BucketState>();
  private readonly views = new Map<number, BucketStore>();
  private readonly segments = new Map<number, Segment>();
  private staged: Staged[] = [];
  /** A syncAsync is waiting for its fdatasync. */
  private syncing = false;
  private stagedBytes = 0;
  /** The segment appended to, or null: the next sync starts one. */
  private active: Segment | null = null;
  private nextId = 1;
  private nextSeq = 1;
  private failure: StorageError | null = null;
  private closed = false;
  private syncs = 0;
  private compactions = 0;

  private constructor(
    private readonly fs: FileSystem,
    private readonly options: BucketLogOptions,
  ) {}

  /** Opens the log on `fs`: replays it, cuts a torn tail and deletes garbage files. */
  static open(fs: FileSystem, options: Partial<BucketLogOptions> = {}): BucketLog {
    const o = { ...defaultBucketLogOptions, ...options };
    assert(o.segmentBytesMax >= 4096 && o.segmentBytesMax < 2 ** 40, 'segmentBytesMax');
    assert(
      o.recordBytesMax >= 256 && o.recordBytesMax <= RECORD_PAYLOAD_BYTES_MAX,
      'recordBytesMax',
    );
    assert(o.stagedBytesMax >= 1, 'stagedBytesMax');
    assert(o.compactDeadRatio > 0 && o.compactDeadRatio <= 1, 'compactDeadRatio');
    const log = new BucketLog(fs, o);
    log.recover();
    return log;
  }

  store(bucket: number): BucketStore {
    assert(Number.isSafeInteger(bucket) && bucket >= 0, `bucket ${bucket}`);
    let view = this.views.get(bucket);
    if (view === undefined) {
      view = {
        load: () => this.load(bucket),
        persist: (ops) => this.persist(bucket, ops),
        sync: () => this.sync(),
      };
      this.views.set(bucket, view);
    }
    return view;
  }

  buckets(): number[] {
    this.checkUsable();
    return [...this.states]
      .filter(([, s]) => !isEmpty(s))
      .map(([bucket]) => bucket)
      .sort((a, b) => a - b);
  }

  stats(): BucketLogStats {
    let fileBytes = 0;
    for (const s of this.segments.values()) fileBytes += s.bytes;
    let liveBytes = 0;
    for (const s of this.states.values()) liveBytes += s.runBytes + s.snapshotBytes + 256;
    return {
      segments: this.segments.size,
      fileBytes,
      liveBytes: Math.min(liveBytes, fileBytes),
      stagedBytes: this.stagedBytes,
      syncs: this.syncs,
      compactions: this.compactions,
    };
  }

  /** The durable state of `bucket`. */
  load(bucket: number): StoredBucket {
    this.checkUsable();
    const s = this.states.get(bucket);
    if (s === undefined) return { meta: null, snapshot: null, entries: [], commit: logIndex(0) };
    const entries: LogEntry[] = [];
    for (const run of s.runs) {
      const decoded = entryUnpackr.unpack(this.runBytes(run)) as LogEntry[];
      if (!Array.isArray(decoded) || decoded.length !== run.encoded) {
        throw corruptError(`bucket ${bucket}`, run.first, 'entries do not decode');
      }
      for (let i = 0; i < run.count; i++) {
        const entry = decoded[i] as LogEntry;
        if (entry.index !== run.first + i) {
          throw corruptError(
            `bucket ${bucket}`,
            run.first + i,
            `entry ${entry.index} out of place`,
          );
        }
        entries.push(entry);
      }
    }
    return { meta: s.meta, snapshot: s.snapshot, entries, commit: logIndex(s.commit) };
  }

  /** The stored entries array of `run`, read back from its segment. */
  private runBytes(run: Run): Uint8Array {
    const { name, start, end } = run.batch;
    const reader = new SegmentReader(this.fs, name, end, end - start);
    const parts: Uint8Array[] = [];
    for (let offset = start; offset < end;) {
      const check = reader.at(offset);
      if (check.kind !== 'ok')
        throw corruptError(name, offset, 'a stored batch reads back damaged');
      parts.push(check.record.payload);
      offset += check.record.bytes;
    }
    const payload = parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
    const op = decodeBatch(name, start, payload)[1][run.op];
    if (op?.op !== 'append' || op.first !== run.first || op.count !== run.encoded) {
      throw corruptError(name, start, `the batch holds no run from entry ${run.first}`);
    }
    return op.entries;
  }

  /** Stages `ops` of `bucket`; throws `QUEUE_FULL` (staging nothing) past `stagedBytesMax`. */
  persist(bucket: number, ops: readonly PersistOp[]): void {
    this.checkUsable();
    if (ops.length === 0) return;
    const s = this.state(bucket);
    // Check the ops against the staged view first, so that what is staged can always be applied.
    let base = s.acceptedBase;
    let last = s.acceptedLast;
    for (const op of ops) {
      const error = checkOp(op, base, last);
      assert(error === null, `bucket ${bucket}: ${error}`);
      [base, last] = advance(op, base, last);
    }
    const stored = ops.map(toStored);
    const payload = packr.pack([bucket, stored]);
    const parts = slices(payload, this.options.recordBytesMax).map((bytes) => ({
      bytes,
      crc: crc32c(bytes),
    }));
    const bytes = payload.length + parts.length * RECORD_HEADER_BYTES;
    if (this.stagedBytes > 0 && this.stagedBytes + bytes > this.options.stagedBytesMax) {
      throw new StorageError('QUEUE_FULL', `${this.stagedBytes} bytes staged and not synced`, {
        stagedBytes: this.stagedBytes,
        stagedBytesMax: this.options.stagedBytesMax,
        bucket,
      });
    }
    s.acceptedBase = base;
    s.acceptedLast = last;
    this.staged.push({ bucket, ops: stored, parts, bytes, batch: null });
    this.stagedBytes += bytes;
  }

  sync(): void {
    const write = this.writeStaged();
    if (write === null) return;
    this.io(() => this.fs.sync(write.name));
    this.finishSync(write.staged);
  }

  /**
   * `sync` with the fdatasync off the event loop (see FileSystem.syncAsync): the records are
   * appended now, and they count as durable — `load()` shows them — once the promise resolves.
   * One at a time: the caller awaits it before the next `sync` or `syncAsync`.
   */
  async syncAsync(): Promise<void> {
    assert(!this.syncing, 'one syncAsync at a time');
    const write = this.writeStaged();
    if (write === null) return;
    const fs = this.fs;
    if (fs.syncAsync === undefined) {
      this.io(() => fs.sync(write.name));
      return this.finishSync(write.staged);
    }
    this.syncing = true;
    try {
      await fs.syncAsync(write.name);
    } catch (error) {
      this.failure = new StorageError(
        'STORAGE_FAILED',
        `bucket log I/O failed: ${String(error)}`,
        {},
        { cause: error },
      );
      throw this.failure;
    } finally {
      this.syncing = false;
    }
    this.finishSync(write.staged);
  }

  /** Appends every staged batch to the active segment; the caller makes it durable. */
  private writeStaged(): { name: string; staged: Staged[] } | null {
    this.checkUsable();
    assert(!this.syncing, 'a write while a syncAsync is in flight');
    if (this.staged.length === 0) return null;
    const staged = this.staged;
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    let seq = this.nextSeq;
    if (this.active !== null && this.active.bytes >= this.options.segmentBytesMax) {
      this.active = null;
    }
    const segment = this.active ?? this.startSegment(false);
    if (segment.bytes === 0) {
      const header = this.headerRecord(segment, seq++);
      chunks.push(header);
      bytes += header.length;
    }
    const name = bucketSegmentName(segment.id, false);
    for (const batch of staged) {
      batch.parts.forEach((part, i) => {
        const type = i === batch.parts.length - 1 ? RecordType.BucketOps : RecordType.BucketOpsPart;
        chunks.push(frameHeader(type, seq++, part.bytes.length, part.crc), part.bytes);
      });
      const start = segment.bytes + bytes;
      bytes += batch.bytes;
      batch.batch = { name, start, end: segment.bytes + bytes };
    }
    this.io(() => this.fs.append(name, chunks));
    segment.bytes += bytes;
    this.active = segment;
    this.nextSeq = seq;
    this.staged = [];
    this.stagedBytes = 0;
    return { name, staged };
  }

  private finishSync(staged: readonly Staged[]): void {
    this.syncs += 1;
    for (const batch of staged) {
      applyBatch(this.state(batch.bucket), batch.ops, batch.bytes, batch.batch as BatchRef);
    }
  }

  compactIfNeeded(): boolean {
    this.checkUsable();
    const { fileBytes, liveBytes } = this.stats();
    if (fileBytes < this.options.compactBytesMin) return false;
    if (fileBytes - liveBytes < this.options.compactDeadRatio * fileBytes) return false;
    this.compact();
    return true;
  }

  /**
   * Compaction (docs/storage.md, "Bucket logs"): sync what is staged; write every bucket's live
   * state (meta, snapshot, entries after it, commit) to a new `.cmp` segment, fdatasync it, append
   * the closing BucketLogCompacted record and fdatasync again; then delete every older segment,
   * oldest first. A crash before the closing record is durable leaves an incomplete `.cmp` that
   * recovery deletes; a crash after leaves garbage that recovery deletes.
   */
  compact(): void {
    this.sync();
    this.checkUsable();
    const segment = this.startSegment(true);
    const name = bucketSegmentName(segment.id, true);
    const old = [...this.segments.values()].filter((s) => s.id < segment.id);
    let seq = this.nextSeq;
    let chunks: Uint8Array[] = [this.headerRecord(segment, seq++)];
    let pending = chunks[0]?.length ?? 0;
    const flush = (): void => {
      const out = chunks;
      this.io(() => this.fs.append(name, out));
      segment.bytes += pending;
      chunks = [];
      pending = 0;
    };
    // The runs as they will be once the compaction segment replaces the others: each names the
    // batch of the new segment that holds it. Installed only when the segment is complete.
    const rewritten = new Map<number, Run[]>();
    for (const [bucket, s] of [...this.states].sort(([a], [b]) => a - b)) {
      const runs: Run[] = [];
      for (const ops of liveBatches(s, this.options.recordBytesMax, (run) => this.runBytes(run))) {
        const payload = packr.pack([bucket, ops]);
        const parts = slices(payload, this.options.recordBytesMax);
        const start = segment.bytes + pending;
        parts.forEach((part, i) => {
          const type = i === parts.length - 1 ? RecordType.BucketOps : RecordType.BucketOpsPart;
          chunks.push(frameHeader(type, seq++, part.length, crc32c(part)), part);
          pending += RECORD_HEADER_BYTES + part.length;
        });
        const batch = { name, start, end: segment.bytes + pending };
        ops.forEach((op, i) => {
          if (op.op === 'append' && op.count > 0) runs.push(runOf(op, batch, i));
        });
        if (pending >= 1024 * 1024) flush();
      }
      rewritten.set(bucket, runs);
    }
    flush();
    this.io(() => this.fs.sync(name));
    const end = frame(RecordType.BucketLogCompacted, seq++, packr.pack({ id: segment.id }));
    this.io(() => {
      this.fs.append(name, [end]);
      this.fs.sync(name);
    });
    segment.bytes += end.length;
    this.nextSeq = seq;
    this.active = null;
    for (const [bucket, runs] of rewritten) {
      const s = this.states.get(bucket) as BucketState;
      s.runs = runs;
      s.runBytes = runs.reduce((sum, run) => sum + run.size, 0);
    }
    for (const [bucket, s] of this.states) if (isEmpty(s)) this.states.delete(bucket);
    for (const s of old) {
      this.io(() => this.fs.remove(bucketSegmentName(s.id, s.compacted)));
      this.segments.delete(s.id);
    }
    this.compactions += 1;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.staged = [];
    this.stagedBytes = 0;
    this.fs.close();
  }

  private state(bucket: number): BucketState {
    let s = this.states.get(bucket);
    if (s === undefined) {
      s = {
        meta: null,
        snapshot: null,
        snapshotBytes: 0,
        runs: [],
        runBytes: 0,
        last: 0,
        commit: 0,
        acceptedBase: 0,
        acceptedLast: 0,
      };
      this.states.set(bucket, s);
    }
    return s;
  }

  private startSegment(compacted: boolean): Segment {
    const segment: Segment = { id: this.nextId, compacted, bytes: 0 };
    this.nextId += 1;
    this.io(() => this.fs.create(bucketSegmentName(segment.id, compacted)));
    this.segments.set(segment.id, segment);
    return segment;
  }

  private headerRecord(segment: Segment, seq: number): Buffer {
    const payload = packr.pack({ v: FORMAT_VERSION, id: segment.id, compacted: segment.compacted });
    return frame(RecordType.BucketLogHeader, seq, payload);
  }

  /** Runs an I/O call; a failure stops the log for good (a failed fdatasync cannot be retried). */
  private io(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.failure = new StorageError(
        'STORAGE_FAILED',
        `bucket log I/O failed: ${String(error)}`,
        {},
        { cause: error },
      );
      throw this.failure;
    }
  }

  private checkUsable(): void {
    if (this.closed) throw new StorageError('STORAGE_CLOSED', 'the bucket log is closed');
    if (this.failure !== null) throw this.failure;
  }

  // ---- recovery ----

  private recover(): void {
    const files = this.fs
      .list()
      .map((name) => ({ name, parsed: parseBucketSegmentName(name) }))
      .filter((f) => f.parsed !== null)
      .map((f) => ({ name: f.name, ...(f.parsed as { id: number; compacted: boolean }) }))
      .sort((a, b) => a.id - b.id);
    for (let i = 1; i < files.length; i++) {
      if (files[i]?.id === files[i - 1]?.id) {
        throw corruptError(files[i]?.name as string, 0, 'two segments with one id');
      }
    }
    this.nextId = (files.at(-1)?.id ?? 0) + 1;
    // The newest compaction segment is the start unless it is the newest file and incomplete (the
    // crash came before its closing record was durable): then it is deleted, and the one before
    // (or the first log segment) is the start.
    let start = -1;
    for (let i = files.length - 1; i >= 0; i--) {
      const f = files[i] as (typeof files)[number];
      if (!f.compacted) continue;
      if (i === files.length - 1 && !this.replayFile(f, true, null).complete) {
        this.fs.remove(f.name);
        files.pop();
        continue;
      }
      start = i;
      break;
    }
    // Everything before the start is garbage (a compaction crashed before deleting it).
    for (const f of files.slice(0, Math.max(start, 0))) this.fs.remove(f.name);
    const chain = files.slice(Math.max(start, 0));
    let expectedSeq: number | null = null;
    for (let i = 0; i < chain.length; i++) {
      const f = chain[i] as (typeof chain)[number];
      const result = this.replayFile(f, i === chain.length - 1, {
        expectedSeq,
        first: i === 0,
        apply: (bucket, ops, bytes, batch) => {
          const s = this.state(bucket);
          for (const op of ops) {
            const error = checkOp(op, s.acceptedBase, s.acceptedLast);
            if (error !== null) {
              throw corruptError(f.name, batch.start, `bucket ${bucket}: ${error}`);
            }
            [s.acceptedBase, s.acceptedLast] = advance(op, s.acceptedBase, s.acceptedLast);
          }
          applyBatch(s, ops, bytes, batch);
        },
      });
      if (f.compacted && !result.complete) {
        throw corruptError(f.name, 0, 'compaction segment without its closing record');
      }
      expectedSeq = result.nextSeq ?? expectedSeq;
    }
    if (expectedSeq !== null) this.nextSeq = expectedSeq;
  }

  /**
   * Reads segment `f` front to back. With `replay` null it only checks whether a compaction
   * segment is complete (no torn record, closing record present). Otherwise it checks framing and
   * sequence numbers, passes each batch to `replay.apply`, cuts a torn tail of the newest file
   * (durably) and registers the segment. Returns whether a closing record was found.
   */
  private replayFile(
    f: { name: string; id: number; compacted: boolean },
    newest: boolean,
    replay: {
      expectedSeq: number | null;
      first: boolean;
      apply: (bucket: number, ops: StoredOp[], bytes: number, batch: BatchRef) => void;
    } | null,
  ): { complete: boolean; nextSeq: number | null } {
    const size = this.fs.size(f.name) ?? 0;
    const reader = new SegmentReader(this.fs, f.name, size);
    let offset = 0;
    let expected = replay?.expectedSeq ?? null;
    let parts: Uint8Array[] = [];
    let partsStart = -1;
    let partsBytes = 0;
    let complete = false;
    let cut = -1;
    while (offset < size) {
      const check = reader.at(offset);
      if (check.kind !== 'ok') {
        const reason = check.kind === 'truncated' ? 'record cut short' : check.reason;
        if (!newest) throw corruptError(f.name, offset, `${reason} in a sealed segment`);
        if (check.kind === 'bad') {
          const from = check.recordBytes === null ? offset + 1 : offset + check.recordBytes;
          const after = reader.findValid(from);
          if (after >= 0) {
            throw corruptError(f.name, offset, `${reason}, followed by a valid record at ${after}`);
          }
        }
        cut = offset;
        break;
      }
      const record = check.record;
      if (complete) throw corruptError(f.name, offset, 'record after the closing record');
      if (expected !== null && record.seq !== expected) {
        throw corruptError(f.name, offset, `seq ${record.seq} where ${expected} was expected`);
      }
      if (offset === 0) this.checkHeader(f, record, replay?.first ?? false);
      else if (record.type === RecordType.BucketOpsPart) {
        if (partsStart < 0) partsStart = offset;
        parts.push(record.payload);
        partsBytes += record.bytes;
      } else if (record.type === RecordType.BucketOps) {
        if (replay !== null) {
          const payload =
            parts.length === 0 ? record.payload : Buffer.concat([...parts, record.payload]);
          const start = partsStart < 0 ? offset : partsStart;
          const [bucket, ops] = decodeBatch(f.name, start, payload);
          replay.apply(bucket, ops, partsBytes + record.bytes, {
            name: f.name,
            start,
            end: offset + record.bytes,
          });
        }
        parts = [];
        partsStart = -1;
        partsBytes = 0;
      } else if (record.type === RecordType.BucketLogCompacted && f.compacted) {
        if (parts.length > 0) throw corruptError(f.name, offset, 'closing record inside a batch');
        complete = true;
      } else {
        throw corruptError(f.name, offset, `unexpected record type ${record.type}`);
      }
      expected = record.seq + 1;
      offset += record.bytes;
    }
    // Leading slices of a batch whose closing record was lost are part of the torn tail.
    if (partsStart >= 0) {
      if (!newest) throw corruptError(f.name, partsStart, 'unfinished batch in a sealed segment');
      cut = partsStart;
    }
    if (replay === null) return { complete, nextSeq: null };
    if (size === 0 || cut === 0) {
      // Created, then the crash came before its header was durable.
      if (!newest) throw corruptError(f.name, 0, 'empty segment');
      this.fs.remove(f.name);
      return { complete, nextSeq: null };
    }
    if (cut > 0) this.fs.truncate(f.name, cut);
    this.segments.set(f.id, { id: f.id, compacted: f.compacted, bytes: cut >= 0 ? cut : size });
    return { complete, nextSeq: expected };
  }

  private checkHeader(
    f: { name: string; id: number; compacted: boolean },
    record: DecodedRecord,
    first: boolean,
  ): void {
    if (record.type !== RecordType.BucketLogHeader) {
      throw corruptError(f.name, 0, 'segment does not start with a header');
    }
    let header: { v?: unknown; id?: unknown; compacted?: unknown };
    try {
      header = unpackr.unpack(record.payload) as typeof header;
    } catch (error) {
      throw corruptError(f.name, 0, `bad segment header (${String(error)})`);
    }
    if (header.v !== FORMAT_VERSION)
      throw corruptError(f.name, 0, `format version ${String(header.v)}`);
    if (header.id !== f.id || header.compacted !== f.compacted) {
      throw corruptError(f.name, 0, 'segment header names another segment');
    }
    // The log starts at seq 1 unless it starts at a compaction segment.
    if (first && !f.compacted && record.seq !== 1) {
      throw corruptError(
        f.name,
        0,
        `log starts at seq ${record.seq}: a segment before it is missing`,
      );
    }
  }
}

function frame(type: RecordType, seq: number, payload: Uint8Array): Buffer {
  return Buffer.concat([frameHeader(type, seq, payload.length, crc32c(payload)), payload]);
}

function slices(payload: Uint8Array, max: number): Uint8Array[] {
  if (payload.length <= max) return [payload];
  const out: Uint8Array[] = [];
  for (let at = 0; at < payload.length; at += max) out.push(payload.subarray(at, at + max));
  return out;
}

function decodeBatch(file: string, offset: number, payload: Uint8Array): [number, StoredOp[]] {
  let value: unknown;
  try {
    value = unpackr.unpack(payload);
  } catch (error) {
    throw corruptError(file, offset, `undecodable batch (${String(error)})`);
  }
  if (
    !Array.isArray(value) ||
    value.length !== 2 ||
    !Number.isSafeInteger(value[0]) ||
    !Array.isArray(value[1])
  ) {
    throw corruptError(file, offset, 'malformed batch');
  }
  return [value[0] as number, value[1] as StoredOp[]];
}

function isEmpty(s: BucketState): boolean {
  return s.meta === null && s.snapshot === null && s.runs.length === 0 && s.commit === 0;
}

/** The stored form of `op`: an append's entries packed into one byte array. */
function toStored(op: PersistOp): StoredOp {
  if (op.op !== 'append') return op;
  const first = op.entries[0]?.index ?? 0;
  // A copy: the run keeps it, and packr's results are views of a shared buffer.
  const entries = Uint8Array.prototype.slice.call(packr.pack(op.entries));
  return { op: 'append', first, count: op.entries.length, entries };
}

/** Why `op` cannot follow a log with snapshot base `base` and last index `last`, or null. */
function checkOp(op: PersistOp | StoredOp, base: number, last: number): string | null {
  switch (op.op) {
    case 'truncate':
      return op.after >= base ? null : `truncate at ${op.after} inside the snapshot ${base}`;
    case 'append': {
      if ('first' in op) {
        if (!(
          Number.isSafeInteger(op.count) &&
          op.count >= 0 &&
          op.entries instanceof Uint8Array
        )) {
          return 'malformed append';
        }
        return op.count === 0 || op.first === last + 1
          ? null
          : `log gap: entry ${op.first} where ${last + 1} was next`;
      }
      let next = last + 1;
      for (const entry of op.entries) {
        if (entry.index !== next) return `log gap: entry ${entry.index} where ${next} was next`;
        next += 1;
      }
      return null;
    }
    case 'meta':
    case 'commit':
    case 'snapshot':
    case 'drop':
      return null;
    default:
      return `unknown op ${String((op as { op?: unknown }).op)}`;
  }
}

/** The snapshot base and last index after `op`. */
function advance(op: PersistOp | StoredOp, base: number, last: number): [number, number] {
  switch (op.op) {
    case 'truncate':
      return [base, Math.min(last, op.after)];
    case 'append':
      return [base, last + ('first' in op ? op.count : op.entries.length)];
    case 'snapshot':
      return [op.image.base.index, op.image.base.index];
    case 'drop':
      return [0, 0];
    default:
      return [base, last];
  }
}

/** The run of append op `op`, number `index` of the batch written at `batch`. */
function runOf(op: StoredOp & { op: 'append' }, batch: BatchRef, index: number): Run {
  const { first, count } = op;
  return { first, count, encoded: count, size: op.entries.length, batch, op: index };
}

/** Applies a checked batch to the durable state (the same rules as MemoryBucketStore). */
function applyBatch(
  s: BucketState,
  ops: readonly StoredOp[],
  bytes: number,
  batch: BatchRef,
): void {
  for (const [i, op] of ops.entries()) {
    switch (op.op) {
      case 'meta':
        s.meta = op.meta;
        break;
      case 'truncate':
        while (s.runs.length > 0 && s.last > op.after) {
          const run = s.runs.at(-1) as Run;
          if (run.first > op.after) {
            s.runs.pop();
            s.runBytes -= run.size;
            s.last = run.first - 1;
          } else {
            run.count = op.after - run.first + 1;
            s.last = op.after;
          }
        }
        break;
      case 'append':
        if (op.count === 0) break;
        s.runs.push(runOf(op, batch, i));
        s.runBytes += op.entries.length;
        s.last = op.first + op.count - 1;
        break;
      case 'commit':
        s.commit = Math.max(s.commit, op.index);
        break;
      case 'snapshot':
        s.snapshot = op.image;
        s.snapshotBytes = bytes;
        s.runs = [];
        s.runBytes = 0;
        s.last = op.image.base.index;
        s.commit = op.image.base.index;
        break;
      case 'drop':
        s.snapshot = null;
        s.snapshotBytes = 0;
        s.runs = [];
        s.runBytes = 0;
        s.last = 0;
        s.commit = 0;
        break;
    }
  }
}

/**
 * The ops that rebuild `s` from nothing, in batches of about `batchBytes`, for compaction. Runs are
 * copied as they are encoded, except a run cut by a truncate, which is encoded again.
 */
function* liveBatches(
  s: BucketState,
  batchBytes: number,
  read: (run: Run) => Uint8Array,
): Generator<StoredOp[]> {
  const head: StoredOp[] = [];
  if (s.meta !== null) head.push({ op: 'meta', meta: s.meta });
  if (s.snapshot !== null) head.push({ op: 'snapshot', image: s.snapshot });
  if (head.length > 0) yield head;
  let batch: StoredOp[] = [];
  let bytes = 0;
  for (const run of s.runs) {
    const stored = read(run);
    let op: StoredOp & { op: 'append' } = {
      op: 'append',
      first: run.first,
      count: run.count,
      entries: stored,
    };
    if (run.count < run.encoded) {
      const entries = (entryUnpackr.unpack(stored) as LogEntry[]).slice(0, run.count);
      op = toStored({ op: 'append', entries }) as StoredOp & { op: 'append' };
    }
    batch.push(op);
    bytes += op.entries.length;
    if (bytes >= batchBytes) {
      yield batch;
      batch = [];
      bytes = 0;
    }
  }
  if (batch.length > 0) yield batch;
  if (s.commit > (s.snapshot?.base.index ?? 0)) yield [{ op: 'commit', index: s.commit }];
}
