// The client library against a fake cluster of three real transport servers on 127.0.0.1 (see
// fake-cluster.ts): reads and conditional writes; requests go straight to the bucket leader; moved
// leadership and a bumped map version are followed (WRONG_LEADER and STALE_MAP); a lost answer is
// retried under the same session seq and applied once; sessions are opened by the cluster, once
// for concurrent first writes, and renewed after SESSION_EXPIRED only when no earlier attempt may
// have been applied; a stopped node is routed around; bad input and exhausted retries end in typed
// errors; close() releases every connection. Timeouts are kept short so the file runs in a few
// seconds.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  connect,
  EdictError,
  type ConnectOptions,
  type EdictClient,
} from '../../src/client/index.js';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../../src/core/lib/limits.js';
import { cleanupAfterEach, type Cleanup } from '../net/helpers.js';
import { FakeCluster } from './fake-cluster.js';

const cleanup = cleanupAfterEach();

async function client(
  cluster: FakeCluster,
  options: Partial<ConnectOptions> = {},
  scope: Cleanup = cleanup,
): Promise<EdictClient> {
  const db = await connect({
    endpoints: cluster.nodes.map((node) => node.address),
    timeoutMs: 2_000,
    attemptTimeoutMs: 250,
    ...options,
  });
  scope.add(() => db.close());
  return db;
}

/** A key whose bucket node `id` leads now. */
function keyLedBy(cluster: FakeCluster, id: number, prefix = 'k'): string {
  for (let i = 0; i < 10_000; i += 1) {
    if (cluster.leaderOf(`${prefix}${i}`).id === id) return `${prefix}${i}`;
  }
  throw new Error(`no key led by ${id}`);
}

