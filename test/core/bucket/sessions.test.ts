// Sessions (sessions.ts) and conditional writes (state-machine.ts): the session table's rules for
// pipelined seqs with `ackedBelow` — at most once, duplicates answered with the first result,
// STALE_SEQ below the floor, the result window, eviction — checked table-driven and against a
// simple model; then put and delete with `ifVersion` / `ifExists`; then the leader's dedupe of a
// write still in flight.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  clientId,
  defaultReplicaOptions,
  validateReplicaOptions,
  writeOutcome,
  type ClientId,
  type KvCommand,
  type LogEntry,
  type WriteResult,
} from '../../../src/core/bucket/index.js';
import { SessionTable, type SessionLimits } from '../../../src/core/bucket/sessions.js';
import { KvStateMachine } from '../../../src/core/bucket/state-machine.js';
import { epoch, logIndex } from '../../../src/core/lib/ids.js';
import { Cluster, dec, enc, gov } from './harness.js';

const c = clientId;
const limits = (
  sessionsMax: number,
  resultsMax = 1024,
  resultsTotalMax = Math.max(resultsMax, 4096),
): SessionLimits => ({ sessionsMax, resultsMax, resultsTotalMax });
const result = (i: number): WriteResult => ({
  op: 'put',
  ok: true,
  at: { epoch: epoch(1), index: logIndex(i) },
});

/** Applies (client, seq, ackedBelow) to a table at `index` as the state machine does. */
function applyTo(
  t: SessionTable,
  client: ClientId,
  seq: number,
  ackedBelow: number,
  index: number,
): string {
  const check = t.admit(client, seq, ackedBelow, logIndex(index));
  if (check.kind === 'new') t.record(client, seq, ackedBelow, result(index), logIndex(index));
  return check.kind;
}

