/**
 * The state and duties of a node while it leads one term: a progress record per member, replication
 * with flow control, the commit rule, heartbeats, check-quorum, ReadIndex rounds and leadership
 * transfer. A `Leader` lives exactly as long as its term's leadership; stepping down discards it, so
 * no leader-only state can leak into a later role.
 *
 * Persist before send holds for the leader's own entries too: every message goes out in a `Ready`
 * after that Ready's entries are durable, and the leader counts itself towards a quorum only up to
 * its durable index (`selfStable`).
 */
import { assert } from '../lib/assert.js';
import { logIndex, type NodeId, type Term } from '../lib/ids.js';
import { Timeout } from '../lib/timeout.js';
import { members } from './config-change.js';
import { entryBytes, type RaftLog } from './log.js';
import type { RaftOptions } from './options.js';
import { Progress } from './progress.js';
import { committedIndex, majority, quorumActive } from './quorum.js';
import { ReadOnly } from './read-only.js';
import type {
  AppendResponseMessage,
  ConfigState,
  Entry,
  HeartbeatResponseMessage,
  Message,
  ReadState,
} from './types.js';

/** What a leader needs from the node it runs on. */
export interface LeaderContext {
  readonly id: NodeId;
  readonly term: Term;
  readonly options: RaftOptions;
  readonly log: RaftLog;
  /** The latest configuration in the log. */
  config(): ConfigState;
  /** Queues a message; it leaves in the next Ready, after that Ready is persisted. */
  send(message: Message): void;
  /** Hands a released local read to the application. */
  readState(state: ReadState): void;
}

/** Why a leader cannot start a ReadIndex round now. */
export type ReadIndexRefusal = 'NOT_READY' | 'TOO_MANY_READS' | 'DUPLICATE_CONTEXT';

export class Leader {
  private readonly progress = new Map<NodeId, Progress>();
  private readonly readOnly: ReadOnly;
  /** The target of a leadership transfer in progress; proposals are refused meanwhile. */
  transferee: NodeId | null = null;
  /** A transfer that has not finished within an election timeout is abandoned. */
  private readonly transferTimeout: Timeout;
  /** Payload bytes appended in this term and not yet committed (back-pressure on proposals). */
  uncommittedBytes = 0;

  constructor(private readonly ctx: LeaderContext) {
    this.readOnly = new ReadOnly(ctx.options.maxPendingReads);
    this.transferTimeout = new Timeout('transfer', ctx.options.electionTicks);
    this.onConfigChange(ctx.config());
    // The first check-quorum round counts only followers heard from in this term.
    this.resetRecentActive();
    this.selfStable();
  }

  /** Ids of every member with a progress record, ascending (iteration order feeds the output). */
  private ids(): NodeId[] {
    return [...this.progress.keys()].sort((a, b) => a - b);
  }

  /** The progress of `node` (for tests and status). */
  progressOf(node: NodeId): Progress | undefined {
    return this.progress.get(node);
  }

  /** Adds a record for each new member and drops those of removed ones. */
  onConfigChange(config: ConfigState): void {
    const wanted = members(config);
    for (const id of this.ids()) if (!wanted.includes(id)) this.progress.delete(id);
    for (const id of wanted) {
      if (this.progress.has(id)) continue;
      const { options, log } = this.ctx;
      const pr = new Progress(
        logIndex(log.lastIndex() + 1),
        options.maxInflightMessages,
        options.maxInflightBytes,
      );
      // A new member counts as active, so check-quorum does not depose the leader at once.
      pr.recentActive = true;
      this.progress.set(id, pr);
    }
    if (this.transferee !== null && !config.voters.includes(this.transferee)) this.abortTransfer();
  }

  /** The leader's own entries up to the log's stable index are durable: count them. */
  selfStable(): void {
    const self = this.progress.get(this.ctx.id);
    if (self !== undefined) self.maybeUpdate(this.ctx.log.stableIndex);
  }

  /** Sends every follower what it lacks, or an empty append carrying the commit index. */
  bcastAppend(): void {
    for (const id of this.ids()) if (id !== this.ctx.id) this.maybeSendAppend(id, true);
  }

