/**
 * Backfill: copying a bucket's state to a member whose log is empty (a new learner) or behind what
 * the leader still holds in its log, while writes continue (DESIGN.md 4.5, seed 003 "expand").
 *
 * Sequence (docs/bucket-replication.md):
 * 1. The leader takes an image of its state machine at its applied position `base` and streams it
 *    in chunks of keys (at most `snapshotChunkItemsMax` keys and `snapshotChunkBytesMax` bytes, but
 *    at least one key whatever its size), one chunk in flight, each acknowledged with the next
 *    offset expected (`snapshot-ack`); a chunk not acknowledged within `resendTicks` is sent again.
 *    The sessions ride on the last chunk, or follow in a chunk of their own when they do not fit.
 * 2. Meanwhile the leader keeps sending the entries after `base` as usual. The member buffers them
 *    (bounded) instead of rejecting them: they are the leader's log in this epoch, so they continue
 *    the image exactly.
 * 3. On the last chunk the member installs the image durably (log reset to `base`), appends the
 *    buffered entries that follow `base` without a gap, and acknowledges its new log end with an
 *    ordinary `append-ack`. The leader resends whatever the buffer missed.
 * 4. The leader reports `caught-up` for a learner once its acknowledged log reaches the leader's
 *    commit index; the conductor may then promote it.
 * Everything is per epoch: a new government abandons transfers in flight.
 */
import { assert } from '../lib/assert.js';
import type {
  BucketId,
  Epoch,
  LogEntry,
  LogIndex,
  SnapshotAckMessage,
  SnapshotChunkMessage,
  SnapshotImage,
  SnapshotItem,
} from './types.js';
import { sessionsBytes, snapshotItemBytes, takeWithin } from './wire-size.js';

/** How much one chunk may carry: keys, and bytes (wire-size.ts); always at least one key. */
export interface ChunkLimits {
  readonly itemsMax: number;
  readonly bytesMax: number;
}

/** The leader's side of one transfer to one member. */
export class SnapshotSender {
  /** Items the member has acknowledged. */
  private acked = 0;
  private sentTick: number;
  /** What the image's sessions add to the last chunk. */
  private readonly sessionsBytes: number;

  constructor(
    readonly bucket: BucketId,
    readonly epoch: Epoch,
    /** Distinguishes transfers within an epoch. */
    readonly id: number,
    readonly image: SnapshotImage,
    private readonly limits: ChunkLimits,
    now: number,
  ) {
    assert(limits.itemsMax > 0, 'a chunk carries at least one key');
    assert(limits.bytesMax > 0, 'a chunk has room for at least one key');
    this.sentTick = now;
    this.sessionsBytes = sessionsBytes(image.sessions);
  }

  get baseIndex(): LogIndex {
    return this.image.base.index;
  }

  /** The chunk the member waits for next. */
  chunk(now: number): SnapshotChunkMessage {
    this.sentTick = now;
    const { items, bytes } = this.nextItems();
    // The sessions ride on the last chunk; when they do not fit beside its keys, a chunk of their
    // own follows (no keys, `done`).
    const done =
      this.acked + items.length >= this.image.items.length &&
      (items.length === 0 || bytes + this.sessionsBytes <= this.limits.bytesMax);
    return {
      type: 'snapshot-chunk',
      bucket: this.bucket,
      epoch: this.epoch,
      snapshot: this.id,
      base: this.image.base,
      offset: this.acked,
      items,
      sessions: done ? this.image.sessions : [],
      sessionFloor: this.image.sessionFloor,
      done,
    };
  }

  /**
   * The keys of the next chunk from `acked` on: at most `itemsMax` of them and `bytesMax` bytes,
   * but at least one key while any is left, whatever its size.
   */
  private nextItems(): { items: SnapshotItem[]; bytes: number } {
    const { count, bytes } = takeWithin(this.image.items, this.acked, snapshotItemBytes, {
      countMax: this.limits.itemsMax,
      bytesMax: this.limits.bytesMax,
      firstBytesMax: Infinity,
    });
    return { items: this.image.items.slice(this.acked, this.acked + count), bytes };
  }

  /**
   * Records an acknowledgement; returns whether a chunk is due now. The member's count is the truth:
   * it may also move back (the member restarted the transfer), which only costs a resend.
   */
  onAck(m: SnapshotAckMessage): boolean {
    if (m.snapshot !== this.id || m.installed) return false;
    if (m.next === this.acked || m.next > this.image.items.length) return false;
    this.acked = m.next;
    return true;
  }

  /** Whether the chunk in flight is overdue at tick `now`. */
  overdue(now: number, resendTicks: number): boolean {
    return now - this.sentTick >= resendTicks;
  }
}

/** What a member makes of a chunk. */
export type ChunkOutcome =
  | { readonly kind: 'ignored' }
  | { readonly kind: 'progress'; readonly next: number }
  | { readonly kind: 'complete'; readonly image: SnapshotImage };

/** The member's side: the image being assembled, and the entries buffered meanwhile. */
export class SnapshotReceiver {
  private id = -1;
  private base = -1;
  private baseEpoch = -1;
  private items: SnapshotChunkMessage['items'][number][] = [];
  private readonly buffered = new Map<number, LogEntry>();

  constructor(private readonly bufferMax: number) {
    assert(bufferMax > 0, 'a backfill buffers at least one entry');
  }

  /** Whether a transfer is under way (appends are buffered, not matched). */
  get active(): boolean {
    return this.id !== -1;
  }

  /**
   * Takes one chunk. Chunks come in order; the first chunk of another transfer (another id or
   * another base) starts over. The image at a base is a function of the log up to it, so two
   * transfers with one base carry the same keys.
   */
  accept(m: SnapshotChunkMessage): ChunkOutcome {
    if (m.snapshot !== this.id || m.base.index !== this.base || m.base.epoch !== this.baseEpoch) {
      if (m.offset !== 0) return { kind: 'ignored' };
      this.id = m.snapshot;
      this.base = m.base.index;
      this.baseEpoch = m.base.epoch;
      this.items = [];
    }
    if (m.offset !== this.items.length) return { kind: 'progress', next: this.items.length };
    this.items.push(...m.items);
    if (!m.done) return { kind: 'progress', next: this.items.length };
    const image: SnapshotImage = {
      base: m.base,
      items: this.items,
      sessions: m.sessions,
      sessionFloor: m.sessionFloor,
    };
    this.forgetTransfer();
    return { kind: 'complete', image };
  }

  /** Buffers entries that arrived during the transfer, up to the bound. */
  buffer(entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      if (this.buffered.size >= this.bufferMax) return;
      this.buffered.set(entry.index, entry);
    }
  }

  /** The buffered entries that continue `base` without a gap; empties the buffer. */
  takeAfter(base: LogIndex): LogEntry[] {
    const run: LogEntry[] = [];
    for (let i = base + 1; this.buffered.has(i); i++) run.push(this.buffered.get(i) as LogEntry);
    this.buffered.clear();
    return run;
  }

  /** Forgets everything (a new epoch began). */
  reset(): void {
    this.forgetTransfer();
    this.buffered.clear();
  }

  private forgetTransfer(): void {
    this.id = -1;
    this.base = -1;
    this.baseEpoch = -1;
    this.items = [];
  }
}
