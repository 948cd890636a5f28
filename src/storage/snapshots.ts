/**
 * Snapshots: consistent read-only views of this node's buckets (DESIGN.md 4.9). A snapshot pins,
 * for every bucket, the generation and applied index current when it was opened. Every version a
 * read at a pin can see is kept (mvcc.ts), and a pinned generation's rows are not deleted, until
 * the snapshot is released.
 *
 * A snapshot never sees part of an entry or of a group-commit batch: entries are applied to the
 * index synchronously, a whole batch at a time, and a snapshot is opened between two batches.
 */
import { assert } from '../core/lib/assert.js';
import type { BucketId, LogIndex } from '../core/lib/ids.js';

/** What a snapshot pins in one bucket. */
export interface Pin {
  readonly generation: number;
  readonly version: number;
}

/** A consistent read-only view; pass it to reads, then release it. */
export class Snapshot {
  private releasedFlag = false;

  /** @internal Created by the engine's `openSnapshot()`. */
  constructor(
    readonly id: number,
    private readonly pins: ReadonlyMap<number, Pin>,
    private readonly onRelease: (snapshot: Snapshot) => void,
  ) {}

  /** The version of `bucket` this snapshot reads (0 if the bucket was empty or absent). */
  version(bucket: BucketId): LogIndex {
    return (this.pins.get(bucket)?.version ?? 0) as LogIndex;
  }

  /** @internal The pin of `bucket`, or undefined when the bucket did not exist. */
  pin(bucket: number): Pin | undefined {
    return this.pins.get(bucket);
  }

  /** @internal Every pin, by bucket. */
  allPins(): ReadonlyMap<number, Pin> {
    return this.pins;
  }

  get released(): boolean {
    return this.releasedFlag;
  }

  /** Releases the snapshot; its versions become garbage unless another snapshot pins them. */
  release(): void {
    if (this.releasedFlag) return;
    this.releasedFlag = true;
    this.onRelease(this);
  }
}

/** The open snapshots and, per (bucket, generation), the sorted versions they pin. */
export class SnapshotRegistry {
  private readonly open = new Map<number, Snapshot>();
  /** Per "bucket:generation", how many open snapshots pin each version. */
  private readonly pinCounts = new Map<string, Map<number, number>>();
  /** Sorted distinct versions per "bucket:generation", rebuilt lazily after a change. */
  private readonly pinSorted = new Map<string, readonly number[]>();
  private nextId = 1;

  constructor(
    private readonly snapshotsMax: number,
    /** Called after a release, so the engine can collect what became garbage. */
    private readonly released: () => void,
  ) {}

  get count(): number {
    return this.open.size;
  }

  /** Opens a snapshot with `pins`. The caller checks the `snapshotsMax` bound first. */
  create(pins: ReadonlyMap<number, Pin>): Snapshot {
    assert(this.open.size < this.snapshotsMax, 'too many snapshots');
    const snapshot = new Snapshot(this.nextId++, pins, (s) => this.remove(s));
    this.open.set(snapshot.id, snapshot);
    for (const [bucket, pin] of pins) this.countPin(bucket, pin, +1);
    return snapshot;
  }

  /** Whether another snapshot may be opened. */
  hasRoom(): boolean {
    return this.open.size < this.snapshotsMax;
  }

  /** Whether `snapshot` is open and belongs to this registry. */
  owns(snapshot: Snapshot): boolean {
    return this.open.get(snapshot.id) === snapshot;
  }

  /** The versions pinned in (bucket, generation), ascending and distinct. */
  pins(bucket: number, generation: number): readonly number[] {
    if (this.pinCounts.size === 0) return EMPTY;
    const key = `${bucket}:${generation}`;
    let sorted = this.pinSorted.get(key);
    if (sorted === undefined) {
      const counts = this.pinCounts.get(key);
      sorted = counts === undefined ? EMPTY : [...counts.keys()].sort((a, b) => a - b);
      this.pinSorted.set(key, sorted);
    }
    return sorted;
  }

  /** Whether some open snapshot pins (bucket, generation) at all. */
  pinsGeneration(bucket: number, generation: number): boolean {
    return this.pinCounts.has(`${bucket}:${generation}`);
  }

  /** Releases every snapshot (when the engine closes). */
  releaseAll(): void {
    for (const snapshot of [...this.open.values()]) snapshot.release();
  }

  private remove(snapshot: Snapshot): void {
    this.open.delete(snapshot.id);
    for (const [bucket, pin] of snapshot.allPins()) this.countPin(bucket, pin, -1);
    this.released();
  }

  private countPin(bucket: number, pin: Pin, delta: 1 | -1): void {
    const key = `${bucket}:${pin.generation}`;
    const counts = this.pinCounts.get(key) ?? new Map<number, number>();
    const n = (counts.get(pin.version) ?? 0) + delta;
    assert(n >= 0, 'pin count below zero');
    if (n === 0) counts.delete(pin.version);
    else counts.set(pin.version, n);
    if (counts.size === 0) this.pinCounts.delete(key);
    else this.pinCounts.set(key, counts);
    this.pinSorted.delete(key);
  }
}

const EMPTY: readonly number[] = [];
