// The HTTP API against an in-memory service, over a real socket: the documented routes, ETag and
// conditional requests (If-Match / If-None-Match), and bad input — undecodable and oversized keys,
// oversized bodies, unknown routes, wrong methods — each answered with its typed JSON error while
// the server keeps serving.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry, Counter } from 'prom-client';
import { createHttpApi } from '../../src/server/http-api.js';
import { MemoryKv } from './memory-kv.js';

let server: Server;
let base: string;
const service = new MemoryKv();

before(async () => {
  const registry = new Registry();
  new Counter({ name: 'edict_test_total', help: 'a test counter', registers: [registry] }).inc();
  server = createServer(createHttpApi({ service, registry }, { bodyBytesMax: 1024 }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>;
}

describe('HTTP API: keys', () => {
  test('put then get returns the value and its version as ETag', async () => {
    const put = await fetch(`${base}/v1/kv/greeting`, { method: 'PUT', body: 'hello' });
    assert.equal(put.status, 200);
    const { version } = await json(put);
    assert.equal(put.headers.get('etag'), `"${version}"`);
    const get = await fetch(`${base}/v1/kv/greeting`);
    assert.equal(get.status, 200);
    assert.equal(await get.text(), 'hello');
    assert.equal(get.headers.get('etag'), `"${version}"`);
  });

  test('a missing key is 404 NOT_FOUND', async () => {
    const res = await fetch(`${base}/v1/kv/absent`);
    assert.equal(res.status, 404);
    assert.equal((await json(res)).code, 'NOT_FOUND');
  });

  test('If-Match makes a compare-and-set; a mismatch is 412', async () => {
    const { version } = await json(await fetch(`${base}/v1/kv/cas`, { method: 'PUT', body: 'a' }));
    const stale = await fetch(`${base}/v1/kv/cas`, {
      method: 'PUT',
      body: 'b',
      headers: { 'If-Match': `"${Number(version) + 100}"` },
    });
    assert.equal(stale.status, 412);
    assert.equal((await json(stale)).code, 'CONDITION_FAILED');
    const fresh = await fetch(`${base}/v1/kv/cas`, {
      method: 'PUT',
      body: 'b',
      headers: { 'If-Match': `"${version}"` },
    });
    assert.equal(fresh.status, 200);
    assert.equal(await (await fetch(`${base}/v1/kv/cas`)).text(), 'b');
  });

  test('If-None-Match: * creates only', async () => {
    const first = await fetch(`${base}/v1/kv/once`, {
      method: 'PUT',
      body: '1',
      headers: { 'If-None-Match': '*' },
    });
    assert.equal(first.status, 200);
    const second = await fetch(`${base}/v1/kv/once`, {
      method: 'PUT',
      body: '2',
      headers: { 'If-None-Match': '*' },
    });
    assert.equal(second.status, 412);
    assert.equal(await (await fetch(`${base}/v1/kv/once`)).text(), '1');
  });

  test('delete removes the key; deleting again is 404', async () => {
    await fetch(`${base}/v1/kv/doomed`, { method: 'PUT', body: 'x' });
    const del = await fetch(`${base}/v1/kv/doomed`, { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal((await json(del)).deleted, true);
    assert.equal((await fetch(`${base}/v1/kv/doomed`)).status, 404);
    assert.equal((await fetch(`${base}/v1/kv/doomed`, { method: 'DELETE' })).status, 404);
  });

  test('keys are percent-decoded UTF-8 and may contain slashes', async () => {
    await fetch(`${base}/v1/kv/a%2Fb/c%20d/%C3%A9`, { method: 'PUT', body: 'deep' });
    assert.equal(await (await fetch(`${base}/v1/kv/a%2Fb/c%20d/%C3%A9`)).text(), 'deep');
  });
});

describe('HTTP API: bad input', () => {
  const cases: [string, string, RequestInit, number, string][] = [
    ['undecodable key', '/v1/kv/%E0%A4%A', {}, 400, 'BAD_KEY'],
    ['empty key', '/v1/kv/', {}, 400, 'BAD_KEY'],
    ['oversized key', `/v1/kv/${'k'.repeat(5000)}`, {}, 414, 'KEY_TOO_LARGE'],
    [
      'oversized body',
      '/v1/kv/big',
      { method: 'PUT', body: 'x'.repeat(2000) },
      413,
      'VALUE_TOO_LARGE',
    ],
    ['unknown route', '/v2/nothing', {}, 404, 'NO_ROUTE'],
    ['wrong method on a key', '/v1/kv/k', { method: 'POST', body: 'x' }, 405, 'METHOD_NOT_ALLOWED'],
    ['wrong method on status', '/v1/status', { method: 'DELETE' }, 405, 'METHOD_NOT_ALLOWED'],
    [
      'bad If-Match',
      '/v1/kv/k',
      { method: 'PUT', body: 'x', headers: { 'If-Match': 'soon' } },
      400,
      'BAD_REQUEST',
    ],
    [
      'both conditions',
      '/v1/kv/k',
      { method: 'PUT', body: 'x', headers: { 'If-Match': '"1"', 'If-None-Match': '*' } },
      400,
      'BAD_REQUEST',
    ],
  ];
  for (const [name, path, init, status, code] of cases) {
    test(`${name}: ${status} ${code}`, async () => {
      const res = await fetch(`${base}${path}`, init);
      assert.equal(res.status, status);
      const body = await json(res);
      assert.equal(body.code, code);
      assert.equal(typeof body.message, 'string');
    });
  }

  test('service errors map to statuses, and unknown ones do not leak detail', async () => {
    service.failWith = 'UNAVAILABLE';
    const unavailable = await fetch(`${base}/v1/kv/k`);
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.headers.get('retry-after'), '1');
    service.failWith = 'SOMETHING_ODD';
    const odd = await fetch(`${base}/v1/kv/k`);
    assert.equal(odd.status, 500);
    assert.deepEqual(await json(odd), { code: 'SOMETHING_ODD', message: 'internal error' });
    service.failWith = 'SESSION_EXPIRED'; // not applied: retry, like UNAVAILABLE
    const expired = await fetch(`${base}/v1/kv/k`);
    assert.equal(expired.status, 503);
    assert.equal((await json(expired)).code, 'SESSION_EXPIRED');
    service.failWith = 'STALE_SEQ'; // outcome unknown: a fault, like INTERNAL
    assert.equal((await fetch(`${base}/v1/kv/k`)).status, 500);
    service.failWith = 'WRONG_LEADER';
    service.failWithDetails = { bucket: 3, leaderHint: 2, mapVersion: 9 };
    const redirect = await fetch(`${base}/v1/kv/k`);
    assert.equal(redirect.status, 421);
    assert.deepEqual((await json(redirect)).details, { bucket: 3, leaderHint: 2, mapVersion: 9 });
    service.failWith = null;
    service.failWithDetails = undefined;
    assert.equal((await fetch(`${base}/v1/kv/greeting`)).status, 200, 'still serving');
  });
});

describe('HTTP API: cluster routes', () => {
  test('drain accepts a known node and refuses an unknown one', async () => {
    const ok = await fetch(`${base}/v1/nodes/3/drain`, { method: 'POST' });
    assert.equal(ok.status, 202);
    assert.deepEqual(service.drained, [3]);
    const unknown = await fetch(`${base}/v1/nodes/999/drain`, { method: 'POST' });
    assert.equal(unknown.status, 404);
    assert.equal((await json(unknown)).code, 'UNKNOWN_NODE');
    assert.equal((await fetch(`${base}/v1/nodes/3/drain`)).status, 405);
  });

  test('status, map and metrics', async () => {
    assert.equal((await json(await fetch(`${base}/v1/status`))).health, 'green');
    assert.equal((await json(await fetch(`${base}/v1/map`))).mapVersion, 1);
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /edict_test_total 1/);
  });
});
