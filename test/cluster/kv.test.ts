// Black-box: a real three-node cluster (`edict start` processes). Reads and writes through the
// client library, the HTTP API and the CLI (bin/edict.mjs), each seeing the others' writes; then
// bad input against the real processes: a malformed frame, an oversized frame and bogus peer
// messages on the protocol port, an oversized value, unknown routes, wrong methods and bad keys
// over HTTP. The typed answers themselves are tested in-process (test/net, test/server); here the
// point is that the node process answers them and keeps serving everyone else.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect as tcpConnect } from 'node:net';
import { connect, EdictError, type EdictClient } from '../../src/client/index.js';
import { VALUE_BYTES_MAX } from '../../src/core/lib/limits.js';
import { frameHeader } from '../../src/net/frame.js';
import { silentLogger } from '../../src/net/options.js';
import { defaultPeerOptions, Peer } from '../../src/net/peer.js';
import { Cleanup, helloFrame, RawClient } from '../net/helpers.js';
import { Cluster, httpFetch, runCli, waitFor } from './harness.js';

let cluster: Cluster;
let db: EdictClient;
const cleanup = new Cleanup();
let failed = false;

before(async () => {
  cluster = await Cluster.start({ nodes: 3 });
  db = await connect({ endpoints: cluster.endpoints() });
});

after(async () => {
  await db?.close();
  await cleanup.run();
  if (failed) cluster?.dump('a test failed');
  await cluster?.destroy();
});

