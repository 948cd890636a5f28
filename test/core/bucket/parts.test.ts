// The replica's parts on their own, table-driven: the log's matching and hints, the session table
// (in sessions.test.ts), the lease arithmetic under the drift bound and the backlog's
// bounds. (The store has its own compliance suite: store-compliance.ts.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  defaultReplicaOptions,
  leaseTicksFor,
  validateReplicaOptions,
  type LogEntry,
} from '../../../src/core/bucket/index.js';
import { Backlog } from '../../../src/core/bucket/backlog.js';
import { LeaderLease, LeasePromise } from '../../../src/core/bucket/lease.js';
import { BucketLog } from '../../../src/core/bucket/log.js';
import { epoch, logIndex, nodeId } from '../../../src/core/lib/ids.js';
import { gov } from './harness.js';

const entry = (e: number, i: number): LogEntry => ({
  epoch: epoch(e),
  index: logIndex(i),
  payload: { kind: 'government', government: gov(e, 1, []) },
});

describe('BucketLog', () => {
  test('epochs, matching and slices', () => {
    const log = new BucketLog(undefined, [entry(1, 1), entry(1, 2), entry(3, 3)]);
    assert.equal(log.lastIndex, 3);
    assert.equal(log.lastEpoch, 3);
    assert.equal(log.epochAt(0), 0);
    assert.equal(log.epochAt(4), null);
    assert.ok(log.matches(2, epoch(1)));
    assert.ok(!log.matches(3, epoch(2)));
    assert.deepEqual(
      log.slice(2, 10).map((e) => e.index),
      [2, 3],
    );
  });

  test('the hint skips the whole run of the conflicting epoch', () => {
    const log = new BucketLog(undefined, [entry(1, 1), entry(2, 2), entry(2, 3), entry(2, 4)]);
    assert.equal(log.hintBefore(4), 1);
    assert.equal(log.hintBefore(9), 4, 'a shorter log hints at its end');
  });

  test('a base covers everything before it', () => {
    const log = new BucketLog({ epoch: epoch(2), index: logIndex(10) }, [entry(2, 11)]);
    assert.equal(log.epochAt(10), 2);
    assert.equal(log.epochAt(9), null);
    assert.throws(() => log.truncateAfter(9), /inside the base/);
    assert.throws(() => log.append([entry(1, 12)]), /epoch/);
    assert.throws(() => log.append([entry(3, 13)]), /after 11/);
  });
});

describe('leases', () => {
  test('the leader lease ends, in real time, before every promise behind it', () => {
    // Worst case: the leader's clock runs slowest and the follower's fastest, the follower receives
    // the stamp the moment it was taken, and its next tick comes right after.
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 200 }),
        fc.double({ min: 0, max: 0.2, noNaN: true }),
        (promiseTicks, rho) => {
          const o = { ...defaultReplicaOptions, promiseTicks, clockDriftMax: rho };
          const lease = leaseTicksFor(o);
          const leaderEndsBy = lease / (1 - rho); // real periods after the stamp, at most
          const promiseLasts = (promiseTicks - 1) / (1 + rho); // real periods, at least
          assert.ok(leaderEndsBy <= promiseLasts + 1e-9, `${leaderEndsBy} > ${promiseLasts}`);
        },
      ),
    );
  });

  test('a leader needs a fresh grant from every follower', () => {
    const l = new LeaderLease([nodeId(2), nodeId(3)], 10);
    assert.equal(l.valid(0), false);
    l.grant(nodeId(2), 5);
    assert.equal(l.valid(6), false, 'follower 3 has not granted');
    l.grant(nodeId(3), 7);
    assert.equal(l.valid(14), true);
    assert.equal(l.valid(15), false, 'the oldest grant (5) bounds the lease');
    assert.equal(new LeaderLease([], 10).valid(1e9), true, 'no followers, nobody to wait for');
  });

  test('promises block newer epochs until they end; a release lifts only the newest', () => {
    const p = LeasePromise.atBoot(0, 10);
    assert.ok(p.blocks(epoch(1), 9), 'the boot promise blocks every epoch');
    assert.ok(!p.blocks(epoch(1), 10));
    p.grant(epoch(3), 20, 10);
    assert.ok(p.blocks(epoch(4), 29));
    assert.ok(!p.blocks(epoch(3), 25), 'a promise to epoch 3 does not block epoch 3');
    p.grant(epoch(4), 22, 10); // the promise to 3 lasts until 30
    p.release(epoch(4));
    assert.ok(p.blocks(epoch(5), 29), 'epoch 3 was not released');
    assert.ok(!p.blocks(epoch(5), 30));
    assert.throws(() => p.grant(epoch(2), 40, 10), /after one to 4/);
  });

  test('the default options are valid and bad ones are refused', () => {
    validateReplicaOptions(defaultReplicaOptions);
    assert.throws(
      () => validateReplicaOptions({ ...defaultReplicaOptions, promiseTicks: 4 }),
      /renew/,
    );
    assert.throws(
      () => validateReplicaOptions({ ...defaultReplicaOptions, backlogMax: 0 }),
      /positive/,
    );
  });
});

describe('Backlog', () => {
  test('bounded, FIFO, expiring', () => {
    const b = new Backlog<string>(2, 5);
    assert.ok(b.push('a', 0));
    assert.ok(b.push('b', 3));
    assert.ok(!b.push('c', 3), 'full');
    assert.deepEqual(b.expire(5), ['a']);
    assert.deepEqual(b.drain(), ['b']);
    assert.equal(b.size, 0);
  });
});
