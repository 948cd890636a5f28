/**
 * The Raft log as one node sees it: a snapshot (everything up to `offset`), then the entries after it,
 * of which a prefix is known durable (`stableIndex`) and the rest still waits to be persisted by the
 * driver. It also tracks the commit and apply points and the configuration at every point of the log.
 *
 * Indexes: `offset` is the snapshot's index (0 without one); entries hold `offset+1 ..= lastIndex`.
 *
 * Invariants (asserted):
 * - applied ≤ committed ≤ lastIndex, and `committed` never decreases;
 * - an entry at or below `committed` is never replaced (a committed entry is forever);
 * - terms never decrease along the log;
 * - `stableIndex` ≤ lastIndex; entries ≤ stableIndex are durable (unless a received snapshot is
 *   still waiting to be persisted, while which nothing is applied).
 */
import { assert } from '../lib/assert.js';
import { logIndex, term as makeTerm, type LogIndex, type Term } from '../lib/ids.js';
import { decodeConfigEntry, emptyConfig } from './config-change.js';
import type { ConfigState, Entry, PersistentState, Snapshot } from './types.js';

interface ConfigPoint {
  readonly index: LogIndex;
  readonly config: ConfigState;
}

/** Payload bytes of entries, for batching limits. */
export function entryBytes(entry: Entry): number {
  return entry.data.length;
}

export class RaftLog {
  /** The latest snapshot, durable or not; null before the first compaction. */
  snapshot: Snapshot | null;
  /** A snapshot received from a leader that the driver has not persisted yet. */
  unstableSnapshot: Snapshot | null = null;
  private offset: LogIndex;
  private offsetTerm: Term;
  private entries: Entry[] = [];
  /** Entries up to here have been persisted by the driver. */
  stableIndex: LogIndex;
  /** The highest index known committed. */
  committed: LogIndex;
  /** The highest index the application has applied (handed out and acknowledged). */
  applied: LogIndex;
  private baseConfig: ConfigState;
  /** Config entries after the snapshot, in log order. */
  private configs: ConfigPoint[] = [];

  constructor(state: PersistentState, applied: LogIndex | null = null) {
    const { snapshot, hardState } = state;
    this.snapshot = snapshot;
    this.offset = snapshot?.meta.index ?? logIndex(0);
    this.offsetTerm = snapshot?.meta.term ?? makeTerm(0);
    this.baseConfig = snapshot?.meta.config ?? emptyConfig;
    this.appendUnchecked(state.entries.filter((e) => e.index > this.offset));
    this.stableIndex = this.lastIndex();
    assert(hardState.commit <= this.lastIndex(), 'recovered commit index within the durable log');
    this.committed = logIndex(Math.max(hardState.commit, this.offset));
    this.applied = applied ?? this.offset;
    assert(this.applied >= this.offset, 'applied covers the snapshot');
    assert(this.applied <= this.committed, 'applied ≤ committed after recovery');
  }

  /** The index of the first entry held (the one after the snapshot). */
  firstIndex(): LogIndex {
    return logIndex(this.offset + 1);
  }

  lastIndex(): LogIndex {
    return logIndex(this.offset + this.entries.length);
  }

  lastTerm(): Term {
    return this.term(this.lastIndex()) as Term;
  }

  /** The term of the entry at `index`; null when compacted away or beyond the end. */
  term(index: LogIndex): Term | null {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return null;
    return (this.entries[index - this.offset - 1] as Entry).term;
  }

  /** Whether the log holds an entry `(index, term)`. */
  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /** Raft's election restriction (5.4.1): is a log ending at (lastIndex, lastTerm) at least as new? */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** The entry at `index`, which must be held. */
  entry(index: LogIndex): Entry {
    assert(index > this.offset && index <= this.lastIndex(), `entry ${index} not held`);
    return this.entries[index - this.offset - 1] as Entry;
  }

  /** Entries [lo, hi), cut after `maxBytes` of payload but never empty when lo < hi. */
  slice(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    assert(lo > this.offset, `slice from ${lo}: compacted`);
    assert(hi <= this.lastIndex() + 1, `slice to ${hi}: beyond the log`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const entry = this.entries[i - this.offset - 1] as Entry;
      bytes += entryBytes(entry);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(entry);
    }
    return out;
  }

  /** Leader path: appends entries that directly follow the last one. Returns the new last index. */
  append(entries: readonly Entry[]): LogIndex {
    if (entries.length === 0) return this.lastIndex();
    assert((entries[0] as Entry).index === this.lastIndex() + 1, 'append continues the log');
    this.appendUnchecked(entries);
    return this.lastIndex();
  }