  /** Sends an append (or a snapshot) to `to` if flow control allows; returns whether it sent. */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const { log, options } = this.ctx;
    const prevIndex = logIndex(pr.next - 1);
    assert(prevIndex <= log.lastIndex(), `follower ${to}: next ${pr.next} beyond the log`);
    const prevTerm = log.term(prevIndex);
    if (prevTerm === null) return this.sendSnapshot(to, pr);
    let entries: Entry[] = [];
    if (pr.next <= log.lastIndex()) {
      const room = Math.min(
        options.maxMessageBytes,
        Math.max(1, options.maxInflightBytes - pr.inflights.bytes),
      );
      entries = log.slice(pr.next, logIndex(log.lastIndex() + 1), room);
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.ctx.send({
      type: 'append',
      from: this.ctx.id,
      to,
      term: this.ctx.term,
      prevIndex,
      prevTerm,
      entries,
      commit: log.committed,
    });
    const bytes = entries.reduce((sum, e) => sum + entryBytes(e), 0);
    pr.sentEntries(logIndex(prevIndex + entries.length), entries.length, bytes);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    const snapshot = this.ctx.log.snapshot;
    assert(snapshot !== null, 'entries are compacted only into a snapshot');
    assert(this.ctx.log.unstableSnapshot === null, 'a leader has no unpersisted received snapshot');
    pr.becomeSnapshot(snapshot.meta.index);
    this.ctx.send({ type: 'snapshot', from: this.ctx.id, to, term: this.ctx.term, snapshot });
    return true;
  }

  /** Sends a heartbeat to every follower, carrying the newest pending read's context. */
  bcastHeartbeat(): void {
    const context = this.readOnly.lastContext();
    for (const id of this.ids()) {
      if (id === this.ctx.id) continue;
      const pr = this.progress.get(id) as Progress;
      // Never tell a follower to commit past what it is known to hold.
      const commit = logIndex(Math.min(pr.match, this.ctx.log.committed));
      this.ctx.send({
        type: 'heartbeat',
        from: this.ctx.id,
        to: id,
        term: this.ctx.term,
        commit,
        context,
      });
    }
  }

