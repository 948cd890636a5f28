/**
 * Options of the storage engine, each with its unit and the reason for its default. Validated
 * once, when the engine opens.
 */
import { assert } from '../core/lib/assert.js';
import { RECORD_PAYLOAD_BYTES_MAX } from './record.js';

/** Options of the storage engine; every field has its unit and the reason for its default. */
export interface StorageOptions {
  /**
   * A WAL segment is sealed and a new one started past this size (bytes). 64 MiB, like etcd's WAL
   * segments: large enough that rolling (a file creation and two extra syncs) is rare, small enough
   * that compaction works in reasonable units.
   */
  readonly segmentBytesTarget: number;
  /**
   * Values up to this size (bytes) are stored inline in the index; larger ones stay in the log and
   * the index holds a pointer. 1 KiB keeps the index compact while small values need no second
   * read on a get.
   */
  readonly inlineValueBytesMax: number;
  /** Most records waiting for one group commit. Bounds memory and the latency of one batch. */
  readonly queueRecordsMax: number;
  /** Most payload bytes waiting for one group commit: four maximal values. */
  readonly queueBytesMax: number;
  /** Most ops in one entry; an entry is one record and one atomic step. */
  readonly opsPerEntryMax: number;
  /**
   * Pending index rows that trigger a checkpoint. A checkpoint is one synced LMDB commit; 16k rows
   * keep it under ~10 ms on the bench machine while amortising its two fdatasyncs.
   */
  readonly memtableRowsMax: number;
  /** Pending index bytes that trigger a checkpoint (inline values count here). */
  readonly memtableBytesMax: number;
  /**
   * Longest time (ms) between checkpoints while writes arrive; bounds how much log a restart
   * replays. 0 disables the timer (the simulator checkpoints explicitly).
   */
  readonly checkpointIntervalMs: number;
  /** Most rows a scan may return in one call. */
  readonly scanRowsMax: number;
  /** Most snapshots open at once; each pins versions and generations. */
  readonly snapshotsMax: number;
  /** Target size of one export chunk (bytes); a chunk may exceed it by one value. */
  readonly exportChunkBytesTarget: number;
  /** Most rows in one export chunk. */
  readonly exportChunkRowsMax: number;
  /** Rows the background version collector and generation cleaner handle per step. */
  readonly maintenanceRowsPerStep: number;
  /** A sealed segment is rewritten when at most this share of its bytes is live (0..1). */
  readonly compactionLiveRatioMax: number;
  /**
   * Compaction I/O budget (bytes read plus written per second). 32 MiB/s is an eighth of the bench
   * disk's sequential bandwidth, so foreground writes keep most of it.
   */
  readonly compactionBytesPerSecond: number;
  /**
   * How often (ms) the engine looks for segments to compact; 0 disables the timer (compaction then
   * runs only when `compact()` is called).
   */
  readonly compactionIntervalMs: number;
}

/** The defaults; see each field of {@link StorageOptions}. */
export const defaultStorageOptions: StorageOptions = {
  segmentBytesTarget: 64 * 1024 * 1024,
  inlineValueBytesMax: 1024,
  queueRecordsMax: 16 * 1024,
  queueBytesMax: 64 * 1024 * 1024,
  opsPerEntryMax: 10_000,
  memtableRowsMax: 16 * 1024,
  memtableBytesMax: 16 * 1024 * 1024,
  checkpointIntervalMs: 1000,
  scanRowsMax: 10_000,
  snapshotsMax: 1024,
  exportChunkBytesTarget: 1024 * 1024,
  exportChunkRowsMax: 4096,
  maintenanceRowsPerStep: 1024,
  compactionLiveRatioMax: 0.5,
  compactionBytesPerSecond: 32 * 1024 * 1024,
  compactionIntervalMs: 5000,
};

/** `options` over the defaults, checked. */
export function resolveStorageOptions(options: Partial<StorageOptions> = {}): StorageOptions {
  const o = { ...defaultStorageOptions, ...options };
  const positive = (name: keyof StorageOptions): void => {
    const v = o[name];
    assert(Number.isSafeInteger(v) && v > 0, `storage option ${name} must be a positive integer`);
  };
  const nonNegative = (name: keyof StorageOptions): void => {
    const v = o[name];
    assert(Number.isSafeInteger(v) && v >= 0, `storage option ${name} must be an integer >= 0`);
  };
  for (const name of [
    'segmentBytesTarget',
    'inlineValueBytesMax',
    'queueRecordsMax',
    'queueBytesMax',
    'opsPerEntryMax',
    'memtableRowsMax',
    'memtableBytesMax',
    'scanRowsMax',
    'snapshotsMax',
    'exportChunkBytesTarget',
    'exportChunkRowsMax',
    'maintenanceRowsPerStep',
    'compactionBytesPerSecond',
  ] as const) {
    positive(name);
  }
  nonNegative('checkpointIntervalMs');
  nonNegative('compactionIntervalMs');
  assert(o.segmentBytesTarget >= 4096, 'segmentBytesTarget >= 4 KiB');
  assert(o.segmentBytesTarget <= 1024 * 1024 * 1024, 'segmentBytesTarget <= 1 GiB');
  assert(o.exportChunkBytesTarget <= RECORD_PAYLOAD_BYTES_MAX / 2, 'export chunks fit a record');
  assert(o.compactionLiveRatioMax >= 0 && o.compactionLiveRatioMax < 1, 'live ratio in [0, 1)');
  return o;
}
