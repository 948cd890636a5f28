/**
 * A replica's in-memory view of its bucket log: a base (the position covered by the last installed
 * snapshot) followed by entries. The durable copy lives in the BucketStore; this one is rebuilt
 * from it at boot.
 *
 * Invariants (asserted):
 * - indexes are contiguous from base + 1;
 * - epochs never decrease along the log (an entry is written by the leader of its epoch, and a
 *   leader only appends after everything it inherited);
 * - log matching: two logs that hold an entry with the same (epoch, index) hold the same entries up
 *   to it. The append path keeps this by checking (prevEpoch, prevIndex) before appending.
 */
import { assert } from '../lib/assert.js';
import { epoch as toEpoch, logIndex } from '../lib/ids.js';
import type { Epoch, LogEntry, LogIndex, Position } from './types.js';

export class BucketLog {
  private base: Position;
  private entries: LogEntry[] = [];

  constructor(
    base: Position = { epoch: toEpoch(0), index: logIndex(0) },
    entries: LogEntry[] = [],
  ) {
    this.base = base;
    this.append(entries);
  }

  /** The position covered by the last snapshot; (0, 0) when none. */
  get basePosition(): Position {
    return this.base;
  }

  get baseIndex(): LogIndex {
    return this.base.index;
  }

  get lastIndex(): LogIndex {
    return logIndex(this.base.index + this.entries.length);
  }

  get lastEpoch(): Epoch {
    return this.entries.at(-1)?.epoch ?? this.base.epoch;
  }

  /** Whether the log holds nothing at all: no snapshot and no entry. */
  get empty(): boolean {
    return this.base.index === 0 && this.entries.length === 0;
  }

  /** The epoch of the entry at `index`; the base's epoch at the base; null outside the log. */
  epochAt(index: number): Epoch | null {
    if (index === this.base.index) return this.base.epoch;
    if (index < this.base.index || index > this.lastIndex) return null;
    return (this.entries[index - this.base.index - 1] as LogEntry).epoch;
  }

  /** Whether the log holds the entry (epoch, index) (or has it inside its snapshot base). */
  matches(index: number, epoch: Epoch): boolean {
    return this.epochAt(index) === epoch;
  }

  /** The entry at `index`, which must be in the log (after the base). */
  entry(index: number): LogEntry {
    assert(
      index > this.base.index,
      `entry ${index} is inside the snapshot base ${this.base.index}`,
    );
    assert(index <= this.lastIndex, `entry ${index} is past the last index ${this.lastIndex}`);
    return this.entries[index - this.base.index - 1] as LogEntry;
  }

  /** Up to `max` entries from `from` on (fewer at the end of the log). */
  slice(from: number, max: number): LogEntry[] {
    assert(from > this.base.index, `slice from ${from} inside the snapshot base`);
    const start = from - this.base.index - 1;
    return this.entries.slice(start, start + max);
  }

  /** Appends entries that continue the log exactly. */
  append(entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      assert(entry.index === this.lastIndex + 1, `append ${entry.index} after ${this.lastIndex}`);
      assert(entry.epoch >= this.lastEpoch, `epoch ${entry.epoch} after ${this.lastEpoch}`);
      this.entries.push(entry);
    }
  }

  /** Removes every entry after `index` (which must not be inside the base). */
  truncateAfter(index: number): void {
    assert(index >= this.base.index, `truncate at ${index} inside the base ${this.base.index}`);
    assert(index <= this.lastIndex, `truncate at ${index} past the end ${this.lastIndex}`);
    this.entries.length = index - this.base.index;
  }

  /** Replaces the whole log with an empty one based at `base` (a snapshot was installed). */
  reset(base: Position): void {
    this.base = base;
    this.entries = [];
  }

  /**
   * Where a leader should look next after (epoch, index) did not match here: just before the run of
   * entries sharing the epoch this log has at `index` (they were all written by one leader and are
   * all wrong together), or at the end of this log when it is shorter.
   */
  hintBefore(index: number): LogIndex {
    if (index > this.lastIndex) return this.lastIndex;
    const epoch = this.epochAt(index);
    let i = index - 1;
    while (i > this.base.index && this.epochAt(i) === epoch) i -= 1;
    return logIndex(Math.max(i, this.base.index));
  }
}
