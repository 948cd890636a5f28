// Back-pressure end to end, with small bounds so the queues fill quickly. Sending side: a server
// whose message handler stalls stops reading; the sender's outbound queue fills to its bound, then
// send() fails fast with QUEUE_FULL while memory stays at the bound; when the handler resumes,
// every message that was accepted arrives, in order, and whenDrained() resolves. Receiving side:
// a client that sends requests but does not read the responses makes the server stop reading it,
// and the server's outbound queue stays bounded; once the client reads, every response arrives.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { EdictError } from '../../src/errors.js';
import type { Connection } from '../../src/net/connection.js';
import {
  cleanupAfterEach,
  frameOf,
  helloFrame,
  RawClient,
  startPeer,
  startServer,
  until,
} from './helpers.js';

const cleanup = cleanupAfterEach();

const KiB = 1024;

describe('back-pressure', () => {
  test('a stalled receiver: the sender gets QUEUE_FULL at its bound, then everything arrives', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const received: number[] = [];
    let serverSide: Connection | null = null;
    const { port } = await startServer(
      cleanup,
      {
        onMessage: (message) => {
          received.push((message.body as { seq: number }).seq);
          return gate;
        },
        onConnection: (connection) => {
          serverSide = connection;
        },
      },
      { handlingMax: 1 },
    );
    const outboundBytesMax = 256 * KiB;
    const peer = startPeer(cleanup, port, {}, { outboundBytesMax });
    await until(() => peer.state === 'open' && serverSide !== null, 'the connection');
    const connection = peer.connection as Connection;

    const payload = Buffer.alloc(16 * KiB, 1);
    let sent = 0;
    let refused: unknown = null;
    let outboundMax = 0;
    // Bounded: kernel buffers on loopback hold a few MiB, far below 100k x 16 KiB.
    for (let i = 0; i < 100_000 && refused === null; i++) {
      try {
        connection.send('append', { seq: sent, payload });
        sent += 1;
      } catch (error) {
        refused = error;
      }
      outboundMax = Math.max(outboundMax, connection.outboundBytes);
      await nextTurn();
    }
    assert.ok(refused instanceof EdictError && refused.code === 'QUEUE_FULL', String(refused));
    assert.ok(outboundMax <= outboundBytesMax + payload.length + 64, `outbound ${outboundMax}`);
    const server = serverSide as unknown as Connection;
    assert.ok(server.stats.readPauses >= 1, 'the server stopped reading');
    assert.equal(received.length, 1, 'only one handler ran while the first one stalled');
    assert.ok(
      server.handlingRequests < (64 * KiB) / payload.length + 2,
      'one chunk read ahead at most',
    );

    const drained = connection.whenDrained();
    release();
    await drained;
    await until(() => received.length === sent, `all ${sent} messages`, 10_000);
    assert.deepEqual(
      received,
      Array.from({ length: sent }, (_, i) => i),
    );
  });

  test('a client that does not read responses: the server stops reading it, memory stays bounded', async () => {
    const responseBytes = 16 * KiB;
    const outboundBytesMax = 256 * KiB;
    const handlingMax = 32;
    let serverSide: Connection | null = null;
    let outboundMax = 0;
    const { port } = await startServer(
      cleanup,
      {
        onRequest: async () => {
          outboundMax = Math.max(outboundMax, serverSide?.outboundBytes ?? 0);
          return Buffer.alloc(responseBytes, 2);
        },
        onConnection: (connection) => {
          serverSide = connection;
        },
      },
      { outboundBytesMax, handlingMax },
    );
    const raw = await RawClient.connect(cleanup, port);
    raw.socket.pause(); // read nothing
    raw.write(helloFrame());
    const requests = 2_000;
    for (let id = 1; id <= requests; id++) {
      raw.write(frameOf({ kind: 'request', id, type: 'get', body: null }));
    }
    await until(() => (serverSide?.stats.readPauses ?? 0) >= 1, 'the server to stop reading');
    const server = serverSide as unknown as Connection;
    const handledWhilePaused = server.stats.requestsHandled;
    assert.ok(handledWhilePaused < requests, 'the server did not answer everything unread');
    const bound = outboundBytesMax + handlingMax * (responseBytes + 64);
    assert.ok(outboundMax <= bound, `outbound ${outboundMax} > ${bound}`);
    assert.ok(server.outboundBytes <= bound, `outbound ${server.outboundBytes} > ${bound}`);

    raw.socket.resume();
    await until(() => raw.envelopes.length === requests + 1, 'every response', 20_000);
    const ids = raw.envelopes.slice(1).map((e) => (e.kind === 'response' ? e.id : -1));
    assert.deepEqual(
      ids,
      Array.from({ length: requests }, (_, i) => i + 1),
    );
  });

  test('too many pending requests: QUEUE_FULL without sending', async () => {
    const { port } = await startServer(cleanup, { onRequest: () => new Promise(() => undefined) });
    const peer = startPeer(cleanup, port, {}, { requestsPendingMax: 3, requestTimeoutMs: 500 });
    await until(() => peer.state === 'open', 'the peer');
    const pending = [1, 2, 3].map((i) => peer.request('hang', i).catch((e: unknown) => e));
    await assert.rejects(peer.request('hang', 4), { code: 'QUEUE_FULL' });
    for (const error of await Promise.all(pending)) {
      assert.equal((error as EdictError).code, 'TIMEOUT');
    }
  });
});
