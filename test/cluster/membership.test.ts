// Black-box: planned membership changes under load on a real cluster. Four writers (own clients
// and sessions) write 48 keys continuously. A fourth node joins: buckets rebalance onto it (it
// gets replicas and leaderships) and no operation is rejected. Then the metadata leader is drained
// with `edict drain`: it ends with no replicas and state `removed`, and still no operation is
// rejected (but see assertNoWriteFailed). Finally every key holds its last acknowledged
// value. All along, every node's status is sampled: it may say green only when no bucket is being
// moved (as many replicas as wanted).
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterStatus } from '../../src/cluster-types.js';
import { Cluster, nodeIn, runCli } from './harness.js';
import { Load } from './load.js';

let cluster: Cluster;
let load: Load;
let failed = false;
/** Status answers that said green while a bucket had more replicas than wanted (mid-move). */
const greenWhileMoving: string[] = [];
let sampling = true;
let sampler: Promise<void> = Promise.resolve();

/** Polls every node's status while the test runs: green must mean no bucket is being moved. */
async function sample(): Promise<void> {
  while (sampling) {
    for (const id of cluster.running()) {
      const s = await cluster.status(id).catch(() => null);
      if (s === null || s.health !== 'green') continue;
      const replicas = s.nodes.reduce((sum, n) => sum + n.replicas, 0);
      if (replicas !== s.buckets * cluster.replicas) {
        greenWhileMoving.push(`node ${id}: ${replicas} replicas: ${JSON.stringify(s)}`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

before(async () => {
  cluster = await Cluster.start({ nodes: 3 });
  sampler = sample();
  load = new Load(cluster.endpoints(), { writers: 4, keysPerWriter: 12, pauseMs: 10, prefix: 'm' });
  await load.start();
  await load.progress(3, 10_000);
});

after(async () => {
  sampling = false;
  await sampler;
  await load?.stop();
  if (failed) cluster?.dump('a test failed');
  await cluster?.destroy();
});

/** Planned moves pause writes; they never fail them (membership-regressions.test.ts has the history). */
function assertNoWriteFailed(): void {
  assert.equal(load.errors.length, 0, `writes failed:\n${load.describeErrors()}`);
}

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

check(
  'a fourth node joins under load: buckets rebalance onto it, no operation fails',
  async (t) => {
    const joinedAt = Date.now();
    await cluster.addNode(4);
    const status = await cluster.waitStatus(
      'node 4 active with replicas and leaderships',
      (s) => {
        const n = nodeIn(s, 4);
        return n?.state === 'active' && n.replicas > 0 && n.leaders > 0;
      },
      30_000,
    );
    t.diagnostic(`node 4 leads buckets ${Date.now() - joinedAt} ms after its start`);
    await cluster.waitHealthy(30_000);
    t.diagnostic(`green ${Date.now() - joinedAt} ms after the start of node 4`);
    // Placement is zone-aware: each of the three zones holds one replica of every bucket, so node 4
    // (zone z1, like node 1) shares z1's 16 replicas with node 1.
    const zones = (s: ClusterStatus): Record<string, number> => {
      const perZone: Record<string, number> = {};
      for (const n of s.nodes) perZone[n.zone] = (perZone[n.zone] ?? 0) + n.replicas;
      return perZone;
    };
    const balanced = await cluster.waitStatus(
      'one replica of every bucket in each zone',
      (s) => JSON.stringify(zones(s)) === JSON.stringify({ z1: 16, z2: 16, z3: 16 }),
      10_000,
    );
    assert.equal(nodeIn(balanced, 4)?.replicas, 8, JSON.stringify(balanced));
    assert.ok((nodeIn(status, 4)?.leaders ?? 0) > 0);
    await load.progress(3, 10_000);
    assertNoWriteFailed();
    assert.deepEqual(greenWhileMoving.slice(0, 3), [], 'status said green during a move');
  },
);

check(
  'edict drain of the metadata leader under load: it ends with no replicas, removed; no operation fails',
  async (t) => {
    const target = await cluster.metadataLeader(1);
    assert.ok(target !== null, 'no metadata leader');
    const others = [1, 2, 3, 4].filter((id) => id !== target);
    const drainedAt = Date.now();
    const drain = await runCli([
      'drain',
      String(target),
      `--endpoints=${cluster.httpEndpoints(others).join(',')}`,
    ]);
    assert.equal(drain.status, 0, drain.stderr);
    assert.equal(drain.stdout, `node ${target} is draining\n`);
    const status = await cluster.waitStatus(
      `node ${target} removed with no replicas`,
      (s) => {
        const n = nodeIn(s, target);
        return n !== undefined && n.state === 'removed' && n.replicas === 0 && n.leaders === 0;
      },
      30_000,
      others,
    );
    t.diagnostic(`node ${target} removed ${Date.now() - drainedAt} ms after the drain`);
    for (const id of others) assert.equal(nodeIn(status, id)?.replicas, 16);
    await cluster.waitStatus('health green', (s) => s.health === 'green', 30_000, others);
    // That the removed node hands the metadata leadership over is asserted in
    // membership-regressions.test.ts.
    await load.progress(3, 10_000);
    await load.stop();
    assertNoWriteFailed();
    await load.verify(cluster.endpoints(others));
    assert.deepEqual(greenWhileMoving.slice(0, 3), [], 'status said green during a move');
    t.diagnostic(`${load.acked} writes acknowledged`);
  },
);