  /**
   * Follower path (AppendEntries): if the log holds `(prevIndex, prevTerm)`, keeps the entries that
   * agree, replaces the first conflicting one and everything after it, and advances the commit
   * index to min(commit, last new index). Returns the last new index, or null on a mismatch.
   */
  maybeAppend(
    prevIndex: LogIndex,
    prevTerm: Term,
    commit: LogIndex,
    entries: readonly Entry[],
  ): LogIndex | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = logIndex(prevIndex + entries.length);
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, `entry ${conflict} is committed: it is never replaced`);
      this.truncateAndAppend(entries.slice(conflict - prevIndex - 1));
    }
    this.commitTo(logIndex(Math.min(commit, lastNew)));
    return lastNew;
  }

  /**
   * The index of the first of `entries` that the log lacks or holds with another term; 0 when the
   * log already holds them all.
   */
  private findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (e.index <= this.offset) continue; // covered by the snapshot, hence committed and equal
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * For a rejected append at `(index, term)`: the largest index ≤ `index` whose term is ≤ `term`,
   * with its term (thesis 5.3's fast backtracking, as in etcd). Every entry above it either is absent
   * or has a term above `term`, so it cannot match the leader's entry there.
   */
  findConflictByTerm(index: LogIndex, term: Term): { index: LogIndex; term: Term } {
    let i = Math.min(index, this.lastIndex());
    for (; i > this.offset; i--) {
      const t = this.term(logIndex(i)) as Term;
      if (t <= term) return { index: logIndex(i), term: t };
    }
    return { index: this.offset, term: this.offsetTerm };
  }

  private truncateAndAppend(entries: readonly Entry[]): void {
    const first = (entries[0] as Entry).index;
    assert(first > this.offset, 'never truncate into the snapshot');
    assert(first <= this.lastIndex() + 1, 'truncation leaves no gap');
    this.entries.length = first - this.offset - 1;
    while ((this.configs.at(-1)?.index ?? 0) >= first) this.configs.pop();
    this.stableIndex = logIndex(Math.min(this.stableIndex, first - 1));
    this.appendUnchecked(entries);
  }

  private appendUnchecked(entries: readonly Entry[]): void {
    let prevTerm = this.lastTerm();
    let expected = this.lastIndex() + 1;
    for (const e of entries) {
      assert(e.index === expected, `entry ${e.index} out of place (expected ${expected})`);
      assert(e.term >= prevTerm, `entry ${e.index}: terms never decrease along the log`);
      this.entries.push(e);
      if (e.type === 'config') this.configs.push({ index: e.index, config: configOf(e) });
      prevTerm = e.term;
      expected += 1;
    }
  }

  /** Advances the commit index; never moves it back. */
  commitTo(index: LogIndex): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), `commit ${index} beyond the last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Records that the application has applied up to `index`. */
  appliedTo(index: LogIndex): void {
    if (index <= this.applied) return;
    assert(index <= this.committed, `applied ${index} beyond committed ${this.committed}`);
    this.applied = index;
  }

  /** Entries the driver has not persisted yet. */
  unstableEntries(): Entry[] {
    return this.entries.slice(this.stableIndex - this.offset);
  }

  /**
   * The driver has persisted entries up to `(index, term)`. Ignored if the log has since replaced
   * that entry (the newer one will be persisted by a later Ready).
   */
  stableTo(index: LogIndex, term: Term): void {
    if (index > this.stableIndex && this.matchTerm(index, term)) this.stableIndex = index;
  }

  /** Committed, durable entries the application has not been given yet, at most `maxBytes`. */
  nextCommitted(maxBytes: number): Entry[] {
    if (this.unstableSnapshot !== null) return [];
    assert(this.applied >= this.offset, 'the snapshot is applied before any later entry');
    const hi = Math.min(this.committed, this.stableIndex);
    if (hi <= this.applied) return [];
    return this.slice(logIndex(this.applied + 1), logIndex(hi + 1), maxBytes);
  }

  /**
   * Replaces the whole log with a snapshot received from the leader (InstallSnapshot). The caller
   * has checked that the log does not already hold the snapshot's last entry.
   */
  restore(snapshot: Snapshot): void {
    const { meta } = snapshot;
    assert(meta.index > this.committed, 'a restored snapshot is ahead of the commit index');
    this.snapshot = snapshot;
    this.unstableSnapshot = snapshot;
    this.offset = meta.index;
    this.offsetTerm = meta.term;
    this.entries = [];
    this.configs = [];
    this.baseConfig = meta.config;
    this.stableIndex = meta.index;
    this.committed = meta.index;
  }

  /**
   * Compacts the log up to `index` (which the application has applied) into a snapshot holding the
   * application's state `data`. Returns the snapshot, which the driver must persist.
   */
  compact(index: LogIndex, data: Uint8Array): Snapshot {
    assert(index > this.offset, `compact ${index}: already compacted to ${this.offset}`);
    assert(index <= this.applied, `compact ${index}: beyond applied ${this.applied}`);
    assert(this.unstableSnapshot === null, 'compact while a received snapshot is unpersisted');
    const meta = { index, term: this.term(index) as Term, config: this.configAt(index) };
    const snapshot: Snapshot = { meta, data };
    this.baseConfig = meta.config;
    this.configs = this.configs.filter((c) => c.index > index);
    this.entries = this.entries.slice(index - this.offset);
    this.offset = index;
    this.offsetTerm = meta.term;
    this.snapshot = snapshot;
    return snapshot;
  }

  /** The configuration in force at `index`: that of the last config entry at or before it. */
  configAt(index: LogIndex): ConfigState {
    for (let i = this.configs.length - 1; i >= 0; i--) {
      const point = this.configs[i] as ConfigPoint;
      if (point.index <= index) return point.config;
    }
    return this.baseConfig;
  }

  /** The latest configuration in the log, committed or not, and the index of its entry. */
  latestConfig(): ConfigPoint {
    return this.configs.at(-1) ?? { index: this.offset, config: this.baseConfig };
  }
}

function configOf(entry: Entry): ConfigState {
  return decodeConfigEntry(entry.data).config;
}
