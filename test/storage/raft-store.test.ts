// One compliance suite for every RaftStore: in memory, on the simulated disk, and on LMDB. Each case
// writes through the store, reopens it (a clean restart), and checks what load() recovers against
// the contract in src/core/raft/store.ts. Then crash cases: on SimDisk a property test checks that
// after any crash the store recovers the synced state plus some in-order prefix of what followed;
// on LMDB, writes that were never synced are gone after a reopen.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { logIndex, nodeId, term } from '../../src/core/lib/ids.js';
import { Prng } from '../../src/core/lib/prng.js';
import {
  LogImage,
  MemoryRaftStore,
  Raft,
  initialHardState,
  readFrames,
  frameRecords,
  type Entry,
  type HardState,
  type PersistentState,
  type RaftStore,
  type Snapshot,
  type StoreWrite,
} from '../../src/core/raft/index.js';
import { LmdbRaftStore } from '../../src/storage/raft-store.js';
import { SimDisk } from '../../sim/disk.js';
import { SimDiskRaftStore } from '../../sim/raft/disk-store.js';

const entry = (index: number, t: number, data = `e${index}t${t}`): Entry => ({
  index: logIndex(index),
  term: term(t),
  type: 'normal',
  data: new TextEncoder().encode(data),
});
const entries = (from: number, to: number, t: number): Entry[] =>
  Array.from({ length: to - from + 1 }, (_, i) => entry(from + i, t));
const hs = (t: number, commit: number, vote: number | null = null): HardState => ({
  term: term(t),
  vote: vote === null ? null : nodeId(vote),
  commit: logIndex(commit),
});
const snapshot = (index: number, t: number): Snapshot => ({
  meta: {
    index: logIndex(index),
    term: term(t),
    config: { voters: [nodeId(1), nodeId(2)], learners: [nodeId(3)] },
  },
  data: new TextEncoder().encode(`state@${index}`),
});
const write = (store: RaftStore, update: Partial<StoreWrite>): void => {
  store.write({ hardState: null, snapshot: null, entries: [], ...update });
  store.sync();
};

/** A store under test, reopened from its durable state on demand. */
interface Harness {
  store: RaftStore;
  reopen(): void;
}

interface Implementation {
  readonly name: string;
  create(): Harness;
}

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const implementations: Implementation[] = [
  {
    name: 'MemoryRaftStore',
    create: () => {
      const store = new MemoryRaftStore();
      return { store, reopen: () => undefined };
    },
  },
  {
    name: 'SimDiskRaftStore',
    create: () => {
      const disk = new SimDisk(new Prng(1));
      const h: Harness = {
        store: new SimDiskRaftStore(disk),
        reopen: () => {
          h.store = new SimDiskRaftStore(disk);
        },
      };
      return h;
    },
  },
  {
    name: 'LmdbRaftStore',
    create: () => {
      const path = mkdtempSync(join(tmpdir(), 'edict-raft-'));
      tempDirs.push(path);
      const h: Harness = {
        store: new LmdbRaftStore({ path }),
        reopen: () => {
          // A reopen in the same process shares lmdb-js's environment cache; what is committed is
          // what another process would see after a restart.
          h.store = new LmdbRaftStore({ path });
        },
      };
      return h;
    },
  },
];

const summary = (state: PersistentState): string =>
  JSON.stringify({
    hs: state.hardState,
    snap:
      state.snapshot === null
        ? null
        : { ...state.snapshot.meta, data: Array.from(state.snapshot.data) },
    entries: state.entries.map((e) => [e.index, e.term, e.type, new TextDecoder().decode(e.data)]),
  });

