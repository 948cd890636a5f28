// The reconnecting peer. It survives a server restart on the same port, backing off exponentially
// (delays checked against the formula with a fixed jitter draw), and requests made while it is
// down wait and then succeed. While disconnected: a request waits until its deadline and then fails
// with UNAVAILABLE (never sent), the waiting queue is bounded (QUEUE_FULL), one-way sends fail at
// once. Requests in flight when a connection drops fail with CONNECTION_CLOSED and are not retried.
// A bounded number of attempts ends in 'failed'. Servers listen on 127.0.0.1 with ephemeral ports.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EdictError } from '../../src/errors.js';
import type { Connection } from '../../src/net/connection.js';
import { backoffDelayMs, type PeerState } from '../../src/net/peer.js';
import { Server, defaultServerOptions } from '../../src/net/server.js';
import { silentLogger } from '../../src/net/options.js';
import {
  Cleanup,
  cleanupAfterEach,
  startPeer,
  startRawServer,
  startServer,
  until,
} from './helpers.js';

const cleanup = cleanupAfterEach();

/** A port on which nothing listens (bound once, then released). */
async function deadPort(): Promise<number> {
  const scratch = new Cleanup();
  const { port } = await startRawServer(scratch, () => undefined);
  await scratch.run();
  return port;
}

describe('backoffDelayMs', () => {
  test('full jitter below a ceiling that doubles up to the cap', () => {
    const options = { backoffBaseMs: 50, backoffMaxMs: 1_000 };
    const top = (attempt: number): number => backoffDelayMs(attempt, options, () => 0.9999999);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 100].map(top), [49, 99, 199, 399, 799, 999, 999, 999]);
    assert.equal(
      backoffDelayMs(3, options, () => 0),
      0,
    );
    assert.equal(
      backoffDelayMs(3, options, () => 0.5),
      200,
    );
  });
});

