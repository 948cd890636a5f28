/**
 * The metadata log's durable store on LMDB (`lmdb` package), implementing the core's `RaftStore`
 * contract (src/core/raft/store.ts).
 *
 * Layout, in one LMDB environment with ordered-binary keys and binary values (the record payloads
 * of src/core/raft/codec.ts, so every store shares one format):
 *   'hard-state'      → hard-state record
 *   'snapshot'        → snapshot record (meta and the application's state)
 *   ['entry', index]  → entry record, for every index after the snapshot
 *
 * Durability. `write` only buffers; `sync` applies every buffered write in one `transactionSync`,
 * which by default commits *and flushes to disk* before it returns (lmdb-js flags ABORTABLE |
 * SYNCHRONOUS_COMMIT, without NO_SYNC_FLUSH). Note that lmdb-js's `putSync` outside a transaction
 * does *not* wait for the flush when `overlappingSync` is on (the default on Linux), and that the
 * environment must not be opened with `noSync`: either would let the node acknowledge what a power
 * cut can lose. A crash before `sync` loses the buffered writes, as the contract allows; one LMDB
 * transaction is atomic, so a Ready is never half-applied. `compact` is durable on return.
 * Group commit comes for free: one sync covers every Ready written since the last.
 */
import { open, type RootDatabase } from 'lmdb';
import { assert } from '../core/lib/assert.js';
import { logIndex, type LogIndex } from '../core/lib/ids.js';
import {
  decodeRecord,
  encodeRecord,
  initialHardState,
  type Entry,
  type HardState,
  type PersistentState,
  type RaftStore,
  type Snapshot,
  type StoreWrite,
} from '../core/raft/index.js';

type Key = string | [string, number];

const HARD_STATE: Key = 'hard-state';
const SNAPSHOT: Key = 'snapshot';
const entryKey = (index: number): Key => ['entry', index];

export interface LmdbRaftStoreOptions {
  /** Directory of the LMDB environment; created if missing. */
  readonly path: string;
}

export class LmdbRaftStore implements RaftStore {
  private readonly db: RootDatabase<Uint8Array, Key>;
  private pending: StoreWrite[] = [];
  /** Index of the snapshot (0 without one): stored entries start after it. */
  private offset: LogIndex;
  /** Index of the last stored entry (durable). */
  private last: LogIndex;

  constructor(options: LmdbRaftStoreOptions) {
    this.db = open<Uint8Array, Key>({
      path: options.path,
      encoding: 'binary',
      keyEncoding: 'ordered-binary',
      noSync: false,
    });
    this.offset = this.readSnapshot()?.meta.index ?? logIndex(0);
    const lastKey = this.db.getKeys({
      start: ['entry', Infinity],
      end: ['entry', -1],
      reverse: true,
      limit: 1,
    });
    let last = this.offset;
    for (const key of lastKey) last = logIndex(Math.max(last, (key as [string, number])[1]));
    this.last = last;
  }

  load(): PersistentState {
    const hsBytes = this.db.get(HARD_STATE);
    let hardState: HardState = initialHardState;
    if (hsBytes !== undefined) {
      const record = decodeRecord(hsBytes);
      assert(record.kind === 'hard-state', 'lmdb raft store: hard-state key holds a hard state');
      hardState = record.hardState;
    }
    const entries: Entry[] = [];
    for (const { value } of this.db.getRange({
      start: entryKey(this.offset + 1),
      end: entryKey(Infinity),
    })) {
      const record = decodeRecord(value);
      assert(record.kind === 'entry', 'lmdb raft store: entry key holds an entry');
      assert(
        record.entry.index === this.offset + entries.length + 1,
        'lmdb raft store: entries are contiguous',
      );
      entries.push(record.entry);
    }
    return { hardState, snapshot: this.readSnapshot(), entries };
  }

  write(update: StoreWrite): void {
    this.pending.push(update);
  }

  sync(): void {
    if (this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    this.db.transactionSync(() => {
      for (const update of pending) this.applyInTransaction(update);
    });
  }

  /**
   * `sync` with the commit and its flush on lmdb's write thread: resolves once the writes are
   * durable. One at a time; nothing else is written meanwhile.
   */
  async syncAsync(): Promise<void> {
    if (this.pending.length === 0) return;
    const pending = this.pending;
    this.pending = [];
    await this.db.transaction(() => {
      for (const update of pending) this.applyInTransaction(update);
    });
  }

  compact(snapshot: Snapshot): void {
    this.sync();
    const index = snapshot.meta.index;
    if (index <= this.offset) return;
    assert(index <= this.last, 'lmdb raft store: a local snapshot covers only stored entries');
    this.db.transactionSync(() => {
      this.db.putSync(SNAPSHOT, encodeRecord({ kind: 'snapshot', snapshot }));
      for (let i = this.offset + 1; i <= index; i++) this.db.removeSync(entryKey(i));
    });
    this.offset = index;
  }

  /** Closes the environment; buffered writes that were never synced are lost, as on a crash. */
  async close(): Promise<void> {
    this.pending = [];
    await this.db.close();
  }

  private applyInTransaction(update: StoreWrite): void {
    if (update.snapshot !== null) {
      this.db.putSync(SNAPSHOT, encodeRecord({ kind: 'snapshot', snapshot: update.snapshot }));
      for (let i = this.offset + 1; i <= this.last; i++) this.db.removeSync(entryKey(i));
      this.offset = update.snapshot.meta.index;
      this.last = this.offset;
    }
    const first = update.entries[0];
    if (first !== undefined) {
      assert(
        first.index > this.offset,
        `lmdb raft store: entry ${first.index} inside the snapshot`,
      );
      assert(first.index <= this.last + 1, `lmdb raft store: gap before entry ${first.index}`);
      for (let i = first.index; i <= this.last; i++) this.db.removeSync(entryKey(i));
      for (const entry of update.entries) {
        this.db.putSync(entryKey(entry.index), encodeRecord({ kind: 'entry', entry }));
      }
      this.last = (update.entries.at(-1) as Entry).index;
    }
    if (update.hardState !== null) {
      this.db.putSync(
        HARD_STATE,
        encodeRecord({ kind: 'hard-state', hardState: update.hardState }),
      );
    }
  }

  private readSnapshot(): Snapshot | null {
    const bytes = this.db.get(SNAPSHOT);
    if (bytes === undefined) return null;
    const record = decodeRecord(bytes);
    assert(record.kind === 'snapshot', 'lmdb raft store: snapshot key holds a snapshot');
    return record.snapshot;
  }
}
