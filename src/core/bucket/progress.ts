/**
 * The leader's view of one member's log (after etcd-raft's `tracker.Progress`).
 *
 * - `probe`: the leader does not know where the member's log matches its own; it sends one append
 *   at `next` and waits for the answer (resending it with each heartbeat).
 * - `replicate`: the logs match through `match`; the leader streams entries from `next` without
 *   waiting, at most `pipelineEntriesMax` beyond `match`.
 * - `snapshot`: the member is being backfilled from `sender`; entries after the image's base are
 *   streamed meanwhile for the member to buffer.
 */
import { assert } from '../lib/assert.js';
import { logIndex } from '../lib/ids.js';
import type { SnapshotSender } from './backfill.js';
import type { LogIndex, NodeId } from './types.js';

export type ProgressMode = 'probe' | 'replicate' | 'snapshot';

export class PeerProgress {
  /** The highest index known to be durable on the member and equal to the leader's. */
  match: LogIndex = logIndex(0);
  /** The next index to send. */
  next: LogIndex;
  mode: ProgressMode = 'probe';
  /** The tick at which `match` last grew (or the progress began). */
  progressTick: number;
  /** The tick at which entries were last streamed to the member. */
  sentTick: number;
  /** The transfer under way in `snapshot` mode. */
  sender: SnapshotSender | null = null;
  /** Whether `caught-up` has been reported for this learner in this epoch. */
  caughtUp = false;

  constructor(
    readonly node: NodeId,
    /** Whether the leader waits for this member (a follower) or not (a learner). */
    readonly waitedFor: boolean,
    next: LogIndex,
    now: number,
  ) {
    assert(next >= 1, 'the next index to send is at least 1');
    this.next = next;
    this.progressTick = now;
    this.sentTick = now;
  }

  /** The member acknowledged that its log matches through `match`. */
  acknowledge(match: LogIndex, now: number): void {
    if (match > this.match) {
      this.match = match;
      this.progressTick = now;
    }
    if (this.mode === 'snapshot' && this.sender !== null && match >= this.sender.baseIndex) {
      this.sender = null;
      this.mode = 'replicate';
    } else if (this.mode === 'probe') {
      this.mode = 'replicate';
    }
    if (this.next <= this.match) this.next = logIndex(this.match + 1);
  }

  /** The member's log did not match: probe again from `next`. */
  probeFrom(next: LogIndex): void {
    assert(next > this.match, `probe at ${next} at or below the match ${this.match}`);
    this.mode = 'probe';
    this.next = next;
  }

  /** Starts a backfill: entries after the image's base are sent while it streams. */
  startSnapshot(sender: SnapshotSender): void {
    this.mode = 'snapshot';
    this.sender = sender;
    this.next = logIndex(sender.baseIndex + 1);
  }

  /** The index after which the pipeline window starts: what the member is known to hold. */
  get windowStart(): LogIndex {
    return this.mode === 'snapshot' && this.sender !== null ? this.sender.baseIndex : this.match;
  }

  /** Entries that may still be sent before the pipeline is full. */
  window(pipelineEntriesMax: number): number {
    return Math.max(0, pipelineEntriesMax - (this.next - 1 - this.windowStart));
  }
}