describe('SessionTable', () => {
  test('pipelined seqs applied out of order are all applied once', () => {
    const t = new SessionTable(limits(4));
    const order = [3, 1, 5, 2, 4];
    order.forEach((seq, i) => assert.equal(applyTo(t, c(7), seq, 1, i + 1), 'new'));
    order.forEach((seq, i) => {
      assert.deepEqual(t.check(c(7), seq, 1), { kind: 'duplicate', result: result(i + 1) });
    });
    assert.equal(t.results, 5);
  });

  test('a duplicate is answered with the first result and changes nothing', () => {
    const t = new SessionTable(limits(4));
    assert.equal(applyTo(t, c(7), 2, 1, 1), 'new');
    assert.equal(applyTo(t, c(7), 2, 1, 2), 'duplicate');
    assert.deepEqual(t.admit(c(7), 2, 2, logIndex(3)), { kind: 'duplicate', result: result(1) });
    assert.throws(
      () => t.record(c(7), 2, 1, result(4), logIndex(4)),
      /applied once/,
      'recording a seq twice is a bug',
    );
  });

  test('ackedBelow raises the floor: seqs below it are STALE_SEQ and their results dropped', () => {
    const t = new SessionTable(limits(4));
    for (let seq = 1; seq <= 4; seq++) applyTo(t, c(7), seq, 1, seq);
    assert.equal(t.results, 4);
    assert.equal(applyTo(t, c(7), 6, 3, 5), 'new');
    assert.equal(t.sessionFloor(c(7)), 3);
    assert.equal(t.results, 3, 'results 1 and 2 dropped');
    assert.equal(t.check(c(7), 2, 1).kind, 'stale');
    assert.equal(t.check(c(7), 3, 3).kind, 'duplicate', 'at the floor: kept');
    assert.equal(t.check(c(7), 5, 3).kind, 'new', 'a gap above the floor is still open');
    assert.equal(t.check(c(7), 5, 5).kind, 'new');
    assert.equal(t.sessionFloor(c(7)), 3, 'a check does not move the floor');
    assert.equal(t.check(c(7), 3, 3).kind, 'duplicate');
    assert.equal(applyTo(t, c(7), 2, 1, 6), 'stale', 'a late copy below the floor');
    assert.equal(t.results, 3);
  });

  test('a new session starts at its ackedBelow', () => {
    const t = new SessionTable(limits(4));
    assert.equal(applyTo(t, c(7), 10, 8, 1), 'new');
    assert.equal(t.sessionFloor(c(7)), 8);
    assert.equal(t.check(c(7), 7, 1).kind, 'stale');
    assert.equal(t.check(c(7), 9, 8).kind, 'new');
  });

  test('the result window: beyond resultsMax the smallest is dropped and the floor passes it', () => {
    const t = new SessionTable(limits(4, 3));
    for (let seq = 2; seq <= 4; seq++) applyTo(t, c(7), seq, 1, seq);
    assert.equal(t.sessionFloor(c(7)), 1);
    applyTo(t, c(7), 5, 1, 5);
    assert.equal(t.sessionFloor(c(7)), 3, 'seq 2 dropped; seq 1, never applied, is now stale');
    assert.equal(t.check(c(7), 1, 1).kind, 'stale');
    assert.equal(t.check(c(7), 2, 1).kind, 'stale');
    assert.equal(t.check(c(7), 3, 1).kind, 'duplicate');
    assert.equal(t.results, 3);
  });

  test('evicts the least recently used session; its id and lower ones get SESSION_EXPIRED', () => {
    const t = new SessionTable(limits(2));
    applyTo(t, c(1), 1, 1, 1);
    applyTo(t, c(2), 1, 1, 2);
    applyTo(t, c(1), 2, 1, 3);
    applyTo(t, c(3), 1, 1, 4); // evicts client 2, the least recently used
    assert.equal(t.size, 2);
    assert.equal(t.floor, 2);
    assert.equal(t.check(c(2), 2, 1).kind, 'expired');
    assert.equal(applyTo(t, c(2), 2, 1, 5), 'expired');
    assert.equal(t.check(c(1), 3, 1).kind, 'new', 'a live session below the floor is fine');
    assert.equal(t.check(c(9), 1, 1).kind, 'new');
    assert.equal(t.results, 3, 'the evicted session took its result along');
  });

  test('the total bound evicts least recently used sessions, never the one written', () => {
    const t = new SessionTable(limits(10, 3, 4));
    for (let seq = 1; seq <= 2; seq++) applyTo(t, c(1), seq, 1, seq);
    for (let seq = 1; seq <= 2; seq++) applyTo(t, c(2), seq, 1, 2 + seq);
    assert.equal(t.results, 4);
    applyTo(t, c(2), 3, 1, 5);
    assert.equal(t.size, 1, 'client 1 evicted');
    assert.equal(t.floor, 1);
    assert.equal(t.results, 3);
    assert.equal(t.check(c(2), 3, 1).kind, 'duplicate');
  });

  test('a snapshot round trip keeps floors, results and the eviction floor', () => {
    const t = new SessionTable(limits(2, 3));
    applyTo(t, c(1), 1, 1, 1);
    applyTo(t, c(2), 4, 2, 2);
    applyTo(t, c(2), 3, 2, 3);
    applyTo(t, c(3), 1, 1, 4); // evicts client 1
    const copy = new SessionTable(limits(2, 3));
    copy.import(t.export(), t.floor);
    assert.deepEqual(copy.export(), t.export());
    assert.equal(copy.floor, 1);
    assert.equal(copy.results, t.results);
    for (const [id, seq, acked] of [
      [1, 2, 1],
      [2, 1, 1],
      [2, 3, 2],
      [2, 5, 2],
      [3, 1, 1],
    ] as const) {
      assert.deepEqual(copy.check(c(id), seq, acked), t.check(c(id), seq, acked), `${id}/${seq}`);
    }
  });

  test('the session options are validated', () => {
    validateReplicaOptions(defaultReplicaOptions);
    assert.throws(
      () => validateReplicaOptions({ ...defaultReplicaOptions, sessionResultsMax: 0 }),
      /sessionResultsMax/,
    );
    assert.throws(
      () =>
        validateReplicaOptions({
          ...defaultReplicaOptions,
          sessionResultsMax: 10,
          sessionResultsTotalMax: 9,
        }),
      /sessionResultsTotalMax/,
    );
  });

  /**
   * The model: per client, a floor, the set of seqs executed and still remembered, and the set
   * ever executed; one session, no eviction, a window large enough never to overflow.
   */
  test('matches a simple model under random pipelined, duplicated, reordered writes', () => {
    const write = fc.record({
      client: fc.integer({ min: 1, max: 3 }),
      seq: fc.integer({ min: 1, max: 12 }),
      back: fc.integer({ min: 0, max: 4 }),
    });
    fc.assert(
      fc.property(fc.array(write, { maxLength: 80 }), (writes) => {
        const sm = new KvStateMachine(limits(8, 64));
        const floors = new Map<number, number>();
        const kept = new Map<number, Map<number, number>>();
        const executed = new Set<string>();
        writes.forEach((w, i) => {
          const index = i + 1;
          const ackedBelow = Math.max(1, w.seq - w.back);
          const applied = sm.apply({
            epoch: epoch(1),
            index: logIndex(index),
            payload: {
              kind: 'write',
              clientId: c(w.client),
              seq: w.seq,
              ackedBelow,
              command: { op: 'put', key: `k${w.client}`, value: enc(`${w.seq}`) },
            },
          });
          // The model.
          const results = kept.get(w.client) ?? new Map<number, number>();
          kept.set(w.client, results);
          const floor = Math.max(floors.get(w.client) ?? ackedBelow, ackedBelow);
          floors.set(w.client, floor);
          for (const seq of [...results.keys()]) if (seq < floor) results.delete(seq);
          const id = `${w.client}/${w.seq}`;
          if (w.seq < floor) {
            assert.equal(applied.result, 'STALE_SEQ', `${id} below floor ${floor}`);
            assert.ok(!applied.fresh);
          } else if (results.has(w.seq)) {
            assert.ok(!applied.fresh, `${id} is a duplicate`);
            const first = applied.result;
            assert.ok(typeof first === 'object' && first !== null);
            assert.equal(
              first.at.index,
              results.get(w.seq),
              `${id} answered with its first result`,
            );
          } else {
            assert.ok(applied.fresh, `${id} is new`);
            assert.ok(!executed.has(id), `${id} executed twice`);
            executed.add(id);
            results.set(w.seq, index);
          }
        });
        const image = sm.image();
        const copy = new KvStateMachine(limits(8, 64));
        copy.install(image);
        assert.deepEqual(copy.image(), image, 'the image round-trips');
      }),
    );
  });
});

