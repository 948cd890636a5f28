/**
 * The node's storage engine: every bucket replica this node hosts, in one append-only log plus
 * one index (DESIGN.md 4.6). This is the API replication and backfill call.
 *
 * Writes: `apply(bucket, entries)` takes committed entries of a bucket log in index order; each
 * entry's puts and deletes become versions numbered by the entry's index. The promise resolves once
 * the entries are durable (group commit: one fdatasync for everything submitted in the same
 * event-loop turn, across buckets) and visible to reads. Entries at or below the bucket's highest
 * accepted index are skipped, so re-applying after a restart is harmless.
 *
 * Reads are synchronous: `get` and `scan` at the latest version, at a snapshot's version, or at a
 * version an open snapshot pins (`atVersion`). A snapshot (`openSnapshot`) pins every bucket's
 * current version until `release()`.
 *
 * Backfill: `exportBucket` streams a bucket's state at a version as chunks; `installBucket` writes
 * such a stream into a fresh generation and switches to it atomically at the end; `dropBucket`
 * switches to an empty generation. Old generations are deleted in the background.
 *
 * Failure: any I/O error or detected corruption stops the engine; every later call rejects with
 * that error. Nothing is retried (docs/storage.md).
 */
import { assert } from '../core/lib/assert.js';
import type { BucketId, LogIndex } from '../core/lib/ids.js';
import { KEY_BYTES_MAX } from '../core/lib/limits.js';
import { Applier } from './applier.js';
import { BucketTable, type BucketState } from './buckets.js';
import { Compactor, type CompactionReport } from './compaction.js';
import { StorageError } from './errors.js';
import { GroupCommit, toFailure } from './group-commit.js';
import { Table } from './index-store.js';
import { Maintenance } from './maintenance.js';
import { Memtable } from './memtable.js';
import {
  CHECKPOINT_KEY,
  encodeCheckpoint,
  generationRange,
  ROW_PREFIX_BYTES,
  rowKey,
  type Checkpoint,
} from './meta.js';
import { decodeVersions, selectVersion, type StoredVersion } from './mvcc.js';
import { resolveStorageOptions, type StorageOptions } from './options.js';
import { payloadChecksum, RECORD_PAYLOAD_BYTES_MAX, RecordType } from './record.js';
import { recover, type RecoveryReport } from './recovery.js';
import { SegmentLog, type PendingRecord } from './segment-log.js';
import { SnapshotRegistry, type Pin, type Snapshot } from './snapshots.js';
import { exportChunks, installChunks, type BucketChunk } from './transfer.js';
import type {
  BucketInfo,
  EngineComponents,
  EngineStats,
  Entry,
  ReadOptions,
  ScanQuery,
  ScanResult,
  ScanRow,
  Versioned,
} from './types.js';
import { busy, checkBucket, checkKey, checkOps, invalid, scanBounds } from './validate.js';
import { verifyStore, type VerifyReport } from './verify.js';
import { applyChecksums, encodeApply, encodeBucketGeneration } from './wal-records.js';

export type { Snapshot } from './snapshots.js';
export type * from './types.js';
export { checkKey, checkValue, prefixEnd } from './validate.js';
export type { BucketChunk } from './transfer.js';
export type { VerifyReport } from './verify.js';

/** The storage engine of one node; see the file comment. Open with {@link Engine.open}. */
export class Engine {
  /** What recovery found when this engine opened. */
  readonly recovery: RecoveryReport;
  private readonly log: SegmentLog;
  private readonly memtable: Memtable;
  private readonly buckets = new BucketTable();
  private readonly snapshots: SnapshotRegistry;
  private readonly applier: Applier;
  private readonly commit: GroupCommit;
  private readonly maintenance: Maintenance;
  private readonly compactor: Compactor;
  private readonly schedule: (fn: () => void) => void;
  private readonly timers: ReturnType<typeof setInterval>[] = [];
  private failure: Error | null = null;
  private closed = false;
  private checkpointScheduled = false;
  private checkpoints = 0;
  private lastCheckpoint: Checkpoint;

