// A replica keeps only the tail of its bucket log in memory: applied entries beyond
// `logRetainEntries`/`logRetainBytes` are dropped (the store keeps them all), never what a member
// being fed from the log has not acknowledged unless that holds more than `logLaggardBytesMax`,
// and a member that falls behind the compacted log is brought back with a snapshot.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultReplicaOptions, type LogEntry } from '../../../src/core/bucket/index.js';
import { BucketLog } from '../../../src/core/bucket/log.js';
import { entryBytes } from '../../../src/core/bucket/wire-size.js';
import { epoch, logIndex } from '../../../src/core/lib/ids.js';
import { Cluster, dec, gov } from './harness.js';

const entry = (e: number, i: number): LogEntry => ({
  epoch: epoch(e),
  index: logIndex(i),
  payload: { kind: 'government', government: gov(e, 1, []) },
});

describe('BucketLog compaction', () => {
  test('compactTo moves the base and keeps the byte count exact', () => {
    const entries = [entry(1, 1), entry(1, 2), entry(2, 3), entry(2, 4), entry(3, 5)];
    const log = new BucketLog(undefined, entries);
    const size = (es: LogEntry[]): number => es.reduce((sum, e) => sum + entryBytes(e), 0);
    assert.equal(log.bytes, size(entries));
    log.compactTo(3);
    assert.deepEqual(log.basePosition, { epoch: 2, index: 3 });
    assert.equal(log.length, 2);
    assert.equal(log.bytes, size(entries.slice(3)));
    assert.ok(log.matches(3, epoch(2)), 'the base matches its own position');
    assert.equal(log.epochAt(2), null, 'what went is inside the base');
    assert.throws(() => log.compactTo(3), /not after the base/);
    assert.throws(() => log.compactTo(6), /past the end/);
    log.truncateAfter(4);
    assert.equal(log.bytes, size(entries.slice(3, 4)));
    log.reset({ epoch: epoch(3), index: logIndex(9) });
    assert.equal(log.bytes, 0);
  });

  test('bytesBetween sums the entries in the range, clamped to the log', () => {
    const log = new BucketLog(
      { epoch: epoch(1), index: logIndex(2) },
      [3, 4, 5].map((i) => entry(1, i)),
    );
    const one = entryBytes(entry(1, 3));
    assert.equal(log.bytesBetween(2, 5), log.bytes);
    assert.equal(log.bytesBetween(0, 9), log.bytes, 'clamped');
    assert.equal(log.bytesBetween(3, 4), one);
    assert.equal(log.bytesBetween(4, 4), 0);
    assert.equal(log.bytesBetween(5, 3), 0);
  });

  test('compactionPoint keeps at most the entries and bytes asked for, never past the limit', () => {
    const log = new BucketLog(
      undefined,
      Array.from({ length: 10 }, (_, i) => entry(1, i + 1)),
    );
    const one = entryBytes(entry(1, 1));
    assert.equal(log.compactionPoint(Infinity, 4, Infinity), 6);
    assert.equal(log.compactionPoint(Infinity, 100, 3 * one), 7);
    assert.equal(log.compactionPoint(5, 4, Infinity), 5, 'the limit wins');
    assert.equal(log.compactionPoint(Infinity, 100, Infinity), 0, 'nothing to drop');
    assert.equal(log.compactionPoint(-1, 4, 0), 0, 'never before the base');
  });
});

describe('replica log compaction', () => {
  const options = {
    ...defaultReplicaOptions,
    logRetainEntries: 4,
    logRetainBytes: 64 * 1024,
    logLaggardBytesMax: 128 * 1024,
  };

  test('every member keeps a bounded log and the same state', () => {
    const c = new Cluster([1, 2, 3], options);
    c.start(gov(1, 1, [2, 3]));
    for (let seq = 1; seq <= 40; seq++) {
      c.put(1, 100, seq, `k${seq % 5}`, `v${seq}`);
      c.deliver();
      c.tick(1);
    }
    c.tick(6);
    c.deliver();
    for (const id of [1, 2, 3]) {
      const log = c.replica(id).log;
      assert.ok(log.lastIndex >= 41, `node ${id} has every write`);
      assert.ok(
        log.lastIndex - log.basePosition.index <= 2 * options.logRetainEntries,
        `node ${id} keeps ${log.lastIndex - log.basePosition.index} entries`,
      );
      assert.ok(log.basePosition.index > 0, `node ${id} compacted`);
      assert.equal(dec(c.replica(id).peek('k0')?.value), 'v40');
    }
  });

  test('the leader keeps what a lagging member lacks, up to the laggard bound', () => {
    const c = new Cluster([1, 2, 3], options);
    c.start(gov(1, 1, [2], [3]));
    c.cut.add('1>3');
    for (let seq = 1; seq <= 30; seq++) {
      c.put(1, 100, seq, `k${seq}`, `v${seq}`);
      c.deliver();
      c.tick(1);
    }
    const behind = c.replica(3).log.lastIndex;
    assert.ok(
      c.replica(1).log.basePosition.index <= behind,
      'node 3 can still be fed from the log',
    );
    assert.ok(c.replica(2).log.basePosition.index > behind, 'the follower compacted its own log');
  });

  test('a member that fell behind the laggard bound catches up with a snapshot', () => {
    const c = new Cluster([1, 2, 3], {
      ...options,
      logRetainBytes: 512,
      logLaggardBytesMax: 1024,
    });
    c.start(gov(1, 1, [2, 3]));
    c.put(1, 100, 1, 'a', 'first');
    c.deliver();
    c.tick(4);
    c.deliver();
    // Node 3 hears nothing for a while. As a follower it would hold every write back; as a
    // learner (a member being backfilled, say) it does not, and the log grows past the bound.
    c.edict(gov(2, 1, [2], [3]));
    c.deliver();
    c.tick(4);
    c.deliver();
    c.cut.add('1>3');
    for (let seq = 2; seq <= 30; seq++) {
      c.put(1, 100, seq, `k${seq}`, `v${seq}`);
      c.deliver();
      c.tick(1);
    }
    const base = c.replica(1).log.basePosition.index;
    assert.ok(base > c.replica(3).log.lastIndex, 'the leader compacted past node 3');
    c.cut.clear();
    c.tickUntil(() => {
      c.deliver();
      return c.replica(3).log.lastIndex === c.replica(1).log.lastIndex;
    }, 400);
    assert.equal(dec(c.replica(3).peek('k30')?.value), 'v30');
    assert.equal(dec(c.replica(3).peek('a')?.value), 'first');
    assert.ok(c.replica(3).log.basePosition.index >= base, 'node 3 installed a snapshot');
  });
});