/** Marks the file failed (for the diagnostics dump) when `body` throws. */
function check(name: string, body: () => Promise<void>): void {
  test(name, async () => {
    try {
      await body();
    } catch (error) {
      failed = true;
      throw error;
    }
  });
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof EdictError, `not an EdictError: ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  });
}

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

describe('reads and writes', () => {
  check('client library: put, get, create-only, delete', async () => {
    const { version } = await db.put('lib:a', 'one');
    const entry = await db.get('lib:a');
    assert.equal(entry?.text(), 'one');
    assert.equal(entry?.version, version);
    const { version: v2 } = await db.put('lib:a', 'two');
    assert.ok(v2 > version);
    assert.equal((await db.get('lib:a'))?.version, v2);

    await expectCode(db.put('lib:a', 'three', { ifAbsent: true }), 'CONDITION_FAILED');
    assert.equal((await db.get('lib:a'))?.text(), 'two');
    await db.put('lib:b', 'created', { ifAbsent: true });
    assert.equal((await db.get('lib:b'))?.text(), 'created');

    const deleted = await db.delete('lib:a');
    assert.ok(deleted !== null && deleted.version > v2);
    assert.equal(await db.get('lib:a'), null);
    // Deleting an absent key must answer null: see kv-semantics-regressions.test.ts.

    // Many keys spread over every bucket, written concurrently, read back through a second client
    // that only knows node 3.
    const keys = Array.from({ length: 64 }, (_, i) => `lib:many:${i}`);
    await Promise.all(keys.map((k) => db.put(k, `v-${k}`)));
    const other = await connect({ endpoints: cluster.endpoints([3]) });
    try {
      const values = await Promise.all(keys.map((k) => other.get(k)));
      assert.deepEqual(
        values.map((e) => e?.text()),
        keys.map((k) => `v-${k}`),
      );
    } finally {
      await other.close();
    }
  });

  check('HTTP: PUT, GET with ETag, If-None-Match, DELETE, 404', async () => {
    const url = (id: number, key: string) => cluster.url(id, `/v1/kv/${encodeURIComponent(key)}`);
    const put = await httpFetch(url(1, 'http:a'), { method: 'PUT', body: 'hello' });
    assert.equal(put.status, 200);
    const { version } = (await put.json()) as { version: number };
    assert.equal(put.headers.get('etag'), `"${version}"`);

    // Any node answers, whichever leads the key's bucket.
    for (const id of [1, 2, 3]) {
      const get = await httpFetch(url(id, 'http:a'));
      assert.equal(get.status, 200);
      assert.equal(await get.text(), 'hello');
      assert.equal(get.headers.get('etag'), `"${version}"`);
    }

    const createTaken = await httpFetch(url(3, 'http:a'), {
      method: 'PUT',
      body: 'y',
      headers: { 'If-None-Match': '*' },
    });
    assert.equal(createTaken.status, 412);
    assert.equal((await json(createTaken)).code, 'CONDITION_FAILED');
    const create = await httpFetch(url(3, 'http:new'), {
      method: 'PUT',
      body: 'fresh',
      headers: { 'If-None-Match': '*' },
    });
    assert.equal(create.status, 200);

    const second = await httpFetch(url(2, 'http:a'), { method: 'PUT', body: 'world' });
    assert.equal(second.status, 200);
    const v2 = Number((second.headers.get('etag') ?? '').replace(/"/g, ''));
    assert.ok(v2 > version);
    // The client library sees what HTTP wrote, and the other way round.
    assert.equal((await db.get('http:a'))?.text(), 'world');
    assert.equal((await db.get('http:a'))?.version, v2);
    await db.put('http:lib', 'from the library');
    assert.equal(await (await httpFetch(url(3, 'http:lib'))).text(), 'from the library');

    const del = await httpFetch(url(1, 'http:a'), { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.equal((await json(del)).deleted, true);
    const gone = await httpFetch(url(2, 'http:a'));
    assert.equal(gone.status, 404);
    assert.equal((await json(gone)).code, 'NOT_FOUND');
    // DELETE of an absent key must be a 404: see kv-semantics-regressions.test.ts.
  });

  check('CLI: put, get, del, status, errors; human and --json output', async () => {
    const endpoints = `--endpoints=${cluster.httpEndpoints().join(',')}`;
    const put = await runCli(['put', 'cli:a', 'first', endpoints]);
    assert.equal(put.status, 0, put.stderr);
    const version = Number(/^OK version (\d+)\n$/.exec(put.stdout)?.[1]);
    assert.ok(version > 0, put.stdout);

    // The value from stdin, JSON output.
    const cas = await runCli(['put', 'cli:a', '--json', endpoints], { input: 'second' });
    assert.equal(cas.status, 0, cas.stderr);
    const casOut = JSON.parse(cas.stdout) as { key: string; version: number };
    assert.equal(casOut.key, 'cli:a');
    assert.ok(casOut.version > version);

    const conflict = await runCli(['put', 'cli:a', 'third', '--create-only', endpoints]);
    assert.equal(conflict.status, 1);
    assert.match(conflict.stderr, /^edict: CONDITION_FAILED: /m);

    const get = await runCli(['get', 'cli:a', endpoints]);
    assert.equal(get.status, 0, get.stderr);
    assert.equal(get.stdout, 'second');
    const getJson = await runCli(['get', 'cli:a', '--json', endpoints]);
    assert.deepEqual(JSON.parse(getJson.stdout), {
      key: 'cli:a',
      value: 'second',
      encoding: 'utf8',
      version: casOut.version,
    });
    assert.equal((await db.get('cli:a'))?.text(), 'second');

    const del = await runCli(['del', 'cli:a', endpoints]);
    assert.equal(del.status, 0, del.stderr);
    assert.match(del.stdout, /^deleted \(version \d+\)\n$/);
    const missing = await runCli(['get', 'cli:a', '--json', endpoints]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^edict: NOT_FOUND: /m);

    const status = await runCli(['status', endpoints]);
    assert.equal(status.status, 0, status.stderr);
    assert.match(
      status.stdout,
      /^health green {2}map version \d+ {2}buckets 16 {2}transitions 0$/m,
    );
    for (const n of [1, 2, 3]) {
      assert.match(
        status.stdout,
        new RegExp(`^${n}\\t127\\.0\\.0\\.1:\\d+\\tz${n}\\tactive\\t`, 'm'),
      );
    }
    const statusJson = await runCli(['status', '--json', endpoints]);
    const parsed = JSON.parse(statusJson.stdout) as {
      health: string;
      nodes: { id: number; state: string; replicas: number }[];
    };
    assert.equal(parsed.health, 'green');
    assert.deepEqual(
      parsed.nodes.map((n) => [n.id, n.state, n.replicas]),
      [
        [1, 'active', 16],
        [2, 'active', 16],
        [3, 'active', 16],
      ],
    );
  });
});

/** PUT with a Content-Length header and no body yet: the node answers from the headers. */
async function declaredBody(
  id: number,
  length: number,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      cluster.url(id, '/v1/kv/big'),
      { method: 'PUT', headers: { 'Content-Length': String(length) }, timeout: 5_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (s: string) => (text += s));
        res.on('end', () => {
          req.destroy();
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(text) as Record<string, unknown>,
          });
        });
      },
    );
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('no answer to a declared oversized body')));
    req.flushHeaders();
  });
}

describe('bad input: the process answers and keeps serving', () => {
  /** The node still serves a fresh client and its status; its process still runs. */
  async function stillServing(id: number): Promise<void> {
    assert.ok(cluster.node(id).proc?.running, `node ${id} died`);
    const client = await connect({ endpoints: cluster.endpoints([id]) });
    try {
      await client.put(`alive:${id}`, 'yes');
      assert.equal((await client.get(`alive:${id}`))?.text(), 'yes');
    } finally {
      await client.close();
    }
    assert.equal((await cluster.status(id)).health, 'green');
  }

  async function raw(id: number): Promise<RawClient> {
    const client = await RawClient.connect(cleanup, cluster.node(id).port);
    client.write(helloFrame());
    return client;
  }

  async function closedWith(client: RawClient, code: string): Promise<void> {
    await waitFor('the node to close the connection', () => client.isClosed || undefined, 5_000);
    assert.equal(client.goodbye()?.error.code, code);
  }

  check('a malformed frame on the protocol port: MALFORMED_FRAME goodbye', async () => {
    const bad = await raw(1);
    bad.write(Buffer.concat([frameHeader(3), Buffer.from([0xc1, 0xc1, 0xc1])]));
    await closedWith(bad, 'MALFORMED_FRAME');
    await stillServing(1);
  });

  check('an oversized frame: FRAME_TOO_LARGE goodbye before the bytes arrive', async () => {
    const bad = await raw(2);
    bad.write(Buffer.concat([frameHeader(0xffffffff), Buffer.alloc(1000)]));
    await closedWith(bad, 'FRAME_TOO_LARGE');
    // Bytes that are not the protocol at all (an HTTP request on the protocol port).
    const socket = tcpConnect({ host: '127.0.0.1', port: cluster.node(2).port });
    cleanup.add(() => {
      socket.destroy();
    });
    const http = new RawClient(socket);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await closedWith(http, 'FRAME_TOO_LARGE');
    await stillServing(2);
  });

  check(
    'unknown requests, bad bodies and bogus peer messages are answered or dropped',
    async () => {
      const peer = new Peer(
        { logger: silentLogger },
        {
          localId: 'intruder',
          options: { ...defaultPeerOptions, host: '127.0.0.1', port: cluster.node(3).port },
        },
      );
      peer.start();
      cleanup.add(() => peer.stop());
      await waitFor('a connection to node 3', () => peer.connection ?? undefined, 5_000, 20);

      await expectCode(peer.request('no.such.request', {}), 'BAD_REQUEST');
      await expectCode(peer.request('kv.get', { key: 'not bytes' }), 'BAD_REQUEST');
      await expectCode(
        peer.request('kv.put', {
          key: new Uint8Array([1]),
          value: new Uint8Array(VALUE_BYTES_MAX + 1),
        }),
        'VALUE_TOO_LARGE',
      );
      // One-way `node` messages that fail validation are dropped; none may crash the node.
      const bogus: unknown[] = [
        null,
        'text',
        { from: 0, address: 'x', message: { t: 'heartbeat', incarnation: 1 } },
        { from: 9, address: 'x'.repeat(300), message: { t: 'heartbeat', incarnation: 1 } },
        { from: 9, address: '127.0.0.1:1', message: { t: 'nope' } },
        { from: 9, address: '127.0.0.1:1', message: { t: 'raft', m: { type: 'append', from: 8 } } },
        {
          from: 9,
          address: '127.0.0.1:1',
          message: { t: 'bucket', m: { type: 'append', bucket: -1 } },
        },
        { from: 9, address: '127.0.0.1:1', message: { t: 'report', reports: [{ kind: 'bad' }] } },
        { from: 9, address: '127.0.0.1:1', message: { t: 'hop', ref: 1, request: { op: 'get' } } },
        { from: 9, address: '127.0.0.1:1', message: { t: 'answer', ref: 'x', reply: {} } },
      ];
      for (const body of bogus) peer.send('node', body);
      peer.send('not-a-node-message', { anything: true });
      // The connection stays open: a request on it after the junk is still answered.
      await expectCode(peer.request('kv.get', { key: new Uint8Array(0) }), 'BAD_KEY');
      await stillServing(3);
    },
  );

  check('HTTP: oversized value, unknown route, wrong method, bad keys', async () => {
    // A declared length over the limit is refused from the headers alone, before any body.
    const big = await declaredBody(1, VALUE_BYTES_MAX + 1);
    assert.equal(big.status, 413);
    assert.equal(big.body.code, 'VALUE_TOO_LARGE');

    const cases: Array<[string, RequestInit, number, string]> = [
      ['/v1/nope', {}, 404, 'NO_ROUTE'],
      ['/', {}, 404, 'NO_ROUTE'],
      ['/v1/status', { method: 'POST' }, 405, 'METHOD_NOT_ALLOWED'],
      ['/v1/kv/k', { method: 'PATCH', body: 'x' }, 405, 'METHOD_NOT_ALLOWED'],
      ['/v1/nodes/1/drain', { method: 'GET' }, 405, 'METHOD_NOT_ALLOWED'],
      ['/v1/kv/', {}, 400, 'BAD_KEY'],
      ['/v1/kv/%ZZ', {}, 400, 'BAD_KEY'],
      ['/v1/kv/%C3%28', { method: 'PUT', body: 'x' }, 400, 'BAD_KEY'],
      [`/v1/kv/${'k'.repeat(5000)}`, {}, 414, 'KEY_TOO_LARGE'],
      [
        '/v1/kv/k',
        { method: 'PUT', body: 'x', headers: { 'If-Match': 'junk' } },
        400,
        'BAD_REQUEST',
      ],
      ['/v1/nodes/999/drain', { method: 'POST' }, 404, 'UNKNOWN_NODE'],
    ];
    for (const [route, init, status, code] of cases) {
      const response = await httpFetch(cluster.url(1, route), init);
      const body = await json(response);
      assert.deepEqual([route, response.status, body.code], [route, status, code]);
    }
    await stillServing(1);
  });
});
