/**
 * The member side of replication: what a follower or a learner does with its leader's appends and
 * snapshot chunks. Handlers read guard → assertions → work; the guards (epoch fencing, "is this my
 * leader") are in replica.ts, which dispatches here only for the current leader's messages — or,
 * with the planted bug `bucket-no-epoch-fence`, for an older leader's too.
 *
 * Rules kept here:
 * - log matching: entries are appended only after (prevEpoch, prevIndex) matches; a conflicting
 *   tail is truncated (never below the commit index, asserted);
 * - an acknowledgement says "my log equals yours through `match`, durably": it is sent with the
 *   Ready that persists those entries;
 * - a follower of the current epoch grants the leader's lease with each acknowledgement; a learner
 *   never does (it is not waited for, and promises nothing);
 * - the commit index learned from the leader is capped at what this message proved to match.
 */
import { logIndex } from '../lib/ids.js';
import { SnapshotReceiver } from './backfill.js';
import type { ReplicaCore } from './replica-core.js';
import type {
  AppendAckMessage,
  AppendMessage,
  LeaseStamp,
  LogEntry,
  LogIndex,
  NodeId,
  SnapshotChunkMessage,
} from './types.js';

export class MemberState {
  private readonly receiver: SnapshotReceiver;

  constructor(private readonly core: ReplicaCore) {
    this.receiver = new SnapshotReceiver(core.options.backfillBufferEntriesMax);
  }

  /** Whether a snapshot is being received. */
  get backfilling(): boolean {
    return this.receiver.active;
  }

  /** An append from the leader (`current`: of this epoch; false only with the fencing bug). */
  onAppend(from: NodeId, m: AppendMessage, current: boolean): void {
    const core = this.core;
    const grant = current && core.role === 'follower' ? this.grantLease(m) : null;
    if (this.receiver.active) {
      this.receiver.buffer(m.entries);
      return this.ack(from, m, { ok: false, backfilling: true, grant });
    }
    let prevIndex = m.prevIndex;
    let entries = m.entries;
    if (prevIndex < core.log.baseIndex) {
      // Entries up to our snapshot base are committed and inside it: skip them.
      entries = entries.filter((e) => e.index > core.log.baseIndex);
      prevIndex = core.log.baseIndex;
    } else if (!core.log.matches(prevIndex, m.prevEpoch)) {
      const hint = core.log.hintBefore(prevIndex);
      return this.ack(from, m, { ok: false, rejected: prevIndex, hint, grant });
    }
    this.appendMatching(entries);
    const match = logIndex(Math.max(prevIndex, entries.at(-1)?.index ?? 0));
    core.commitTo(Math.min(m.commit, match));
    this.ack(from, m, { ok: true, match, grant });
  }

  /** Appends what the log lacks after a matching prefix, cutting a conflicting tail first. */
  private appendMatching(entries: readonly LogEntry[]): void {
    const log = this.core.log;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as LogEntry;
      const existing = log.epochAt(entry.index);
      if (existing === entry.epoch) continue;
      if (existing !== null) this.core.truncateAfter(logIndex(entry.index - 1));
      this.core.appendEntries(entries.slice(i));
      return;
    }
  }

  private grantLease(m: AppendMessage): LeaseStamp {
    this.core.promise.grant(m.epoch, this.core.now, this.core.options.promiseTicks);
    return m.stamp;
  }

  /** A chunk of a snapshot from the leader. */
  onSnapshotChunk(from: NodeId, m: SnapshotChunkMessage): void {
    const core = this.core;
    const have = core.log.matches(m.base.index, m.base.epoch)
      ? m.base.index
      : core.commitIndex >= m.base.index
        ? core.commitIndex
        : null;
    if (have !== null) {
      // Nothing to install: a duplicate of the last chunk, or the log got there meanwhile. Both
      // committed prefixes and matching entries equal the leader's log.
      this.snapshotAck(from, m, m.offset + m.items.length, true);
      return this.ack(from, null, { ok: true, match: have, grant: null });
    }
    const outcome = this.receiver.accept(m);
    switch (outcome.kind) {
      case 'ignored':
        // A chunk from the middle of a transfer this member does not have (it restarted): ask
        // for the transfer from its start.
        return this.snapshotAck(from, m, 0, false);
      case 'progress':
        return this.snapshotAck(from, m, outcome.next, false);
      case 'complete':
        core.installSnapshot(outcome.image);
        core.appendEntries(this.receiver.takeAfter(outcome.image.base.index));
        this.snapshotAck(from, m, outcome.image.items.length, true);
        return this.ack(from, null, { ok: true, match: core.log.lastIndex, grant: null });
    }
  }

  /** Forgets a transfer in progress (a new epoch began). */
  reset(): void {
    this.receiver.reset();
  }

  private snapshotAck(to: NodeId, m: SnapshotChunkMessage, next: number, installed: boolean): void {
    const core = this.core;
    core.send(to, {
      type: 'snapshot-ack',
      bucket: core.bucket,
      epoch: core.epoch,
      snapshot: m.snapshot,
      next,
      installed,
    });
  }

  private ack(
    to: NodeId,
    m: AppendMessage | null,
    a: {
      ok: boolean;
      match?: LogIndex;
      rejected?: LogIndex;
      hint?: LogIndex;
      backfilling?: boolean;
      grant: LeaseStamp | null;
    },
  ): void {
    const core = this.core;
    const message: AppendAckMessage = {
      type: 'append-ack',
      bucket: core.bucket,
      // Answer in the epoch of the message: a leader counts only acks of its own epoch.
      epoch: m?.epoch ?? core.epoch,
      ok: a.ok,
      match: a.match ?? logIndex(0),
      rejected: a.rejected ?? logIndex(0),
      hint: a.hint ?? core.log.lastIndex,
      empty: core.log.empty,
      backfilling: a.backfilling ?? false,
      grant: a.grant,
    };
    core.send(to, message);
  }
}
