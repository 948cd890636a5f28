/**
 * What a leader knows about each follower's log, and how it paces replication to it (after etcd's
 * `tracker` package).
 *
 * States:
 * - `probe`: the leader does not know where the follower's log matches its own. It sends one append
 *   at a time and waits for the answer (or the next heartbeat) before it sends another.
 * - `replicate`: the follower is known to match up to `match`. The leader streams appends
 *   optimistically (pipelining), advancing `next` at send time, up to a window of
 *   `maxInflightMessages` messages and `maxInflightBytes` bytes (flow control).
 * - `snapshot`: the follower needs entries the leader has compacted; a snapshot is on its way and
 *   nothing else is sent until the follower reports it installed, or the retry timer fires.
 *
 * Invariant: match < next.
 */
import { assert } from '../lib/assert.js';
import { logIndex, type LogIndex } from '../lib/ids.js';

/** A replication state of one follower; see the module comment. */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded window of append messages in flight, each remembered by its last index and size. */
export class Inflights {
  private readonly lastIndexes: LogIndex[] = [];
  private readonly sizes: number[] = [];
  /** Total payload bytes in flight. */
  bytes = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {
    assert(maxMessages > 0, 'inflight window holds at least one message');
  }

  get count(): number {
    return this.lastIndexes.length;
  }

  /** Whether no further message may be sent until some are acknowledged. */
  full(): boolean {
    return this.count >= this.maxMessages || this.bytes >= this.maxBytes;
  }

  /** Records a message whose last entry is `lastIndex`. Indexes must increase. */
  add(lastIndex: LogIndex, bytes: number): void {
    assert(!this.full(), 'inflight window overflow');
    assert(lastIndex > (this.lastIndexes.at(-1) ?? 0), 'inflight indexes increase');
    this.lastIndexes.push(lastIndex);
    this.sizes.push(bytes);
    this.bytes += bytes;
  }

  /** Frees every message whose last index is ≤ `index` (acknowledged). */
  freeLE(index: LogIndex): void {
    let n = 0;
    while (n < this.lastIndexes.length && (this.lastIndexes[n] as LogIndex) <= index) {
      this.bytes -= this.sizes[n] as number;
      n += 1;
    }
    this.lastIndexes.splice(0, n);
    this.sizes.splice(0, n);
  }

  /** Frees the oldest message: a heartbeat answer proves the link works though an ack was lost. */
  freeFirstOne(): void {
    const first = this.lastIndexes[0];
    if (first !== undefined) this.freeLE(first);
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizes.length = 0;
    this.bytes = 0;
  }
}

/** A leader's view of one follower (or learner). */
export class Progress {
  /** The highest index known to match the leader's log. */
  match: LogIndex;
  /** The next index to send. */
  next: LogIndex;
  state: ProgressState = 'probe';
  /** In probe state: an append is out and unanswered; send nothing more until it is. */
  probeSent = false;
  /** In snapshot state: the index of the snapshot sent. */
  pendingSnapshot: LogIndex = logIndex(0);
  /** In snapshot state: ticks since the snapshot was sent, for the retry. */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  readonly inflights: Inflights;

  constructor(next: LogIndex, maxInflightMessages: number, maxInflightBytes: number) {
    assert(next >= 1, 'next ≥ 1');
    this.match = logIndex(0);
    this.next = next;
    this.inflights = new Inflights(maxInflightMessages, maxInflightBytes);
  }

  becomeProbe(): void {
    // After a snapshot, resume from the snapshot's index; otherwise from just past `match`.
    const from =
      this.state === 'snapshot' ? Math.max(this.match, this.pendingSnapshot) : this.match;
    this.reset('probe');
    this.next = logIndex(from + 1);
  }

  becomeReplicate(): void {
    this.reset('replicate');
    this.next = logIndex(this.match + 1);
  }

  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.reset('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = logIndex(0);
    this.snapshotTicks = 0;
    this.inflights.reset();
  }

  /** An acknowledgement of `index`: returns whether it raised `match`. */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = logIndex(Math.max(this.next, index + 1));
    return updated;
  }

  /**
   * A rejection of an append at `rejected`; `hint` is where the follower suggests to probe next.
   * Returns whether the rejection was news (a stale or duplicated one is ignored).
   */
  maybeDecrTo(rejected: LogIndex, hint: LogIndex): boolean {
    if (this.state === 'replicate') {
      // Appends at or below `match` were already answered: this one is stale.
      if (rejected <= this.match) return false;
      this.next = logIndex(this.match + 1);
      return true;
    }
    // Probe (or snapshot): only the answer to the last probe counts.
    if (this.next - 1 !== rejected) return false;
    this.next = logIndex(Math.max(Math.min(rejected, hint + 1), this.match + 1));
    this.probeSent = false;
    return true;
  }

  /** Records the send of entries ending at `lastIndex` (`count` entries, `bytes` of payload). */
  sentEntries(lastIndex: LogIndex, count: number, bytes: number): void {
    switch (this.state) {
      case 'replicate':
        if (count > 0) {
          this.next = logIndex(lastIndex + 1);
          this.inflights.add(lastIndex, bytes);
        }
        return;
      case 'probe':
        this.probeSent = true;
        return;
      case 'snapshot':
        assert(false, 'no appends to a follower receiving a snapshot');
    }
  }

  /** Whether the leader must hold off sending appends to this follower. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}
