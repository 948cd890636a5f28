// The cluster benchmark's load generator (bench/_loadgen.ts) against the HTTP API served from the
// in-memory KvService on 127.0.0.1: a short run in this process and one split over two worker
// processes, each checked for sane figures — operations counted, percentiles in order, errors by
// code — and the latency histogram's bucketing and merging on their own.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpApi } from '../../src/server/http-api.js';
import { MemoryKv } from '../server/memory-kv.js';
import { boundsOf, bucketOf, BUCKETS, Histogram } from '../../bench/_histogram.js';
import { runLoad, runWorkers, type LoadSpec, type LoadResult } from '../../bench/_loadgen.js';

let server: Server;
let endpoint: string;
const service = new MemoryKv();

before(async () => {
  server = createServer(createHttpApi({ service, registry: null }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function spec(overrides: Partial<LoadSpec>): LoadSpec {
  return {
    target: 'edict-http',
    endpoints: [endpoint],
    op: 'put',
    clients: 4,
    clientOffset: 0,
    valueSize: 100,
    keys: 1_000,
    keyPrefix: 'bench/',
    warmupMs: 100,
    durationMs: 400,
    requestTimeoutMs: 2_000,
    ...overrides,
  };
}

function checkSane(result: LoadResult): void {
  const h = Histogram.from(result.histogram);
  assert.ok(result.ops > 0, 'some operations');
  assert.equal(h.count, result.ops);
  const [p50, p99, p999] = [h.percentile(50), h.percentile(99), h.percentile(99.9)];
  assert.ok(p50 > 0 && p50 <= p99 && p99 <= p999 && p999 <= h.maxUs, `${p50} ${p99} ${p999}`);
  assert.ok(result.seconds > 0);
  assert.ok(result.cpuUs >= 0);
}

describe('cluster bench load generator', () => {
  test('fill, then puts, gets and a 90/10 mix in this process', async () => {
    const filled = await runLoad(
      spec({ op: 'fill', clients: 8, fill: { from: 0, to: 1_000, deadlineMs: 5_000 } }),
    );
    assert.equal(filled.ops, 1_000);
    assert.deepEqual(filled.errors, {});
    const puts = await runLoad(spec({ op: 'put' }));
    checkSane(puts);
    assert.deepEqual(puts.errors, {});
    const gets = await runLoad(spec({ op: 'mixed', durationMs: 200 }));
    checkSane(gets);
    assert.equal(gets.notFound, 0, 'every key was preloaded');
  });

  test('errors are counted by code, not as operations', async () => {
    service.failWith = 'UNAVAILABLE';
    try {
      const result = await runLoad(spec({ op: 'get', clients: 2, warmupMs: 0, durationMs: 200 }));
      assert.equal(result.ops, 0);
      assert.ok((result.errors.UNAVAILABLE ?? 0) > 0, JSON.stringify(result.errors));
    } finally {
      service.failWith = null;
    }
    const refused = await runLoad(
      spec({ endpoints: ['127.0.0.1:1'], clients: 1, warmupMs: 0, durationMs: 100 }),
    );
    assert.ok((refused.errors.ECONNREFUSED ?? 0) > 0, JSON.stringify(refused.errors));
  });

  test('split over two worker processes', async () => {
    const merged = await runWorkers(spec({ op: 'get', clients: 6, durationMs: 300 }), 2);
    checkSane(merged);
    assert.equal(merged.workers, 2);
    assert.deepEqual(merged.errors, {});
    assert.ok(merged.loadgenCpuPct > 0);
  });

  test('histogram buckets cover values with under 2 % error, and merge', () => {
    for (const us of [0, 1, 127, 128, 129, 255, 256, 1_000, 12_345, 1e6, 6e7]) {
      const [low, high] = boundsOf(bucketOf(us));
      assert.ok(low <= us && us <= high, `${us} in [${low}, ${high}]`);
      assert.ok((high - low) / Math.max(1, us) < 0.02);
    }
    assert.equal(bucketOf(1e12), BUCKETS - 1);
    const a = new Histogram();
    const b = new Histogram();
    for (let i = 1; i <= 1_000; i += 1) (i % 2 === 0 ? a : b).record(i * 10);
    a.merge(b.serialize());
    assert.equal(a.count, 1_000);
    assert.ok(Math.abs(a.percentile(50) - 5_000) / 5_000 < 0.02);
    assert.ok(Math.abs(a.percentile(99) - 9_900) / 9_900 < 0.02);
    assert.equal(a.maxUs, 10_000);
  });
});
