// Black-box: values near the 16 MiB limit must never wedge replication. A bucket leader batches
// up to 64 entries per append, a backfill sends up to 64 keys per chunk, and a node bundles every
// bucket message of a Ready for one peer into one frame; without byte bounds, two 10 MiB writes to
// one bucket, or a backfill of a bucket holding a few MiB-sized values, build a frame over the
// wire limit (FRAME_BYTES_MAX), which the sender drops every time it is resent, and the bucket
// never makes progress again. Method: a three-node cluster with two buckets (so every bucket holds
// large values and any bucket moved to a joining node needs a large backfill); concurrent 10 MiB
// puts to one key and to one bucket through the client library and over HTTP, each acknowledged
// within a bound and read back intact; then a fourth node joins and the cluster must turn green
// (its backfills done) within a bound, with every value still intact.
import { createHash } from 'node:crypto';
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type EdictClient } from '../../src/client/index.js';
import { bucketOf } from '../../src/core/directory/routing.js';
import { Cluster, httpFetch, nodeIn } from './harness.js';

const MiB = 1024 * 1024;
const BUCKETS = 2;
/** Bound on one large write being acknowledged (a healthy cluster does it in well under 1 s). */
const WRITE_MS = 20_000;

let cluster: Cluster;
let db: EdictClient;
let failed = false;
/** Every key written, with the digest of the value it must hold at the end. */
const expected = new Map<string, string>();

before(async () => {
  cluster = await Cluster.start({ nodes: 3, buckets: BUCKETS });
  db = await connect({
    endpoints: cluster.endpoints(),
    timeoutMs: WRITE_MS,
    attemptTimeoutMs: 5_000,
  });
});

after(async () => {
  await db?.close();
  if (failed) cluster?.dump('a test failed');
  await cluster?.destroy();
});

function check(name: string, body: (t: TestContext) => Promise<void>): void {
  test(name, { timeout: 120_000 }, async (t) => {
    try {
      await body(t);
    } catch (error) {
      failed = true;
      throw error;
    }
  });
}

/** `count` keys with `prefix` that fall into `bucket`. */
function keysIn(bucket: number, prefix: string, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const key = `${prefix}${i}`;
    if (bucketOf(Buffer.from(key), BUCKETS) === bucket) keys.push(key);
  }
  return keys;
}

/** A value of `bytes` bytes that differs from every other one made with another `tag`. */
function valueOf(tag: string, bytes: number): Buffer {
  const value = Buffer.alloc(bytes, tag.length % 251);
  const seed = createHash('sha256').update(tag).digest();
  for (let at = 0; at < bytes; at += 4096) seed.copy(value, at, 0, Math.min(32, bytes - at));
  return value;
}

function digest(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Resolves with `promise`, or fails after `ms` naming `what`. */
async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

async function verifyAll(): Promise<void> {
  for (const [key, want] of expected) {
    const entry = await within(`get ${key}`, WRITE_MS, db.get(key));
    assert.ok(entry !== null, `${key} is missing`);
    assert.equal(digest(entry.value), want, `${key} does not hold its last written value`);
  }
}

check(
  'concurrent 10 MiB puts to one key and one bucket: all acknowledged, read back intact',
  async (t) => {
    const started = Date.now();
    const [hot, ...others] = keysIn(0, 'big:', 3) as [string, ...string[]];
    const onHot = [0, 1, 2, 3].map((i) => ({ key: hot, value: valueOf(`hot-${i}`, 10 * MiB) }));
    const onOthers = others.map((key) => ({ key, value: valueOf(key, 10 * MiB) }));
    const writes = [...onHot, ...onOthers];
    const results = await Promise.all(
      writes.map(({ key, value }) => within(`put ${key}`, WRITE_MS, db.put(key, value))),
    );
    t.diagnostic(`${writes.length} puts of 10 MiB acknowledged in ${Date.now() - started} ms`);
    // The hot key holds the write with the highest version.
    let last = 0;
    for (let i = 0; i < onHot.length; i++) {
      if ((results[i]?.version ?? -1) > (results[last]?.version ?? -1)) last = i;
    }
    expected.set(hot, digest(onHot[last]?.value as Buffer));
    for (const { key, value } of onOthers) expected.set(key, digest(value));
    await verifyAll();
  },
);

check('concurrent 10 MiB PUTs over HTTP to one bucket, through every node: all 200', async (t) => {
  const started = Date.now();
  const keys = keysIn(0, 'http:', 3);
  const answers = await Promise.all(
    keys.map(async (key, i) => {
      const value = valueOf(key, 10 * MiB);
      const response = await httpFetch(
        cluster.url(i + 1, `/v1/kv/${encodeURIComponent(key)}`),
        { method: 'PUT', body: value },
        WRITE_MS,
      );
      if (response.status === 200) expected.set(key, digest(value));
      return { key, status: response.status, body: await response.text() };
    }),
  );
  for (const a of answers) assert.equal(a.status, 200, `${a.key}: ${a.body}`);
  t.diagnostic(`${keys.length} HTTP PUTs of 10 MiB answered in ${Date.now() - started} ms`);
  for (const key of keys) {
    const response = await httpFetch(
      cluster.url(3, `/v1/kv/${encodeURIComponent(key)}`),
      {},
      WRITE_MS,
    );
    assert.equal(response.status, 200);
    assert.equal(digest(new Uint8Array(await response.arrayBuffer())), expected.get(key));
  }
});

check(
  'a fourth node joins a cluster whose buckets hold MiB-sized values: backfilled, green',
  async (t) => {
    // Bucket 1 gets 24 MiB in 4 MiB values (bucket 0 holds over 60 MiB already), so whichever bucket
    // moves to the new node needs a backfill far larger than one frame.
    const keys = keysIn(1, 'fill:', 6);
    await Promise.all(
      keys.map(async (key) => {
        const value = valueOf(key, 4 * MiB);
        await within(`put ${key}`, WRITE_MS, db.put(key, value));
        expected.set(key, digest(value));
      }),
    );
    const joinedAt = Date.now();
    await cluster.addNode(4);
    await cluster.waitStatus(
      'node 4 active with replicas',
      (s) => nodeIn(s, 4)?.state === 'active' && (nodeIn(s, 4)?.replicas ?? 0) > 0,
      30_000,
    );
    await cluster.waitHealthy(60_000);
    t.diagnostic(`green ${Date.now() - joinedAt} ms after node 4 started`);
    const map = (await (await httpFetch(cluster.url(4, '/v1/map'))).json()) as {
      buckets: { bucket: number; leader: number | null; followers: number[] }[];
    };
    const held = map.buckets.filter((b) => b.leader === 4 || b.followers.includes(4));
    assert.ok(held.length > 0, `node 4 holds no bucket: ${JSON.stringify(map)}`);
    // Writes still go through after the move, and every value is intact.
    const [key] = keysIn(1, 'after:', 1) as [string];
    const value = valueOf(key, 10 * MiB);
    await within(`put ${key}`, WRITE_MS, db.put(key, value));
    expected.set(key, digest(value));
    await verifyAll();
  },
);
