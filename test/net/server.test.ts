// The server and its connections over real loopback TCP. Well-behaved traffic: pipelined requests
// answered out of order, one-way messages in order both ways, handler errors carried as typed
// errors, deadlines. Misbehaving peers, driven through raw sockets: garbage, an HTTP request, an
// oversized length, frames before the hello, a silent peer, a foreign protocol version; each gets
// a typed goodbye and a closed connection while another client of the same server keeps working.
// Limits: the connection limit answers TOO_MANY_CONNECTIONS. Every server listens on 127.0.0.1:0.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../../src/core/lib/limits.js';
import { EdictError } from '../../src/errors.js';
import type { Connection } from '../../src/net/connection.js';
import type { IncomingRequest } from '../../src/net/handlers.js';
import { frameHeader } from '../../src/net/frame.js';
import { silentLogger } from '../../src/net/options.js';
import type { Peer, PeerComponents, PeerOptions } from '../../src/net/peer.js';
import { defaultServerOptions, Server } from '../../src/net/server.js';
import {
  cleanupAfterEach,
  frameOf,
  helloFrame,
  RawClient,
  sleep,
  startPeer,
  startRawServer,
  startServer,
  until,
} from './helpers.js';

const cleanup = cleanupAfterEach();

/** Rejects with the EdictError code of `promise`'s rejection, or fails if it resolves. */
async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof EdictError, `not an EdictError: ${String(error)}`);
    return error.code;
  }
  assert.fail('expected a rejection');
}

async function openPeer(
  port: number,
  components: Partial<PeerComponents> = {},
  options: Partial<PeerOptions> = {},
  localId = 'client',
): Promise<Peer> {
  const peer = startPeer(cleanup, port, components, options, localId);
  await until(() => peer.state === 'open', 'the peer to open');
  return peer;
}

describe('request and response', () => {
  test('1,000 pipelined requests on one connection, answered in reverse order', async () => {
    const waiting: Array<() => void> = [];
    const { port } = await startServer(cleanup, {
      onRequest: (request) =>
        new Promise((resolve) => {
          waiting.push(() => resolve({ echo: request.body }));
          if (waiting.length === 1_000) for (const answer of waiting.reverse()) answer();
        }),
    });
    const peer = await openPeer(port);
    const answers = await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => peer.request('echo', i)),
    );
    assert.deepEqual(
      answers,
      Array.from({ length: 1_000 }, (_, i) => ({ echo: i })),
    );
    assert.equal(peer.connection?.pendingRequests, 0);
  });

  test('handler errors: EdictError passes through with details, anything else is INTERNAL', async () => {
    const { port } = await startServer(cleanup, {
      logger: pino({ level: 'silent' }), // a pino logger is a Logger
      onRequest: async (request: IncomingRequest) => {
        if (request.type === 'typed')
          throw new EdictError('WRONG_LEADER', 'try n2', { leaderHint: 2 });
        if (request.type === 'sync') throw new Error('secret detail');
        throw new Error('async secret');
      },
    });
    const peer = await openPeer(port);
    await assert.rejects(peer.request('typed', null), (error: unknown) => {
      assert.ok(error instanceof EdictError);
      assert.deepEqual(error.toJSON(), {
        code: 'WRONG_LEADER',
        message: 'try n2',
        details: { leaderHint: 2 },
      });
      return true;
    });
    for (const type of ['sync', 'other']) {
      await assert.rejects(peer.request(type, null), (error: unknown) => {
        assert.ok(error instanceof EdictError);
        assert.equal(error.code, 'INTERNAL');
        assert.doesNotMatch(error.message, /secret/, 'internal details stay in the server log');
        return true;
      });
    }
  });

  test('an assertion failing in a handler crashes the process', async () => {
    const script = fileURLToPath(new URL('./fixtures/assertion-in-handler.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: 'pipe' });
    cleanup.add(() => void child.kill('SIGKILL'));
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.notEqual(code, 0);
    assert.match(output, /AssertionError: planted invariant violation/);
    assert.doesNotMatch(output, /survived/);
  });

  test('a request not answered in time fails with TIMEOUT; its late answer is dropped', async () => {
    const { port } = await startServer(cleanup, {
      onRequest: async (request) => {
        await sleep(request.body as number);
        return 'late';
      },
    });
    const peer = await openPeer(port);
    const started = performance.now();
    assert.equal(await codeOf(peer.request('slow', 300, { timeoutMs: 50 })), 'TIMEOUT');
    // TIMEOUT rather than the answer sent at 300 ms shows the deadline fired before it.
    const waited = performance.now() - started;
    assert.ok(waited >= 45, `timed out after ${waited} ms, before the deadline`);
    assert.equal(await peer.request('fast', 0), 'late');
    await until(() => peer.connection?.stats.responsesLate === 1, 'the late response');
    assert.equal(peer.connection?.stats.requestsTimedOut, 1);
  });

  test('a body that is not plain data is refused before sending; the connection stays', async () => {
    const { port } = await startServer(cleanup);
    const peer = await openPeer(port);
    assert.equal(await codeOf(peer.request('echo', { when: new Date() })), 'BAD_REQUEST');
    assert.equal(await peer.request('echo', 'still here'), 'still here');
  });

  test('a response that cannot be encoded reaches the requester as INTERNAL', async () => {
    const { port } = await startServer(cleanup, { onRequest: async () => new Map() });
    const peer = await openPeer(port);
    assert.equal(await codeOf(peer.request('map', null)), 'INTERNAL');
  });

  test('a maximal value (16 MiB) goes there and back with the default limits', async () => {
    const { port } = await startServer(cleanup);
    const peer = await openPeer(port);
    const value = Buffer.alloc(VALUE_BYTES_MAX);
    for (let i = 0; i < value.length; i += 4096) value[i] = i % 251;
    const key = Buffer.alloc(KEY_BYTES_MAX, 7);
    const answer = (await peer.request('put', { key, value }, { timeoutMs: 20_000 })) as {
      key: Buffer;
      value: Buffer;
    };
    assert.ok(answer.value.equals(value));
    assert.ok(answer.key.equals(key));
  });

  test('a request or response above frameBytesMax is FRAME_TOO_LARGE, and not fatal', async () => {
    const { port } = await startServer(
      cleanup,
      { onRequest: async (request) => Buffer.alloc(request.body as number) },
      { frameBytesMax: 64 * 1024 },
    );
    const peer = await openPeer(port, {}, { frameBytesMax: 64 * 1024 });
    assert.equal(await codeOf(peer.request('echo', Buffer.alloc(70 * 1024))), 'FRAME_TOO_LARGE');
    assert.equal(await codeOf(peer.request('big', 70 * 1024)), 'FRAME_TOO_LARGE');
    assert.equal(((await peer.request('big', 10)) as Buffer).length, 10);
  });
});

