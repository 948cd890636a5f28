/**
 * The leader of one epoch (DESIGN.md 4.5). A new LeaderState is made for every epoch in which this
 * node leads, and thrown away when a newer edict arrives.
 *
 * Usurp / take over: the leader treats its whole log as committed. If its log holds nothing of its
 * epoch yet, it appends a `government` entry; the index of its last entry is the activation index.
 * It replicates its log to every member (members truncate conflicting tails), and once every
 * follower has acknowledged through the activation index, everything it inherited is committed.
 * It then *activates* — but not before its own lease promises to older leaders have run out
 * (lease.ts) — and only then serves: admits writes, answers reads under its lease.
 *
 * Write path: a write is numbered (epoch, index), appended (persisted before it is sent), streamed
 * to every follower and learner, and committed when every follower of this epoch has acknowledged it
 * durably (learners are not waited for). The commit index rides on the next append or heartbeat.
 * The reply goes out once the entry is applied.
 *
 * Pause: a paused leader holds new writes in the backlog and reports `drained` once everything it
 * appended is committed, so the conductor can hand over without any write in flight.
 */
import { assert } from '../lib/assert.js';
import { logIndex } from '../lib/ids.js';
import { Timeout } from '../lib/timeout.js';
import type { Backlog } from './backlog.js';
import { SnapshotSender } from './backfill.js';
import { LeaderLease } from './lease.js';
import { PeerProgress } from './progress.js';
import type { ReplicaCore } from './replica-core.js';
import { entryBytes, takeWithin } from './wire-size.js';
import type {
  AppendAckMessage,
  AppliedEntry,
  ClientId,
  ClientRequest,
  Epoch,
  Government,
  LogEntry,
  LogIndex,
  NodeId,
  ReplyBody,
  RequestErrorCode,
  SnapshotAckMessage,
} from './types.js';

/** A client request held by a replica, with the number of hops it took to get here. */
export interface HeldRequest {
  readonly request: ClientRequest;
  readonly hops: number;
}

type WriteRequest = Extract<ClientRequest, { kind: 'write' }>;

/** A write this leader appended and must answer when it is applied. */
interface Waiter {
  readonly seq: number;
  readonly request: WriteRequest;
}

export class LeaderState {
  readonly epoch: Epoch;
  readonly government: Government;
  /** The leader's last entry when it took over: once committed, it may activate. */
  readonly activationIndex: LogIndex;
  activated = false;
  /** A member answered from a newer epoch: this leader is deposed and serves nothing. */
  deposed = false;
  paused = false;
  private pausedAt = 0;
  private drainedReported = false;
  /** Members other than the leader, sorted by id (iteration order is part of determinism). */
  private readonly peers: PeerProgress[];
  private readonly lease: LeaderLease;
  /** Writes appended by this leader (or its predecessor on this node), by `clientId/seq`. */
  private readonly waiters: Map<string, Waiter>;
  private pendingReads: { readonly held: HeldRequest; readonly since: number }[] = [];
  private readonly heartbeat: Timeout;
  private readonly report: Timeout;
  private snapshots = 0;
  /** Entries were appended and not yet streamed (see flush). */
  private unsent = false;

  constructor(
    private readonly core: ReplicaCore,
    private readonly backlog: Backlog<HeldRequest>,
    carried: ReadonlyMap<string, Waiter> | null,
  ) {
    const g = core.government;
    assert(g !== null && g.leader === core.id, 'a leader state for the leader of the government');
    this.government = g;
    this.epoch = g.epoch;
    if (core.log.lastEpoch < g.epoch) core.appendNew({ kind: 'government', government: g });
    this.activationIndex = core.log.lastIndex;
    const next = logIndex(Math.max(1, this.activationIndex));
    this.peers = [
      ...g.followers.map((n) => [n, true] as const),
      ...g.learners.map((n) => [n, false] as const),
    ]
      .sort((a, b) => a[0] - b[0])
      .map(([node, waited]) => new PeerProgress(node, waited, next, core.now));
    this.lease = new LeaderLease(g.followers, core.leaseTicks);
    this.waiters = new Map(carried ?? []);
    this.heartbeat = new Timeout('heartbeat', core.options.heartbeatTicks);
    this.report = new Timeout('report', core.options.reportTicks);
    this.heartbeat.start();
    this.report.start();
    for (const p of this.peers) this.sendHeartbeat(p);
    this.maybeCommit();
  }