for (const impl of implementations) {
  describe(`RaftStore compliance: ${impl.name}`, () => {
    test('an empty store loads the initial state', () => {
      const h = impl.create();
      const state = h.store.load();
      assert.deepEqual(state.hardState, initialHardState);
      assert.equal(state.snapshot, null);
      assert.deepEqual(state.entries, []);
    });

    test('entries and hard state survive a reopen', () => {
      const h = impl.create();
      write(h.store, { entries: entries(1, 5, 1), hardState: hs(2, 3, 1) });
      h.reopen();
      const state = h.store.load();
      assert.deepEqual(state.hardState, hs(2, 3, 1));
      assert.equal(
        summary(state),
        summary({ hardState: hs(2, 3, 1), snapshot: null, entries: entries(1, 5, 1) }),
      );
    });

    test('an entry at index i replaces the stored suffix from i', () => {
      const h = impl.create();
      write(h.store, { entries: entries(1, 5, 1) });
      write(h.store, { entries: entries(3, 4, 2), hardState: hs(2, 2) });
      h.reopen();
      const expected = [...entries(1, 2, 1), ...entries(3, 4, 2)];
      assert.equal(
        summary(h.store.load()),
        summary({ hardState: hs(2, 2), snapshot: null, entries: expected }),
      );
    });

    test('after a reopen, a write still replaces the stored suffix', () => {
      const h = impl.create();
      write(h.store, { entries: entries(1, 5, 1) });
      h.reopen();
      write(h.store, { entries: entries(3, 3, 2) });
      h.reopen();
      const expected = [...entries(1, 2, 1), ...entries(3, 3, 2)];
      assert.equal(
        summary(h.store.load()),
        summary({ hardState: initialHardState, snapshot: null, entries: expected }),
      );
    });

    test('a received snapshot replaces the whole log', () => {
      const h = impl.create();
      write(h.store, { entries: entries(1, 5, 1) });
      write(h.store, {
        snapshot: snapshot(10, 3),
        entries: entries(11, 12, 3),
        hardState: hs(3, 10),
      });
      h.reopen();
      const state = h.store.load();
      assert.equal(
        summary(state),
        summary({ hardState: hs(3, 10), snapshot: snapshot(10, 3), entries: entries(11, 12, 3) }),
      );
    });

    test('compaction keeps the snapshot and the entries after it', () => {
      const h = impl.create();
      write(h.store, { entries: entries(1, 6, 1), hardState: hs(1, 6) });
      h.store.compact(snapshot(4, 1));
      write(h.store, { entries: entries(7, 7, 2) });
      h.reopen();
      const state = h.store.load();
      assert.equal(
        summary(state),
        summary({
          hardState: hs(1, 6),
          snapshot: snapshot(4, 1),
          entries: [...entries(5, 6, 1), ...entries(7, 7, 2)],
        }),
      );
      // An older snapshot changes nothing.
      h.store.compact(snapshot(2, 1));
      h.reopen();
      assert.equal(summary(h.store.load()), summary(state));
    });

    test('many writes between syncs are applied in order (group commit)', () => {
      const h = impl.create();
      h.store.write({ hardState: hs(1, 0), snapshot: null, entries: entries(1, 3, 1) });
      h.store.write({ hardState: hs(2, 2, 3), snapshot: null, entries: entries(3, 5, 2) });
      h.store.sync();
      h.reopen();
      const expected = [...entries(1, 2, 1), ...entries(3, 5, 2)];
      assert.equal(
        summary(h.store.load()),
        summary({ hardState: hs(2, 2, 3), snapshot: null, entries: expected }),
      );
    });
  });
}

describe('LMDB durability', () => {
  test('a store written, closed and reopened recovers what was synced, and a core boots from it', async () => {
    const path = mkdtempSync(join(tmpdir(), 'edict-raft-'));
    tempDirs.push(path);
    const store = new LmdbRaftStore({ path });
    write(store, { entries: entries(1, 4, 1), hardState: hs(1, 3, 2) });
    store.compact(snapshot(2, 1));
    write(store, { entries: entries(5, 6, 3), hardState: hs(3, 5, 1) });
    store.write({ hardState: hs(9, 5), snapshot: null, entries: entries(7, 7, 9) }); // never synced
    await store.close();

    const reopened = new LmdbRaftStore({ path });
    const state = reopened.load();
    const expected = {
      hardState: hs(3, 5, 1),
      snapshot: snapshot(2, 1),
      entries: [...entries(3, 4, 1), ...entries(5, 6, 3)],
    };
    assert.equal(summary(state), summary(expected));
    const raft = new Raft({ id: nodeId(1), state, prng: new Prng(1) });
    const status = raft.status();
    assert.equal(status.term, 3);
    assert.equal(status.vote, 1);
    assert.equal(status.commit, 5);
    assert.equal(status.firstIndex, 3);
    assert.equal(status.lastIndex, 6);
    assert.deepEqual(status.config, { voters: [1, 2], learners: [3] });
    await reopened.close();
  });
});