  private constructor(
    private readonly components: EngineComponents,
    readonly options: StorageOptions,
  ) {
    this.schedule = components.schedule ?? ((fn) => void setImmediate(fn));
    this.log = new SegmentLog(components.fs, { segmentBytesTarget: options.segmentBytesTarget });
    this.memtable = new Memtable(components.index);
    this.snapshots = new SnapshotRegistry(options.snapshotsMax, () => this.maintenance.request());
    this.applier = new Applier(
      this.memtable,
      this.log,
      this.buckets,
      this.snapshots,
      options.inlineValueBytesMax,
    );
    this.commit = new GroupCommit(
      this.log,
      options,
      this.schedule,
      () => this.afterBatch(),
      (error) => this.fail(error),
    );
    const parts = {
      memtable: this.memtable,
      buckets: this.buckets,
      snapshots: this.snapshots,
      applier: this.applier,
    };
    this.maintenance = new Maintenance(parts, options.maintenanceRowsPerStep, {
      schedule: this.schedule,
      afterStep: () => this.maybeCheckpoint(),
      onError: (error) => this.fail(error),
      active: () => this.usable,
    });
    this.compactor = new Compactor({ log: this.log, applier: this.applier }, options, {
      now: components.now ?? (() => performance.now()),
      sleep: components.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
      checkpoint: () => this.checkpoint(),
      afterStep: () => this.maybeCheckpoint(),
      checkpointSegment: () => this.lastCheckpoint.segment,
      check: () => this.checkUsable(),
    });
    this.recovery = recover({
      ...components,
      log: this.log,
      buckets: this.buckets,
      applier: this.applier,
    });
    this.lastCheckpoint = this.log.position();
  }

  /**
   * Opens the store on `components` (recovering from whatever a crash left) and checkpoints the
   * recovered state. Throws `STORAGE_CORRUPT` when the files cannot be trusted; the components are
   * then left open for the caller to close (`openNodeStorage` does).
   */
  static async open(
    components: EngineComponents,
    options: Partial<StorageOptions> = {},
  ): Promise<Engine> {
    const engine = new Engine(components, resolveStorageOptions(options));
    engine.checkpoint();
    engine.maintenance.request();
    engine.startTimers();
    return Promise.resolve(engine);
  }