  // ---- client requests ----

  /** Serves, queues or refuses a client request that reached the leader. */
  admit(held: HeldRequest): void {
    const request = held.request;
    if (!this.serving(request.kind)) {
      if (!this.backlog.push(held, this.core.now)) this.refuse(request, 'BUSY');
      return;
    }
    if (request.kind === 'read') return this.read(held);
    return this.propose(request);
  }

  private serving(kind: 'read' | 'write'): boolean {
    return this.activated && !this.deposed && !(this.paused && kind === 'write');
  }

  private read(held: HeldRequest): void {
    const request = held.request;
    assert(request.kind === 'read', 'read() of a write');
    if (this.lease.valid(this.core.now)) {
      const value = this.core.state.read(request.key);
      return this.answer(request, { ok: true, kind: 'read', value });
    }
    if (this.pendingReads.length >= this.core.options.pendingReadsMax) {
      return this.refuse(request, 'BUSY');
    }
    this.pendingReads.push({ held, since: this.core.now });
  }

  /**
   * Proposes a write, unless the session table already answers it (the same rule as when applied,
   * sessions.ts) or it is in the log, not yet applied: then its waiter answers it once applied, and
   * the copy is dropped rather than proposed twice.
   */
  private propose(request: WriteRequest): void {
    const core = this.core;
    const { clientId, seq, ackedBelow, command } = request;
    const check = core.state.sessions.check(clientId, seq, ackedBelow);
    if (check.kind === 'duplicate') {
      return this.answer(request, { ok: true, kind: 'write', result: check.result });
    }
    if (check.kind === 'stale') return this.refuse(request, 'STALE_SEQ');
    if (check.kind === 'expired') return this.refuse(request, 'SESSION_EXPIRED');
    if (this.waiters.has(waiterKey(clientId, seq))) return;
    if (core.log.lastIndex - core.commitIndex >= core.options.uncommittedEntriesMax) {
      return this.refuse(request, 'BUSY');
    }
    core.appendNew({ kind: 'write', clientId, seq, ackedBelow, command });
    this.waiters.set(waiterKey(clientId, seq), { seq, request });
    this.unsent = true;
  }

  /**
   * Sends the entries appended since the last Ready was cut. Called when the next Ready is cut,
   * so every write proposed meanwhile (while the previous one was being persisted, too) travels in
   * one batch: group commit on the leader, one append per member.
   */
  flush(): void {
    if (!this.unsent) return;
    this.unsent = false;
    for (const p of this.peers) this.sendPending(p);
  }

  private answer(request: ClientRequest, body: ReplyBody): void {
    const requestId = request.kind === 'read' ? request.requestId : request.seq;
    this.core.reply({ clientId: request.clientId, kind: request.kind, requestId, body });
  }

  private refuse(request: ClientRequest, code: RequestErrorCode): void {
    this.answer(request, { ok: false, code, leaderHint: this.core.id });
  }

  /** Answers the writes this leader was waiting for, now applied. */
  private onApplied(applied: readonly AppliedEntry[]): void {
    for (const a of applied) {
      const payload = a.entry.payload;
      if (payload.kind !== 'write') continue;
      const key = waiterKey(payload.clientId, payload.seq);
      const waiter = this.waiters.get(key);
      if (waiter === undefined) continue;
      this.waiters.delete(key);
      const result = a.result;
      assert(result !== null, 'a write has a result');
      if (typeof result === 'string') this.refuse(waiter.request, result);
      else this.answer(waiter.request, { ok: true, kind: 'write', result });
    }
  }

  // ---- replication ----

  private peer(node: NodeId): PeerProgress | undefined {
    return this.peers.find((p) => p.node === node);
  }

  private sendAppend(to: NodeId, prevIndex: number, entries: readonly LogEntry[]): void {
    const core = this.core;
    const prevEpoch = core.log.epochAt(prevIndex);
    assert(prevEpoch !== null, `append after ${prevIndex}, which the leader's log does not hold`);
    core.send(to, {
      type: 'append',
      bucket: core.bucket,
      epoch: this.epoch,
      government: this.government,
      prevIndex: logIndex(prevIndex),
      prevEpoch,
      entries,
      commit: core.commitIndex,
      stamp: { boot: core.boot, tick: core.now },
    });
  }

