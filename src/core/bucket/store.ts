/**
 * What a bucket replica needs of storage, and an in-memory implementation for tests and the
 * simulator. The storage engine (src/storage: segment log + LMDB) implements the same interface.
 *
 * Contract:
 * - `persist(ops)` stages durable writes; `sync()` makes every staged write durable (fdatasync).
 *   The replica's driver syncs before it sends the messages of the same Ready: an acknowledgement
 *   promises that what it acknowledges survives a crash.
 * - Ops apply in order. After a crash the store holds what was synced plus possibly a prefix of what
 *   was staged after (an append-only log that lost its tail), never a later op without the earlier.
 * - `load()` returns the durable state; the replica rebuilds its log, state machine and government
 *   from it and nothing else.
 * - `drop` deletes the bucket's log, snapshot and commit index; the meta written after it (the
 *   fencing epoch) stays, so a removed member still refuses older epochs.
 */
import { assert } from '../lib/assert.js';
import { logIndex } from '../lib/ids.js';
import type { LogEntry, LogIndex, PersistOp, ReplicaMeta, SnapshotImage } from './types.js';

/** The durable state of one replica of one bucket. */
export interface StoredBucket {
  readonly meta: ReplicaMeta | null;
  /** The last installed snapshot: the log continues after its base. */
  readonly snapshot: SnapshotImage | null;
  readonly entries: readonly LogEntry[];
  /** A commit index recorded lazily: every entry up to it was committed (it may lag). */
  readonly commit: LogIndex;
}

export interface BucketStore {
  /** The durable state, for boot. */
  load(): StoredBucket;
  /** Stages writes, applied in order. */
  persist(ops: readonly PersistOp[]): void;
  /** Makes every staged write durable. */
  sync(): void;
}

/** Draws for the crash model; the simulator passes its seeded PRNG. */
export interface CrashDraws {
  chance(p: number): boolean;
  int(n: number): number;
}

interface Durable {
  meta: ReplicaMeta | null;
  snapshot: SnapshotImage | null;
  entries: LogEntry[];
  commit: LogIndex;
}

/**
 * A BucketStore in memory with the failure model of a disk: `crash()` keeps the synced state and a
 * random prefix of the staged ops, the last of which, when an append, may keep only some of its
 * entries (a torn tail that the real engine's checksums cut off).
 */
export class MemoryBucketStore implements BucketStore {
  private durable: Durable = { meta: null, snapshot: null, entries: [], commit: logIndex(0) };
  private staged: PersistOp[] = [];
  /** Counters for tests and the simulator. */
  readonly stats = { syncs: 0, crashes: 0, lostOps: 0 };

  load(): StoredBucket {
    return {
      meta: this.durable.meta,
      snapshot: this.durable.snapshot,
      entries: [...this.durable.entries],
      commit: this.durable.commit,
    };
  }

  persist(ops: readonly PersistOp[]): void {
    this.staged.push(...ops);
  }

  sync(): void {
    for (const op of this.staged) this.apply(op);
    this.staged = [];
    this.stats.syncs += 1;
  }

  /** Whether staged writes would be lost by a crash now. */
  get dirty(): boolean {
    return this.staged.length > 0;
  }

  /** A power cut: keeps the synced state and a random prefix of the staged writes. */
  crash(draws: CrashDraws, survival = 0.5): void {
    this.stats.crashes += 1;
    let kept = 0;
    while (kept < this.staged.length && draws.chance(survival)) kept += 1;
    const lost = this.staged.slice(kept);
    for (const op of this.staged.slice(0, kept)) this.apply(op);
    const torn = lost[0];
    if (torn !== undefined && torn.op === 'append' && torn.entries.length > 1) {
      this.apply({ op: 'append', entries: torn.entries.slice(0, draws.int(torn.entries.length)) });
    }
    this.stats.lostOps += lost.length;
    this.staged = [];
  }

  private apply(op: PersistOp): void {
    const d = this.durable;
    const base = d.snapshot?.base.index ?? 0;
    switch (op.op) {
      case 'meta':
        d.meta = op.meta;
        return;
      case 'truncate':
        assert(op.after >= base, `truncate at ${op.after} inside the snapshot ${base}`);
        d.entries.length = Math.min(d.entries.length, op.after - base);
        return;
      case 'append':
        for (const entry of op.entries) {
          assert(entry.index === base + d.entries.length + 1, `stored log gap at ${entry.index}`);
          d.entries.push(entry);
        }
        return;
      case 'commit':
        d.commit = logIndex(Math.max(d.commit, op.index));
        return;
      case 'snapshot':
        d.snapshot = op.image;
        d.entries = [];
        d.commit = op.image.base.index;
        return;
      case 'drop':
        d.snapshot = null;
        d.entries = [];
        d.commit = logIndex(0);
        return;
    }
  }
}
