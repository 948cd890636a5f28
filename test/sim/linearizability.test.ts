// The linearizability checker is the judge of every simulation, so it is tested on both sides:
// hand-written histories it must reject (stale read, lost write, double CAS success) and accept
// (concurrent overlaps, indeterminate operations), a budget that ends in "unknown" rather than a
// hang, and a property: histories produced by a truly atomic register with random linearization
// points inside random intervals are always accepted.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { History, type KvInput, type KvOutput, type KvValue } from '../../sim/history.js';
import { checkKv } from '../../sim/linearizability.js';

type Spec =
  | [KvInput, KvOutput | 'unknown' | 'fail', number, number]
  | [KvInput, KvOutput | 'unknown' | 'fail', number];

const w = (value: string): KvInput => ({ f: 'write', value });
const r: KvInput = { f: 'read' };
const cas = (expected: KvValue, value: string): KvInput => ({ f: 'cas', expected, value });
const read = (value: KvValue): KvOutput => ({ f: 'read', value });
const wrote: KvOutput = { f: 'write' };
const casOk = (ok: boolean): KvOutput => ({ f: 'cas', ok });

/** Builds a one-key history: each spec is [input, outcome, invokedAt, completedAt]. */
function history(specs: Spec[], key = 'k'): History {
  const h = new History();
  specs.forEach(([input, outcome, from, to], client) => {
    const id = h.invoke(client, key, input, from);
    if (outcome === 'unknown') h.unknown(id);
    else if (outcome === 'fail') h.fail(id, to ?? from);
    else h.ok(id, outcome, to ?? from);
  });
  return h;
}

const verdict = (specs: Spec[]): string => checkKv(history(specs).ops).verdict;

const del: KvInput = { f: 'write', value: null };
const deleted = (existed: boolean): KvOutput => ({ f: 'write', existed });

describe('checkKv with deletes', () => {
  test('a delete that reports the key existed when it did not is rejected', () => {
    assert.equal(verdict([[del, deleted(true), 0, 1]]), 'violation');
    assert.equal(
      verdict([
        [w('1'), wrote, 0, 1],
        [del, deleted(false), 2, 3],
      ]),
      'violation',
    );
  });

  test('deletes, reads of absence and a conditional delete are accepted', () => {
    assert.equal(
      verdict([
        [w('1'), wrote, 0, 1],
        [del, deleted(true), 2, 3],
        [r, read(null), 4, 5],
        [{ f: 'cas', expected: null, value: '2' }, casOk(true), 6, 7],
        [{ f: 'cas', expected: '2', value: null }, casOk(true), 8, 9],
        [del, deleted(false), 10, 11],
      ]),
      'ok',
    );
  });
});

describe('checkKv rejects', () => {
  test('a stale read', () => {
    assert.equal(
      verdict([
        [w('1'), wrote, 0, 1],
        [w('2'), wrote, 2, 3],
        [r, read('1'), 4, 5],
      ]),
      'violation',
    );
  });

  test('a lost write', () => {
    assert.equal(
      verdict([
        [w('1'), wrote, 0, 1],
        [r, read(null), 2, 3],
      ]),
      'violation',
    );
  });

  test('two successful CAS from the same expected value', () => {
    assert.equal(
      verdict([
        [w('0'), wrote, 0, 1],
        [cas('0', 'a'), casOk(true), 2, 5],
        [cas('0', 'b'), casOk(true), 3, 6],
      ]),
      'violation',
    );
  });

  test('a read that sees a value nobody wrote', () => {
    assert.equal(verdict([[r, read('ghost'), 0, 1]]), 'violation');
  });

  test('a read going back after a newer value was read', () => {
    assert.equal(
      verdict([
        [w('1'), wrote, 0, 1],
        [w('2'), 'unknown', 2],
        [r, read('2'), 3, 4],
        [r, read('1'), 5, 6],
      ]),
      'violation',
    );
  });

  test('a failed CAS when the expected value was certainly there', () => {
    assert.equal(
      verdict([
        [w('x'), wrote, 0, 1],
        [cas('x', 'y'), casOk(false), 2, 3],
      ]),
      'violation',
    );
  });

  test('and names the operation it could not place', () => {
    const result = checkKv(
      history([
        [w('1'), wrote, 0, 1],
        [r, read(null), 2, 3],
      ]).ops,
    );
    assert.match(result.keys[0]?.detail ?? '', /op 1 client 1 read => null/);
  });
});