  /**
   * Streams entries the member has not been sent yet, within the pipeline window: at most
   * `pipelineEntriesMax` entries and `pipelineBytesMax` bytes beyond what it acknowledged — but
   * one entry whatever its size when nothing is in flight, so that a maximal value still goes.
   */
  private sendPending(p: PeerProgress): void {
    if (p.mode === 'probe') return; // probes go out with heartbeats
    const { log, options } = this.core;
    // Compacted past what it acknowledged: its next heartbeat starts a snapshot.
    if (p.next - 1 < log.baseIndex) return;
    let inFlight = this.bytesInFlight(p);
    while (p.next <= log.lastIndex) {
      const room = p.window(options.pipelineEntriesMax);
      if (room === 0) return;
      const bytesRoom = inFlight === 0 ? Infinity : options.pipelineBytesMax - inFlight;
      const { entries, bytes } = this.batch(
        p.next,
        Math.min(options.appendEntriesMax, room),
        bytesRoom,
      );
      if (entries.length === 0) return;
      this.sendAppend(p.node, p.next - 1, entries);
      p.sentTick = this.core.now;
      p.next = logIndex(p.next + entries.length);
      inFlight += bytes;
    }
  }

  /**
   * Whether what is in flight to `p` is due to be resent: after `resendTicks` without an
   * acknowledgement. With a full `pipelineBytesMax` or more in flight, the wait is `resendTicks`
   * longer for each, and counts from the last copy sent too: moving and persisting 16 MiB takes
   * longer than a tick or two, and resending it at every heartbeat would only load the link and
   * the member with copies of what is still on its way.
   */
  private resendDue(p: PeerProgress): boolean {
    const { now, options } = this.core;
    const full = Math.floor(this.bytesInFlight(p) / options.pipelineBytesMax);
    if (full === 0) return now - p.progressTick >= options.resendTicks;
    return now - Math.max(p.progressTick, p.sentTick) >= options.resendTicks * (1 + full);
  }

  /** Bytes of the entries sent to `p` and not acknowledged (those its window counts). */
  private bytesInFlight(p: PeerProgress): number {
    return this.core.log.bytesBetween(p.windowStart, p.next - 1);
  }

  /**
   * Entries from `from` on for one append: at most `countMax` of them, `appendBytesMax` bytes
   * (wire-size.ts) and `roomBytes` (what the pipeline has left). The first entry needs only to fit
   * the room, so one larger than `appendBytesMax` goes, alone; with nothing in flight the room is
   * unbounded, so that a maximal value always goes.
   */
  private batch(
    from: number,
    countMax: number,
    roomBytes: number,
  ): { entries: LogEntry[]; bytes: number } {
    const candidates = this.core.log.slice(from, countMax);
    const { count, bytes } = takeWithin(candidates, 0, entryBytes, {
      countMax,
      bytesMax: Math.min(this.core.options.appendBytesMax, roomBytes),
      firstBytesMax: roomBytes,
    });
    return { entries: candidates.slice(0, count), bytes };
  }

  /** One heartbeat to one member: renews the lease, carries the commit index, resends if stuck. */
  private sendHeartbeat(p: PeerProgress): void {
    const { log, now, options } = this.core;
    switch (p.mode) {
      case 'snapshot': {
        const sender = p.sender as SnapshotSender;
        // The log was compacted past the image: the member could not continue from it.
        if (sender.baseIndex < log.baseIndex) return this.startSnapshot(p);
        if (sender.overdue(now, options.resendTicks)) this.core.send(p.node, sender.chunk(now));
        return this.sendAppend(p.node, sender.baseIndex, []);
      }
      case 'probe':
        if (p.next - 1 < log.baseIndex) return this.startSnapshot(p);
        return this.sendAppend(
          p.node,
          p.next - 1,
          this.batch(p.next, options.appendEntriesMax, Infinity).entries,
        );
      case 'replicate':
        if (p.match < log.baseIndex) return this.startSnapshot(p);
        if (p.next > p.match + 1 && this.resendDue(p)) {
          p.next = logIndex(p.match + 1); // nothing acknowledged for a while: resend
        }
        if (p.next === p.match + 1 && p.next <= log.lastIndex) return this.sendPending(p);
        return this.sendAppend(p.node, p.match, []);
    }
  }

