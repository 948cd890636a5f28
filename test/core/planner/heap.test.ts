// The indexed heap against a sorted-array model: random pushes, pops, removals and key changes
// must leave both agreeing on membership and on the order of pops.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IndexedHeap } from '../../../src/core/planner/heap.js';

type Op = { op: 'push' | 'pop' | 'remove' | 'update'; item: number; key: number };

describe('IndexedHeap', () => {
  test('agrees with a sorted model', () => {
    const opArb = fc.record({
      op: fc.constantFrom<Op['op']>('push', 'pop', 'remove', 'update'),
      item: fc.nat({ max: 31 }),
      key: fc.integer({ min: -5, max: 5 }),
    });
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 200 }), (ops) => {
        const key = new Float64Array(32);
        const before = (a: number, b: number): boolean =>
          key[a] !== key[b] ? (key[a] as number) > (key[b] as number) : a < b;
        const heap = new IndexedHeap(32, before);
        const model = new Set<number>();
        const first = (): number => [...model].sort((a, b) => (before(a, b) ? -1 : 1))[0] ?? -1;
        for (const { op, item, key: k } of ops) {
          if (op === 'push' && !model.has(item)) {
            key[item] = k;
            heap.push(item);
            model.add(item);
          } else if (op === 'pop') {
            const expected = first();
            assert.equal(heap.pop(), expected);
            model.delete(expected);
          } else if (op === 'remove') {
            heap.remove(item);
            model.delete(item);
          } else if (op === 'update' && model.has(item)) {
            key[item] = k;
            heap.update(item);
          }
          assert.equal(heap.size, model.size);
          assert.equal(heap.top(), first());
          for (let i = 0; i < 32; i++) assert.equal(heap.has(i), model.has(i));
        }
      }),
    );
  });
});
