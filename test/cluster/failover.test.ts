// Black-box: node failures under load on a real three-node cluster. Four writers (own clients and
// sessions) write 48 keys continuously, each key in its own loop. A node that leads buckets but
// not the metadata log is SIGKILLed: writes to every key resume within 2 s and no acknowledged
// write is lost. The killed node restarts on its data directory: it rejoins (listed active) and
// gets its replicas back. Then the metadata leader is stopped with SIGTERM: it hands its
// leaderships off and exits 0 without failing writes. Finally every key holds its last
// acknowledged value (or a later one whose write failed with its outcome unknown).
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster, nodeIn } from './harness.js';
import { Load } from './load.js';

const RESUME_MS = 2_000;

/**
 * No write may fail: SIGKILL and SIGTERM of a node are retried through by the client within the
 * deadline, exactly once. (Before the fixes, STALE_SEQ and early TIMEOUTs got through; see
 * failover-regressions.test.ts.)
 */
const KNOWN_ON_KILL: ReadonlySet<string> = new Set();
const KNOWN_ON_STOP: ReadonlySet<string> = new Set();

function assertOnlyKnown(errors: Load['errors'], allowed: ReadonlySet<string>, load: Load): void {
  const others = errors.filter((e) => !allowed.has((e.error as { code?: string }).code ?? ''));
  assert.equal(others.length, 0, `writes failed:\n${load.describeErrors()}`);
}

let cluster: Cluster;
let load: Load;
let failed = false;
/** The node killed and restarted. */
let victim = 0;

before(async () => {
  cluster = await Cluster.start({ nodes: 3 });
  load = new Load(cluster.endpoints(), { writers: 4, keysPerWriter: 12, pauseMs: 10, prefix: 'f' });
});

after(async () => {
  await load?.stop();
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

check('SIGKILL under load: every key writable within 2 s, nothing acknowledged lost', async (t) => {
  const meta = await cluster.metadataLeader(1);
  assert.ok(meta !== null, 'no metadata leader');
  victim = meta === 2 ? 3 : 2;
  await cluster.waitStatus(
    `node ${victim} to lead buckets`,
    (s) => (nodeIn(s, victim)?.leaders ?? 0) > 0,
    15_000,
  );
  await load.start();
  await load.progress(5, 10_000);

  const killedAt = Date.now();
  await cluster.kill(victim);
  await load.progress(3, 10_000);

  const resume = load.resumeTimes(killedAt);
  const worst = Math.max(...resume.values());
  t.diagnostic(`node ${victim} killed: every key written again within ${worst} ms`);
  const slow = [...resume].filter(([, ms]) => ms > RESUME_MS);
  assert.deepEqual(slow, [], `keys resumed later than ${RESUME_MS} ms`);
  assertOnlyKnown(load.errors, KNOWN_ON_KILL, load);
  const status = await cluster.waitStatus(
    `node ${victim} declared dead`,
    (s) => nodeIn(s, victim)?.state === 'dead',
    5_000,
  );
  assert.equal(nodeIn(status, victim)?.leaders, 0);
});

check('the killed node restarts on its data directory, rejoins and gets replicas', async (t) => {
  const restartedAt = Date.now();
  await cluster.restart(victim);
  await cluster.waitStatus(
    `node ${victim} active with replicas`,
    (s) => nodeIn(s, victim)?.state === 'active' && (nodeIn(s, victim)?.replicas ?? 0) > 0,
    20_000,
  );
  await cluster.waitHealthy(30_000);
  t.diagnostic(`node ${victim} restarted: green after ${Date.now() - restartedAt} ms`);
  const status = await cluster.status(victim);
  assert.equal(nodeIn(status, victim)?.replicas, cluster.buckets);
  await load.progress(3, 10_000);
  assertOnlyKnown(load.errors, KNOWN_ON_KILL, load);
});

check('SIGTERM of the metadata leader under load: exit 0, no write fails', async (t) => {
  const errorsBefore = load.errors.length;
  const meta = await cluster.metadataLeader(victim);
  assert.ok(meta !== null && meta !== victim, `metadata leader ${meta}`);
  await cluster.waitStatus(
    `node ${meta} to lead buckets`,
    (s) => (nodeIn(s, meta)?.leaders ?? 0) > 0,
    15_000,
  );
  const stoppedAt = Date.now();
  await cluster.terminate(meta, 10_000);
  const took = Date.now() - stoppedAt;
  const proc = cluster.node(meta).proc;
  assert.equal(proc?.exitCode, 0, `exit ${proc?.exitCode ?? proc?.signal}`);
  await load.progress(3, 10_000);
  await load.stop();
  const resume = load.resumeTimes(stoppedAt);
  t.diagnostic(
    `node ${meta} stopped in ${took} ms; writes resumed within ${Math.max(...resume.values())} ms`,
  );
  assertOnlyKnown(load.errors.slice(errorsBefore), KNOWN_ON_STOP, load);
  const rest = cluster.running();
  await load.verify(cluster.endpoints(rest));
  const status = await cluster.status(rest[0] as number);
  assert.equal(nodeIn(status, meta)?.leaders, 0);
  t.diagnostic(`${load.acked} writes acknowledged, ${load.errors.length} failed`);
});