  /** A member's acknowledgement or refusal. */
  onAppendAck(from: NodeId, m: AppendAckMessage): void {
    const p = this.peer(from);
    if (p === undefined) return;
    // A grant echoing a stamp of an earlier boot of this node counts for nothing: its tick count
    // belongs to a clock that no longer runs.
    if (m.grant !== null && m.grant.boot === this.core.boot && p.waitedFor) {
      this.lease.grant(from, m.grant.tick);
      this.serveReads();
    }
    if (m.backfilling) {
      // The member waits for chunks this leader is not sending (it restarted mid-transfer).
      if (p.mode !== 'snapshot') this.startSnapshot(p);
      return;
    }
    if (m.ok) {
      assert(m.match <= this.core.log.lastIndex, `ack of ${m.match} past the leader's log end`);
      p.acknowledge(m.match, this.core.now);
      this.maybeCommit();
      this.maybeReportCaughtUp(p);
      return this.sendPending(p);
    }
    if (p.mode === 'snapshot' || m.rejected <= p.match) return; // obsolete
    const { log, state } = this.core;
    if ((m.empty && state.applied.index > 0) || m.hint < log.baseIndex)
      return this.startSnapshot(p);
    p.probeFrom(logIndex(Math.max(p.match + 1, Math.min(m.rejected, m.hint + 1))));
    this.sendHeartbeat(p);
  }

  /** Begins a backfill of `p` from an image of the state machine at the applied position. */
  private startSnapshot(p: PeerProgress): void {
    const core = this.core;
    const image = core.state.image();
    assert(image.base.index >= core.log.baseIndex, 'the image covers the leader log base');
    this.snapshots += 1;
    const sender = new SnapshotSender(
      core.bucket,
      this.epoch,
      this.snapshots,
      image,
      {
        itemsMax: core.options.snapshotChunkItemsMax,
        bytesMax: core.options.snapshotChunkBytesMax,
      },
      core.now,
    );
    p.startSnapshot(sender);
    core.send(p.node, sender.chunk(core.now));
    this.sendPending(p);
  }

  onSnapshotAck(from: NodeId, m: SnapshotAckMessage): void {
    const p = this.peer(from);
    if (p === undefined || p.mode !== 'snapshot' || p.sender === null) return;
    if (p.sender.onAck(m)) this.core.send(from, p.sender.chunk(this.core.now));
  }

  /** Commits what every follower (and the leader's own disk) holds. */
  private maybeCommit(): void {
    const core = this.core;
    let commit: number = core.stableIndex;
    const matches = this.peers.filter((p) => p.waitedFor).map((p) => p.match);
    if (matches.length > 0) {
      // The planted bug counts one follower's acknowledgement as enough.
      const counted = core.bug('bucket-ack-before-all')
        ? Math.max(...matches)
        : Math.min(...matches);
      commit = Math.min(commit, counted);
    }
    if (commit <= core.commitIndex) return;
    this.onApplied(core.commitTo(commit));
    this.maybeActivate();
    this.maybeReportDrained();
  }

  /** The log may have become durable further. */
  onStable(): void {
    this.maybeCommit();
  }

  // ---- activation, leases, pause ----

  private maybeActivate(): void {
    const core = this.core;
    if (this.activated || this.deposed || core.commitIndex < this.activationIndex) return;
    if (core.promise.blocks(this.epoch, core.now)) return;
    this.activated = true;
    core.emit({ kind: 'activated', bucket: core.bucket, epoch: this.epoch });
    for (const p of this.peers) this.maybeReportCaughtUp(p);
    this.admitBacklog();
  }

  private maybeReportCaughtUp(p: PeerProgress): void {
    if (p.waitedFor || p.caughtUp || !this.activated) return;
    if (p.match < this.core.commitIndex) return;
    p.caughtUp = true;
    this.core.emit({
      kind: 'caught-up',
      bucket: this.core.bucket,
      epoch: this.epoch,
      node: p.node,
    });
  }

