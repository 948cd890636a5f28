/**
 * Who holds which bucket while a plan is being built: a fixed number of member slots per bucket
 * (-1 when empty) and, per node, the list of slots it fills, so that both "members of bucket b" and
 * "buckets of node n" are cheap. A copy is `fresh` when the node did not hold the bucket in the
 * current map: fresh copies are the data the plan asks to move.
 *
 * Invariants: a node fills at most one slot of a bucket; `count[n]` is the length of n's slot
 * list; `size[b]` is the number of filled slots of b.
 */
import { assert } from '../lib/assert.js';

export class Assignment {
  /** Node index per slot (bucket b owns slots b·width .. b·width+width-1), -1 when empty. */
  readonly slots: Int32Array;
  /** 1 when the slot's copy is not in the current map. */
  readonly fresh: Uint8Array;
  /** Filled slots per bucket. */
  readonly size: Uint8Array;
  /** Copies per node. */
  readonly count: Int32Array;
  private readonly hostedSlots: number[][];
  private readonly position: Int32Array;

  constructor(
    readonly buckets: number,
    /** Slots per bucket: the replicas of the target. */
    readonly width: number,
    nodeCount: number,
    /** Members of each bucket in the current map (any state), CSR: `start[b]..start[b+1]`. */
    private readonly originalStart: Int32Array,
    private readonly originalNodes: Int32Array,
  ) {
    assert(width >= 1 && width <= 255, 'slots per bucket fit a byte');
    this.slots = new Int32Array(buckets * width).fill(-1);
    this.fresh = new Uint8Array(buckets * width);
    this.size = new Uint8Array(buckets);
    this.count = new Int32Array(nodeCount);
    this.hostedSlots = Array.from({ length: nodeCount }, () => []);
    this.position = new Int32Array(buckets * width).fill(-1);
  }

  /** Whether `node` held `bucket` in the current map. */
  heldBefore(bucket: number, node: number): boolean {
    const end = this.originalStart[bucket + 1];
    for (let k = this.originalStart[bucket]; k < end; k++)
      if (this.originalNodes[k] === node) return true;
    return false;
  }

  holds(bucket: number, node: number): boolean {
    const base = bucket * this.width;
    for (let s = base; s < base + this.width; s++) if (this.slots[s] === node) return true;
    return false;
  }

  /** Copies of `bucket` on nodes whose `domainOf` is `domain`. */
  countIn(bucket: number, domainOf: Int32Array, domain: number): number {
    let found = 0;
    const base = bucket * this.width;
    for (let s = base; s < base + this.width; s++) {
      const n = this.slots[s];
      if (n !== -1 && domainOf[n] === domain) found++;
    }
    return found;
  }

  /** Filled slot ids of `node` (bucket = slot / width, truncated). Do not keep across changes. */
  slotsOf(node: number): readonly number[] {
    return this.hostedSlots[node] as number[];
  }

  /** The members of `bucket`, in slot order. */
  members(bucket: number): number[] {
    const out: number[] = [];
    const base = bucket * this.width;
    for (let s = base; s < base + this.width; s++) {
      const n = this.slots[s];
      if (n !== -1) out.push(n);
    }
    return out;
  }

  /** Puts a copy of `bucket` on `node`, which must not hold it; returns the slot. */
  add(bucket: number, node: number): number {
    assert(this.size[bucket] < this.width, `bucket ${bucket} has no free slot`);
    assert(!this.holds(bucket, node), `node ${node} already holds bucket ${bucket}`);
    const base = bucket * this.width;
    let slot = base;
    while (this.slots[slot] !== -1) slot++;
    this.slots[slot] = node;
    this.fresh[slot] = this.heldBefore(bucket, node) ? 0 : 1;
    this.size[bucket] = this.size[bucket] + 1;
    this.count[node] = this.count[node] + 1;
    const list = this.hostedSlots[node] as number[];
    this.position[slot] = list.length;
    list.push(slot);
    return slot;
  }

  /** Takes the copy of `bucket` off `node`, which must hold it. */
  remove(bucket: number, node: number): void {
    const base = bucket * this.width;
    let slot = base;
    while (slot < base + this.width && this.slots[slot] !== node) slot++;
    assert(slot < base + this.width, `node ${node} does not hold bucket ${bucket}`);
    const list = this.hostedSlots[node] as number[];
    const at = this.position[slot];
    const last = list.pop() as number;
    if (last !== slot) {
      list[at] = last;
      this.position[last] = at;
    }
    this.position[slot] = -1;
    this.slots[slot] = -1;
    this.fresh[slot] = 0;
    this.size[bucket] = this.size[bucket] - 1;
    this.count[node] = this.count[node] - 1;
  }
}
