/**
 * The Raft store on a simulated disk, with the failure semantics of a real one: what was not fsynced
 * may be lost on a crash, and the last record may be torn.
 *
 * Files (record format: src/core/raft/codec.ts):
 * - `raft/snapshot`: the latest snapshot, one frame, replaced atomically. It is the commit point of
 *   every change of snapshot.
 * - `raft/wal-S`: the write-ahead log that follows the snapshot at index S (0 without a snapshot):
 *   frames of entries and hard states, appended by `write` (one disk record per Ready, entries
 *   before the hard state) and fsynced by `sync`. Recovery keeps the frames up to the first torn or
 *   corrupt one and cuts the file there.
 *
 * A new snapshot (received from the leader, or made by `compact`) is installed in three steps:
 * write `raft/wal-S` with the entries after S and the hard state, atomically; replace
 * `raft/snapshot`, atomically; remove the old WAL. A crash before the second step leaves the old
 * snapshot and its WAL, untouched; after it, the new pair. Recovery reads the WAL named by the
 * snapshot and removes any other. (Rewriting one WAL in place after the snapshot would not do: a
 * crash in between would replay, after a snapshot received from the leader, entries of the
 * divergent history that the snapshot replaced.)
 */
import { assert } from '../../src/core/lib/assert.js';
import {
  LogImage,
  frameRecord,
  frameRecords,
  readFrames,
  type PersistentState,
  type RaftRecord,
  type RaftStore,
  type Snapshot,
  type StoreWrite,
} from '../../src/core/raft/index.js';
import type { SimDisk } from '../disk.js';

const SNAPSHOT = 'raft/snapshot';
const WAL_PREFIX = 'raft/wal-';

export class SimDiskRaftStore implements RaftStore {
  /** What has been written, synced or not: the page cache's view. */
  private readonly image = new LogImage();

  /** Opens the store, recovering from whatever survived on `disk`. */
  constructor(private readonly disk: SimDisk) {
    const snapshotBytes = disk.read(SNAPSHOT);
    if (snapshotBytes !== null) {
      const { records } = readFrames(snapshotBytes);
      const record = records[0];
      assert(record !== undefined && record.kind === 'snapshot', 'snapshot file is intact');
      this.image.replay(record);
    }
    const wal = this.walFile();
    for (const name of disk.list(WAL_PREFIX)) if (name !== wal) disk.remove(name);
    const walBytes = disk.read(wal);
    if (walBytes === null) return;
    const { records, validBytes } = readFrames(walBytes);
    if (validBytes < walBytes.length) disk.truncate(wal, validBytes); // the torn tail
    for (const record of records) this.image.replay(record);
  }

  load(): PersistentState {
    return this.image.state();
  }

  write(update: StoreWrite): void {
    if (update.snapshot !== null) {
      const oldWal = this.walFile();
      this.image.apply(update);
      this.installSnapshot(oldWal);
      return;
    }
    this.image.apply(update);
    const records: RaftRecord[] = update.entries.map((entry) => ({ kind: 'entry', entry }));
    if (update.hardState !== null)
      records.push({ kind: 'hard-state', hardState: update.hardState });
    if (records.length > 0) this.disk.append(this.walFile(), frameRecords(records));
  }

  sync(): void {
    this.disk.fsync(this.walFile());
  }

  compact(snapshot: Snapshot): void {
    if (snapshot.meta.index <= this.image.offset()) return;
    const oldWal = this.walFile();
    this.image.compact(snapshot);
    this.installSnapshot(oldWal);
  }

  /** The WAL that follows the current snapshot. */
  private walFile(): string {
    return `${WAL_PREFIX}${this.image.offset()}`;
  }

  /** Writes the image's snapshot and its WAL durably, in the order the module comment explains. */
  private installSnapshot(oldWal: string): void {
    const snapshot = this.image.snapshot;
    assert(snapshot !== null, 'installing a snapshot');
    const records: RaftRecord[] = this.image.entries.map((entry) => ({ kind: 'entry', entry }));
    records.push({ kind: 'hard-state', hardState: this.image.hardState });
    this.disk.writeAtomic(this.walFile(), frameRecords(records));
    this.disk.writeAtomic(SNAPSHOT, frameRecord({ kind: 'snapshot', snapshot }));
    if (oldWal !== this.walFile()) this.disk.remove(oldWal);
  }
}