describe('conditional writes', () => {
  const at = (i: number): LogEntry['index'] => logIndex(i);
  function run(commands: KvCommand[]): { sm: KvStateMachine; results: WriteResult[] } {
    const sm = new KvStateMachine(limits(8));
    const results = commands.map((command, i) => {
      const applied = sm.apply({
        epoch: epoch(1),
        index: at(i + 1),
        payload: { kind: 'write', clientId: c(1), seq: i + 1, ackedBelow: i + 1, command },
      });
      assert.ok(typeof applied.result === 'object' && applied.result !== null);
      return applied.result;
    });
    return { sm, results };
  }
  const put = (value: string, cond: Partial<KvCommand> = {}): KvCommand =>
    ({ op: 'put', key: 'k', value: enc(value), ...cond }) as KvCommand;
  const del = (cond: Partial<KvCommand> = {}): KvCommand =>
    ({ op: 'delete', key: 'k', ...cond }) as KvCommand;

  test('put with ifVersion: only over that exact version', () => {
    const { sm, results } = run([
      put('a'),
      put('b', { ifVersion: 1 }),
      put('c', { ifVersion: 1 }),
      put('d', { ifVersion: 2 }),
    ]);
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, false, true],
    );
    assert.equal(dec(sm.read('k')?.value), 'd');
    assert.equal(sm.read('k')?.version, 4);
    assert.deepEqual(writeOutcome(results[1] as WriteResult), { ok: true, version: 2 });
    assert.deepEqual(writeOutcome(results[2] as WriteResult), {
      ok: false,
      code: 'CONDITION_FAILED',
    });
  });

  test('put with ifVersion on an absent key fails', () => {
    const { sm, results } = run([put('a', { ifVersion: 1 })]);
    assert.equal(results[0]?.ok, false);
    assert.equal(sm.read('k'), null);
  });

  test('put with ifExists: create-only and update-only', () => {
    const { sm, results } = run([
      put('a', { ifExists: true }),
      put('b', { ifExists: false }),
      put('c', { ifExists: false }),
      put('d', { ifExists: true }),
    ]);
    assert.deepEqual(
      results.map((r) => r.ok),
      [false, true, false, true],
    );
    assert.equal(dec(sm.read('k')?.value), 'd');
  });

  test('delete reports whether the key existed; conditions gate it', () => {
    const { sm, results } = run([
      del(),
      put('a'),
      del({ ifVersion: 1 }),
      del({ ifVersion: 2, ifExists: true }),
      del({ ifExists: true }),
      del({ ifExists: false }),
    ]);
    const shape = results.map((r) => (r.op === 'delete' ? [r.ok, r.existed] : [r.ok]));
    assert.deepEqual(shape, [
      [true, false],
      [true],
      [false, true],
      [true, true],
      [false, false],
      [true, false],
    ]);
    assert.equal(sm.read('k'), null);
    assert.deepEqual(writeOutcome(results[0] as WriteResult), { ok: true, version: null });
    assert.deepEqual(writeOutcome(results[3] as WriteResult), { ok: true, version: 4 });
    assert.deepEqual(writeOutcome(results[4] as WriteResult), {
      ok: false,
      code: 'CONDITION_FAILED',
    });
  });

  test('a failed condition is recorded: its retry gets the same answer', () => {
    const { sm } = run([put('a'), put('b', { ifVersion: 9 })]);
    assert.deepEqual(sm.sessions.check(c(1), 2, 2), {
      kind: 'duplicate',
      result: { op: 'put', ok: false, at: { epoch: 1, index: 2 } },
    });
  });
});

