// The node-wide bucket log (src/storage/bucket-log.ts) against the in-memory model of
// src/core/bucket/store.ts: equal under random op sequences (fast-check), synced state plus a prefix
// of the staged batches after a crash at any I/O call (including inside compaction and recovery, on
// the simulated disk), damage in the middle refused with a typed error, torn tails cut, limits, and
// a real-disk reopen.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { MemoryBucketStore, type StoredBucket } from '../../src/core/bucket/store.js';
import type { LogEntry, PersistOp } from '../../src/core/bucket/types.js';
import { clientId } from '../../src/core/bucket/types.js';
import { epoch, logIndex, nodeId, bucketId } from '../../src/core/lib/ids.js';
import { Prng } from '../../src/core/lib/prng.js';
import { BucketLog, openBucketLog, type BucketLogOptions } from '../../src/storage/bucket-log.js';
import { LOCK_FILE, NodeFileSystem, type FileSystem } from '../../src/storage/file-system.js';
import { isStorageError } from '../../src/storage/errors.js';
import { openNodeMeta, NODE_META_FILE } from '../../src/storage/node-meta.js';
import { SimDisk } from '../../sim/disk.js';
import { CrashPoints, FaultyFileSystem, isSimulatedCrash } from '../../sim/faulty-storage.js';
import { SimFileSystem } from '../../sim/sim-file-system.js';

const small: Partial<BucketLogOptions> = {
  segmentBytesMax: 4096,
  recordBytesMax: 256,
  stagedBytesMax: 1 << 30,
};

/** Comparable form: byte arrays (Buffer or Uint8Array) as hex strings. */
function norm(value: unknown): unknown {
  if (value instanceof Uint8Array) return `hex:${Buffer.from(value).toString('hex')}`;
  if (Array.isArray(value)) return value.map(norm);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, norm(v)]));
  }
  return value;
}

const isEmpty = (s: StoredBucket): boolean =>
  s.meta === null && s.snapshot === null && s.entries.length === 0 && s.commit === 0;

/** An abstract step; interpreted into valid ops against the staged view of its bucket. */
type Step =
  | { kind: 'append'; bucket: number; count: number; size: number }
  | { kind: 'truncate' | 'commit' | 'meta' | 'snapshot' | 'drop'; bucket: number; pick: number }
  | { kind: 'sync' }
  | { kind: 'compact' }
  | { kind: 'reopen' };

const BUCKETS = 4;

/** Per bucket: snapshot base and last index of the staged view, and an epoch counter. */
class Driver {
  base = new Map<number, number>();
  last = new Map<number, number>();
  epochs = 0;

  constructor(private readonly bytes: (n: number) => Uint8Array) {}