describe('crash recovery', () => {
  test('LMDB: writes never synced are gone after a reopen', () => {
    const path = mkdtempSync(join(tmpdir(), 'edict-raft-'));
    tempDirs.push(path);
    const store = new LmdbRaftStore({ path });
    write(store, { entries: entries(1, 2, 1), hardState: hs(1, 1) });
    store.write({ hardState: hs(5, 1), snapshot: null, entries: entries(3, 4, 5) });
    const reopened = new LmdbRaftStore({ path });
    assert.equal(
      summary(reopened.load()),
      summary({ hardState: hs(1, 1), snapshot: null, entries: entries(1, 2, 1) }),
    );
  });

  test('SimDisk: a torn tail is cut off and later writes follow the valid prefix', () => {
    const disk = new SimDisk(new Prng(3), {
      tornWriteProbability: 1,
      unsyncedSurvivalProbability: 1,
    });
    const store = new SimDiskRaftStore(disk);
    write(store, { entries: entries(1, 2, 1), hardState: hs(1, 1) });
    store.write({ hardState: hs(2, 1), snapshot: null, entries: entries(3, 4, 2) });
    disk.crash();
    const recovered = new SimDiskRaftStore(disk);
    const state = recovered.load();
    assert.ok(state.entries.length >= 2 && state.entries.length <= 4);
    const wal = disk.read('raft/wal-0') ?? new Uint8Array();
    assert.equal(readFrames(wal).validBytes, wal.length, 'the torn bytes are gone from the file');
    write(recovered, { entries: entries(state.entries.length + 1, 6, 3) });
    assert.equal(new SimDiskRaftStore(disk).load().entries.length, 6);
  });

  test('SimDisk: a crash at any step of installing a snapshot leaves the old state or the new one', () => {
    /** A disk that loses power at its `failAt`-th atomic write or removal. */
    class FailingDisk extends SimDisk {
      steps = 0;
      failAt = Infinity;
      private step(): void {
        this.steps += 1;
        if (this.steps === this.failAt) throw new Error('power cut');
      }
      override writeAtomic(file: string, data: Uint8Array): void {
        this.step();
        super.writeAtomic(file, data);
      }
      override remove(file: string): boolean {
        this.step();
        return super.remove(file);
      }
    }
    // The old log diverges from the leader's after index 6; the snapshot at 8 replaces it.
    const before = {
      hardState: hs(2, 6, 2),
      snapshot: null,
      entries: [...entries(1, 6, 1), ...entries(7, 10, 2)],
    };
    const after = { hardState: hs(3, 8, 2), snapshot: snapshot(8, 3), entries: entries(9, 9, 3) };
    const outcomes: string[] = [];
    for (let k = 1; k <= 3; k++) {
      const disk = new FailingDisk(new Prng(k));
      const store = new SimDiskRaftStore(disk);
      write(store, { entries: before.entries, hardState: before.hardState });
      disk.failAt = disk.steps + k;
      assert.throws(
        () =>
          store.write({
            snapshot: after.snapshot,
            entries: after.entries,
            hardState: after.hardState,
          }),
        /power cut/,
      );
      disk.failAt = Infinity;
      disk.crash();
      const got = summary(new SimDiskRaftStore(disk).load());
      outcomes.push(got === summary(before) ? 'old' : got === summary(after) ? 'new' : got);
      assert.deepEqual(disk.list('raft/wal-').length, 1, 'one WAL remains');
    }
    assert.deepEqual(outcomes, ['old', 'old', 'new']);
  });

  test('SimDisk: after any crash, the synced state plus an in-order prefix of the rest survives', () => {
    type Op =
      | { op: 'write'; from: number; count: number; t: number; commit: boolean }
      | { op: 'sync' }
      | { op: 'compact' }
      | { op: 'crash'; seed: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        op: fc.constant('write' as const),
        from: fc.integer({ min: 0, max: 3 }),
        count: fc.integer({ min: 0, max: 3 }),
        t: fc.integer({ min: 1, max: 9 }),
        commit: fc.boolean(),
      }),
      fc.constant({ op: 'sync' as const }),
      fc.constant({ op: 'compact' as const }),
      fc.record({ op: fc.constant('crash' as const), seed: fc.integer({ min: 0, max: 1000 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 25 }),
        fc.integer({ min: 0, max: 1 << 30 }),
        (ops, seed) => {
          const disk = new SimDisk(new Prng(seed));
          let store = new SimDiskRaftStore(disk);
          // The model: the durable image, and the records written since (each a list of frames).
          let durable = new LogImage();
          let unsynced: StoreWrite[] = [];
          const full = (): LogImage => {
            const image = cloneImage(durable);
            for (const w of unsynced) image.apply(w);
            return image;
          };
          for (const step of ops) {
            if (step.op === 'write') {
              const image = full();
              const last = image.offset() + image.entries.length;
              const start = Math.max(image.offset() + 1, last + 1 - step.from);
              const t = Math.max(
                step.t,
                image.entries.at(-1)?.term ?? 0,
                image.snapshot?.meta.term ?? 0,
              );
              const es = entries(start, start + step.count - 1, t);
              const w: StoreWrite = {
                hardState: step.commit ? hs(t, image.offset()) : null,
                snapshot: null,
                entries: es,
              };
              store.write(w);
              unsynced.push(w);
            } else if (step.op === 'sync') {
              store.sync();
              durable = full();
              unsynced = [];
            } else if (step.op === 'compact') {
              store.sync();
              durable = full();
              unsynced = [];
              if (durable.entries.length === 0) continue;
              const snap = snapshot(durable.offset() + 1, (durable.entries[0] as Entry).term);
              store.compact(snap);
              durable.compact(snap);
            } else {
              disk.crash();
              store = new SimDiskRaftStore(disk);
              const got = summary(store.load());
              const candidates = prefixImages(durable, unsynced).map((image) =>
                summary(image.state()),
              );
              assert.ok(
                candidates.includes(got),
                `recovered ${got}\nnot one of ${candidates.join('\n')}`,
              );
              durable = imageOf(store.load());
              unsynced = [];
            }
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

function cloneImage(image: LogImage): LogImage {
  return imageOf(image.state());
}

function imageOf(state: PersistentState): LogImage {
  const image = new LogImage();
  image.snapshot = state.snapshot;
  image.entries = [...state.entries];
  image.hardState = state.hardState;
  return image;
}

/** Every image reachable by replaying a prefix of the frames of the unsynced writes. */
function prefixImages(durable: LogImage, unsynced: readonly StoreWrite[]): LogImage[] {
  const frames = unsynced.flatMap(
    (w) =>
      readFrames(
        frameRecords([
          ...w.entries.map((e) => ({ kind: 'entry' as const, entry: e })),
          ...(w.hardState === null
            ? []
            : [{ kind: 'hard-state' as const, hardState: w.hardState }]),
        ]),
      ).records,
  );
  const images = [cloneImage(durable)];
  const image = cloneImage(durable);
  for (const record of frames) {
    image.replay(record);
    images.push(cloneImage(image));
  }
  return images;
}

describe('lmdb raft store: syncAsync', () => {
  test('what syncAsync resolved is there after a reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edict-raft-async-'));
    try {
      const store = new LmdbRaftStore({ path: dir });
      store.write({
        hardState: { term: term(3), vote: nodeId(2), commit: logIndex(0) },
        snapshot: null,
        entries: [],
      });
      await store.syncAsync();
      await store.close();
      const reopened = new LmdbRaftStore({ path: dir });
      assert.equal(reopened.load().hardState.term, 3);
      assert.equal(reopened.load().hardState.vote, 2);
      await reopened.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
