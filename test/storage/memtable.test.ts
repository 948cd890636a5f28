// The memtable overlays pending writes on the index store. Random puts, deletes and flushes are
// compared with a Map model through get and through range reads with random bounds, so that reads
// see pending entries, stored entries, pending deletes of stored entries, and every interleaving.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryIndexStore, Table } from '../../src/storage/index-store.js';
import { Memtable } from '../../src/storage/memtable.js';

const arbKey = fc.uint8Array({ minLength: 1, maxLength: 3, max: 3 }).map((k) => Buffer.from(k));
const arbStep = fc.oneof(
  fc.record({ op: fc.constant('put' as const), key: arbKey, value: fc.nat(9) }),
  fc.record({ op: fc.constant('delete' as const), key: arbKey }),
  fc.record({ op: fc.constant('flush' as const) }),
  fc.record({
    op: fc.constant('range' as const),
    start: arbKey,
    end: fc.option(arbKey, { nil: null }),
  }),
);

describe('Memtable', () => {
  test('reads merge pending writes over the store, like a Map', () => {
    fc.assert(
      fc.property(fc.array(arbStep, { maxLength: 60 }), (steps) => {
        const store = new MemoryIndexStore();
        const memtable = new Memtable(store);
        const model = new Map<string, number>();
        for (const step of steps) {
          if (step.op === 'put') {
            memtable.put(Table.Rows, step.key, Buffer.from([step.value]));
            model.set(step.key.toString('hex'), step.value);
          } else if (step.op === 'delete') {
            memtable.delete(Table.Rows, step.key);
            model.delete(step.key.toString('hex'));
          } else if (step.op === 'flush') {
            memtable.flush([]);
            assert.equal(memtable.rows, 0);
          } else {
            const want = [...model]
              .map(([k, v]) => [Buffer.from(k, 'hex'), v] as const)
              .filter(
                ([k]) =>
                  Buffer.compare(k, step.start) >= 0 &&
                  (step.end === null || Buffer.compare(k, step.end) < 0),
              )
              .sort(([a], [b]) => Buffer.compare(a, b))
              .map(([k, v]) => `${k.toString('hex')}=${v}`);
            const got = [...memtable.entries(Table.Rows, step.start, step.end)].map(
              ([k, v]) => `${Buffer.from(k).toString('hex')}=${v[0]}`,
            );
            assert.deepEqual(got, want);
          }
          for (const [k, v] of model)
            assert.equal(memtable.get(Table.Rows, Buffer.from(k, 'hex'))?.[0], v);
        }
      }),
      { numRuns: 300 },
    );
  });
});
