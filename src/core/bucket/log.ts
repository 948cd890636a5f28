/**
 * A replica's in-memory view of its bucket log: a base (the position covered by the last installed
 * snapshot, or by the last compaction) followed by entries. The durable copy lives in the
 * BucketStore; this one is rebuilt from it at boot. {@link BucketLog.compactTo} drops applied
 * entries from memory only (the state machine holds their effect); the store keeps them.
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
import { entryBytes } from './wire-size.js';

export class BucketLog {
  private base: Position;
  private entries: LogEntry[] = [];
  /** Estimated bytes of `entries` (wire-size.ts). */
  private entriesBytes = 0;

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

  /** Entries after the base. */
  get length(): number {
    return this.entries.length;
  }

  /** Estimated bytes of the entries after the base. */
  get bytes(): number {
    return this.entriesBytes;
  }

  /** Estimated bytes of the entries after `after` through `through`, both clamped to the log. */
  bytesBetween(after: number, through: number): number {
    const first = Math.max(after, this.base.index) + 1;
    const last = Math.min(through, this.lastIndex);
    if (first > last) return 0;
    if (first === this.base.index + 1 && last === this.lastIndex) return this.entriesBytes;
    let bytes = 0;
    for (const e of this.slice(first, last - first + 1)) bytes += entryBytes(e);
    return bytes;
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
      this.entriesBytes += entryBytes(entry);
    }
  }

  /** Removes every entry after `index` (which must not be inside the base). */
  truncateAfter(index: number): void {
    assert(index >= this.base.index, `truncate at ${index} inside the base ${this.base.index}`);
    assert(index <= this.lastIndex, `truncate at ${index} past the end ${this.lastIndex}`);
    const keep = index - this.base.index;
    for (let i = keep; i < this.entries.length; i++) {
      this.entriesBytes -= entryBytes(this.entries[i] as LogEntry);
    }
    this.entries.length = keep;
  }

  /** Replaces the whole log with an empty one based at `base` (a snapshot was installed). */
  reset(base: Position): void {
    this.base = base;
    this.entries = [];
    this.entriesBytes = 0;
  }

  /**
   * Drops the entries up to `index`, which becomes the base: the caller's state machine has
   * applied them, so the log no longer needs them to rebuild state, only to feed members, and a
   * member behind the new base is sent a snapshot instead.
   */
  compactTo(index: number): void {
    assert(index > this.base.index, `compact to ${index}, not after the base ${this.base.index}`);
    assert(index <= this.lastIndex, `compact to ${index} past the end ${this.lastIndex}`);
    const drop = index - this.base.index;
    for (let i = 0; i < drop; i++) this.entriesBytes -= entryBytes(this.entries[i] as LogEntry);
    this.base = { epoch: (this.entries[drop - 1] as LogEntry).epoch, index: logIndex(index) };
    this.entries = this.entries.slice(drop);
  }

  /**
   * The highest index up to `limit` whose compaction leaves at most `entriesMax` entries and
   * `bytesMax` bytes after it (the base when nothing needs to go).
   */
  compactionPoint(limit: number, entriesMax: number, bytesMax: number): LogIndex {
    let to = Math.max(this.base.index, this.lastIndex - entriesMax);
    let bytes = this.bytesBetween(to, this.lastIndex);
    while (bytes > bytesMax && to < this.lastIndex) {
      to += 1;
      bytes -= entryBytes(this.entries[to - this.base.index - 1] as LogEntry);
    }
    return logIndex(Math.max(this.base.index, Math.min(to, limit)));
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