  /** Lets held requests in again (each one is held again if it still cannot be served). */
  admitBacklog(): void {
    for (const held of this.backlog.drain()) this.admit(held);
  }

  private serveReads(): void {
    if (this.pendingReads.length === 0 || !this.serving('read')) return;
    if (!this.lease.valid(this.core.now)) return;
    const reads = this.pendingReads;
    this.pendingReads = [];
    for (const { held } of reads) this.read(held);
  }

  /** Holds new writes until the handover edict (or `pauseTicksMax`); reports `drained`. */
  pause(): void {
    this.paused = true;
    this.pausedAt = this.core.now;
    this.drainedReported = false;
    this.maybeReportDrained();
  }

  private maybeReportDrained(): void {
    const core = this.core;
    if (!this.paused || this.drainedReported || core.commitIndex < core.log.lastIndex) return;
    this.drainedReported = true;
    core.emit({ kind: 'drained', bucket: core.bucket, epoch: this.epoch });
  }

  /** A member knows a newer epoch: stop serving until the edict arrives here too. */
  onStale(epoch: Epoch): void {
    if (epoch > this.epoch) this.deposed = true;
  }

  /**
   * How far the log may be compacted (ReplicaCore.compactLog): up to what every member is known to
   * hold — what it acknowledged, or the base of the snapshot it is being sent, after which it
   * needs the log. A member that lags by more than `logLaggardBytesMax` of log stops holding it
   * back and will get a snapshot (its next heartbeat finds it behind the base); a transfer holds
   * it back up to four times that, then starts again from a newer image.
   */
  compactionLimit(): number {
    const bytes = this.core.log.bytes;
    const laggards = this.core.options.logLaggardBytesMax;
    let limit = Infinity;
    for (const p of this.peers) {
      const transfer = p.mode === 'snapshot';
      if (bytes > (transfer ? 4 * laggards : laggards)) continue;
      limit = Math.min(limit, p.windowStart);
    }
    return limit;
  }

  tick(): void {
    const core = this.core;
    this.heartbeat.tick();
    if (this.heartbeat.fired()) {
      this.heartbeat.reset();
      for (const p of this.peers) this.sendHeartbeat(p);
    }
    this.report.tick();
    if (this.report.fired()) {
      this.report.reset();
      this.repeatReports();
    }
    if (this.paused && core.now - this.pausedAt >= core.options.pauseTicksMax) {
      this.paused = false;
      this.admitBacklog();
    }
    this.maybeActivate();
    this.serveReads();
    this.expireReads();
  }

  /** Reports are idempotent and may be lost on their way: repeat them. */
  private repeatReports(): void {
    const core = this.core;
    if (!this.activated) return;
    core.emit({ kind: 'activated', bucket: core.bucket, epoch: this.epoch });
    for (const p of this.peers) {
      if (p.caughtUp) {
        core.emit({ kind: 'caught-up', bucket: core.bucket, epoch: this.epoch, node: p.node });
      }
    }
  }

  private expireReads(): void {
    const { now, options } = this.core;
    const [expired, kept] = partition(
      this.pendingReads,
      (r) => now - r.since >= options.backlogTicksMax,
    );
    this.pendingReads = kept;
    for (const r of expired) this.refuse(r.held.request, 'UNAVAILABLE');
  }

  /**
   * This epoch is over. Returns what must be answered elsewhere: the writes in flight (their
   * entries may yet be committed by the next leader, which deduplicates them by session) and the
   * reads not served.
   */
  stepDown(): { waiters: Map<string, Waiter>; reads: HeldRequest[] } {
    return { waiters: new Map(this.waiters), reads: this.pendingReads.map((r) => r.held) };
  }

  /** For status: whether the lease holds now. */
  leaseValid(): boolean {
    return this.lease.valid(this.core.now);
  }

  /** The followers' acknowledged indexes, for status. */
  matches(): { node: NodeId; match: LogIndex; mode: PeerProgress['mode'] }[] {
    return this.peers.map((p) => ({ node: p.node, match: p.match, mode: p.mode }));
  }
}

function waiterKey(client: ClientId, seq: number): string {
  return `${client}/${seq}`;
}

function partition<T>(items: readonly T[], pred: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (pred(item) ? yes : no).push(item);
  return [yes, no];
}

export type { Waiter };
