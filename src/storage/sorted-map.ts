/**
 * An ordered map from binary-string keys to values: a hash map for point lookups plus a skip list
 * of the keys for ordered iteration from any lower bound. Keys are "binary strings" (one UTF-16
 * unit per byte, see {@link toKeyString}), whose `<` order is the byte order of the original bytes.
 *
 * New keys wait in an unsorted list until an ordered read needs them; they are then sorted and
 * linked in. A write-only stretch (the memtable between two checkpoints, when nothing scans) thus
 * costs a hash insert per key plus one sort when the keys are finally read in order.
 *
 * Used by the memtable in front of the index and by the in-memory index store. Levels are drawn
 * from a seeded PRNG, so the structure (and its timing) is the same on every run.
 */
import { assert } from '../core/lib/assert.js';
import { Prng } from '../core/lib/prng.js';

const LEVELS_MAX = 24;

interface SkipNode {
  readonly key: string;
  readonly next: (SkipNode | null)[];
}

/** The binary-string form of `bytes`: one char per byte, so string order equals byte order. */
export function toKeyString(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
}

/** The bytes of a binary string made by {@link toKeyString}. */
export function fromKeyString(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

/** An ordered map of binary-string keys; see the file comment. */
export class SortedMap<V> {
  private readonly values = new Map<string, V>();
  /** Keys in `values` but not yet in the skip list. */
  private pending: string[] = [];
  private readonly head: SkipNode = {
    key: '',
    next: new Array<SkipNode | null>(LEVELS_MAX).fill(null),
  };
  private level = 1;
  private readonly prng: Prng;
  /** Scratch array of {@link predecessors}, reused so that lookups allocate nothing. */
  private readonly update = new Array<SkipNode>(LEVELS_MAX);

  constructor(seed = 1) {
    this.prng = new Prng(seed);
  }

  get size(): number {
    return this.values.size;
  }

  get(key: string): V | undefined {
    return this.values.get(key);
  }

  has(key: string): boolean {
    return this.values.has(key);
  }

  set(key: string, value: V): void {
    if (!this.values.has(key)) this.pending.push(key);
    this.values.set(key, value);
  }

  delete(key: string): boolean {
    if (!this.values.has(key)) return false;
    this.settle();
    this.values.delete(key);
    const update = this.predecessors(key);
    const node = update[0]?.next[0];
    assert(node !== null && node !== undefined && node.key === key, 'skip list lost a key');
    for (let i = 0; i < this.level; i++) {
      const pred = update[i] as SkipNode;
      if (pred.next[i] !== node) break;
      pred.next[i] = node.next[i] ?? null;
    }
    while (this.level > 1 && this.head.next[this.level - 1] === null) this.level -= 1;
    return true;
  }

  clear(): void {
    this.values.clear();
    this.pending = [];
    this.head.next.fill(null);
    this.level = 1;
  }

  /** Entries with `start <= key < end` (no upper bound when `end` is null), ascending. */
  *range(start: string, end: string | null): Generator<[string, V]> {
    this.settle();
    let node = this.predecessors(start)[0]?.next[0] ?? null;
    while (node !== null && (end === null || node.key < end)) {
      yield [node.key, this.values.get(node.key) as V];
      node = node.next[0] ?? null;
    }
  }

  /** The smallest key `>= start` (and `< end` when given), or undefined. */
  firstKey(start: string, end: string | null = null): string | undefined {
    this.settle();
    const node = this.predecessors(start)[0]?.next[0] ?? null;
    if (node === null || (end !== null && node.key >= end)) return undefined;
    return node.key;
  }

  /** Every entry in key order, without linking pending keys (for a drain before `clear`). */
  *sortedEntries(): Generator<[string, V]> {
    const fresh = this.pending.sort(compareStrings);
    let i = 0;
    let node = this.head.next[0] ?? null;
    while (i < fresh.length || node !== null) {
      const key: string =
        node === null || (i < fresh.length && (fresh[i] as string) < node.key)
          ? (fresh[i++] as string)
          : (node as SkipNode).key;
      if (node !== null && key === node.key) node = node.next[0] ?? null;
      yield [key, this.values.get(key) as V];
    }
  }

  /** Links the pending keys into the skip list. */
  private settle(): void {
    if (this.pending.length === 0) return;
    const keys = this.pending.sort(compareStrings);
    this.pending = [];
    for (const key of keys) this.insertKey(key);
  }

  private insertKey(key: string): void {
    const update = this.predecessors(key);
    let height = 1;
    while (height < LEVELS_MAX && (this.prng.nextU32() & 3) === 0) height += 1;
    if (height > this.level) {
      for (let i = this.level; i < height; i++) update[i] = this.head;
      this.level = height;
    }
    const node: SkipNode = { key, next: new Array<SkipNode | null>(height).fill(null) };
    for (let i = 0; i < height; i++) {
      const pred = update[i] as SkipNode;
      node.next[i] = pred.next[i] ?? null;
      pred.next[i] = node;
    }
  }

  /**
   * For each level, the last node whose key is `< key` (the head when there is none). Returns the
   * shared scratch array: valid until the next call.
   */
  private predecessors(key: string): SkipNode[] {
    const update = this.update;
    let node = this.head;
    for (let i = this.level - 1; i >= 0; i--) {
      for (;;) {
        const next = node.next[i] ?? null;
        if (next === null || next.key >= key) break;
        node = next;
      }
      update[i] = node;
    }
    return update;
  }
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