describe('connection life', () => {
  test('onConnection runs before the first request of the connection is handled', async () => {
    const events: string[] = [];
    const { port } = await startServer(cleanup, {
      onConnection: (connection) => void events.push(`open ${connection.peerId}`),
      onRequest: async (request) => {
        events.push(`request ${String(request.body)}`);
        return null;
      },
    });
    const raw = await RawClient.connect(cleanup, port);
    // The hello and a request in one write: both are read in the same turn.
    raw.write(
      Buffer.concat([helloFrame(), frameOf({ kind: 'request', id: 1, type: 't', body: 1 })]),
    );
    await until(() => raw.envelopes.length === 2, 'hello and response');
    assert.deepEqual(events, ['open raw', 'request 1']);
  });

  test("a handler's signal aborts when its connection closes", async () => {
    let aborted: unknown = null;
    const { port } = await startServer(cleanup, {
      onRequest: (_request, context) =>
        new Promise((_resolve, reject) => {
          context.signal.addEventListener('abort', () => {
            aborted = context.signal.reason;
            reject(new EdictError('UNAVAILABLE', 'gone'));
          });
        }),
    });
    const peer = await openPeer(port, {}, { backoffBaseMs: 1_000 });
    const request = peer.request('watch', null);
    await sleep(20);
    peer.connection?.close();
    await assert.rejects(request, { code: 'CONNECTION_CLOSED' });
    await until(() => aborted !== null, 'the abort');
    assert.ok(aborted instanceof EdictError);
  });

  test('the server can send requests to a client that serves them', async () => {
    let serverSide: Connection | null = null;
    const { port } = await startServer(cleanup, {
      onConnection: (connection) => {
        serverSide = connection;
      },
    });
    await openPeer(port, {
      onRequest: async (request, context) => ({ pong: request.body, from: context.peerId }),
    });
    await until(() => serverSide !== null, 'the server side');
    const answer = await (serverSide as unknown as Connection).request('ping', 7);
    assert.deepEqual(answer, { pong: 7, from: 'server' });
  });
});

