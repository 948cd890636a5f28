// The engine's API as replication and backfill use it, on the simulated disk and on a real
// directory with LMDB alike: applies and reads, scans, limits and their typed errors, idempotent
// re-application, group commit, back-pressure, snapshots and versioned reads, drops, export and
// install (including broken streams), close, and reopen. verify() checks the index's invariants
// after each scenario.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../../src/core/lib/limits.js';
import { type BucketChunk, type Engine } from '../../src/storage/engine.js';
import { isStorageError } from '../../src/storage/errors.js';
import { decodeChunk, encodeChunk } from '../../src/storage/transfer.js';
import {
  B,
  b,
  del,
  dump,
  entry,
  I,
  put,
  realStore,
  rejectsWith,
  simStore,
  throwsWith,
  type TestStore,
} from './helpers.js';

const setups: [string, (seed: number) => TestStore][] = [
  ['simulated disk', simStore],
  ['real disk', realStore],
];

async function withEngine(
  make: (seed: number) => TestStore,
  fn: (engine: Engine, store: TestStore) => Promise<void>,
  options = {},
): Promise<void> {
  const store = make(1);
  try {
    const engine = await store.open(options);
    await fn(engine, store);
    await engine.close();
  } finally {
    store.cleanup();
  }
}

async function collect(chunks: AsyncIterable<BucketChunk>): Promise<BucketChunk[]> {
  const out: BucketChunk[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

async function* stream(chunks: readonly BucketChunk[]): AsyncGenerator<BucketChunk> {
  for (const chunk of chunks) yield await Promise.resolve(chunk);
}

for (const [name, make] of setups) {
  describe(`engine on the ${name}`, () => {
    test('applies puts and deletes and reads them at their versions', () =>
      withEngine(make, async (engine) => {
        await engine.apply(B(1), [
          entry(1, put('a', '1'), put('b', '2')),
          entry(2, del('a'), put('c', 'x'.repeat(500))),
        ]);
        assert.equal(engine.get(B(1), b('a')), null);
        assert.deepEqual(engine.get(B(1), b('b')), { value: b('2'), version: I(1) });
        assert.equal(Buffer.from(engine.get(B(1), b('c'))!.value).toString(), 'x'.repeat(500));
        assert.equal(engine.get(B(2), b('b')), null, 'buckets are separate');
        assert.equal(engine.appliedIndex(B(1)), 2);
        assert.deepEqual(
          engine.bucketInfos().map((i) => [i.bucket, i.appliedIndex]),
          [[1, 2]],
        );
        engine.verify();
      }));

    test('the last op on a key in one entry wins', () =>
      withEngine(make, async (engine) => {
        await engine.apply(B(1), [
          entry(1, put('k', 'first'), put('k', 'x'.repeat(300)), del('k'), put('k', 'last')),
        ]);
        assert.deepEqual(engine.get(B(1), b('k')), { value: b('last'), version: I(1) });
        engine.verify();
      }));

    test('scans by prefix and by range, in key order, with a limit and a resume key', () =>
      withEngine(make, async (engine) => {
        const keys = ['a', 'ab', 'abc', 'abd', 'b', 'b\u00ff', 'c'];
        const latin = (k: string): Buffer => Buffer.from(k, 'latin1');
        await engine.apply(B(3), [entry(1, ...keys.map((k) => put(latin(k), k.toUpperCase())))]);
        const keysOf = (rows: readonly { key: Uint8Array }[]): string[] =>
          rows.map((r) => Buffer.from(r.key).toString('latin1'));
        assert.deepEqual(keysOf(engine.scan(B(3), { prefix: b('ab'), limit: 10 }).rows), [
          'ab',
          'abc',
          'abd',
        ]);
        assert.deepEqual(
          keysOf(engine.scan(B(3), { start: b('abc'), end: b('b'), limit: 10 }).rows),
          ['abc', 'abd'],
        );
        const first = engine.scan(B(3), { limit: 3 });
        assert.deepEqual(keysOf(first.rows), ['a', 'ab', 'abc']);
        const rest = engine.scan(B(3), { start: first.resumeAt!, limit: 10 });
        assert.deepEqual(keysOf(rest.rows), ['abd', 'b', 'b\u00ff', 'c']);
        assert.equal(rest.resumeAt, null);
        const bytes = Buffer.from([0x62, 0xff]);
        assert.deepEqual(keysOf(engine.scan(B(3), { prefix: bytes, limit: 10 }).rows), ['b\u00ff']);
        throwsWith(() => engine.scan(B(3), { limit: 0 }), 'INVALID_ARGUMENT');
        throwsWith(
          () => engine.scan(B(3), { prefix: b('a'), start: b('a'), limit: 1 }),
          'INVALID_ARGUMENT',
        );
      }));

    test('enforces key and value limits with typed errors, writing nothing', () =>
      withEngine(make, async (engine) => {
        const longest = Buffer.alloc(KEY_BYTES_MAX, 0x6b);
        await engine.apply(B(1), [
          entry(1, put(longest, 'v'), put(Buffer.concat([longest.subarray(1), b('z')]), 'w')),
        ]);
        assert.deepEqual(engine.get(B(1), longest)?.value, b('v'));
        assert.equal(
          engine.scan(B(1), { prefix: longest.subarray(0, 2000), limit: 10 }).rows.length,
          2,
        );
        await rejectsWith(
          engine.apply(B(1), [entry(2, put(Buffer.alloc(KEY_BYTES_MAX + 1), 'v'))]),
          'KEY_TOO_LARGE',
        );
        await rejectsWith(engine.apply(B(1), [entry(2, put('', 'v'))]), 'KEY_EMPTY');
        await rejectsWith(
          engine.apply(B(1), [entry(2, put('k', Buffer.alloc(VALUE_BYTES_MAX + 1)))]),
          'VALUE_TOO_LARGE',
        );
        await rejectsWith(
          engine.apply(B(1), [entry(2, put('ok', 'v')), entry(3, del(''))]),
          'KEY_EMPTY',
        );
        await rejectsWith(engine.apply(B(1), [entry(3), entry(3)]), 'INVALID_ARGUMENT');
        await rejectsWith(engine.apply(B(1), [entry(0)]), 'INVALID_ARGUMENT');
        const many = Array.from({ length: 10_001 }, (_, i) => put(`k${i}`, 'v'));
        await rejectsWith(engine.apply(B(1), [entry(2, ...many)]), 'ENTRY_TOO_LARGE');
        throwsWith(() => engine.get(B(1), Buffer.alloc(KEY_BYTES_MAX + 1)), 'KEY_TOO_LARGE');
        assert.equal(engine.appliedIndex(B(1)), 1, 'rejected calls wrote nothing');
        assert.equal(engine.get(B(1), b('ok')), null);
        engine.verify();
      }));

    test('stores a maximal value', () =>
      withEngine(make, async (engine) => {
        const value = Buffer.alloc(VALUE_BYTES_MAX);
        for (let i = 0; i < value.length; i += 4096) value[i] = i % 251;
        await engine.apply(B(1), [entry(1, put('max', value))]);
        assert.ok(Buffer.from(engine.get(B(1), b('max'))!.value).equals(value));
      }));

    test('skips entries already applied, so re-applying is harmless', () =>
      withEngine(make, async (engine) => {
        await engine.apply(B(1), [entry(1, put('a', '1')), entry(2, put('a', '2'))]);
        await engine.apply(B(1), [
          entry(1, put('a', 'stale')),
          entry(2, put('a', 'stale')),
          entry(3, put('b', '3')),
        ]);
        assert.deepEqual(engine.get(B(1), b('a')), { value: b('2'), version: I(2) });
        assert.equal(engine.appliedIndex(B(1)), 3);
      }));

    test('group commit: concurrent applies across buckets share one batch', () =>
      withEngine(make, async (engine) => {
        const before = engine.stats().batches;
        await Promise.all(
          Array.from({ length: 64 }, (_, i) =>
            engine.apply(B(i % 8), [entry(Math.floor(i / 8) + 1, put(`k${i}`, 'v'))]),
          ),
        );
        assert.equal(engine.stats().batches - before, 1);
        assert.equal(engine.bucketInfos().length, 8);
      }));

    test('back-pressure: a full queue refuses with QUEUE_FULL', () =>
      withEngine(
        make,
        async (engine) => {
          const accepted = Array.from({ length: 4 }, (_, i) =>
            engine.apply(B(1), [entry(i + 1, put(`k${i}`, 'v'))]),
          );
          await rejectsWith(engine.apply(B(2), [entry(1, put('k', 'v'))]), 'QUEUE_FULL');
          // A refused call wrote nothing and changed nothing: the same entries go through later.
          await rejectsWith(engine.apply(B(1), [entry(5, put('k4', 'v'))]), 'QUEUE_FULL');
          await rejectsWith(engine.dropBucket(B(1)), 'QUEUE_FULL');
          await Promise.all(accepted);
          await engine.apply(B(2), [entry(1, put('k', 'v'))]);
          await engine.apply(B(1), [entry(5, put('k4', 'v'))]);
          assert.equal(engine.appliedIndex(B(1)), 5);
          assert.equal(engine.get(B(1), b('k4'))?.version, 5);
          await engine.dropBucket(B(1));
          await engine.apply(B(1), [entry(1, put('again', 'v'))]);
          assert.equal(dump(engine, B(1)).length, 1);
        },
        { queueRecordsMax: 4 },
      ));

    test('a snapshot reads the versions it pinned while writes continue', () =>
      withEngine(make, async (engine) => {
        await engine.apply(B(1), [entry(1, put('a', 'a1'), put('big', 'B'.repeat(200)))]);
        await engine.apply(B(2), [entry(1, put('x', 'x1'))]);
        const snap = engine.openSnapshot();
        await engine.apply(B(1), [entry(2, put('a', 'a2'), del('big'), put('new', 'n'))]);
        await engine.apply(B(1), [entry(3, put('a', 'a3'))]);
        await engine.apply(B(2), [entry(2, del('x'))]);
        assert.equal(snap.version(B(1)), 1);
        assert.equal(engine.get(B(1), b('a'), { snapshot: snap })?.value.toString(), 'a1');
        assert.equal(
          engine.get(B(1), b('big'), { snapshot: snap })?.value.toString(),
          'B'.repeat(200),
        );
        assert.equal(engine.get(B(1), b('new'), { snapshot: snap }), null);
        assert.equal(engine.get(B(2), b('x'), { snapshot: snap })?.value.toString(), 'x1');
        assert.equal(engine.get(B(1), b('a'), { atVersion: 1 })?.value.toString(), 'a1');
        assert.equal(engine.get(B(1), b('a'), { atVersion: 3 })?.value.toString(), 'a3');
        throwsWith(() => engine.get(B(1), b('a'), { atVersion: 2 }), 'VERSION_UNAVAILABLE');
        throwsWith(() => engine.get(B(1), b('a'), { atVersion: 4 }), 'VERSION_UNAVAILABLE');
        assert.equal(dump(engine, B(1), { atVersion: 1 }).length, 2);
        engine.verify();
        snap.release();
        throwsWith(() => engine.get(B(1), b('a'), { snapshot: snap }), 'INVALID_ARGUMENT');
        throwsWith(() => engine.get(B(1), b('a'), { atVersion: 1 }), 'VERSION_UNAVAILABLE');
        engine.runMaintenance();
        engine.verify();
        assert.equal(engine.stats().snapshots, 0);
      }));

    test('drop empties a bucket; a snapshot opened before still reads it', () =>
      withEngine(make, async (engine) => {
        await engine.apply(B(1), [
          entry(1, ...Array.from({ length: 30 }, (_, i) => put(`k${i}`, 'v'.repeat(i * 10)))),
        ]);
        const snap = engine.openSnapshot();
        await engine.dropBucket(B(1));
        assert.equal(engine.appliedIndex(B(1)), 0);
        assert.equal(engine.scan(B(1), { limit: 100 }).rows.length, 0);
        engine.runMaintenance();
        assert.equal(engine.scan(B(1), { limit: 100, snapshot: snap }).rows.length, 30);
        snap.release();
        engine.runMaintenance();
        engine.verify();
        assert.equal(engine.stats().liveBytes, 0, 'no values left');
        await engine.apply(B(1), [entry(1, put('again', 'v'))]);
        assert.deepEqual(dump(engine, B(1)).length, 1);
      }));

    test('export and install move a bucket, in many chunks', () =>
      withEngine(make, async (engine) => {
        const ops = Array.from({ length: 40 }, (_, i) =>
          put(`key${String(i).padStart(3, '0')}`, 'v'.repeat(i * 20)),
        );
        await engine.apply(B(1), [
          entry(1, ...ops.slice(0, 20)),
          entry(2, ...ops.slice(20), del('key000')),
        ]);
        const chunks = await collect(engine.exportBucket(B(1)));
        assert.ok(chunks.length > 3, `${chunks.length} chunks`);
        assert.ok(chunks.at(-1)!.last && chunks.slice(0, -1).every((c) => !c.last));
        assert.deepEqual(
          chunks.map((c) => c.seq),
          chunks.map((_, i) => i),
        );
        const wire = chunks.map((c) => decodeChunk(encodeChunk(c)));
        await engine.apply(B(9), [entry(5, put('old', 'state'))]);
        const { version } = await engine.installBucket(B(9), stream(wire));
        assert.equal(version, 2);
        assert.equal(engine.appliedIndex(B(9)), 2);
        assert.deepEqual(dump(engine, B(9)), dump(engine, B(1)));
        await engine.apply(B(9), [entry(3, put('after', 'install'))]);
        engine.runMaintenance();
        engine.verify();
      }));

    test('an export at a snapshot streams the pinned state', () =>
      withEngine(make, async (engine) => {
        await engine.apply(B(1), [entry(1, put('a', '1'), put('b', '1'))]);
        const snap = engine.openSnapshot();
        await engine.apply(B(1), [entry(2, put('a', '2'), del('b'), put('c', '2'))]);
        const chunks = await collect(engine.exportBucket(B(1), { snapshot: snap }));
        assert.equal(chunks[0]!.version, 1);
        assert.deepEqual(
          chunks.flatMap((c) => c.rows.map((r) => `${Buffer.from(r.key)}=${Buffer.from(r.value)}`)),
          ['a=1', 'b=1'],
        );
        const atVersion = await collect(engine.exportBucket(B(1), { atVersion: 1 }));
        assert.deepEqual(
          atVersion.flatMap((c) => c.rows.length),
          [2],
        );
        assert.throws(() => engine.exportBucket(B(1), { atVersion: 0 }), /VERSION_UNAVAILABLE/);
        snap.release();
        assert.throws(() => engine.exportBucket(B(1), { atVersion: 1 }), /VERSION_UNAVAILABLE/);
        assert.equal(engine.stats().snapshots, 0, 'the export released its own pin');
      }));

    test('a broken install stream is refused and leaves the old state', () =>
      withEngine(make, async (engine) => {
        await engine.apply(
          B(1),
          Array.from({ length: 10 }, (_, i) => entry(i + 1, put(`k${i}`, `v${i}`))),
        );
        await engine.apply(B(2), [entry(1, put('keep', 'me'))]);
        const chunks = await collect(engine.exportBucket(B(1)));
        const before = dump(engine, B(2));
        const broken: [string, BucketChunk[]][] = [
          ['missing last', chunks.slice(0, -1)],
          ['skipped chunk', [chunks[0]!, ...chunks.slice(2)]],
          [
            'keys out of order',
            [{ ...chunks[0]!, rows: [...chunks[0]!.rows].reverse() }, ...chunks.slice(1)],
          ],
          [
            'version above the stream',
            [
              { ...chunks[0]!, rows: [{ ...chunks[0]!.rows[0]!, version: 99 }] },
              ...chunks.slice(1),
            ],
          ],
          [
            'changing version',
            [chunks[0]!, ...chunks.slice(1).map((c) => ({ ...c, version: I(c.version + 1) }))],
          ],
        ];
        for (const [what, bad] of broken) {
          await assert.rejects(
            engine.installBucket(B(2), stream(bad)),
            (e: unknown) => isStorageError(e, 'INSTALL_INVALID'),
            what,
          );
          assert.deepEqual(dump(engine, B(2)), before, what);
        }
        const failing = (async function* () {
          yield chunks[0]!;
          throw new Error('connection lost');
        })();
        await assert.rejects(engine.installBucket(B(2), failing), /connection lost/);
        assert.deepEqual(dump(engine, B(2)), before);
        engine.runMaintenance();
        engine.verify();
        const wire = encodeChunk(chunks[0]!);
        wire[wire.length - 1] ^= 1;
        assert.throws(
          () => decodeChunk(wire),
          (e: unknown) => isStorageError(e, 'INSTALL_INVALID'),
        );
      }));

    test('applies and drops wait for an install to finish (BUCKET_BUSY)', () =>
      withEngine(make, async (engine) => {
        await engine.apply(B(1), [entry(1, put('a', '1'))]);
        const chunks = await collect(engine.exportBucket(B(1)));
        let release!: () => void;
        const gate = new Promise<void>((resolve) => (release = resolve));
        const slow = (async function* () {
          await gate;
          yield* chunks;
        })();
        const installing = engine.installBucket(B(2), slow);
        await rejectsWith(engine.apply(B(2), [entry(1, put('x', 'y'))]), 'BUCKET_BUSY');
        await rejectsWith(engine.dropBucket(B(2)), 'BUCKET_BUSY');
        await rejectsWith(engine.installBucket(B(2), stream(chunks)), 'BUCKET_BUSY');
        release();
        await installing;
        await engine.apply(B(2), [entry(2, put('x', 'y'))]);
        assert.equal(engine.appliedIndex(B(2)), 2);
      }));

    test('state survives close and reopen, and a closed engine refuses calls', async () => {
      const store = make(2);
      try {
        let engine = await store.open();
        const writes = Array.from({ length: 50 }, (_, i) =>
          engine.apply(B(i % 5), [entry(Math.floor(i / 5) + 1, put(`k${i}`, 'v'.repeat(i * 7)))]),
        );
        const want = async (): Promise<string[][]> => {
          await Promise.all(writes);
          return [0, 1, 2, 3, 4].map((x) => dump(engine, B(x)));
        };
        const expected = await want();
        await engine.close();
        throwsWith(() => engine.get(B(1), b('k1')), 'STORAGE_CLOSED');
        await rejectsWith(engine.apply(B(1), [entry(99)]), 'STORAGE_CLOSED');
        engine = await store.open();
        assert.deepEqual(
          [0, 1, 2, 3, 4].map((x) => dump(engine, B(x))),
          expected,
        );
        engine.verify();
        await engine.close();
      } finally {
        store.cleanup();
      }
    });

    test('compaction rewrites mostly-dead segments while reads, writes and snapshots go on', () =>
      withEngine(
        make,
        async (engine, store) => {
          let index = 0;
          const write = (key: string, fill: number): Promise<void> =>
            engine.apply(B(1), [entry(++index, put(key, Buffer.alloc(700, fill)))]);
          // Each round writes one value that stays and overwrites five that churn: segments end up
          // mostly dead but not empty.
          for (let round = 0; round < 12; round++) {
            await write(`stable${round}`, round);
            for (let k = 0; k < 5; k++) await write(`churn${k}`, round);
          }
          const snap = engine.openSnapshot();
          const pinned = dump(engine, B(1));
          for (let k = 0; k < 3; k++) await write(`churn${k}`, 100);
          engine.checkpoint();
          const before = engine.stats();
          const filesBefore = store.files().list().length;
          const compaction = engine.compact();
          const during = write('stable5', 200);
          const report = await compaction;
          await during;
          assert.ok(report.segments.length > 0, 'some segments compacted');
          assert.ok(store.files().list().length <= filesBefore);
          assert.ok(engine.stats().segmentBytes < before.segmentBytes, 'space reclaimed');
          assert.deepEqual(dump(engine, B(1), { atVersion: snap.version(B(1)) }), pinned);
          assert.equal(engine.get(B(1), b('stable5'))?.value[0], 200);
          engine.verify();
          snap.release();
          engine.runMaintenance();
          await engine.compact();
          engine.verify();
        },
        { segmentBytesTarget: 4096, compactionLiveRatioMax: 0.6 },
      ));
  });
}
