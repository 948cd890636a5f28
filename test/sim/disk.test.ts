// SimDisk's crash semantics are what every storage and consensus test relies on, so each one is
// pinned here: fsynced bytes always survive, unsynced ones survive only as an in-order prefix, the
// last survivor may be torn, atomic replacement and truncation are durable, corruption flips a byte
// of the named record only, and the same seed loses the same bytes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SimDisk } from '../../sim/disk.js';
import { Prng } from '../../src/core/lib/prng.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
const alwaysLose = { tornWriteProbability: 0, unsyncedSurvivalProbability: 0 };
const alwaysKeep = { tornWriteProbability: 0, unsyncedSurvivalProbability: 1 };
const alwaysTear = { tornWriteProbability: 1, unsyncedSurvivalProbability: 1 };

describe('SimDisk', () => {
  test('reads see unsynced appends (page cache)', () => {
    const disk = new SimDisk(new Prng(1));
    disk.append('f', bytes(1, 2));
    disk.append('f', bytes(3));
    assert.deepEqual(disk.read('f'), bytes(1, 2, 3));
    assert.equal(disk.records('f'), 2);
    assert.equal(disk.dirty('f'), true);
    assert.equal(disk.read('missing'), null);
  });

  test('a crash keeps fsynced bytes and loses unsynced ones', () => {
    const disk = new SimDisk(new Prng(1), alwaysLose);
    disk.append('f', bytes(1, 2));
    disk.fsync('f');
    disk.append('f', bytes(3, 4));
    disk.crash();
    assert.deepEqual(disk.read('f'), bytes(1, 2));
    assert.equal(disk.dirty('f'), false);
    assert.equal(disk.stats.lostRecords, 1);
  });

  test('unsynced records may all survive', () => {
    const disk = new SimDisk(new Prng(1), alwaysKeep);
    disk.append('f', bytes(1));
    disk.append('f', bytes(2));
    disk.crash();
    assert.deepEqual(disk.read('f'), bytes(1, 2));
  });

  test('the last surviving unsynced record can be torn, never a synced one', () => {
    const disk = new SimDisk(new Prng(3), alwaysTear);
    disk.append('f', bytes(1, 1, 1, 1));
    disk.fsync('f');
    disk.append('f', bytes(2, 2, 2, 2, 2, 2, 2, 2));
    disk.crash();
    const after = disk.read('f') as Uint8Array;
    assert.ok(after.length >= 4 && after.length < 12, `length ${after.length}`);
    assert.deepEqual(after.subarray(0, 4), bytes(1, 1, 1, 1));
    assert.ok(after.subarray(4).every((b) => b === 2));
    assert.equal(disk.stats.tornRecords, 1);
  });

  test('survivors are always a prefix of what was appended (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.array(fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.boolean()), {
          maxLength: 20,
        }),
        (seed, writes) => {
          const disk = new SimDisk(new Prng(seed));
          const all: number[] = [];
          let synced = 0;
          for (const [data, sync] of writes) {
            disk.append('f', data);
            all.push(...data);
            if (sync) {
              disk.fsync('f');
              synced = all.length;
            }
          }
          disk.crash();
          const after = [...(disk.read('f') ?? [])];
          assert.ok(after.length >= synced, 'synced bytes survive');
          assert.deepEqual(after, all.slice(0, after.length), 'survivors are a prefix');
        },
      ),
    );
  });

  test('writeAtomic, truncate and remove are durable at once', () => {
    const disk = new SimDisk(new Prng(1), alwaysLose);
    disk.writeAtomic('meta', bytes(9, 9));
    disk.append('log', bytes(1, 2, 3));
    disk.fsync('log');
    disk.truncate('log', 1);
    disk.append('gone', bytes(5));
    disk.fsync('gone');
    assert.equal(disk.remove('gone'), true);
    disk.crash();
    assert.deepEqual(disk.read('meta'), bytes(9, 9));
    assert.deepEqual(disk.read('log'), bytes(1));
    assert.equal(disk.read('gone'), null);
    assert.deepEqual(disk.list(), ['log', 'meta']);
  });

  test('corrupt flips a byte inside the named record only', () => {
    const disk = new SimDisk(new Prng(5));
    disk.append('f', bytes(0, 0, 0));
    disk.append('f', bytes(0, 0, 0));
    disk.append('f', bytes(0, 0, 0));
    disk.fsync('f');
    disk.corrupt('f', 1);
    const after = disk.read('f') as Uint8Array;
    assert.deepEqual([...after.subarray(0, 3), ...after.subarray(6)], [0, 0, 0, 0, 0, 0]);
    assert.equal(after.subarray(3, 6).filter((b) => b !== 0).length, 1);
    assert.throws(() => disk.corrupt('f', 3), /no record 3/);
  });

  test('the same seed loses the same bytes', () => {
    const run = (seed: number): number[] => {
      const disk = new SimDisk(new Prng(seed));
      for (let i = 0; i < 30; i++) {
        disk.append('a', bytes(i, i, i));
        disk.append('b', bytes(i));
        if (i % 7 === 0) disk.fsync('a');
      }
      disk.crash();
      return [disk.size('a') ?? -1, disk.size('b') ?? -1];
    };
    assert.deepEqual(run(42), run(42));
  });
});
