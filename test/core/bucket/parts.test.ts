// The replica's parts on their own, table-driven: the log's matching and hints, the session table
// (at most once, bounded, expiry), the lease arithmetic under the drift bound and the backlog's
// bounds. (The store has its own compliance suite: store-compliance.ts.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  clientId,
  defaultReplicaOptions,
  leaseTicksFor,
  validateReplicaOptions,
  type LogEntry,
  type WriteResult,
} from '../../../src/core/bucket/index.js';
import { Backlog } from '../../../src/core/bucket/backlog.js';
import { LeaderLease, LeasePromise } from '../../../src/core/bucket/lease.js';
import { BucketLog } from '../../../src/core/bucket/log.js';
import { SessionTable } from '../../../src/core/bucket/sessions.js';
import { KvStateMachine } from '../../../src/core/bucket/state-machine.js';
import { epoch, logIndex, nodeId } from '../../../src/core/lib/ids.js';
import { enc, gov } from './harness.js';

const entry = (e: number, i: number): LogEntry => ({
  epoch: epoch(e),
  index: logIndex(i),
  payload: { kind: 'government', government: gov(e, 1, []) },
});
const result = (i: number): WriteResult => ({
  op: 'put',
  at: { epoch: epoch(1), index: logIndex(i) },
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

describe('SessionTable', () => {
  const c = clientId;

  test('classifies new, duplicate, stale and expired', () => {
    const t = new SessionTable(2);
    assert.equal(t.check(c(5), 1).kind, 'new');
    t.record(c(5), 1, result(1), logIndex(1));
    assert.deepEqual(t.check(c(5), 1), { kind: 'duplicate', result: result(1) });
    t.record(c(5), 3, result(2), logIndex(2));
    assert.equal(t.check(c(5), 2).kind, 'stale');
    assert.equal(t.check(c(5), 4).kind, 'new');
    assert.throws(() => t.record(c(5), 3, result(3), logIndex(3)), /at most once/);
  });

  test('evicts the least recently used session and refuses ids at or below the floor', () => {
    const t = new SessionTable(2);
    t.record(c(1), 1, result(1), logIndex(1));
    t.record(c(2), 1, result(2), logIndex(2));
    t.record(c(1), 2, result(3), logIndex(3));
    t.record(c(3), 1, result(4), logIndex(4)); // evicts client 2, the least recently used
    assert.equal(t.size, 2);
    assert.equal(t.floor, 2);
    assert.equal(t.check(c(2), 2).kind, 'expired');
    assert.equal(t.check(c(1), 3).kind, 'new', 'a live session below the floor is fine');
    assert.equal(t.check(c(9), 1).kind, 'new');
  });

  test('a state machine applies a (client, seq) at most once, whatever the duplicates', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 6 }), { maxLength: 40 }), (seqs) => {
        const sm = new KvStateMachine(8);
        const fresh = new Set<number>();
        seqs.forEach((seq, i) => {
          const applied = sm.apply({
            epoch: epoch(1),
            index: logIndex(i + 1),
            payload: {
              kind: 'write',
              clientId: c(1),
              seq,
              command: { op: 'put', key: 'k', value: enc(`${seq}`) },
            },
          });
          if (applied.fresh) {
            assert.ok(!fresh.has(seq), `seq ${seq} applied twice`);
            fresh.add(seq);
          }
        });
      }),
    );
  });

  test('images round-trip through install', () => {
    const sm = new KvStateMachine(8);
    sm.apply({
      epoch: epoch(1),
      index: logIndex(1),
      payload: {
        kind: 'write',
        clientId: c(1),
        seq: 1,
        command: { op: 'put', key: 'a', value: enc('x') },
      },
    });
    const copy = new KvStateMachine(8);
    copy.install(sm.image());
    assert.deepEqual(copy.image(), sm.image());
    assert.equal(copy.sessions.check(c(1), 1).kind, 'duplicate');
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
