// Black-box: restarts on data directories. A node stopped cleanly (SIGTERM) comes back and gets
// its replicas again; the first node, which was started without --join, is killed and restarted
// with that same command line and rejoins through the members its data directory knows; then the whole cluster is SIGKILLed at once and restarted: every
// acknowledged write is still there, and the cluster serves writes again.
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type EdictClient } from '../../src/client/index.js';
import { Cluster, nodeIn } from './harness.js';

let cluster: Cluster;
let failed = false;

before(async () => {
  cluster = await Cluster.start({ nodes: 3 });
});

after(async () => {
  if (failed) cluster?.dump('a test failed');
  await cluster?.destroy();
});

function check(name: string, body: (t: TestContext) => Promise<void>): void {
  test(name, async (t) => {
    try {
      await body(t);
    } catch (error) {
      failed = true;
      throw error;
    }
  });
}

const KEYS = Array.from({ length: 50 }, (_, i) => `restart:${i}`);

/**
 * Writes every key, one write at a time. Concurrent writes of one client right after a leadership
 * change fail with STALE_SEQ (a known bug in the bucket session table, asserted in
 * failover-regressions.test.ts); one at a time, a session's writes cannot overtake each other.
 */
async function putAll(db: EdictClient, tag: string): Promise<void> {
  for (const k of KEYS) await db.put(k, `${tag}:${k}`);
}

check('a node stopped with SIGTERM restarts and gets its replicas again', async (t) => {
  const db = await connect({ endpoints: cluster.endpoints() });
  try {
    await putAll(db, 'one');
    await cluster.terminate(3);
    assert.equal(cluster.node(3).proc?.exitCode, 0);
    await putAll(db, 'two');
    const restartedAt = Date.now();
    await cluster.restart(3);
    await cluster.waitStatus(
      'node 3 active with replicas',
      (s) => nodeIn(s, 3)?.state === 'active' && (nodeIn(s, 3)?.replicas ?? 0) > 0,
      20_000,
    );
    await cluster.waitHealthy(30_000);
    t.diagnostic(`node 3 back and green ${Date.now() - restartedAt} ms after its restart`);
    assert.equal(nodeIn(await cluster.status(3), 3)?.replicas, cluster.buckets);
  } finally {
    await db.close();
  }
  // Node 3 alone answers reads of what was written while it was away.
  const reader = await connect({ endpoints: cluster.endpoints([3]) });
  try {
    const values = await Promise.all(KEYS.map((k) => reader.get(k)));
    assert.deepEqual(
      values.map((v) => v?.text()),
      KEYS.map((k) => `two:${k}`),
    );
  } finally {
    await reader.close();
  }
});

check(
  'the first node, SIGKILLed and restarted with its own command line (no --join), rejoins',
  async (t) => {
    await cluster.kill(1);
    await cluster.waitStatus(
      'node 1 declared dead',
      (s) => nodeIn(s, 1)?.state === 'dead',
      10_000,
      [2, 3],
    );
    const restartedAt = Date.now();
    await cluster.restart(1);
    await cluster.waitStatus(
      'node 1 active with replicas',
      (s) => nodeIn(s, 1)?.state === 'active' && (nodeIn(s, 1)?.replicas ?? 0) > 0,
      20_000,
      [2, 3],
    );
    await cluster.waitHealthy(30_000);
    t.diagnostic(`node 1 back and green ${Date.now() - restartedAt} ms after its restart`);
    const reader = await connect({ endpoints: cluster.endpoints([1]) });
    try {
      assert.equal((await reader.get(KEYS[0] as string))?.text(), `two:${KEYS[0]}`);
    } finally {
      await reader.close();
    }
  },
);

check('the whole cluster SIGKILLed and restarted keeps every acknowledged write', async (t) => {
  const db = await connect({ endpoints: cluster.endpoints() });
  try {
    await putAll(db, 'three');
  } finally {
    await db.close();
  }
  await Promise.all([1, 2, 3].map((id) => cluster.kill(id)));
  const restartedAt = Date.now();
  await Promise.all([1, 2, 3].map((id) => cluster.restart(id)));
  await cluster.waitHealthy(30_000);
  t.diagnostic(`green ${Date.now() - restartedAt} ms after the restart`);
  const again = await connect({ endpoints: cluster.endpoints() });
  try {
    const values = await Promise.all(KEYS.map((k) => again.get(k)));
    assert.deepEqual(
      values.map((v) => v?.text()),
      KEYS.map((k) => `three:${k}`),
    );
    await putAll(again, 'four');
    assert.equal((await again.get(KEYS[0] as string))?.text(), `four:${KEYS[0]}`);
  } finally {
    await again.close();
  }
});