  /** Resets the staged view from durable states. */
  reset(load: (bucket: number) => StoredBucket): void {
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      const s = load(bucket);
      const base = s.snapshot?.base.index ?? 0;
      this.base.set(bucket, base);
      this.last.set(bucket, base + s.entries.length);
    }
  }

  op(step: Exclude<Step, { kind: 'sync' | 'compact' | 'reopen' }>): PersistOp {
    const base = this.base.get(step.bucket) ?? 0;
    const last = this.last.get(step.bucket) ?? 0;
    const e = epoch(1 + (this.epochs % 50));
    switch (step.kind) {
      case 'append': {
        const entries: LogEntry[] = [];
        for (let i = 1; i <= step.count; i++) {
          entries.push({
            epoch: e,
            index: logIndex(last + i),
            payload: {
              kind: 'write',
              clientId: clientId(1 + (i % 3)),
              seq: last + i,
              ackedBelow: last + i,
              command: { op: 'put', key: `k${last + i}`, value: this.bytes(step.size) },
            },
          });
        }
        this.last.set(step.bucket, last + step.count);
        return { op: 'append', entries };
      }
      case 'truncate': {
        const after = base + (step.pick % (last - base + 1));
        this.last.set(step.bucket, after);
        return { op: 'truncate', after: logIndex(after) };
      }
      case 'commit':
        return { op: 'commit', index: logIndex(step.pick % (last + 1)) };
      case 'meta':
        this.epochs += 1;
        return {
          op: 'meta',
          meta: {
            epoch: e,
            government:
              step.pick % 3 === 0
                ? null
                : {
                    bucket: bucketId(step.bucket),
                    epoch: e,
                    leader: nodeId(1 + (step.pick % 3)),
                    followers: [nodeId(4)],
                    learners: [],
                  },
          },
        };
      case 'snapshot': {
        const at = last + (step.pick % 3);
        this.base.set(step.bucket, at);
        this.last.set(step.bucket, at);
        const items = Array.from({ length: step.pick % 40 }, (_, i) => ({
          key: `s${i}`,
          value: this.bytes(i * 7),
          version: logIndex(Math.min(i, at)),
        }));
        return {
          op: 'snapshot',
          image: {
            base: { epoch: e, index: logIndex(at) },
            items,
            sessions: [
              {
                clientId: clientId(1),
                floor: 3,
                results: [
                  {
                    seq: 3,
                    result: { op: 'put', ok: true, at: { epoch: e, index: logIndex(at) } },
                  },
                ],
                touched: logIndex(at),
              },
            ],
            sessionFloor: step.pick % 5,
          },
        };
      }
      case 'drop':
        this.base.set(step.bucket, 0);
        this.last.set(step.bucket, 0);
        return { op: 'drop' };
    }
  }
}

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant('append' as const),
      bucket: fc.nat(BUCKETS - 1),
      count: fc.integer({ min: 1, max: 4 }),
      size: fc.oneof(fc.nat(120), fc.integer({ min: 200, max: 900 })),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom('truncate' as const, 'commit' as const, 'meta' as const),
      bucket: fc.nat(BUCKETS - 1),
      pick: fc.nat(1000),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('snapshot' as const, 'drop' as const),
      bucket: fc.nat(BUCKETS - 1),
      pick: fc.nat(1000),
    }),
  },
  { weight: 4, arbitrary: fc.constant({ kind: 'sync' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'compact' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

function byteMaker(seed: number): (n: number) => Uint8Array {
  const prng = new Prng(seed);
  return (n) => Uint8Array.from({ length: n }, () => prng.int(256));
}

const nothing = { chance: () => false, int: () => 0 };

describe('bucket log', () => {
  test('equals MemoryBucketStore under random op sequences, syncs, compactions and reopens', () => {
    fc.assert(
      fc.property(
        fc.array(stepArb, { minLength: 10, maxLength: 150, size: 'max' }),
        fc.nat(1000),
        (steps, seed) => {
          const disk = new SimDisk(new Prng(seed));
          const models = Array.from({ length: BUCKETS }, () => new MemoryBucketStore());
          let log = BucketLog.open(new SimFileSystem(disk), small);
          const driver = new Driver(byteMaker(seed));
          const check = (): void => {
            for (let bucket = 0; bucket < BUCKETS; bucket++) {
              const model = (models[bucket] as MemoryBucketStore).load();
              assert.deepStrictEqual(
                norm(log.store(bucket).load()),
                norm(model),
                `bucket ${bucket}`,
              );
            }
            const expected = models.flatMap((m, b) => (isEmpty(m.load()) ? [] : [b]));
            assert.deepStrictEqual(log.buckets(), expected);
          };
          for (const step of steps) {
            if (step.kind === 'sync') {
              log.store(0).sync();
              for (const m of models) m.sync();
              check();
            } else if (step.kind === 'compact') {
              log.compact();
              for (const m of models) m.sync();
              check();
            } else if (step.kind === 'reopen') {
              log.close();
              for (const m of models) m.crash(nothing);
              log = BucketLog.open(new SimFileSystem(disk), small);
              driver.reset((b) => (models[b] as MemoryBucketStore).load());
              check();
            } else {
              const op = driver.op(step);
              log.store(step.bucket).persist([op]);
              (models[step.bucket] as MemoryBucketStore).persist([op]);
            }
          }
          log.sync();
          for (const m of models) m.sync();
          log.close();
          log = BucketLog.open(new SimFileSystem(disk), small);
          check();
          log.close();
        },
      ),
      { numRuns: 60 },
    );
  });

  test('after a crash at any I/O call: the synced state plus a prefix of the staged batches', () => {
    const seeds = Number(process.env.BUCKET_LOG_SEEDS ?? 120);
    for (let seed = 1; seed <= seeds; seed++) crashRun(seed);
  });

  test('real disk: after a crash and a power cut, the synced state plus a prefix', () => {
    const seeds = Number(process.env.BUCKET_LOG_REAL_SEEDS ?? 6);
    for (let seed = 1; seed <= seeds; seed++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edict-bucket-log-crash-'));
      try {
        crashRun(1000 + seed, realCrashDisk(seed, dir));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
  });

  test('a crash at every I/O call of a compaction keeps the state', () => {
    const disk = new SimDisk(new Prng(5));
    const models = Array.from({ length: BUCKETS }, () => new MemoryBucketStore());
    const driver = new Driver(byteMaker(5));
    driver.reset(() => ({ meta: null, snapshot: null, entries: [], commit: logIndex(0) }));
    let log = BucketLog.open(new SimFileSystem(disk), small);
    const prng = new Prng(9);
    for (let i = 0; i < 300; i++) {
      const step = randomStep(prng);
      if (step.kind === 'sync' || step.kind === 'compact' || step.kind === 'reopen') continue;
      const op = driver.op(step);
      log.persist(step.bucket, [op]);
      (models[step.bucket] as MemoryBucketStore).persist([op]);
      if (i % 10 === 9) log.sync();
    }
    log.sync();
    for (const m of models) m.sync();
    log.close();
    let points = 0;
    for (let crashAt = 1; ; crashAt++) {
      const crashes = new CrashPoints(crashAt);
      log = BucketLog.open(new FaultyFileSystem(new SimFileSystem(disk), crashes), small);
      let crashed = false;
      try {
        log.compact();
      } catch (error) {
        if (!isSimulatedCrash(error)) throw error;
        crashed = true;
      }
      log.close();
      disk.crash();
      const reopened = BucketLog.open(new SimFileSystem(disk), small);
      for (let bucket = 0; bucket < BUCKETS; bucket++) {
        assert.deepStrictEqual(
          norm(reopened.load(bucket)),
          norm((models[bucket] as MemoryBucketStore).load()),
          `crash point ${crashAt}, bucket ${bucket}`,
        );
      }
      reopened.close();
      if (!crashed) break;
      points += 1;
    }
    assert.ok(points >= 5, `only ${points} crash points in a compaction`);
  });

  test('a torn tail is cut; damage in the middle is STORAGE_CORRUPT with file and offset', () => {
    const disk = new SimDisk(new Prng(3));
    const log = BucketLog.open(new SimFileSystem(disk), small);
    const driver = new Driver(byteMaker(3));
    driver.reset(() => ({ meta: null, snapshot: null, entries: [], commit: logIndex(0) }));
    for (let i = 0; i < 60; i++) {
      log.persist(i % BUCKETS, [
        driver.op({ kind: 'append', bucket: i % BUCKETS, count: 2, size: 50 }),
      ]);
      log.sync();
    }
    log.close();
    const files = disk.list().filter((f) => f.startsWith('bkt-'));
    assert.ok(files.length >= 3, `${files.length} segments`);
    const newest = files.at(-1) as string;
    // A torn tail: the newest file cut inside its last record.
    const size = disk.size(newest) as number;
    disk.truncate(newest, size - 5);
    const reopened = BucketLog.open(new SimFileSystem(disk), small);
    const total = Array.from({ length: BUCKETS }, (_, b) => reopened.load(b).entries.length);
    assert.equal(
      total.reduce((a, n) => a + n),
      118,
    );
    reopened.close();
    // Damage inside a sealed segment.
    disk.corrupt(files[1] as string, 2);
    assert.throws(
      () => BucketLog.open(new SimFileSystem(disk), small),
      (error: unknown) =>
        isStorageError(error, 'STORAGE_CORRUPT') &&
        error.detail.file === files[1] &&
        typeof error.detail.offset === 'number' &&
        error.detail.offset > 0,
    );
  });

  test('damage in the newest segment followed by valid records is STORAGE_CORRUPT', () => {
    const disk = new SimDisk(new Prng(4));
    const log = BucketLog.open(new SimFileSystem(disk), { ...small, segmentBytesMax: 1 << 20 });
    const driver = new Driver(byteMaker(4));
    driver.reset(() => ({ meta: null, snapshot: null, entries: [], commit: logIndex(0) }));
    for (let i = 0; i < 10; i++) {
      log.persist(0, [driver.op({ kind: 'append', bucket: 0, count: 1, size: 30 })]);
      log.sync();
    }
    log.close();
    const [file] = disk.list().filter((f) => f.startsWith('bkt-'));
    disk.corrupt(file as string, 3);
    assert.throws(
      () => BucketLog.open(new SimFileSystem(disk), small),
      (error: unknown) => isStorageError(error, 'STORAGE_CORRUPT') && error.detail.file === file,
    );
  });

  test('a missing segment in the middle is STORAGE_CORRUPT', () => {
    const disk = new SimDisk(new Prng(6));
    const log = BucketLog.open(new SimFileSystem(disk), small);
    const driver = new Driver(byteMaker(6));
    driver.reset(() => ({ meta: null, snapshot: null, entries: [], commit: logIndex(0) }));
    for (let i = 0; i < 40; i++) {
      log.persist(1, [driver.op({ kind: 'append', bucket: 1, count: 2, size: 60 })]);
      log.sync();
    }
    log.close();
    const files = disk.list().filter((f) => f.startsWith('bkt-'));
    disk.remove(files[1] as string);
    assert.throws(
      () => BucketLog.open(new SimFileSystem(disk), small),
      (error: unknown) => isStorageError(error, 'STORAGE_CORRUPT'),
    );
    disk.remove(files[0] as string);
    assert.throws(
      () => BucketLog.open(new SimFileSystem(disk), small),
      (error: unknown) => isStorageError(error, 'STORAGE_CORRUPT'),
    );
  });

  test('a large snapshot is chunked and atomic: half of it never shows after a crash', () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      const disk = new SimDisk(new Prng(seed), {
        tornWriteProbability: 0.7,
        unsyncedSurvivalProbability: 1,
      });
      const driver = new Driver(byteMaker(seed));
      driver.reset(() => ({ meta: null, snapshot: null, entries: [], commit: logIndex(0) }));
      // Calls: create (1), append (2), fdatasync (3); append (4), fdatasync (5) crashes.
      const log = BucketLog.open(
        new FaultyFileSystem(new SimFileSystem(disk), new CrashPoints(5)),
        {
          ...small,
          segmentBytesMax: 1 << 20,
        },
      );
      log.persist(2, [driver.op({ kind: 'append', bucket: 2, count: 3, size: 10 })]);
      log.sync();
      const before = norm(log.load(2));
      const snapshot = driver.op({ kind: 'snapshot', bucket: 2, pick: 39 });
      assert.ok(JSON.stringify(norm(snapshot)).length > 5 * 256, 'the snapshot spans records');
      log.persist(2, [snapshot]);
      assert.throws(() => log.sync(), isSimulatedCrash);
      log.close();
      disk.crash();
      const again = BucketLog.open(new SimFileSystem(disk), small);
      const after = norm(again.load(2));
      if (eq(after, before)) outcomes.add('before');
      else {
        const expected = new MemoryBucketStore();
        expected.persist([snapshot]);
        expected.sync();
        assert.deepStrictEqual(after, norm(expected.load()));
        outcomes.add('after');
      }
      again.close();
    }
    assert.deepStrictEqual([...outcomes].sort(), ['after', 'before']);
  });

  test('persist throws QUEUE_FULL past stagedBytesMax and stages nothing', () => {
    const disk = new SimDisk(new Prng(8));
    const log = BucketLog.open(new SimFileSystem(disk), { ...small, stagedBytesMax: 2000 });
    const driver = new Driver(byteMaker(8));
    driver.reset(() => ({ meta: null, snapshot: null, entries: [], commit: logIndex(0) }));
    // One batch over the limit is accepted when nothing else is staged.
    log.persist(0, [driver.op({ kind: 'append', bucket: 0, count: 4, size: 800 })]);
    const next = driver.op({ kind: 'append', bucket: 0, count: 1, size: 10 });
    assert.throws(
      () => log.persist(0, [next]),
      (error: unknown) => isStorageError(error, 'QUEUE_FULL'),
    );
    log.sync();
    log.persist(0, [next]);
    log.sync();
    assert.equal(log.load(0).entries.length, 5);
    log.close();
  });

  test('compactIfNeeded compacts once dead bytes pass the ratio, and reclaims space', () => {
    const disk = new SimDisk(new Prng(10));
    const options = { ...small, compactBytesMin: 8192, compactDeadRatio: 0.5 };
    const log = BucketLog.open(new SimFileSystem(disk), options);
    const driver = new Driver(byteMaker(10));
    driver.reset(() => ({ meta: null, snapshot: null, entries: [], commit: logIndex(0) }));
    for (let i = 0; i < 100; i++) {
      log.persist(i % 2, [driver.op({ kind: 'append', bucket: i % 2, count: 2, size: 100 })]);
      log.sync();
    }
    assert.equal(log.compactIfNeeded(), false);
    log.persist(0, [driver.op({ kind: 'snapshot', bucket: 0, pick: 3 })]);
    log.persist(1, [driver.op({ kind: 'drop', bucket: 1, pick: 0 })]);
    log.sync();
    const before = log.stats().fileBytes;
    assert.equal(log.compactIfNeeded(), true);
    assert.ok(log.stats().fileBytes < before / 4, `${log.stats().fileBytes} of ${before}`);
    assert.deepStrictEqual(log.buckets(), [0]);
    log.close();
  });

  test('real disk: reopen, lock, and the node identity file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edict-bucket-log-'));
    try {
      const logDir = path.join(dir, 'buckets');
      const driver = new Driver(byteMaker(11));
      driver.reset(() => ({ meta: null, snapshot: null, entries: [], commit: logIndex(0) }));
      const models = Array.from({ length: BUCKETS }, () => new MemoryBucketStore());
      let log = openBucketLog(logDir, small);
      const prng = new Prng(12);
      for (let i = 0; i < 400; i++) {
        const step = randomStep(prng);
        if (step.kind === 'reopen') continue;
        if (step.kind === 'sync' || step.kind === 'compact') {
          if (step.kind === 'sync') log.sync();
          else log.compact();
          for (const m of models) m.sync();
          continue;
        }
        const op = driver.op(step);
        log.store(step.bucket).persist([op]);
        (models[step.bucket] as MemoryBucketStore).persist([op]);
      }
      log.sync();
      for (const m of models) m.sync();
      log.close();
      log = openBucketLog(logDir, small);
      for (let bucket = 0; bucket < BUCKETS; bucket++) {
        assert.deepStrictEqual(
          norm(log.store(bucket).load()),
          norm((models[bucket] as MemoryBucketStore).load()),
        );
      }
      log.close();
      // A lock held by another live process (our parent) refuses the directory.
      fs.writeFileSync(path.join(logDir, LOCK_FILE), `${process.ppid}\n`);
      assert.throws(
        () => openBucketLog(logDir, small),
        (error: unknown) => isStorageError(error, 'STORAGE_LOCKED'),
      );
      fs.rmSync(path.join(logDir, LOCK_FILE));

      const meta = openNodeMeta(dir, { nodeId: 3, clusterId: 'c1' });
      assert.equal(meta.identity.bootCount, 0);
      assert.equal(meta.bumpBoot(), 1);
      assert.equal(meta.bumpBoot(), 2);
      const again = openNodeMeta(dir, { nodeId: 3, clusterId: 'c1' });
      assert.equal(again.identity.bootCount, 2);
      assert.equal(again.identity.storageId, meta.identity.storageId);
      assert.match(again.identity.storageId, /^[0-9a-f-]{36}$/);
      assert.throws(
        () => openNodeMeta(dir, { nodeId: 4, clusterId: 'c1' }),
        (error: unknown) => isStorageError(error, 'INVALID_ARGUMENT'),
      );
      const file = path.join(dir, NODE_META_FILE);
      fs.writeFileSync(
        file,
        fs.readFileSync(file, 'utf8').replace('"bootCount\\":2', '"bootCount\\":9'),
      );
      assert.throws(
        () => openNodeMeta(dir, { nodeId: 3, clusterId: 'c1' }),
        (error: unknown) => isStorageError(error, 'STORAGE_CORRUPT'),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

function randomStep(prng: Prng): Step {
  const bucket = prng.int(BUCKETS);
  const r = prng.int(100);
  if (r < 40) return { kind: 'append', bucket, count: 1 + prng.int(4), size: prng.int(300) };
  if (r < 50) return { kind: 'truncate', bucket, pick: prng.int(1000) };
  if (r < 60) return { kind: 'commit', bucket, pick: prng.int(1000) };
  if (r < 66) return { kind: 'meta', bucket, pick: prng.int(1000) };
  if (r < 70) return { kind: 'snapshot', bucket, pick: prng.int(1000) };
  if (r < 72) return { kind: 'drop', bucket, pick: 0 };
  if (r < 92) return { kind: 'sync' };
  if (r < 96) return { kind: 'compact' };
  return { kind: 'reopen' };
}

/**
 * One seeded run: random steps on the simulated disk with a crash point at a random I/O call (and
 * again, sometimes, during recovery). After each crash the reopened log must equal the synced model
 * plus one prefix (the same for every bucket) of the batches staged since.
 */
function crashRun(seed: number, disk: CrashDisk = simCrashDisk(seed)): void {
  const prng = new Prng(seed);
  const driver = new Driver(byteMaker(seed));
  const empty = (): StoredBucket => ({
    meta: null,
    snapshot: null,
    entries: [],
    commit: logIndex(0),
  });
  driver.reset(empty);
  /** Synced ops per bucket, and the batches staged since the last sync. */
  const synced: PersistOp[][] = Array.from({ length: BUCKETS }, () => []);
  let staged: { bucket: number; ops: PersistOp[] }[] = [];
  const stateOf = (extra: number): StoredBucket[] =>
    synced.map((ops, bucket) => {
      const m = new MemoryBucketStore();
      m.persist(ops);
      for (const batch of staged.slice(0, extra)) if (batch.bucket === bucket) m.persist(batch.ops);
      m.sync();
      return m.load();
    });
  const open = (crashAt: number | null): BucketLog => BucketLog.open(disk.open(crashAt), small);
  let log = open(null);
  for (let round = 0; round < 4; round++) {
    const crashAt = 1 + prng.int(40);
    // Re-open with a crash point; the crash may come during the work below.
    log.close();
    let crashed = false;
    try {
      log = open(crashAt);
      for (let i = 0; i < 150; i++) {
        const step = randomStep(prng);
        if (step.kind === 'reopen') continue;
        if (step.kind === 'sync' || step.kind === 'compact') {
          if (step.kind === 'sync') log.sync();
          else log.compact();
          for (const batch of staged) (synced[batch.bucket] as PersistOp[]).push(...batch.ops);
          staged = [];
          continue;
        }
        const op = driver.op(step);
        log.persist(step.bucket, [op]);
        staged.push({ bucket: step.bucket, ops: [op] });
      }
    } catch (error) {
      if (!isSimulatedCrash(error)) throw error;
      crashed = true;
    }
    log.close();
    disk.powerCut();
    // Recovery itself may crash (cutting a tail, deleting garbage); then it runs again.
    for (;;) {
      try {
        log = open(prng.chance(0.3) ? 1 + prng.int(3) : null);
        break;
      } catch (error) {
        if (!isSimulatedCrash(error)) throw error;
        disk.powerCut();
      }
    }
    const actual = Array.from({ length: BUCKETS }, (_, b) => norm(log.load(b)));
    let kept = -1;
    for (let k = 0; k <= staged.length && kept < 0; k++) {
      if (stateOf(k).every((s, b) => eq(norm(s), actual[b]))) {
        kept = k;
      }
    }
    assert.ok(
      kept >= 0,
      `seed ${seed} round ${round}: not the synced state plus a prefix (crashed: ${crashed})`,
    );
    for (const batch of staged.slice(0, kept))
      (synced[batch.bucket] as PersistOp[]).push(...batch.ops);
    staged = [];
    driver.reset((b) => log.load(b));
  }
  log.close();
}

function eq(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/** A disk to run {@link crashRun} on: file systems with a crash point, and power cuts. */
interface CrashDisk {
  open(crashAt: number | null): FileSystem;
  /** Loses what a power cut would; call after the file system is closed. */
  powerCut(): void;
}

function simCrashDisk(seed: number): CrashDisk {
  const disk = new SimDisk(new Prng(seed).fork());
  return {
    open: (crashAt) => new FaultyFileSystem(new SimFileSystem(disk), new CrashPoints(crashAt)),
    powerCut: () => disk.crash(),
  };
}

/** A real directory; a power cut keeps each file's synced bytes and a random prefix of the rest. */
function realCrashDisk(seed: number, dir: string): CrashDisk {
  const prng = new Prng(seed * 7919);
  let current: FaultyFileSystem | null = null;
  return {
    open(crashAt) {
      current = new FaultyFileSystem(new NodeFileSystem(dir), new CrashPoints(crashAt));
      return current;
    },
    powerCut() {
      if (current === null) return;
      const files = new NodeFileSystem(dir);
      current.powerCut(prng, files);
      files.close();
      current = null;
    },
  };
}

describe('bucket log: syncAsync', () => {
  const meta = (e: number): PersistOp => ({
    op: 'meta',
    meta: { epoch: epoch(e), government: null },
  });

  test('writes are durable after the promise; writes staged meanwhile wait for the next sync', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edict-bucket-log-async-'));
    try {
      const log = openBucketLog(dir);
      log.store(1).persist([meta(1)]);
      const pending = log.syncAsync();
      // Staged while the fdatasync runs: not part of it.
      log.store(2).persist([meta(2)]);
      assert.throws(() => log.sync(), /in flight/);
      await pending;
      assert.deepEqual(log.buckets(), [1]);
      await log.syncAsync();
      assert.deepEqual(log.buckets(), [1, 2]);
      log.close();
      const reopened = openBucketLog(dir);
      assert.equal(reopened.store(1).load().meta?.epoch, 1);
      assert.equal(reopened.store(2).load().meta?.epoch, 2);
      reopened.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('without an asynchronous sync in the file system it falls back to sync', async () => {
    const log = BucketLog.open(new SimFileSystem(new SimDisk(new Prng(5))), small);
    log.store(3).persist([meta(4)]);
    await log.syncAsync();
    assert.deepEqual(log.buckets(), [3]);
  });
});
