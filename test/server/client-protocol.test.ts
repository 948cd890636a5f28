// The server side of the client protocol. A table of malformed bodies, each refused with its
// typed error before the service sees it (the service counts what reaches it); then the request
// types over a real transport server on 127.0.0.1, driven by a bare Peer as a client that skips
// the client library's own checks would: answers, nil for absent keys, oversized values, unknown
// types, sessions opened with increasing ids, a write repeated under one session stamp applied
// once, and the session table's answers (STALE_SEQ, SESSION_EXPIRED).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../../src/core/lib/limits.js';
import { EdictError } from '../../src/errors.js';
import type { RequestContext } from '../../src/net/handlers.js';
import {
  CLIENT_REQUEST_TYPES,
  createClientProtocolHandler,
  isClientRequestType,
} from '../../src/server/client-protocol.js';
import { cleanupAfterEach, startPeer, startServer, until } from '../net/helpers.js';
import { MemoryKv } from './memory-kv.js';

const cleanup = cleanupAfterEach();
const key = new Uint8Array([1, 2, 3]);
const value = new Uint8Array([4, 5]);
const session = { clientId: 1, seq: 1, ackedBelow: 1 };
const noContext = {} as RequestContext;

const badBodies: Array<[string, string, unknown, string]> = [
  ['no body', 'kv.get', null, 'BAD_REQUEST'],
  ['an array body', 'kv.get', [key], 'BAD_REQUEST'],
  ['a string key', 'kv.get', { key: 'abc' }, 'BAD_REQUEST'],
  ['an empty key', 'kv.get', { key: new Uint8Array(0) }, 'BAD_KEY'],
  ['a key too large', 'kv.get', { key: new Uint8Array(KEY_BYTES_MAX + 1) }, 'KEY_TOO_LARGE'],
  ['a negative map version', 'kv.get', { key, mapVersion: -1 }, 'BAD_REQUEST'],
  ['no value', 'kv.put', { key }, 'BAD_REQUEST'],
  ['a text value', 'kv.put', { key, value: 'text' }, 'BAD_REQUEST'],
  ['a fractional ifVersion', 'kv.put', { key, value, ifVersion: 1.5 }, 'BAD_REQUEST'],
  ['a string ifExists', 'kv.put', { key, value, ifExists: 'yes' }, 'BAD_REQUEST'],
  [
    'ifVersion with ifExists false',
    'kv.put',
    { key, value, ifVersion: 1, ifExists: false },
    'BAD_REQUEST',
  ],
  ['a session without seq', 'kv.put', { key, value, session: { clientId: 1 } }, 'BAD_REQUEST'],
  [
    'a session seq of 0',
    'kv.put',
    { key, value, session: { ...session, seq: 0, ackedBelow: 0 } },
    'BAD_REQUEST',
  ],
  [
    'a session without ackedBelow',
    'kv.put',
    { key, value, session: { clientId: 1, seq: 1 } },
    'BAD_REQUEST',
  ],
  [
    'an ackedBelow of 0',
    'kv.put',
    { key, value, session: { ...session, ackedBelow: 0 } },
    'BAD_REQUEST',
  ],
  [
    'a string client id',
    'kv.put',
    { key, value, session: { ...session, clientId: 'c1' } },
    'BAD_REQUEST',
  ],
  [
    'a client id of 0',
    'kv.put',
    { key, value, session: { ...session, clientId: 0 } },
    'BAD_REQUEST',
  ],
  [
    'a fractional client id',
    'kv.delete',
    { key, session: { ...session, clientId: 1.5 } },
    'BAD_REQUEST',
  ],
  [
    'a client id above 2^53',
    'kv.delete',
    { key, session: { ...session, clientId: 2 ** 53 } },
    'BAD_REQUEST',
  ],
  ['a string seq', 'kv.delete', { key, session: { ...session, seq: '1' } }, 'BAD_REQUEST'],
  [
    'ackedBelow above seq',
    'kv.delete',
    { key, session: { ...session, ackedBelow: 2 } },
    'BAD_REQUEST',
  ],
  ['a session that is not a map', 'kv.delete', { key, session: [1, 1, 1] }, 'BAD_REQUEST'],
  ['a delete with a bad key', 'kv.delete', { key: 7 }, 'BAD_REQUEST'],
  ['an unknown type', 'kv.scan', {}, 'BAD_REQUEST'],
];