async function rejects(promise: Promise<unknown>, code: string): Promise<EdictError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof EdictError, `an EdictError, not ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('client: reads and writes', () => {
  test('put, get, delete, text and binary keys and values', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    assert.equal(db.mapVersion, 1);
    assert.equal(await db.get('missing'), null);
    const { version } = await db.put('greeting', 'hello');
    const entry = await db.get('greeting');
    assert.ok(entry !== null);
    assert.equal(entry.text(), 'hello');
    assert.equal(entry.version, version);
    assert.equal(Object.getPrototypeOf(entry.value), Uint8Array.prototype);

    const binaryKey = new Uint8Array([0, 255, 1]);
    await db.put(binaryKey, new Uint8Array([9, 8, 7]));
    assert.deepEqual([...((await db.get(binaryKey))?.value ?? [])], [9, 8, 7]);

    const deleted = await db.delete('greeting');
    assert.ok(deleted !== null && deleted.version > version);
    assert.equal(await db.get('greeting'), null);
    assert.equal(await db.delete('greeting'), null);
    const status = await db.status();
    assert.equal(status.mapVersion, 1);
  });

  test('compare-and-set and create-only fail with CONDITION_FAILED', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    const first = await db.put('cas', 'a', { ifAbsent: true });
    await rejects(db.put('cas', 'b', { ifAbsent: true }), 'CONDITION_FAILED');
    const second = await db.put('cas', 'b', { ifVersion: first.version });
    await rejects(db.put('cas', 'c', { ifVersion: first.version }), 'CONDITION_FAILED');
    await rejects(db.delete('cas', { ifVersion: first.version }), 'CONDITION_FAILED');
    assert.ok((await db.delete('cas', { ifVersion: second.version })) !== null);
    assert.equal(cluster.redirected(), 0, 'no retries were needed');
  });

  test('each request goes straight to its bucket leader', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    for (let i = 0; i < 30; i += 1) await db.put(`key-${i}`, `v${i}`);
    for (let i = 0; i < 30; i += 1) assert.equal((await db.get(`key-${i}`))?.text(), `v${i}`);
    assert.equal(cluster.redirected(), 0);
    for (const node of cluster.nodes)
      assert.ok(node.count('kv.put') > 0, `node ${node.id} led some`);
    assert.equal(db.connectionCount, 3);
  });
});

describe('client: routing changes', () => {
  test('follows leadership moved to another node (WRONG_LEADER, newer map)', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    const key = keyLedBy(cluster, 1);
    await db.put(key, 'before');
    cluster.moveLeadership(1, 2);
    const { version } = await db.put(key, 'after');
    assert.equal(db.mapVersion, 2);
    assert.equal(cluster.node(1).redirected, 1, 'one redirect, then the new leader');
    assert.equal((await db.get(key))?.version, version);
    assert.equal(cluster.node(1).redirected, 1, 'the refreshed map is used from then on');
  });

  test('pipelined writes across a leadership move all succeed, each applied once', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    await db.put('warm-up', 'v');
    const writes = Array.from({ length: 60 }, (_, i) => db.put(`move-${i}`, `v${i}`));
    cluster.moveLeadership(2, 3);
    cluster.moveLeadership(1, 3);
    const versions = await Promise.all(writes);
    assert.equal(new Set(versions.map((v) => v.version)).size, 60);
    assert.equal(cluster.store.writesApplied, 61);
    for (let i = 0; i < 60; i += 1) assert.equal((await db.get(`move-${i}`))?.text(), `v${i}`);
    assert.equal(db.mapVersion, 3);
  });

  test('refreshes on STALE_MAP when the map changed but the leader did not', async () => {
    const cluster = await FakeCluster.start(cleanup);
    cluster.strictMaps = true;
    const db = await client(cluster);
    cluster.install(7, cluster.leaders());
    await db.put('stale', 'x');
    assert.equal(db.mapVersion, 7);
    assert.equal(cluster.redirected(), 1);
  });

  test('never goes back to an older map', async () => {
    const cluster = await FakeCluster.start(cleanup);
    cluster.install(5, cluster.leaders());
    const db = await client(cluster);
    assert.equal(db.mapVersion, 5);
    cluster.install(
      3,
      cluster.leaders().map(() => 2),
    );
    cluster.strictMaps = false;
    const key = keyLedBy(cluster, 2);
    await db.put(key, 'v'); // the node that refuses names version 3: no refresh below 5
    assert.equal(db.mapVersion, 5);
  });

  test('a stopped node is routed around once the map moves its buckets', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    const key = keyLedBy(cluster, 3);
    await db.put(key, 'one');
    await cluster.node(3).stop();
    cluster.moveLeadership(3, 1);
    const started = performance.now();
    await db.put(key, 'two');
    assert.equal((await db.get(key))?.text(), 'two');
    assert.ok(
      performance.now() - started < 1_500,
      'no full attempt deadline spent on the dead node',
    );
    assert.equal(db.mapVersion, 2);
  });

  test('a node that leaves the routing table is disconnected', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster, { endpoints: [cluster.node(1).address] });
    for (let i = 0; i < 20; i += 1) await db.put(`leave-${i}`, 'v');
    assert.equal(db.connectionCount, 3);
    cluster.moveLeadership(3, 2);
    cluster.table = {
      ...cluster.table,
      nodes: cluster.table.nodes.filter((node) => node.id !== 3),
    };
    // Node 3, still up, redirects the keys it led; the refreshed table no longer lists it.
    for (let i = 0; i < 20; i += 1) await db.put(`leave-${i}`, 'w');
    assert.ok(cluster.node(3).redirected > 0);
    assert.equal(db.mapVersion, 2);
    assert.equal(db.connectionCount, 2);
  });

  test('follows a leaderHint when the map version did not change', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    const key = keyLedBy(cluster, 1);
    cluster.install(
      1,
      cluster.leaders().map((leader) => (leader === 1 ? 2 : leader)),
    );
    await db.put(key, 'hinted');
    assert.equal(cluster.node(1).redirected, 1);
    assert.equal(cluster.node(2).count('kv.put'), 1, 'the hinted node served it');
    assert.equal(cluster.node(2).count('cluster.map'), 0, 'no refresh for the same version');
  });

  test('a node restarted on the same port is reconnected to', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    const key = keyLedBy(cluster, 2);
    await db.put(key, 'before');
    const port = Number(cluster.node(2).address.split(':')[1]);
    await cluster.node(2).stop();
    const put = db.put(key, 'after'); // retried with backoff until the node is back
    await new Promise((resolve) => setTimeout(resolve, 100));
    await cluster.node(2).start(port);
    await put;
    assert.equal((await db.get(key))?.text(), 'after');
  });

  test('connect() skips seeds that are down', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const dead = cluster.node(1).address;
    await cluster.node(1).stop();
    const db = await client(cluster, { endpoints: [dead, cluster.node(2).address] });
    assert.equal(db.mapVersion, 1);
  });

  test('an empty routing table sends everything to the seeds', async () => {
    const cluster = await FakeCluster.start(cleanup, 1);
    cluster.install(1, []);
    const db = await client(cluster);
    // With no buckets the fake node cannot route: bucketOf needs at least one.
    cluster.install(1, [1]);
    await db.put('anything', 'v');
    assert.equal(cluster.node(1).count('kv.put'), 1);
  });
});

describe('client: exactly-once retries', () => {
  test('an answer that times out: the retry reuses the seq and the write is applied once', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    const key = keyLedBy(cluster, 2);
    cluster.node(2).faults.push({ kind: 'delay', ms: 400 });
    const { version } = await db.put(key, 'once');
    assert.equal(cluster.store.writesApplied, 1);
    assert.equal(cluster.node(2).count('kv.put'), 2, 'two attempts reached the leader');
    assert.equal((await db.get(key))?.version, version, 'the retry got the first result');
  });

  test('a connection closed after the write: applied once, first result returned', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    const key = keyLedBy(cluster, 1);
    await db.put(key, 'v1');
    cluster.node(1).faults.push({ kind: 'close' });
    const deleted = await db.delete(key);
    assert.ok(deleted !== null, 'the retry is answered "deleted", not "absent"');
    assert.equal(cluster.store.writesApplied, 2);
    assert.equal(await db.get(key), null);
  });

  test('a retried failed condition is answered with the same failure', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    const key = keyLedBy(cluster, 1);
    await db.put(key, 'v1');
    cluster.node(1).faults.push({ kind: 'close' });
    await rejects(db.put(key, 'v2', { ifAbsent: true }), 'CONDITION_FAILED');
    assert.equal(cluster.store.writesApplied, 1);
  });

  test('the servers forget the results of acknowledged writes', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    await Promise.all(Array.from({ length: 20 }, (_, i) => db.put(`p${i}`, 'v')));
    for (let i = 0; i < 5; i += 1) await db.put(`s${i}`, 'v');
    assert.equal(cluster.store.sessionResults(db.clientId ?? 0), 1, 'only the last one is kept');
  });

  test('giving up after an unknown outcome reports TIMEOUT, not UNAVAILABLE', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster, { timeoutMs: 600, attemptTimeoutMs: 150 });
    const key = keyLedBy(cluster, 2);
    cluster.node(2).faults.push({ kind: 'crash' });
    const error = await rejects(db.put(key, 'maybe'), 'TIMEOUT');
    await cluster.node(2).stopped;
    assert.equal(cluster.store.writesApplied, 1, 'it was in fact applied');
    assert.equal(error.details?.unknownCode, 'CONNECTION_CLOSED');
    assert.equal(error.details?.lastCode, 'UNAVAILABLE');
  });
});

describe('client: sessions', () => {
  test('the first write opens a session; reads need none', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    assert.equal(await db.get('k'), null);
    assert.equal(db.clientId, null);
    assert.equal(cluster.served('session.open'), 0);
    await db.put('k', 'v');
    await db.delete('k');
    assert.equal(db.clientId, 1, 'the id the cluster allocated');
    assert.equal(cluster.served('session.open'), 1);
    const other = await client(cluster);
    await other.put('k', 'w');
    assert.equal(other.clientId, 2, 'ids increase across clients');
  });

  test('concurrent first writes open exactly one session', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    const versions = await Promise.all(
      Array.from({ length: 40 }, (_, i) => db.put(`first-${i}`, `v${i}`)),
    );
    assert.equal(new Set(versions.map((v) => v.version)).size, 40);
    assert.equal(cluster.store.sessionsOpened, 1);
    assert.equal(cluster.served('session.open'), 1);
    assert.equal(db.clientId, 1);
    assert.equal(cluster.store.writesApplied, 40);
  });

  test('writes that start while a session is opening wait for it', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    cluster.sessionOpenDelayMs = 150;
    const early = db.put('early', 'v');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const late = [db.put('late-1', 'v'), db.delete('late-2')];
    assert.equal(cluster.served('kv.put') + cluster.served('kv.delete'), 0, 'nothing sent yet');
    await Promise.all([early, ...late]);
    assert.equal(cluster.served('session.open'), 1);
    assert.equal(cluster.store.writesApplied, 2);
  });

  test('close() while a session is opening fails the waiting writes with UNAVAILABLE', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    cluster.sessionOpenDelayMs = 100;
    const put = db.put('k', 'v');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await db.close();
    await rejects(put, 'UNAVAILABLE');
    assert.equal(cluster.served('kv.put'), 0);
  });

  test('pipelined writes with lost and duplicated answers are applied exactly once', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    await db.put('warm-up', 'v');
    cluster.node(1).faults.push({ kind: 'duplicate' }, { kind: 'delay', ms: 400 });
    cluster.node(2).faults.push({ kind: 'close' }, { kind: 'duplicate' });
    cluster.node(3).faults.push({ kind: 'duplicate' }, { kind: 'close' });
    const writes = Array.from({ length: 60 }, (_, i) =>
      i % 5 === 4 ? db.delete(`pipe-${i - 1}`) : db.put(`pipe-${i}`, `v${i}`),
    );
    const answers = await Promise.all(writes);
    assert.equal(cluster.store.writesApplied, 1 + 60, 'every write applied once');
    assert.ok(cluster.served('kv.put') + cluster.served('kv.delete') > 61, 'some came twice');
    assert.equal(cluster.nodes.flatMap((node) => node.faults).length, 0, 'every fault fired');
    const versions = answers.map((answer) => answer?.version);
    assert.equal(new Set(versions).size, 60, 'each write has its own version');
    for (let i = 0; i < 60; i += 1) {
      const entry = await db.get(`pipe-${i}`);
      if (i % 5 === 3) assert.equal(entry, null, `pipe-${i} was deleted`);
      else if (i % 5 !== 4) assert.equal(entry?.text(), `v${i}`);
    }
    assert.equal(cluster.store.sessionsOpened, 1);
    await db.put('last', 'v'); // its ackedBelow tells the store that every earlier one is done
    assert.equal(cluster.store.sessionResults(1), 1, 'only the last result is kept');
  });

  test('SESSION_EXPIRED on the first attempt: retried at once under a new session', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    await db.put('warm-up', 'v');
    cluster.store.expireSession(1);
    const { version } = await db.put('after', 'expiry');
    assert.equal(db.clientId, 2);
    assert.equal(cluster.store.writesApplied, 2);
    assert.equal((await db.get('after'))?.version, version);
    await db.put('later', 'v');
    assert.equal(cluster.store.sessionsOpened, 2, 'later writes use the new session');
  });

  test('SESSION_EXPIRED after only not-executed answers is retried too', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    const key = keyLedBy(cluster, 1);
    await db.put(key, 'v1');
    cluster.moveLeadership(1, 2); // the first attempt is refused with WRONG_LEADER
    cluster.store.expireSession(1); // the second with SESSION_EXPIRED
    await db.put(key, 'v2');
    assert.equal(cluster.node(1).redirected, 1);
    assert.equal(db.clientId, 2);
    assert.equal(cluster.store.writesApplied, 2);
    assert.equal((await db.get(key))?.text(), 'v2');
  });

  test('SESSION_EXPIRED after an attempt that may have applied: TIMEOUT, outcome unknown', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    const key = keyLedBy(cluster, 3);
    await db.put(key, 'v1');
    // The write is applied, then the session is evicted and the answer lost.
    cluster.node(3).faults.push({ kind: 'close', before: () => cluster.store.expireSession(1) });
    const error = await rejects(db.put(key, 'v2'), 'TIMEOUT');
    assert.equal(error.details?.unknownCode, 'CONNECTION_CLOSED');
    assert.equal(error.details?.lastCode, 'SESSION_EXPIRED');
    assert.equal(cluster.store.writesApplied, 2, 'it was in fact applied, once');
    assert.equal(cluster.store.sessionsOpened, 1, 'not retried under a new session');
    await db.put(key, 'v3');
    assert.equal(db.clientId, 2, 'the next write opens a new session');
    assert.equal((await db.get(key))?.text(), 'v3');
  });

  test('STALE_SEQ is final: outcome unknown, not retried', async () => {
    const cluster = await FakeCluster.start(cleanup, 1);
    const db = await client(cluster);
    await db.put('warm-up', 'v');
    cluster.store.failWith = 'STALE_SEQ';
    await rejects(db.put('k', 'v'), 'STALE_SEQ');
    assert.equal(cluster.node(1).redirected + cluster.served('kv.put'), 1, 'one attempt');
    cluster.store.failWith = null;
  });

  test('a session that cannot be opened fails the write with UNAVAILABLE, nothing sent', async () => {
    const cluster = await FakeCluster.start(cleanup, 1);
    const db = await client(cluster);
    cluster.store.failWith = 'INTERNAL';
    const error = await rejects(db.put('k', 'v'), 'UNAVAILABLE');
    assert.equal(error.details?.sessionCode, 'INTERNAL');
    assert.equal(cluster.served('kv.put'), 0);
    cluster.store.failWith = null;
    await db.put('k', 'v');
    assert.equal(db.clientId, 1, 'the next write opens one');
  });
});

describe('client: errors and limits', () => {
  test('bad input is refused locally with typed errors', async () => {
    const cluster = await FakeCluster.start(cleanup, 1);
    const db = await client(cluster);
    await rejects(db.get(''), 'BAD_KEY');
    await rejects(db.put('x'.repeat(KEY_BYTES_MAX + 1), 'v'), 'KEY_TOO_LARGE');
    await rejects(db.put('k', new Uint8Array(VALUE_BYTES_MAX + 1)), 'VALUE_TOO_LARGE');
    await rejects(db.get(42 as unknown as string), 'BAD_REQUEST');
    await rejects(db.get('half a pair \ud800'), 'BAD_KEY');
    await rejects(db.put('k', '\udc00'), 'BAD_REQUEST');
    await rejects(db.put('k', 'v', { ifVersion: -1 }), 'BAD_REQUEST');
    await rejects(db.put('k', 'v', { ifVersion: 1, ifAbsent: true }), 'BAD_REQUEST');
    assert.equal(cluster.served('kv.put') + cluster.served('kv.get'), 0, 'nothing was sent');
    await db.put('x'.repeat(KEY_BYTES_MAX), 'the largest key is fine');
    await db.put('\u{1F600}', 'a surrogate pair is fine');
    assert.equal((await db.get('\u{1F600}'))?.text(), 'a surrogate pair is fine');
  });

  test('connect() rejects bad options and unreachable clusters', async () => {
    await rejects(connect({ endpoints: [] }), 'BAD_REQUEST');
    await rejects(connect({ endpoints: ['no-port'] }), 'BAD_REQUEST');
    await rejects(connect({ endpoints: ['127.0.0.1:1'], timeoutMs: -1 }), 'BAD_REQUEST');
    const cluster = await FakeCluster.start(cleanup, 1);
    const address = cluster.node(1).address;
    await cluster.node(1).stop();
    await rejects(
      connect({ endpoints: [address], timeoutMs: 300, attemptTimeoutMs: 100 }),
      'UNAVAILABLE',
    );
  });

  test('a bucket whose leader stays away fails with UNAVAILABLE within the deadline', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster, { timeoutMs: 400, attemptTimeoutMs: 100 });
    const key = keyLedBy(cluster, 3);
    await cluster.node(3).stop();
    const started = performance.now();
    await rejects(db.get(key), 'UNAVAILABLE');
    assert.ok(performance.now() - started < 1_000);
  });

  test('service errors pass through with their code', async () => {
    const cluster = await FakeCluster.start(cleanup, 1);
    const db = await client(cluster);
    cluster.store.failWith = 'INTERNAL';
    await rejects(db.get('k'), 'INTERNAL');
    cluster.store.failWith = null;
  });

  test('writes beyond writesInFlightMax fail with QUEUE_FULL', async () => {
    const cluster = await FakeCluster.start(cleanup, 1);
    const db = await client(cluster, { writesInFlightMax: 1 });
    const first = db.put('a', '1');
    await rejects(db.put('b', '2'), 'QUEUE_FULL');
    await first;
    await db.put('c', '3');
  });

  test('close() releases every connection; later calls fail with UNAVAILABLE', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster);
    for (let i = 0; i < 10; i += 1) await db.put(`c${i}`, 'v');
    assert.equal(db.connectionCount, 3);
    await db.close();
    await db.close();
    assert.equal(db.connectionCount, 0);
    for (const node of cluster.nodes) {
      const server = node.server;
      assert.ok(server !== null);
      const deadline = performance.now() + 2_000;
      while (server.connectionCount > 0 && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.equal(server.connectionCount, 0, `node ${node.id} has no client connection left`);
    }
    await rejects(db.get('c0'), 'UNAVAILABLE');
  });

  test('connectionsMax bounds the connections kept', async () => {
    const cluster = await FakeCluster.start(cleanup);
    const db = await client(cluster, { connectionsMax: 1 });
    for (let i = 0; i < 12; i += 1) await db.put(`m${i}`, 'v');
    assert.equal(db.connectionCount, 1);
  });
});
