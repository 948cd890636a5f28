// A compliance suite for BucketStore implementations (STYLE.md: one set of tests, run against the
// in-memory store now and against the storage engine once src/storage implements the interface).
// It checks the contract of src/core/bucket/store.ts: ops apply in order, sync makes them durable,
// a crash keeps the synced state plus at most a prefix of the rest, drop keeps a later meta.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { BucketStore, LogEntry, PersistOp } from '../../../src/core/bucket/index.js';
import { epoch, logIndex } from '../../../src/core/lib/ids.js';
import { gov } from './harness.js';

/** How a suite drives one implementation. */
export interface StoreHarness {
  readonly store: BucketStore;
  /** A new process opening the same data (no crash). */
  reopen(): BucketStore;
  /** A power cut, then a new process opening the same data. */
  crash(): BucketStore;
}

const entry = (e: number, i: number): LogEntry => ({
  epoch: epoch(e),
  index: logIndex(i),
  payload: { kind: 'government', government: gov(e, 1, []) },
});
const entries = (e: number, from: number, to: number): LogEntry[] =>
  Array.from({ length: to - from + 1 }, (_, k) => entry(e, from + k));

function write(store: BucketStore, ...ops: PersistOp[]): void {
  store.persist(ops);
  store.sync();
}

export function describeBucketStore(name: string, make: () => StoreHarness): void {
  describe(`BucketStore compliance: ${name}`, () => {
    test('a new store is empty', () => {
      const loaded = make().store.load();
      assert.equal(loaded.meta, null);
      assert.equal(loaded.snapshot, null);
      assert.deepEqual(loaded.entries, []);
      assert.equal(loaded.commit, 0);
    });

    test('synced ops survive a reopen, applied in order', () => {
      const h = make();
      write(
        h.store,
        { op: 'meta', meta: { epoch: epoch(2), government: gov(2, 1, [2]) } },
        { op: 'append', entries: entries(1, 1, 5) },
        { op: 'truncate', after: logIndex(3) },
        { op: 'append', entries: entries(2, 4, 4) },
        { op: 'commit', index: logIndex(4) },
      );
      const loaded = h.reopen().load();
      assert.equal(loaded.meta?.epoch, 2);
      assert.deepEqual(
        loaded.entries.map((e) => [e.epoch, e.index]),
        [
          [1, 1],
          [1, 2],
          [1, 3],
          [2, 4],
        ],
      );
      assert.equal(loaded.commit, 4);
    });

    test('a snapshot restarts the log at its base', () => {
      const h = make();
      const image = {
        base: { epoch: epoch(3), index: logIndex(10) },
        items: [],
        sessions: [],
        sessionFloor: 0,
      };
      write(h.store, { op: 'append', entries: entries(1, 1, 2) }, { op: 'snapshot', image });
      write(h.store, { op: 'append', entries: entries(3, 11, 12) });
      const loaded = h.reopen().load();
      assert.deepEqual(loaded.snapshot?.base, image.base);
      assert.deepEqual(
        loaded.entries.map((e) => e.index),
        [11, 12],
      );
      assert.equal(loaded.commit, 10);
    });

    test('drop deletes the data but keeps a later meta', () => {
      const h = make();
      write(
        h.store,
        { op: 'append', entries: entries(1, 1, 2) },
        { op: 'commit', index: logIndex(2) },
      );
      write(
        h.store,
        { op: 'meta', meta: { epoch: epoch(5), government: gov(5, 2, []) } },
        { op: 'drop' },
      );
      const loaded = h.reopen().load();
      assert.deepEqual(loaded.entries, []);
      assert.equal(loaded.commit, 0);
      assert.equal(loaded.meta?.epoch, 5);
    });

    test('a crash keeps what was synced and at most a prefix of the rest', () => {
      for (let round = 0; round < 20; round++) {
        const h = make();
        write(h.store, { op: 'append', entries: entries(1, 1, 2) });
        h.store.persist([{ op: 'append', entries: entries(1, 3, 6) }]);
        h.store.persist([{ op: 'commit', index: logIndex(6) }]);
        const loaded = h.crash().load();
        assert.ok(loaded.entries.length >= 2, 'synced entries survive');
        loaded.entries.forEach((e, i) => assert.equal(e.index, i + 1, 'no gap'));
        if (loaded.commit === 6)
          assert.equal(loaded.entries.length, 6, 'no op without the earlier');
      }
    });
  });
}