  /**
   * Raft's commit rule (5.4.2): the leader commits the largest index a majority of voters hold, but
   * only if that entry is of its own term; older entries are then committed with it. Counting
   * replicas of an older term's entry is unsafe (the paper's figure 8).
   */
  maybeCommit(): boolean {
    const { log, term, options } = this.ctx;
    const voters = this.ctx.config().voters;
    if (voters.length === 0) return false;
    const index = committedIndex(voters, (v) => this.progress.get(v)?.match ?? logIndex(0));
    if (index <= log.committed) return false;
    if (log.term(index) !== term && !options.bugs.has('raft-commit-old-term')) return false;
    const before = log.committed;
    log.commitTo(index);
    let freed = 0;
    for (let i = Math.max(before + 1, log.firstIndex()); i <= index; i++) {
      freed += entryBytes(log.entry(logIndex(i)));
    }
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - freed);
    return true;
  }

  /** Handles a follower's answer to an append or a snapshot. */
  onAppendResponse(m: AppendResponseMessage): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    if (m.reject) {
      let hint = m.hintIndex;
      if (m.hintTerm > 0) hint = this.ctx.log.findConflictByTerm(m.hintIndex, m.hintTerm).index;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.maybeSendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === 'probe')) return;
    if (pr.state === 'probe') {
      pr.becomeReplicate();
    } else if (pr.state === 'snapshot' && pr.match + 1 >= this.ctx.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) this.bcastAppend();
    else if (wasPaused) this.maybeSendAppend(m.from, true);
    // Pipelining: fill the window. Each send either pauses the follower or consumes log entries,
    // so the loop ends; the bound is a backstop.
    for (let i = 0; i < this.ctx.options.maxInflightMessages; i++) {
      if (!this.maybeSendAppend(m.from, false)) break;
    }
    if (m.from === this.transferee && pr.match === this.ctx.log.lastIndex()) {
      this.sendTimeoutNow(m.from);
    }
  }

  /** Handles a heartbeat's answer: liveness, a stuck window, and ReadIndex acknowledgements. */
  onHeartbeatResponse(m: HeartbeatResponseMessage): void {
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    pr.recentActive = true;
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.ctx.log.lastIndex()) this.maybeSendAppend(m.from, true);
    if (m.context === null) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks !== null && this.hasQuorum(acks)) this.releaseReads(m.context);
  }

  private hasQuorum(acks: ReadonlySet<NodeId>): boolean {
    const voters = this.ctx.config().voters;
    return voters.filter((v) => acks.has(v)).length >= majority(voters.length);
  }

  /**
   * Starts a ReadIndex round for `context` on behalf of `from` (this node or a follower). The read
   * may be served at the current commit index once a quorum confirms this leadership. Refused until
   * an entry of this term is committed: before that the commit index may lag entries that earlier
   * leaders committed.
   */
  readIndex(context: string, from: NodeId): ReadIndexRefusal | null {
    const { log, term, id } = this.ctx;
    if (log.term(log.committed) !== term) return 'NOT_READY';
    if (this.readOnly.has(context)) return 'DUPLICATE_CONTEXT';
    if (this.readOnly.full()) return 'TOO_MANY_READS';
    this.readOnly.add(context, log.committed, from, id);
    if (this.hasQuorum(new Set([id]))) this.releaseReads(context);
    else this.bcastHeartbeat();
    return null;
  }

  private releaseReads(context: string): void {
    for (const r of this.readOnly.advance(context)) {
      if (r.from === this.ctx.id) {
        this.ctx.readState({ index: r.index, context: r.context });
      } else {
        this.ctx.send({
          type: 'read-index-response',
          from: this.ctx.id,
          to: r.from,
          term: this.ctx.term,
          context: r.context,
          index: r.index,
        });
      }
    }
  }

  /** Check-quorum: whether a majority of voters (this node included) was heard from lately. */
  quorumActive(): boolean {
    return quorumActive(
      this.ctx.config().voters,
      (v) => v === this.ctx.id || this.progress.get(v)?.recentActive === true,
    );
  }

  /** Starts a new check-quorum round. */
  resetRecentActive(): void {
    for (const pr of this.progress.values()) pr.recentActive = false;
  }

  /** Resends snapshots that were not acknowledged in time (the message may have been lost). */
  tickSnapshots(): void {
    for (const id of this.ids()) {
      const pr = this.progress.get(id) as Progress;
      if (pr.state !== 'snapshot') continue;
      pr.snapshotTicks += 1;
      if (pr.snapshotTicks < this.ctx.options.snapshotRetryTicks) continue;
      pr.becomeProbe();
      this.maybeSendAppend(id, true);
    }
  }

  /** Starts handing leadership to `to`, a voter: once its log is complete, it is told to campaign. */
  transfer(to: NodeId): void {
    assert(to !== this.ctx.id, 'transfer to self');
    if (this.transferee === to) return;
    this.transferee = to;
    this.transferTimeout.start();
    const pr = this.progress.get(to);
    assert(pr !== undefined, 'transfer target has a progress record');
    if (pr.match === this.ctx.log.lastIndex()) this.sendTimeoutNow(to);
    else this.maybeSendAppend(to, true);
  }

  abortTransfer(): void {
    this.transferee = null;
    this.transferTimeout.stop();
  }

  /** Counts a tick against a transfer in progress; gives it up when it has taken too long. */
  tickTransfer(): void {
    this.transferTimeout.tick();
    if (this.transferTimeout.fired()) this.abortTransfer();
  }

  /** Tells `to` to campaign at once (leadership transfer). */
  sendTimeoutNow(to: NodeId): void {
    this.ctx.send({ type: 'timeout-now', from: this.ctx.id, to, term: this.ctx.term });
  }

  /** The voter (other than this node) with the most of the log, for a hand-over; ties go to the lowest id. */
  bestSuccessor(): NodeId | null {
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const v of this.ctx.config().voters) {
      const match = this.progress.get(v)?.match ?? 0;
      if (v !== this.ctx.id && match > bestMatch) {
        best = v;
        bestMatch = match;
      }
    }
    return best;
  }

  /** Whether `bytes` more of proposals fit the uncommitted backlog. */
  canAccept(bytes: number): boolean {
    return this.uncommittedBytes + bytes <= this.ctx.options.maxUncommittedBytes;
  }

  /** Drops pending reads; their readers time out and retry elsewhere. */
  stop(): void {
    this.readOnly.reset();
  }
}
