/**
 * The durable ordered key-value store under the index: three tables of byte keys and byte values,
 * read synchronously, written in atomic, durable commits. The engine keeps its own encodings on
 * top (row keys, version lists, metadata); the store knows nothing of buckets or versions.
 *
 * Two implementations share one compliance suite (test/storage/index-store.test.ts):
 * {@link MemoryIndexStore} here, for the simulator and unit tests, and `LmdbIndexStore`
 * (lmdb-index.ts) for real nodes.
 *
 * Contract:
 * - `commit` applies all writes atomically; when it returns they are durable and visible to reads.
 *   A crash never leaves part of a commit.
 * - `entries` yields keys in ascending byte order. It must be consumed before the next `commit`.
 * - Keys are 1..(8 + KEY_BYTES_MAX) bytes; values are at most a few MiB (version lists, metadata).
 */
import { assert } from '../core/lib/assert.js';
import { fromKeyString, SortedMap, toKeyString } from './sorted-map.js';

/** The tables of the index. Values are stored on disk: never renumber. */
export const Table = {
  /** Row key (bucket, generation, user key) -> version list. */
  Rows: 0,
  /** Row keys whose version list holds more than one version: work for the version collector. */
  Gc: 1,
  /** Engine metadata: the checkpoint, bucket states, the segment manifest. */
  Meta: 2,
} as const;
/** One of the index's tables. */
export type Table = (typeof Table)[keyof typeof Table];

/** Every table, in number order. */
export const TABLES: readonly Table[] = [Table.Rows, Table.Gc, Table.Meta];

/** One write of a commit: a put, or a delete when `value` is null. */
export interface IndexWrite {
  readonly table: Table;
  readonly key: Uint8Array;
  readonly value: Uint8Array | null;
}

/** A durable ordered store of three tables; see the file comment for the contract. */
export interface IndexStore {
  /** The value of `key`, or undefined. The returned bytes stay valid until the next commit. */
  get(table: Table, key: Uint8Array): Uint8Array | undefined;
  /** Entries with `start <= key < end` (to the end of the table when `end` is null), ascending. */
  entries(
    table: Table,
    start: Uint8Array,
    end: Uint8Array | null,
  ): Iterable<readonly [Uint8Array, Uint8Array]>;
  /** Applies `writes` in order, atomically and durably. */
  commit(writes: readonly IndexWrite[]): void;
  /** Releases the store. */
  close(): Promise<void>;
}

/**
 * The durable state of a {@link MemoryIndexStore}. It outlives store instances, the way a disk
 * outlives a process: a test "crashes" by dropping the engine and reopens on the same data.
 */
export class MemoryIndexData {
  readonly tables: SortedMap<Buffer>[] = TABLES.map((t) => new SortedMap<Buffer>(t + 1));
  commits = 0;
}

/** An {@link IndexStore} in memory: commits are atomic and "durable" in {@link MemoryIndexData}. */
export class MemoryIndexStore implements IndexStore {
  private closed = false;

  constructor(readonly data: MemoryIndexData = new MemoryIndexData()) {}

  get(table: Table, key: Uint8Array): Uint8Array | undefined {
    this.checkOpen();
    return this.data.tables[table]?.get(toKeyString(key));
  }

  *entries(
    table: Table,
    start: Uint8Array,
    end: Uint8Array | null,
  ): Iterable<readonly [Uint8Array, Uint8Array]> {
    this.checkOpen();
    const map = this.data.tables[table] as SortedMap<Buffer>;
    const endKey = end === null ? null : toKeyString(end);
    for (const [key, value] of map.range(toKeyString(start), endKey)) {
      yield [fromKeyString(key), value];
    }
  }

  commit(writes: readonly IndexWrite[]): void {
    this.checkOpen();
    // Check everything first, so that a bad write leaves no part of the commit behind.
    for (const write of writes) assert(write.key.length > 0, 'index keys are not empty');
    for (const write of writes) {
      const map = this.data.tables[write.table] as SortedMap<Buffer>;
      const key = toKeyString(write.key);
      if (write.value === null) map.delete(key);
      else map.set(key, Buffer.from(write.value));
    }
    this.data.commits += 1;
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private checkOpen(): void {
    assert(!this.closed, 'index store is closed');
  }
}
