/**
 * The durable store behind a Raft node: term, vote, commit index, log and snapshot. The core never
 * calls it; the driver does, in the order a `Ready` fixes. Implementations: `MemoryRaftStore` (here,
 * for tests), `LmdbRaftStore` (src/storage/raft-store.ts) and the simulator's store on `SimDisk`.
 *
 * Contract, shared by every implementation and checked by one compliance suite:
 * - `write` applies one Ready's durable part: a snapshot first (it replaces the whole log), then the
 *   entries (an entry at index i replaces the stored entry at i and every later one), then the hard
 *   state. A write need not be durable until `sync()` returns; a crash may lose any suffix of the
 *   unsynced writes, never a synced one and never a middle part.
 * - `sync` makes every earlier write durable. The driver sends no message and applies no entry of a
 *   Ready before its sync has returned (persist before send).
 * - `compact` installs a snapshot the node made itself and drops the entries it covers; it is
 *   durable when it returns. It never loses an entry the snapshot does not cover.
 * - `load` returns what is durable: the hard state, the snapshot, and the entries that follow it
 *   contiguously.
 * A storage failure throws; the node stops (it is never retried silently).
 */
import { assert } from '../lib/assert.js';
import { logIndex, term, type LogIndex } from '../lib/ids.js';
import type { RaftRecord } from './codec.js';
import type { Entry, HardState, PersistentState, Snapshot } from './types.js';

/** The durable part of one Ready. */
export interface StoreWrite {
  readonly hardState: HardState | null;
  readonly snapshot: Snapshot | null;
  readonly entries: readonly Entry[];
}

/** See the module comment for the contract. */
export interface RaftStore {
  load(): PersistentState;
  write(update: StoreWrite): void;
  sync(): void;
  compact(snapshot: Snapshot): void;
}

/** The hard state of a store nothing was ever written to. */
export const initialHardState: HardState = { term: term(0), vote: null, commit: logIndex(0) };

/**
 * A log view shared by the stores that keep the log in memory and mirror it to disk: applies
 * writes and compactions to (hard state, snapshot, entries) with the contract's semantics.
 */
export class LogImage {
  hardState: HardState = initialHardState;
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];

  /** The index just before the first entry held. */
  offset(): LogIndex {
    return this.snapshot?.meta.index ?? logIndex(0);
  }

  apply(update: StoreWrite): void {
    if (update.snapshot !== null) {
      this.snapshot = update.snapshot;
      this.entries = [];
    }
    const first = update.entries[0];
    if (first !== undefined) {
      const offset = this.offset();
      assert(first.index > offset, `store: entry ${first.index} inside the snapshot`);
      assert(first.index <= offset + this.entries.length + 1, `store: gap before ${first.index}`);
      this.entries.length = first.index - offset - 1;
      this.entries.push(...update.entries);
    }
    if (update.hardState !== null) this.hardState = update.hardState;
  }

  /** Replays one record of a write-ahead log; entries covered by the snapshot are skipped. */
  replay(record: RaftRecord): void {
    switch (record.kind) {
      case 'hard-state':
        this.hardState = record.hardState;
        return;
      case 'entry':
        if (record.entry.index > this.offset())
          this.apply({ hardState: null, snapshot: null, entries: [record.entry] });
        return;
      case 'snapshot':
        if (record.snapshot.meta.index > this.offset())
          this.apply({ hardState: null, snapshot: record.snapshot, entries: [] });
        return;
    }
  }

  compact(snapshot: Snapshot): void {
    const offset = this.offset();
    if (snapshot.meta.index <= offset) return;
    assert(
      snapshot.meta.index <= offset + this.entries.length,
      'store: a local snapshot covers only entries the store holds',
    );
    this.entries = this.entries.slice(snapshot.meta.index - offset);
    this.snapshot = snapshot;
  }

  state(): PersistentState {
    return { hardState: this.hardState, snapshot: this.snapshot, entries: [...this.entries] };
  }
}

/** A store in memory: every write is durable at once (nothing is lost but the process). */
export class MemoryRaftStore implements RaftStore {
  private readonly image = new LogImage();
  /** Number of syncs, for tests that check the driver syncs before it sends. */
  syncs = 0;

  load(): PersistentState {
    return this.image.state();
  }

  write(update: StoreWrite): void {
    this.image.apply(update);
  }

  sync(): void {
    this.syncs += 1;
  }

  compact(snapshot: Snapshot): void {
    this.image.compact(snapshot);
  }
}
