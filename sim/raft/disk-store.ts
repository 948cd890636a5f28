/**
 * The Raft store on a simulated disk, with the failure semantics of a real one: what was not fsynced
 * may be lost on a crash, and the last record may be torn.
 *
 * Files (record format: src/core/raft/codec.ts):
 * - `raft/wal`: an append-only log of frames. Each `write` appends one disk record holding the
 *   Ready's entries and then its hard state; `sync` fsyncs it. Recovery keeps the frames up to the
 *   first torn or corrupt one and cuts the file there.
 * - `raft/snapshot`: the latest snapshot, one frame, replaced atomically.
 * A snapshot (received or made locally) is written first, then the WAL is rewritten atomically to
 * hold only what follows it. A crash between the two leaves entries the snapshot covers in the WAL;
 * recovery skips them.
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

const WAL = 'raft/wal';
const SNAPSHOT = 'raft/snapshot';

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
    const walBytes = disk.read(WAL);
    if (walBytes === null) return;
    const { records, validBytes } = readFrames(walBytes);
    if (validBytes < walBytes.length) disk.truncate(WAL, validBytes); // the torn tail
    for (const record of records) this.image.replay(record);
  }

  load(): PersistentState {
    return this.image.state();
  }

  write(update: StoreWrite): void {
    this.image.apply(update);
    if (update.snapshot !== null) {
      this.disk.writeAtomic(SNAPSHOT, frameRecord({ kind: 'snapshot', snapshot: update.snapshot }));
      this.rewriteWal();
      return;
    }
    const records: RaftRecord[] = update.entries.map((entry) => ({ kind: 'entry', entry }));
    if (update.hardState !== null)
      records.push({ kind: 'hard-state', hardState: update.hardState });
    if (records.length > 0) this.disk.append(WAL, frameRecords(records));
  }

  sync(): void {
    this.disk.fsync(WAL);
  }

  compact(snapshot: Snapshot): void {
    if (snapshot.meta.index <= this.image.offset()) return;
    this.image.compact(snapshot);
    this.disk.writeAtomic(SNAPSHOT, frameRecord({ kind: 'snapshot', snapshot }));
    this.rewriteWal();
  }

  /** Replaces the WAL with the entries after the snapshot and the hard state, durably. */
  private rewriteWal(): void {
    const records: RaftRecord[] = this.image.entries.map((entry) => ({ kind: 'entry', entry }));
    records.push({ kind: 'hard-state', hardState: this.image.hardState });
    this.disk.writeAtomic(WAL, frameRecords(records));
  }
}