describe('Peer', () => {
  test('reconnects with backoff after the server restarts on the same port', async () => {
    const { server, port } = await startServer(cleanup);
    const transitions: Array<{ state: PeerState; at: number }> = [];
    const scheduled: number[] = [];
    const logger = {
      ...silentLogger,
      debug: (fields: object) => {
        const { delayMs } = fields as { delayMs?: number };
        if (delayMs !== undefined) scheduled.push(delayMs);
      },
    };
    const peer = startPeer(
      cleanup,
      port,
      {
        logger,
        random: () => 0.9999999, // always the top of the window: delays are deterministic
        onStateChange: (state) => transitions.push({ state, at: performance.now() }),
      },
      { backoffBaseMs: 20, backoffMaxMs: 160, requestTimeoutMs: 3_000 },
    );
    await until(() => peer.state === 'open', 'the first connection');
    assert.equal(await peer.request('echo', 'first'), 'first');

    await server.stop();
    await until(() => peer.stats.attemptsFailed >= 4, 'four failed attempts');
    const during = peer.request('echo', 'during the outage'); // waits for the new server

    const restarted = new Server(
      { logger: silentLogger, onRequest: async (request) => request.body },
      { localId: 'restarted', options: { ...defaultServerOptions, port } },
    );
    await restarted.start();
    cleanup.add(() => restarted.stop());
    assert.equal(await during, 'during the outage');
    assert.equal(peer.state, 'open');
    assert.equal(peer.stats.connects, 2);
    assert.equal(peer.stats.disconnects, 1);

    // The delays scheduled: 19 ms after the loss (attempt 0), then 39, 79, and 159 (the cap)
    // for every further failed attempt. Exact, whatever the load on the machine.
    const expected = [19, 39, 79, 159];
    assert.ok(scheduled.length >= 4, `scheduled ${scheduled.join(', ')}`);
    assert.deepEqual(
      scheduled,
      scheduled.map((_, i) => expected[Math.min(i, expected.length - 1)]),
    );
    // And the peer did wait that long before each attempt (a busy machine only adds to it).
    const gaps: number[] = [];
    for (let i = 1; i < transitions.length; i++) {
      const previous = transitions[i - 1];
      const current = transitions[i];
      if (previous?.state === 'backoff' && current?.state === 'connecting') {
        gaps.push(current.at - previous.at);
      }
    }
    assert.equal(gaps.length, scheduled.length);
    gaps.forEach((gap, i) => {
      assert.ok(gap >= (scheduled[i] as number) - 2, `gap ${i}: ${gap} ms < ${scheduled[i]} ms`);
    });
  });

  test('while disconnected: requests wait to their deadline (UNAVAILABLE), the wait is bounded, sends fail', async () => {
    const port = await deadPort();
    const peer = startPeer(
      cleanup,
      port,
      {},
      { waitingMax: 2, backoffBaseMs: 10, backoffMaxMs: 20 },
    );
    const started = performance.now();
    const first = peer.request('echo', 1, { timeoutMs: 100 });
    const second = peer.request('echo', 2, { timeoutMs: 100 });
    await assert.rejects(peer.request('echo', 3), { code: 'QUEUE_FULL' });
    assert.throws(() => peer.send('append', 1), { code: 'UNAVAILABLE' });
    await assert.rejects(first, (error: unknown) => {
      assert.ok(error instanceof EdictError && error.code === 'UNAVAILABLE');
      assert.match(error.message, /ECONNREFUSED/);
      return true;
    });
    await assert.rejects(second, { code: 'UNAVAILABLE' });
    assert.ok(performance.now() - started >= 95, 'they waited for their deadline');
  });

  test('gives up after attemptsMax failed attempts', async () => {
    const port = await deadPort();
    const peer = startPeer(
      cleanup,
      port,
      {},
      { attemptsMax: 3, backoffBaseMs: 5, backoffMaxMs: 10 },
    );
    const waiting = peer.request('echo', 1, { timeoutMs: 5_000 });
    await assert.rejects(waiting, { code: 'UNAVAILABLE' });
    assert.equal(peer.state, 'failed');
    assert.equal(peer.stats.attemptsFailed, 3);
    await assert.rejects(peer.request('echo', 2), { code: 'UNAVAILABLE' });
  });

  test('a server that accepts but never answers the hello: the attempt times out', async () => {
    const { port } = await startRawServer(cleanup, () => undefined);
    const peer = startPeer(
      cleanup,
      port,
      {},
      { connectTimeoutMs: 50, attemptsMax: 2, backoffBaseMs: 5 },
    );
    await until(() => peer.state === 'failed', 'the peer to give up');
    assert.equal(peer.stats.attemptsFailed, 2);
  });

  test('in-flight requests fail with CONNECTION_CLOSED when the connection drops, and are not retried', async () => {
    let handled = 0;
    let serverSide: Connection | null = null;
    const { port } = await startServer(cleanup, {
      onRequest: () => {
        handled += 1;
        return new Promise(() => undefined);
      },
      onConnection: (connection) => {
        serverSide = connection;
      },
    });
    const peer = startPeer(cleanup, port, {}, { backoffBaseMs: 10 });
    await until(() => peer.state === 'open' && serverSide !== null, 'the connection');
    const inFlight = peer.request('hang', null, { timeoutMs: 5_000 });
    await until(() => handled === 1, 'the request to reach the server');
    (serverSide as unknown as Connection).close();
    await assert.rejects(inFlight, { code: 'CONNECTION_CLOSED' });
    await until(() => peer.stats.connects === 2, 'the reconnection');
    assert.equal(handled, 1, 'the transport did not resend it');
  });

  test('stop() while connecting leaves nothing behind', async () => {
    const { port } = await startRawServer(cleanup, () => undefined);
    const peer = startPeer(cleanup, port, {}, { connectTimeoutMs: 5_000 });
    const waiting = peer.request('echo', 1);
    await peer.stop();
    assert.equal(peer.state, 'stopped');
    await assert.rejects(waiting, { code: 'UNAVAILABLE' });
  });
});
