// SortedMap (the memtable's and the in-memory index's ordered map) against a plain Map plus
// sorting: random sets, deletes, range reads from random bounds and drains, interleaved, so that
// keys move between the unsorted pending list and the skip list at every possible moment.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SortedMap } from '../../src/storage/sorted-map.js';

const arbKey = fc.string({ unit: fc.constantFrom('a', 'b', '\u0000', '\u00ff'), maxLength: 4 });
const arbStep = fc.oneof(
  fc.record({ op: fc.constant('set' as const), key: arbKey, value: fc.nat(100) }),
  fc.record({ op: fc.constant('delete' as const), key: arbKey }),
  fc.record({
    op: fc.constant('range' as const),
    start: arbKey,
    end: fc.option(arbKey, { nil: null }),
  }),
  fc.record({ op: fc.constant('drain' as const) }),
);

describe('SortedMap', () => {
  test('agrees with a sorted Map model', () => {
    fc.assert(
      fc.property(fc.array(arbStep, { maxLength: 80 }), fc.nat(), (steps, seed) => {
        const map = new SortedMap<number>(seed + 1);
        const model = new Map<string, number>();
        const sorted = (): [string, number][] =>
          [...model].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        for (const step of steps) {
          if (step.op === 'set') {
            map.set(step.key, step.value);
            model.set(step.key, step.value);
          } else if (step.op === 'delete') {
            assert.equal(map.delete(step.key), model.delete(step.key));
          } else if (step.op === 'range') {
            const want = sorted().filter(
              ([k]) => k >= step.start && (step.end === null || k < step.end),
            );
            assert.deepEqual([...map.range(step.start, step.end)], want);
            assert.equal(map.firstKey(step.start, step.end), want[0]?.[0]);
          } else {
            assert.deepEqual([...map.sortedEntries()], sorted());
          }
          assert.equal(map.size, model.size);
          for (const [k, v] of model) assert.equal(map.get(k), v);
        }
      }),
      { numRuns: 300 },
    );
  });
});
