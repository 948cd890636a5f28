/**
 * An indexed binary max-heap over the integers 0..capacity-1, ordered by a caller's comparator
 * that reads the caller's arrays. Because it is indexed, a member whose key changed can be moved
 * to its place with {@link IndexedHeap.update} in O(log n), and membership is an O(1) lookup.
 *
 * Invariant: for every stored member at position p > 0, `before(heap[p], heap[parent(p)])` is
 * false. The comparator must be a strict total order (ties broken by the index itself), so the
 * order of pops is deterministic.
 */
import { assert } from '../lib/assert.js';

export class IndexedHeap {
  private readonly items: Int32Array;
  private readonly positions: Int32Array;
  private length = 0;

  constructor(
    capacity: number,
    /** True when `a` must be popped before `b`. */
    private readonly before: (a: number, b: number) => boolean,
  ) {
    assert(Number.isSafeInteger(capacity) && capacity >= 0, 'heap capacity must be an integer');
    this.items = new Int32Array(capacity);
    this.positions = new Int32Array(capacity).fill(-1);
  }

  get size(): number {
    return this.length;
  }

  has(item: number): boolean {
    return this.positions[item] !== -1;
  }

  /** The first member, or -1 when empty. */
  top(): number {
    return this.length === 0 ? -1 : this.items[0];
  }

  push(item: number): void {
    assert(!this.has(item), `heap already holds ${item}`);
    const at = this.length++;
    this.items[at] = item;
    this.positions[item] = at;
    this.siftUp(at);
  }

  /** Removes and returns the first member, or -1 when empty. */
  pop(): number {
    if (this.length === 0) return -1;
    const first = this.items[0];
    this.removeAt(0);
    return first;
  }

  /** Removes `item` if present. */
  remove(item: number): void {
    const at = this.positions[item];
    if (at !== -1) this.removeAt(at);
  }

  /** Restores the order after `item`'s key changed. */
  update(item: number): void {
    const at = this.positions[item];
    assert(at !== -1, `heap does not hold ${item}`);
    this.siftDown(this.siftUp(at));
  }

  private removeAt(at: number): void {
    const item = this.items[at];
    const last = this.items[--this.length];
    this.positions[item] = -1;
    if (at === this.length) return;
    this.items[at] = last;
    this.positions[last] = at;
    this.siftDown(this.siftUp(at));
  }

  private siftUp(start: number): number {
    let at = start;
    const item = this.items[at];
    while (at > 0) {
      const parentAt = (at - 1) >> 1;
      const parent = this.items[parentAt];
      if (!this.before(item, parent)) break;
      this.items[at] = parent;
      this.positions[parent] = at;
      at = parentAt;
    }
    this.items[at] = item;
    this.positions[item] = at;
    return at;
  }

  private siftDown(start: number): number {
    let at = start;
    const item = this.items[at];
    for (;;) {
      const left = 2 * at + 1;
      if (left >= this.length) break;
      const right = left + 1;
      let child = left;
      if (right < this.length && this.before(this.items[right], this.items[left])) child = right;
      const childItem = this.items[child];
      if (!this.before(childItem, item)) break;
      this.items[at] = childItem;
      this.positions[childItem] = at;
      at = child;
    }
    this.items[at] = item;
    this.positions[item] = at;
    return at;
  }
}