  /**
   * Applies committed entries of `bucket`, in index order. Resolves when they are durable and
   * visible. Each entry is atomic; the entries of one call become durable in order, so after a
   * crash a prefix of an unresolved call may be there (`appliedIndex` says how far). Entries at or
   * below the highest index already accepted are skipped. Rejects with `KEY_EMPTY`,
   * `KEY_TOO_LARGE`, `VALUE_TOO_LARGE`, `ENTRY_TOO_LARGE`, `INVALID_ARGUMENT` (indexes not
   * increasing), `BUCKET_BUSY` (an install is under way), `QUEUE_FULL`, or the engine's failure;
   * a call rejected for any reason but the engine's failure wrote nothing and may be retried.
   */
  apply(bucket: BucketId, entries: readonly Entry[]): Promise<void> {
    try {
      this.checkUsable();
      checkBucket(bucket);
      const current = this.buckets.get(bucket);
      if (current?.installActive === true) throw busy(bucket);
      const accepted = current?.acceptedIndex ?? 0;
      const generation = current?.acceptedGeneration ?? 1;
      const records: PendingRecord[] = [];
      let previous = 0;
      for (const entry of entries) {
        if (!Number.isSafeInteger(entry.index) || entry.index < 1 || entry.index <= previous) {
          throw invalid(`entry indexes must be increasing integers >= 1 (got ${entry.index})`);
        }
        previous = entry.index;
        checkOps(entry.ops, this.options.opsPerEntryMax);
        if (entry.index <= accepted) continue;
        const payload = encodeApply(bucket, generation, entry.index, entry.ops);
        if (payload.length > RECORD_PAYLOAD_BYTES_MAX) {
          throw new StorageError(
            'ENTRY_TOO_LARGE',
            `entry ${entry.index} is ${payload.length} bytes`,
            {
              bytes: payload.length,
              limit: RECORD_PAYLOAD_BYTES_MAX,
            },
          );
        }
        records.push(this.applyRecord(payload, entry.ops));
      }
      const promise = this.submit(records);
      if (records.length > 0) this.buckets.ensure(bucket).acceptedIndex = previous;
      return promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** The value of `key` in `bucket` (at the latest version unless `options` say otherwise). */
  get(bucket: BucketId, key: Uint8Array, options: ReadOptions = {}): Versioned | null {
    this.checkUsable();
    checkBucket(bucket);
    checkKey(key);
    const view = this.readView(bucket, options);
    if (view === null) return null;
    const v = selectVersion(this.applier.readRow(bucket, view.generation, key), view.version);
    if (v === undefined || v.kind === 'tombstone') return null;
    return { value: this.materialize(v), version: v.version as LogIndex };
  }

  /** Rows of `bucket` in key order, bounded by `query.limit` (at most `scanRowsMax`). */
  scan(bucket: BucketId, query: ScanQuery): ScanResult {
    this.checkUsable();
    checkBucket(bucket);
    const limit = query.limit;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > this.options.scanRowsMax) {
      throw invalid(`scan limit must be 1..${this.options.scanRowsMax}`);
    }
    const [start, end] = scanBounds(query);
    const view = this.readView(bucket, query);
    if (view === null) return { rows: [], resumeAt: null };
    const from = rowKey(bucket, view.generation, start);
    const to =
      end === null
        ? generationRange(bucket, view.generation)[1]
        : rowKey(bucket, view.generation, end);
    const rows: ScanRow[] = [];
    for (const [key, bytes] of this.memtable.entries(Table.Rows, from, to)) {
      const v = selectVersion(decodeVersions(bytes), view.version);
      if (v === undefined || v.kind === 'tombstone') continue;
      const userKey = Buffer.allocUnsafe(key.length - ROW_PREFIX_BYTES);
      userKey.set(key.subarray(ROW_PREFIX_BYTES));
      rows.push({ key: userKey, value: this.materialize(v), version: v.version as LogIndex });
      if (rows.length === limit)
        return { rows, resumeAt: Buffer.concat([userKey, Buffer.from([0])]) };
    }
    return { rows, resumeAt: null };
  }

  /** Opens a snapshot of every bucket at its current version. Release it when done. */
  openSnapshot(): Snapshot {
    this.checkUsable();
    if (!this.snapshots.hasRoom()) {
      throw new StorageError('QUEUE_FULL', 'too many open snapshots', {
        limit: this.options.snapshotsMax,
      });
    }
    const pins = new Map<number, Pin>();
    for (const state of this.buckets.all()) {
      pins.set(state.bucket, { generation: state.generation, version: state.appliedIndex });
    }
    return this.snapshots.create(pins);
  }

  /** The index of the last applied entry of `bucket` (0 when none). */
  appliedIndex(bucket: BucketId): LogIndex {
    return (this.buckets.get(bucket)?.appliedIndex ?? 0) as LogIndex;
  }

  /** Every bucket with data or an install under way, ascending. */
  bucketInfos(): BucketInfo[] {
    return this.buckets
      .all()
      .filter((s) => s.appliedIndex > 0 || s.installing !== 0)
      .map((s) => ({
        bucket: s.bucket as BucketId,
        appliedIndex: s.appliedIndex as LogIndex,
        generation: s.generation,
        installing: s.installing !== 0,
      }));
  }

  /**
   * Streams the state of `bucket` as chunks in key order, the last one marked `last`: at
   * `snapshot`'s version, at `atVersion` (the applied index or a pinned version), or at the latest
   * version. Without a snapshot, the version is pinned when iteration starts and released when it
   * ends (also when the consumer stops early).
   */
  exportBucket(bucket: BucketId, options: ReadOptions = {}): AsyncGenerator<BucketChunk> {
    this.checkUsable();
    checkBucket(bucket);
    this.readView(bucket, options);
    return exportChunks(this.transferHost(), bucket, options);
  }

  /**
   * Installs a stream made by `exportBucket` (on any node) as the state of `bucket`, replacing what
   * the bucket held, atomically when the last chunk is durable. Until then reads see the old state
   * and `apply`/`dropBucket` reject with `BUCKET_BUSY`. A bad or incomplete stream rejects with
   * `INSTALL_INVALID` and leaves the old state.
   */
  installBucket(
    bucket: BucketId,
    chunks: AsyncIterable<BucketChunk>,
  ): Promise<{ version: LogIndex }> {
    try {
      this.checkUsable();
      checkBucket(bucket);
      if (this.buckets.get(bucket)?.installActive === true) throw busy(bucket);
      return installChunks(this.transferHost(), bucket, chunks);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Drops every version of `bucket`; resolves when the drop is durable. Space is freed later. */
  async dropBucket(bucket: BucketId): Promise<void> {
    this.checkUsable();
    checkBucket(bucket);
    const state = this.buckets.get(bucket);
    if (state === undefined) return;
    if (state.installActive) throw busy(bucket);
    const generation = this.nextGeneration(state);
    // Queued (or thrown) first: entries accepted after this point belong to the new generation.
    const done = this.submitBucketRecord(RecordType.Drop, bucket, generation);
    state.acceptedGeneration = generation;
    state.acceptedIndex = 0;
    await done;
    this.maintenance.request();
  }

  /**
   * Commits the memtable and the current log position to the index (one durable commit), then
   * deletes segments nothing needs any more. Runs on its own when the memtable fills and on a timer.
   */
  checkpoint(): void {
    this.checkUsable();
    const position = this.log.position();
    const writes = [
      ...this.buckets.takeWrites(),
      ...this.log.takeManifestWrites(),
      { table: Table.Meta, key: CHECKPOINT_KEY, value: encodeCheckpoint(position) },
    ];
    try {
      this.memtable.flush(writes);
      this.lastCheckpoint = position;
      this.checkpoints += 1;
      this.log.removeGarbage(position.segment);
    } catch (error) {
      this.fail(error);
      throw this.failure;
    }
  }

  /**
   * Rewrites sealed segments whose live share is at most `compactionLiveRatioMax` into new
   * segments, within the I/O budget, then deletes them. Reads and writes continue meanwhile.
   */
  compact(): Promise<CompactionReport> {
    try {
      this.checkUsable();
      return this.compactor.run();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Checks every row, pointer and live-byte count, and (by default) every value's checksum; throws
   * `STORAGE_CORRUPT` on the first inconsistency. Reads the whole index: a tool, not a hot path.
   */
  verify(options: { readValues?: boolean } = {}): VerifyReport {
    this.checkUsable();
    const parts = {
      memtable: this.memtable,
      log: this.log,
      buckets: this.buckets,
      snapshots: this.snapshots,
    };
    return verifyStore(parts, options.readValues ?? true);
  }

  /** Runs pending background maintenance to completion now (tests and tools). */
  runMaintenance(): void {
    this.checkUsable();
    this.maintenance.runToCompletion();
  }

  stats(): EngineStats {
    let segmentBytes = 0;
    let liveBytes = 0;
    for (const meta of this.log.segments.values()) {
      segmentBytes += meta.bytes;
      liveBytes += meta.liveBytes;
    }
    return {
      batches: this.commit.stats.batches,
      records: this.commit.stats.records,
      payloadBytes: this.commit.stats.bytes,
      checkpoints: this.checkpoints,
      segments: this.log.segments.size,
      segmentBytes,
      liveBytes,
      memtableRows: this.memtable.rows,
      snapshots: this.snapshots.count,
    };
  }

  /**
   * Flushes pending writes, waits for compaction, checkpoints and closes the files. The files are
   * closed even when the final checkpoint fails (the error is rethrown).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    for (const timer of this.timers) clearInterval(timer);
    try {
      if (this.failure === null) {
        this.commit.flush();
        await this.compactor.stop();
        if (this.failure === null) this.checkpoint();
      }
    } finally {
      this.closed = true;
      this.commit.fail(new StorageError('STORAGE_CLOSED', 'the storage engine is closed'));
      this.snapshots.releaseAll();
      this.components.fs.close();
      await this.components.index.close();
    }
  }

  /** An Apply record; values stored by pointer are checksummed once, for record and pointer. */
  private applyRecord(payload: Buffer, ops: Entry['ops']): PendingRecord {
    const separate = this.options.inlineValueBytesMax + 1;
    if (!ops.some((op) => op.kind === 'put' && op.value.length >= separate)) {
      return { type: RecordType.Apply, payload, crc: payloadChecksum(payload) };
    }
    const { crc, valueCrcs } = applyChecksums(payload, ops, separate);
    return { type: RecordType.Apply, payload, crc, valueCrcs };
  }

  /**
   * Submits checked records to the group commit; each is applied once durable. Throws (queueing
   * nothing) when the queue is full or the engine has failed.
   */
  private submit(records: readonly PendingRecord[]): Promise<void> {
    return this.commit.submit({
      records,
      apply: (positions) => {
        records.forEach((r, i) => {
          const at = positions[i];
          assert(at !== undefined, 'a position for every record');
          this.applier.applyRecord(r.type, r.payload, at, r.valueCrcs);
        });
      },
    });
  }

  private get usable(): boolean {
    return !this.closed && this.failure === null;
  }

  private transferHost(): Parameters<typeof exportChunks>[0] {
    return {
      options: this.options,
      check: () => this.checkUsable(),
      checkSnapshot: (s) => this.checkSnapshot(s),
      pinBucket: (bucket, atVersion) => {
        if (!this.snapshots.hasRoom()) {
          throw new StorageError('QUEUE_FULL', 'too many open snapshots', {
            limit: this.options.snapshotsMax,
          });
        }
        const pin = this.readView(bucket, { atVersion }) ?? { generation: 0, version: 0 };
        return this.snapshots.create(new Map([[bucket, pin]]));
      },
      rows: (from, to) => this.memtable.entries(Table.Rows, from, to),
      materialize: (v) => this.materialize(v),
      beginInstall: (bucket) => {
        const state = this.buckets.ensure(bucket);
        state.installActive = true;
        return this.nextGeneration(state);
      },
      endInstall: (bucket, generation, version) => {
        const state = this.buckets.ensure(bucket);
        if (version !== null) {
          state.acceptedGeneration = generation;
          state.acceptedIndex = version;
        }
        state.installActive = false;
        this.maintenance.request();
      },
      submit: (records) => this.submit(records),
      submitBucketRecord: (type, bucket, generation) =>
        this.submitBucketRecord(type, bucket, generation),
    };
  }

  private submitBucketRecord(
    type: typeof RecordType.Drop | typeof RecordType.InstallBegin | typeof RecordType.InstallAbort,
    bucket: number,
    generation: number,
  ): Promise<void> {
    const payload = encodeBucketGeneration(bucket, generation);
    return this.submit([{ type, payload, crc: payloadChecksum(payload) }]);
  }

  private nextGeneration(state: BucketState): number {
    const generation = state.nextGeneration;
    state.nextGeneration += 1;
    this.buckets.touch(state.bucket);
    return generation;
  }

  /** The generation and version a read sees, or null when the bucket holds nothing for it. */
  private readView(bucket: number, options: ReadOptions): Pin | null {
    if (options.snapshot !== undefined) {
      if (options.atVersion !== undefined) throw invalid('give a snapshot or atVersion, not both');
      this.checkSnapshot(options.snapshot);
      return options.snapshot.pin(bucket) ?? null;
    }
    const state = this.buckets.get(bucket);
    const at = options.atVersion;
    if (at === undefined || (state !== undefined && at === state.appliedIndex)) {
      return state === undefined
        ? null
        : { generation: state.generation, version: state.appliedIndex };
    }
    if (!Number.isSafeInteger(at) || at < 0) throw invalid(`bad version ${at}`);
    if (state !== undefined && this.snapshots.pins(bucket, state.generation).includes(at)) {
      return { generation: state.generation, version: at };
    }
    throw new StorageError(
      'VERSION_UNAVAILABLE',
      `version ${at} of bucket ${bucket} is not retained`,
      {
        bucket,
        version: at,
        appliedIndex: state?.appliedIndex ?? 0,
      },
    );
  }

  private materialize(v: Exclude<StoredVersion, { kind: 'tombstone' }>): Uint8Array {
    if (v.kind === 'inline') return Buffer.from(v.value);
    return this.log.readValue(v.pointer);
  }

  private checkSnapshot(snapshot: Snapshot): void {
    if (!this.snapshots.owns(snapshot))
      throw invalid('the snapshot is released or not from this engine');
  }

  private checkUsable(): void {
    if (this.failure !== null) throw this.failure;
    if (this.closed) throw new StorageError('STORAGE_CLOSED', 'the storage engine is closed');
  }

  private afterBatch(): void {
    this.log.maybeRoll();
    this.maybeCheckpoint();
  }

  private maybeCheckpoint(): void {
    const full =
      this.memtable.rows >= this.options.memtableRowsMax ||
      this.memtable.bytes >= this.options.memtableBytesMax;
    if (full) this.scheduleCheckpoint();
  }

  private scheduleCheckpoint(): void {
    if (this.checkpointScheduled || !this.usable) return;
    this.checkpointScheduled = true;
    this.schedule(() => {
      this.checkpointScheduled = false;
      if (this.usable) this.checkpoint();
    });
  }

  private startTimers(): void {
    const every = (ms: number, fn: () => void): void => {
      if (ms === 0) return;
      const timer = setInterval(fn, ms);
      timer.unref();
      this.timers.push(timer);
    };
    every(this.options.checkpointIntervalMs, () => {
      if (this.usable && this.memtable.rows > 0) this.scheduleCheckpoint();
    });
    every(this.options.compactionIntervalMs, () => {
      if (this.usable && !this.compactor.running)
        this.compactor.run().catch((error) => this.fail(error));
    });
  }

  private fail(error: unknown): void {
    if (this.failure !== null) return;
    this.failure = toFailure(error);
    this.commit.fail(this.failure);
    for (const timer of this.timers) clearInterval(timer);
  }
}

assert(KEY_BYTES_MAX + 8 < 0xffff, 'row keys fit the u16 key lengths of records');
