// Unit tests of the client's pieces without a network. SessionSeqs: fast-check drives random
// begin/end sequences and checks the optimised floor against a simple reference (the lowest seq in
// flight, or the next seq when none is), seqs are unique and increasing, and the in-flight bound
// holds. RouteCache: malformed tables are refused, an older table never replaces a newer one, and
// keys route to their bucket's leader by crc32c mod B.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SessionSeqs } from '../../src/client/session.js';
import { RouteCache, validateTable } from '../../src/client/routes.js';
import { parseAddress } from '../../src/client/options.js';
import { bucketOf } from '../../src/core/directory/routing.js';

describe('SessionSeqs', () => {
  test('ackedBelow is the lowest seq in flight (model check)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat(1_000)), { maxLength: 200 }), (steps) => {
        const seqs = new SessionSeqs(8);
        const open: number[] = [];
        let last = 0;
        for (const [begin, pick] of steps) {
          if (begin && open.length < 8) {
            const seq = seqs.begin();
            assert.ok(seq > last, 'seqs increase');
            last = seq;
            open.push(seq);
          } else if (open.length > 0) {
            const [seq] = open.splice(pick % open.length, 1);
            seqs.end(seq as number);
          }
          for (const seq of open) {
            const expected = Math.min(...open);
            assert.equal(seqs.stamp(seq).ackedBelow, expected);
          }
          assert.equal(seqs.size, open.length);
        }
      }),
    );
  });

  test('begin() beyond the bound is QUEUE_FULL', () => {
    const seqs = new SessionSeqs(2);
    seqs.begin();
    seqs.begin();
    assert.throws(() => seqs.begin(), { code: 'QUEUE_FULL' });
  });
});

describe('RouteCache', () => {
  const table = (mapVersion: number, leader: number | null) => ({
    mapVersion,
    nodes: [
      { id: 1, address: '127.0.0.1:1' },
      { id: 2, address: '127.0.0.1:2' },
    ],
    buckets: [0, 1, 2, 3].map((bucket) => ({
      bucket,
      epoch: 1,
      leader: leader ?? (bucket % 2) + 1,
      followers: [],
      learners: [],
    })),
  });

  test('routes by crc32c mod B and never goes back to an older table', () => {
    const routes = new RouteCache();
    assert.equal(routes.leaderAddress(new Uint8Array([1])), null);
    assert.ok(routes.maybeInstall(table(2, null)));
    const key = new TextEncoder().encode('some key');
    const bucket = bucketOf(key, 4);
    assert.deepEqual(routes.leaderAddress(key), {
      bucket,
      address: `127.0.0.1:${(bucket % 2) + 1}`,
    });
    assert.ok(!routes.maybeInstall(table(1, 1)));
    assert.equal(routes.mapVersion, 2);
    assert.ok(routes.maybeInstall(table(3, 2)));
    assert.equal(routes.leaderAddress(key)?.address, '127.0.0.1:2');
    assert.deepEqual(routes.nodeAddresses(), ['127.0.0.1:1', '127.0.0.1:2']);
  });

  test('malformed tables are INTERNAL errors', () => {
    const good = table(1, null);
    const bad: unknown[] = [
      null,
      { ...good, mapVersion: -1 },
      { ...good, nodes: 'x' },
      {
        ...good,
        nodes: [
          { id: 1, address: 'a' },
          { id: 1, address: 'b' },
        ],
      },
      { ...good, buckets: [{ ...good.buckets[1] }] },
      { ...good, buckets: [{ ...good.buckets[0], leader: 'x' }] },
    ];
    for (const value of bad) assert.throws(() => validateTable(value), { code: 'INTERNAL' });
  });

  test('addresses', () => {
    assert.deepEqual(parseAddress('10.0.0.1:7001'), { host: '10.0.0.1', port: 7001 });
    assert.deepEqual(parseAddress('[::1]:7001'), { host: '::1', port: 7001 });
    for (const bad of ['x', 'x:', 'x:0', 'x:70000', ':1', '::1:7001']) {
      assert.throws(() => parseAddress(bad), { code: 'BAD_REQUEST' }, bad);
    }
  });
});