describe('one-way messages', () => {
  test('arrive in order in both directions, and the server can push to a client', async () => {
    const atServer: unknown[] = [];
    const atClient: unknown[] = [];
    let serverSide: Connection | null = null;
    const { port } = await startServer(cleanup, {
      onMessage: (message) => {
        atServer.push(message.body);
      },
      onConnection: (connection) => {
        serverSide = connection;
      },
    });
    const peer = await openPeer(port, { onMessage: (message) => void atClient.push(message.body) });
    for (let i = 0; i < 500; i++) peer.send('append', i);
    await until(() => atServer.length === 500 && serverSide !== null, 'messages at the server');
    assert.deepEqual(
      atServer,
      Array.from({ length: 500 }, (_, i) => i),
    );
    for (let i = 0; i < 500; i++) (serverSide as unknown as Connection).send('invalidate', i);
    await until(() => atClient.length === 500, 'messages at the client');
    assert.deepEqual(
      atClient,
      Array.from({ length: 500 }, (_, i) => i),
    );
    assert.equal((serverSide as unknown as Connection).peerId, 'client');
  });
});

describe('malformed input', () => {
  async function checkClosedWith(raw: RawClient, code: string): Promise<void> {
    await raw.closed;
    assert.equal(raw.goodbye()?.error.code, code);
  }

  /** A working client beside the bad one: the server keeps serving it. */
  async function bystander(port: number) {
    const peer = await openPeer(port, {}, {}, 'bystander');
    assert.equal(await peer.request('echo', 'before'), 'before');
    return peer;
  }

  test('garbage after the hello: MALFORMED_FRAME, the connection closes, others go on', async () => {
    const { server, port } = await startServer(cleanup);
    const peer = await bystander(port);
    const raw = await RawClient.connect(cleanup, port);
    raw.write(helloFrame());
    raw.write(Buffer.concat([frameHeader(3), Buffer.from([0xc1, 0xc1, 0xc1])]));
    await checkClosedWith(raw, 'MALFORMED_FRAME');
    assert.equal(raw.envelopes[0]?.kind, 'hello');
    assert.equal(await peer.request('echo', 'after'), 'after');
    await until(() => server.stats.connectionsFailed === 1, 'the failure counted');
  });

  test('an HTTP request to the TCP port: FRAME_TOO_LARGE before any buffering', async () => {
    const { port } = await startServer(cleanup);
    const peer = await bystander(port);
    const raw = await RawClient.connect(cleanup, port);
    raw.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await checkClosedWith(raw, 'FRAME_TOO_LARGE');
    assert.equal(await peer.request('echo', 'after'), 'after');
  });

  test('a declared length of 4 GiB after the hello: FRAME_TOO_LARGE and close', async () => {
    const { port } = await startServer(cleanup);
    const peer = await bystander(port);
    const raw = await RawClient.connect(cleanup, port);
    raw.write(Buffer.concat([helloFrame(), frameHeader(0xffffffff), Buffer.alloc(1000)]));
    await checkClosedWith(raw, 'FRAME_TOO_LARGE');
    assert.equal(await peer.request('echo', 'after'), 'after');
  });

  test('a request before the hello: MALFORMED_FRAME', async () => {
    const { port } = await startServer(cleanup);
    const raw = await RawClient.connect(cleanup, port);
    raw.write(frameOf({ kind: 'request', id: 1, type: 'echo', body: null }));
    await checkClosedWith(raw, 'MALFORMED_FRAME');
  });

  test('a peer that never says hello is dropped with TIMEOUT', async () => {
    const { port } = await startServer(cleanup, {}, { helloTimeoutMs: 100 });
    const raw = await RawClient.connect(cleanup, port);
    await checkClosedWith(raw, 'TIMEOUT');
  });

  test('random byte streams from many clients never hurt the server', async () => {
    const { server, port } = await startServer(cleanup);
    const peer = await bystander(port);
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
    for (let round = 0; round < 20; round++) {
      const raw = await RawClient.connect(cleanup, port);
      if (round % 2 === 0) raw.write(helloFrame());
      const bytes = Buffer.alloc(1 + (random() % 200), 0);
      for (let i = 0; i < bytes.length; i++) bytes[i] = random() & 0xff;
      raw.write(bytes);
      raw.socket.end();
      await raw.closed;
    }
    assert.equal(await peer.request('echo', 'after'), 'after');
    await until(() => server.connectionCount === 1, 'bad connections gone');
  });
});

