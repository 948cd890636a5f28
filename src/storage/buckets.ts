/**
 * The state of every bucket this node stores: its current generation, its applied index, a
 * pending install, and garbage generations. A *generation* is one incarnation of a bucket's data:
 * dropping a bucket or installing a stream switches it to a fresh generation in one step, and the
 * old generation's rows are deleted in the background (unless an open snapshot still reads them).
 *
 * The durable fields (`BucketMeta`) are written at each checkpoint; `acceptedIndex` lives in memory
 * only: the highest index submitted to the log, so that entries are validated in order even
 * before the earlier ones are durable.
 */
import { assert } from '../core/lib/assert.js';
import type { IndexWrite } from './index-store.js';
import { Table } from './index-store.js';
import { bucketMetaKey, encodeBucketMeta, type BucketMeta } from './meta.js';

/** One bucket's state. */
export interface BucketState extends BucketMeta {
  readonly bucket: number;
  /** Highest entry index submitted (durable or not); >= appliedIndex. */
  acceptedIndex: number;
  /** The generation the next submitted entry belongs to (changes at submit time on a drop). */
  acceptedGeneration: number;
  /** Whether an install stream is being submitted now (in memory; see `installing`). */
  installActive: boolean;
}

/** Every bucket's state, with the changes to write at the next checkpoint. */
export class BucketTable {
  private readonly states = new Map<number, BucketState>();
  private readonly dirty = new Set<number>();

  /** Loads a bucket's durable state. */
  load(bucket: number, meta: BucketMeta): void {
    this.states.set(bucket, {
      bucket,
      ...meta,
      stale: [...meta.stale],
      acceptedIndex: meta.appliedIndex,
      acceptedGeneration: meta.generation,
      installActive: false,
    });
  }

  get(bucket: number): BucketState | undefined {
    return this.states.get(bucket);
  }

  /** The state of `bucket`, created empty (generation 1) when absent. */
  ensure(bucket: number): BucketState {
    let state = this.states.get(bucket);
    if (state === undefined) {
      state = {
        bucket,
        generation: 1,
        nextGeneration: 2,
        appliedIndex: 0,
        baseVersion: 0,
        installing: 0,
        stale: [],
        acceptedIndex: 0,
        acceptedGeneration: 1,
        installActive: false,
      };
      this.states.set(bucket, state);
      this.dirty.add(bucket);
    }
    return state;
  }

  /** Sets every bucket's submit-time fields from its applied state (after recovery). */
  resetAccepted(): void {
    for (const state of this.states.values()) {
      state.acceptedIndex = state.appliedIndex;
      state.acceptedGeneration = state.generation;
      state.installActive = false;
    }
  }

  /** Marks `bucket`'s durable state changed. */
  touch(bucket: number): void {
    assert(this.states.has(bucket), `touch of unknown bucket ${bucket}`);
    this.dirty.add(bucket);
  }

  /** All buckets, ascending. */
  all(): BucketState[] {
    return [...this.states.values()].sort((a, b) => a.bucket - b.bucket);
  }

  /** Adds `generation` to the bucket's garbage list. */
  markStale(state: BucketState, generation: number): void {
    if (generation !== 0 && !state.stale.includes(generation)) state.stale.push(generation);
    this.dirty.add(state.bucket);
  }

  /** Durable changes since the last call, as index writes for the next checkpoint. */
  takeWrites(): IndexWrite[] {
    const writes: IndexWrite[] = [];
    for (const bucket of [...this.dirty].sort((a, b) => a - b)) {
      const state = this.states.get(bucket) as BucketState;
      const meta: BucketMeta = {
        generation: state.generation,
        nextGeneration: state.nextGeneration,
        appliedIndex: state.appliedIndex,
        baseVersion: state.baseVersion,
        installing: state.installing,
        stale: state.stale,
      };
      writes.push({ table: Table.Meta, key: bucketMetaKey(bucket), value: encodeBucketMeta(meta) });
    }
    this.dirty.clear();
    return writes;
  }
}