describe('client protocol: validation', () => {
  for (const [name, type, body, code] of badBodies) {
    test(`${type}: ${name} → ${code}`, async () => {
      const service = new MemoryKv();
      service.failWith = 'INTERNAL'; // anything that reached the service would say INTERNAL
      const handler = createClientProtocolHandler({ service });
      await assert.rejects(handler({ type, body }, noContext), (error: unknown) => {
        assert.ok(error instanceof EdictError);
        assert.equal(error.code, code, error.message);
        return true;
      });
    });
  }

  test('a value too large → VALUE_TOO_LARGE', async () => {
    const handler = createClientProtocolHandler({ service: new MemoryKv() });
    const body = { key, value: new Uint8Array(VALUE_BYTES_MAX + 1) };
    await assert.rejects(handler({ type: 'kv.put', body }, noContext), { code: 'VALUE_TOO_LARGE' });
  });

  test('unknown fields are ignored; nil optional fields count as absent', async () => {
    const handler = createClientProtocolHandler({ service: new MemoryKv() });
    const body = { key, value, future: 1, ifVersion: null, session: null, mapVersion: null };
    assert.deepEqual(await handler({ type: 'kv.put', body }, noContext), { version: 1 });
  });

  test('the request types', () => {
    assert.deepEqual(
      [...CLIENT_REQUEST_TYPES],
      ['kv.get', 'kv.put', 'kv.delete', 'session.open', 'cluster.map', 'cluster.status'],
    );
    assert.ok(isClientRequestType('kv.get'));
    assert.ok(!isClientRequestType('raft.append'));
  });
});

describe('client protocol: over the transport', () => {
  test('serves every request type and deduplicates by session', async () => {
    const service = new MemoryKv();
    const { port } = await startServer(cleanup, {
      onRequest: createClientProtocolHandler({ service }),
    });
    const peer = startPeer(cleanup, port);
    await until(() => peer.state === 'open', 'the connection');

    assert.equal(await peer.request('kv.get', { key }), null);
    assert.deepEqual(await peer.request('session.open', null), { clientId: 1 });
    assert.deepEqual(await peer.request('session.open', {}), { clientId: 2 }, 'ids increase');
    const put = { key, value, ifExists: false, session, mapVersion: 1 };
    assert.deepEqual(await peer.request('kv.put', put), { version: 1 });
    assert.deepEqual(await peer.request('kv.put', put), { version: 1 }, 'a repeat: first result');
    assert.equal(service.writesApplied, 1);
    const got = (await peer.request('kv.get', { key })) as { value: Uint8Array; version: number };
    assert.deepEqual([...got.value], [...value]);
    assert.equal(got.version, 1);

    const del = { key, session: { clientId: 1, seq: 2, ackedBelow: 2 } };
    assert.deepEqual(await peer.request('kv.delete', del), { version: 2 });
    assert.deepEqual(await peer.request('kv.delete', del), { version: 2 });
    assert.equal(await peer.request('kv.delete', { key }), null, 'absent without a session');
    await assert.rejects(peer.request('kv.put', put), { code: 'STALE_SEQ' }, 'seq 1 was acked');
    assert.equal(service.writesApplied, 2);

    // Pipelined seqs are kept until acknowledged, whatever order they arrive in.
    const stamp = (seq: number, ackedBelow: number) => ({ clientId: 2, seq, ackedBelow });
    const write = (seq: number, ackedBelow: number) =>
      peer.request('kv.put', { key, value, session: stamp(seq, ackedBelow) });
    const third = await write(3, 1);
    const first = await write(1, 1);
    assert.deepEqual(await write(3, 1), third, 'seq 3 is still kept');
    assert.deepEqual(await write(1, 1), first, 'so is seq 1');
    assert.equal(service.writesApplied, 4);
    await write(4, 2);
    await assert.rejects(write(1, 1), { code: 'STALE_SEQ' }, 'a late copy of seq 1');
    assert.deepEqual(await write(3, 2), third);
    assert.equal(service.sessionResults(2), 2, 'the results of seqs 3 and 4 are kept');

    // An evicted session, or an unknown one at or below the floor, is SESSION_EXPIRED: not applied.
    service.expireSession(2);
    await assert.rejects(write(5, 5), { code: 'SESSION_EXPIRED' });
    const { clientId } = (await peer.request('session.open', null)) as { clientId: number };
    assert.equal(clientId, 3);
    await peer.request('kv.put', { key, value, session: { clientId, seq: 1, ackedBelow: 1 } });
    assert.equal(service.writesApplied, 6);

    assert.deepEqual(await peer.request('cluster.map', null), {
      mapVersion: 1,
      nodes: [],
      buckets: [],
    });
    assert.equal(
      ((await peer.request('cluster.status', {})) as { health: string }).health,
      'green',
    );
    await assert.rejects(peer.request('kv.put', { key, value, ifVersion: 9 }), {
      code: 'CONDITION_FAILED',
    });
    await assert.rejects(peer.request('nope', {}), { code: 'BAD_REQUEST' });
  });
});
