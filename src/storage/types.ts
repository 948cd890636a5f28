/**
 * The types of the storage engine's API (engine.ts), in their own module so that callers
 * (replication, backfill, the server) can import them without the implementation.
 */
import type { BucketId, LogIndex } from '../core/lib/ids.js';
import type { FileSystem } from './file-system.js';
import type { IndexStore } from './index-store.js';
import type { Snapshot } from './snapshots.js';
import type { Op } from './wal-records.js';

export type { Op } from './wal-records.js';

/** One committed entry of a bucket log. */
export interface Entry {
  readonly index: LogIndex;
  readonly ops: readonly Op[];
}

/** Where a read looks: the latest version (default), a snapshot, or a pinned version. */
export interface ReadOptions {
  readonly snapshot?: Snapshot;
  readonly atVersion?: number;
}

/** A value and the version (bucket log index) that wrote it. */
export interface Versioned {
  readonly value: Uint8Array;
  readonly version: LogIndex;
}

/** A scan: keys with `prefix`, or in [start, end) (either bound optional), at most `limit`. */
export interface ScanQuery extends ReadOptions {
  readonly prefix?: Uint8Array;
  readonly start?: Uint8Array;
  readonly end?: Uint8Array;
  readonly limit: number;
}

/** One row of a scan. */
export interface ScanRow extends Versioned {
  readonly key: Uint8Array;
}

/** A page of a scan. */
export interface ScanResult {
  /** Rows in ascending key order. */
  readonly rows: readonly ScanRow[];
  /** Where to continue when `limit` rows were returned (the next scan may be empty), else null. */
  readonly resumeAt: Uint8Array | null;
}

/** What the engine knows of a bucket. */
export interface BucketInfo {
  readonly bucket: BucketId;
  readonly appliedIndex: LogIndex;
  readonly generation: number;
  readonly installing: boolean;
}

/** Counters and sizes, for metrics and benchmarks. */
export interface EngineStats {
  readonly batches: number;
  readonly records: number;
  readonly payloadBytes: number;
  readonly checkpoints: number;
  readonly segments: number;
  readonly segmentBytes: number;
  readonly liveBytes: number;
  readonly memtableRows: number;
  readonly snapshots: number;
}

/** What the engine runs on. */
export interface EngineComponents {
  readonly fs: FileSystem;
  readonly index: IndexStore;
  /** Runs `fn` after the current event-loop turn; `setImmediate` by default. */
  readonly schedule?: (fn: () => void) => void;
  /** Milliseconds of a monotonic clock; `performance.now` by default. */
  readonly now?: () => number;
  /** Resolves after `ms` milliseconds; a `setTimeout` promise by default. */
  readonly sleep?: (ms: number) => Promise<void>;
}
