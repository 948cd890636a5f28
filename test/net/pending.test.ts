// The table of requests awaiting an answer: ids wrap at 2^32 - 1 and skip ids still in use; the
// deadline sweep fails a request within DEADLINE_SWEEP_MS of its deadline and stops when the table
// is empty; answers for unknown ids are counted as late; failAll empties the table.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EdictError } from '../../src/errors.js';
import { REQUEST_ID_MAX } from '../../src/net/codec.js';
import { DEADLINE_SWEEP_MS, PendingRequests } from '../../src/net/pending.js';

function table(max = 8, firstId = 1) {
  const stats = { requestsTimedOut: 0, responsesLate: 0 };
  let settled = 0;
  const pending = new PendingRequests(max, stats, () => (settled += 1), firstId);
  return { pending, stats, settledCount: () => settled };
}

describe('PendingRequests', () => {
  test('ids wrap after 2^32 - 1 to 1 and skip ids in use', async () => {
    const { pending } = table(8, REQUEST_ID_MAX - 1);
    const a = pending.nextFreeId();
    const promiseA = pending.add(a, 't', 1_000);
    const b = pending.nextFreeId();
    const promiseB = pending.add(b, 't', 1_000);
    assert.deepEqual([a, b], [REQUEST_ID_MAX - 1, REQUEST_ID_MAX]);
    const c = pending.nextFreeId();
    assert.equal(c, 1);
    pending.settle(a, 'A', null);
    pending.settle(b, 'B', null);
    assert.deepEqual(await Promise.all([promiseA, promiseB]), ['A', 'B']);

    const again = table(3, 1);
    const p1 = again.pending.add(again.pending.nextFreeId(), 't', 1_000); // id 1 stays pending
    const p2 = again.pending.add(again.pending.nextFreeId(), 't', 1_000); // id 2 stays pending
    assert.equal(again.pending.nextFreeId(), 3);
    assert.ok(again.pending.full === false);
    again.pending.failAll(new EdictError('CONNECTION_CLOSED'));
    await assert.rejects(p1, { code: 'CONNECTION_CLOSED' });
    await assert.rejects(p2, { code: 'CONNECTION_CLOSED' });
    assert.equal(again.pending.size, 0);
  });

  test('the sweep fails a request soon after its deadline, and only then', async () => {
    const { pending, stats, settledCount } = table();
    const started = performance.now();
    // A plain timer armed at the same moment suffers the same event-loop delays on a busy machine,
    // so lateness is measured against it rather than against the wall clock.
    const control = new Promise<number>((resolve) =>
      setTimeout(() => resolve(performance.now()), 30),
    );
    const short = pending.add(pending.nextFreeId(), 'short', 30);
    const long = pending.add(pending.nextFreeId(), 'long', 10_000);
    await assert.rejects(short, (error: unknown) => {
      assert.ok(error instanceof EdictError && error.code === 'TIMEOUT');
      assert.match(error.message, /short not answered within 30 ms/);
      return true;
    });
    const firedAt = performance.now();
    assert.ok(firedAt - started >= 29, `fired after ${firedAt - started} ms, before the deadline`);
    const late = firedAt - (await control);
    assert.ok(late <= DEADLINE_SWEEP_MS + 5, `fired ${late} ms after a plain 30 ms timer`);
    assert.equal(stats.requestsTimedOut, 1);
    assert.equal(pending.size, 1);
    pending.settle(2, 'done', null);
    assert.equal(await long, 'done');
    assert.equal(settledCount(), 2);
  });

  test('an answer for an unknown id is counted as late and changes nothing', () => {
    const { pending, stats } = table();
    pending.settle(42, 'x', null);
    assert.equal(stats.responsesLate, 1);
    assert.equal(pending.size, 0);
  });

  test('full at max', () => {
    const { pending } = table(2);
    void pending.add(pending.nextFreeId(), 't', 1_000).catch(() => undefined);
    void pending.add(pending.nextFreeId(), 't', 1_000).catch(() => undefined);
    assert.equal(pending.full, true);
    assert.throws(() => pending.add(pending.nextFreeId(), 't', 1_000), /full pending table/);
    pending.failAll(new EdictError('CONNECTION_CLOSED'));
  });
});