describe('the leader and sessions', () => {
  test('a retry of a write still in flight is not proposed again; one answer once applied', () => {
    const c3 = new Cluster([1, 2, 3]);
    c3.start(gov(1, 1, [2, 3]));
    const before = c3.replica(1).log.lastIndex;
    c3.cut.add('1>2'); // hold the write uncommitted
    c3.put(1, 100, 1, 'k', 'v');
    c3.put(1, 100, 1, 'k', 'v');
    c3.deliver();
    assert.equal(c3.replica(1).log.lastIndex, before + 1, 'appended once');
    assert.equal(c3.repliesTo(100, 1).length, 0, 'not answered before it commits');
    c3.heal();
    c3.tickUntil(() => c3.repliesTo(100, 1).length > 0, 50);
    c3.tick(6);
    const replies = c3.repliesTo(100, 1);
    assert.equal(replies.length, 1, 'answered once');
    assert.ok(replies[0]?.body.ok === true);
  });

  test('pipelined writes with ackedBelow; the leader refuses a seq below the floor', () => {
    const c3 = new Cluster([1, 2, 3]);
    c3.start(gov(1, 1, [2, 3]));
    for (let seq = 1; seq <= 5; seq++) c3.put(1, 100, seq, `k${seq}`, `v${seq}`);
    c3.tick(4);
    for (let seq = 1; seq <= 5; seq++) assert.equal(c3.repliesTo(100, seq).length, 1);
    c3.write(1, 100, 6, { op: 'put', key: 'k', value: enc('v6') }, 6);
    c3.tick(4);
    c3.put(1, 100, 3, 'k3', 'late copy');
    const late = c3.repliesTo(100, 3);
    assert.equal(late.length, 2);
    assert.deepEqual(late[1]?.body, { ok: false, code: 'STALE_SEQ', leaderHint: 1 });
    assert.equal(dec(c3.replica(2).peek('k3')?.value), 'v3');
  });
});

describe('sessions across backfill and failover', () => {
  test('a backfilled member inherits floors and results, and answers retries after a failover', () => {
    const cl = new Cluster([1, 2, 3, 4]);
    cl.start(gov(1, 1, [2, 3]));
    for (let seq = 1; seq <= 3; seq++) cl.put(1, 100, seq, `k${seq}`, `v${seq}`);
    cl.write(1, 100, 4, { op: 'put', key: 'k4', value: enc('v4') }, 3);
    cl.tick(4);
    const first = cl.repliesTo(100, 3)[0];
    assert.ok(first?.body.ok === true && first.body.kind === 'write');
    cl.edict(gov(2, 1, [2, 3], [4]));
    cl.tickUntil(() => cl.replica(4).commitIndex === cl.replica(1).commitIndex);
    const image = cl.store(4).load().snapshot;
    assert.ok(image !== null, 'node 4 was backfilled');
    assert.deepEqual(
      image.sessions.map((s) => [s.clientId, s.floor, s.results.map((r) => r.seq)]),
      [[100, 3, [3, 4]]],
    );
    cl.edict(gov(3, 1, [2, 3, 4]));
    cl.tick(4);
    cl.crash(1);
    cl.edict(gov(4, 4, [2, 3]), [2, 3, 4]);
    cl.tickUntil(() => cl.replica(4).status().activated, 200, [2, 3, 4]);
    cl.put(4, 100, 3, 'k3', 'v3');
    cl.put(4, 100, 2, 'k2', 'v2');
    cl.tick(2, [2, 3, 4]);
    const retried = cl.repliesTo(100, 3);
    assert.equal(retried.length, 2);
    assert.deepEqual(retried[1]?.body, first.body, 'answered with the first result');
    const stale = cl.repliesTo(100, 2);
    assert.equal(stale[1]?.body.ok, false);
    assert.ok(stale[1]?.body.ok === false && stale[1].body.code === 'STALE_SEQ');
  });
});