describe('protocol version', () => {
  test('a client speaking only a newer version gets PROTOCOL_VERSION and a close', async () => {
    const { port } = await startServer(cleanup);
    const raw = await RawClient.connect(cleanup, port);
    raw.write(helloFrame(2, 3, 'from-the-future'));
    await raw.closed;
    const goodbye = raw.goodbye();
    assert.equal(goodbye?.error.code, 'PROTOCOL_VERSION');
    assert.deepEqual(goodbye?.error.details, { versionMin: 1, versionMax: 1 });
  });

  test('a client offering a range that includes ours gets our version', async () => {
    const { port } = await startServer(cleanup);
    const raw = await RawClient.connect(cleanup, port);
    raw.write(helloFrame(1, 9, 'upgraded'));
    raw.write(frameOf({ kind: 'request', id: 1, type: 'echo', body: 'v1' }));
    await until(() => raw.envelopes.length === 2, 'hello and response');
    assert.deepEqual(raw.envelopes[0], {
      kind: 'hello',
      versionMin: 1,
      versionMax: 1,
      peerId: 'server',
    });
    assert.deepEqual(raw.envelopes[1], { kind: 'response', id: 1, body: 'v1' });
  });

  test('a server answering with another version: the client fails its requests with PROTOCOL_VERSION', async () => {
    const { port } = await startRawServer(cleanup, (socket) => {
      socket.once('data', () => socket.write(helloFrame(7, 7, 'future-server')));
    });
    const peer = startPeer(cleanup, port, {}, { backoffBaseMs: 1_000 });
    assert.equal(await codeOf(peer.request('echo', 1)), 'PROTOCOL_VERSION');
  });
});

describe('limits', () => {
  test('one connection over connectionsMax gets TOO_MANY_CONNECTIONS; a freed slot is reused', async () => {
    const { server, port } = await startServer(cleanup, {}, { connectionsMax: 2 });
    const first = await openPeer(port, {}, {}, 'first');
    await openPeer(port, {}, {}, 'second');
    const raw = await RawClient.connect(cleanup, port);
    raw.write(helloFrame());
    await raw.closed;
    assert.equal(raw.goodbye()?.error.code, 'TOO_MANY_CONNECTIONS');
    assert.equal(server.stats.connectionsRejected, 1);
    const third = startPeer(cleanup, port, {}, { backoffBaseMs: 20, backoffMaxMs: 50 }, 'third');
    await until(() => third.stats.attemptsFailed > 0, 'the third to be refused');
    await first.stop();
    await until(() => third.state === 'open', 'the third to get the freed slot');
    assert.equal(await third.request('echo', 3), 3);
  });

  test('start() on a port in use fails with the system error and may be retried', async () => {
    const make = (port: number): Server =>
      new Server(
        { logger: silentLogger, onRequest: async () => null },
        { localId: 'server', options: { ...defaultServerOptions, port } },
      );
    const first = make(0);
    const { port } = await first.start();
    const second = make(port);
    await assert.rejects(second.start(), { code: 'EADDRINUSE' });
    await first.stop();
    await second.start(); // the same instance, once the port is free
    cleanup.add(() => second.stop());
    assert.equal(second.address().port, port);
    await Promise.all([second.stop(), second.stop()]); // concurrent stops share one
  });

  test('stop() answers what is running, refuses the rest, and closes everything', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { server, port } = await startServer(cleanup, {
      onRequest: async (request) => {
        await gate;
        return request.body;
      },
    });
    const peer = await openPeer(port, {}, { backoffBaseMs: 1_000 });
    const running = peer.request('slow', 'done');
    await until(() => server.connectionCount === 1, 'the connection');
    await sleep(20); // let the request reach the handler
    const stopped = server.stop();
    await sleep(20);
    release();
    assert.equal(await running, 'done');
    await stopped;
    assert.equal(server.connectionCount, 0);
    await until(
      () => peer.state === 'backoff' || peer.state === 'connecting',
      'the peer to notice',
    );
  });
});