describe('checkKv accepts', () => {
  test('an empty history and a sequential one', () => {
    assert.equal(verdict([]), 'ok');
    assert.equal(
      verdict([
        [r, read(null), 0, 1],
        [w('1'), wrote, 2, 3],
        [r, read('1'), 4, 5],
        [cas('1', '2'), casOk(true), 6, 7],
        [cas('1', '3'), casOk(false), 8, 9],
        [r, read('2'), 10, 11],
      ]),
      'ok',
    );
  });

  test('reads overlapping a write that see either value', () => {
    assert.equal(
      verdict([
        [w('1'), wrote, 0, 10],
        [r, read('1'), 1, 2],
        [r, read(null), 0, 3],
      ]),
      'ok',
    );
  });

  test('an indeterminate write that took effect', () => {
    assert.equal(
      verdict([
        [w('1'), 'unknown', 0],
        [r, read(null), 1, 2],
        [r, read('1'), 5, 6],
      ]),
      'ok',
    );
  });

  test('an indeterminate write that never took effect', () => {
    assert.equal(
      verdict([
        [w('1'), 'unknown', 0],
        [r, read(null), 5, 6],
      ]),
      'ok',
    );
  });

  test('an indeterminate CAS either way, and failed operations', () => {
    assert.equal(
      verdict([
        [w('a'), wrote, 0, 1],
        [cas('a', 'b'), 'unknown', 2],
        [w('z'), 'fail', 3, 4],
        [r, read('a'), 5, 6],
        [r, read('b'), 7, 8],
      ]),
      'ok',
    );
  });

  test('keys independently', () => {
    const h = new History();
    h.ok(h.invoke(0, 'a', w('1'), 0), wrote, 1);
    h.ok(h.invoke(1, 'b', r, 2), read(null), 3);
    h.ok(h.invoke(1, 'a', r, 2), read('1'), 3);
    const result = checkKv(h.ops);
    assert.equal(result.verdict, 'ok');
    assert.deepEqual(
      result.keys.map((k) => k.key),
      ['a', 'b'],
    );
  });
});

describe('checkKv budget', () => {
  test('gives up with unknown instead of searching forever', () => {
    // Many concurrent indeterminate writes and an impossible final read: exponential without memo
    // hits, and the budget must stop it.
    const specs: Spec[] = [];
    for (let i = 0; i < 18; i++) specs.push([cas(String(i), String(i + 1)), 'unknown', 0]);
    for (let i = 0; i < 18; i++) specs.push([w(`w${i}`), 'unknown', 0]);
    specs.push([r, read('never'), 1, 2]);
    const result = checkKv(history(specs).ops, { budget: 1000 });
    assert.equal(result.verdict, 'unknown');
    assert.match(result.keys[0]?.detail ?? '', /gave up/);
  });
});

describe('checkKv on histories of an atomic register', () => {
  test('accepts every history whose operations take effect inside their intervals', () => {
    const opArb = fc.record({
      start: fc.integer({ min: 0, max: 100 }),
      length: fc.integer({ min: 0, max: 30 }),
      point: fc.double({ min: 0, max: 1, noNaN: true }),
      kind: fc.constantFrom('read', 'write', 'cas'),
      value: fc.constantFrom('a', 'b', 'c'),
      expected: fc.constantFrom('a', 'b', null),
      outcome: fc.constantFrom('ok', 'ok', 'ok', 'unknown', 'lost'),
    });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 14 }), (raw) => {
        // Linearization points inside each interval, then outputs from a real register.
        const order = raw
          .map((op, i) => ({ ...op, i, at: op.start + op.point * op.length }))
          .sort((a, b) => a.at - b.at || a.i - b.i);
        let state: KvValue = null;
        const outputs = new Map<number, KvOutput>();
        for (const op of order) {
          if (op.outcome === 'lost') continue; // never took effect
          if (op.kind === 'read') outputs.set(op.i, read(state));
          else if (op.kind === 'write') {
            state = op.value;
            outputs.set(op.i, wrote);
          } else {
            const ok = state === op.expected;
            if (ok) state = op.value;
            outputs.set(op.i, casOk(ok));
          }
        }
        const h = new History();
        raw.forEach((op, i) => {
          const input: KvInput =
            op.kind === 'read' ? r : op.kind === 'write' ? w(op.value) : cas(op.expected, op.value);
          const id = h.invoke(i, 'k', input, op.start);
          if (op.outcome === 'ok') h.ok(id, outputs.get(i) as KvOutput, op.start + op.length);
          else h.unknown(id);
        });
        assert.equal(checkKv(h.ops).verdict, 'ok');
      }),
      { numRuns: 300 },
    );
  });
});
