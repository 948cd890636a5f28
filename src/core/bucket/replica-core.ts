/**
 * The state every role of a bucket replica shares: the fencing epoch and government, the log, the
 * state machine, the commit index, the lease promise, and the outbox from which `Ready`s are cut.
 *
 * Every durable change goes through here, so the order of `persist` ops always matches the order of
 * the in-memory changes, and `stableIndex` (the prefix of the log known to be on disk) stays exact:
 * it drops at once when the log is truncated, and grows only when a Ready is advanced.
 */
import { assert } from '../lib/assert.js';
import { epoch as toEpoch, logIndex } from '../lib/ids.js';
import { LeasePromise } from './lease.js';
import { BucketLog } from './log.js';
import { leaseTicksFor, type BucketBug, type ReplicaOptions } from './options.js';
import { KvStateMachine } from './state-machine.js';
import type { StoredBucket } from './store.js';
import {
  roleIn,
  type AppliedEntry,
  type BucketId,
  type BucketMessage,
  type ClientReply,
  type Epoch,
  type EntryPayload,
  type Government,
  type LogEntry,
  type LogIndex,
  type NodeId,
  type Outbound,
  type PersistOp,
  type Ready,
  type ReplicaEvent,
  type Role,
  type SnapshotImage,
} from './types.js';

const ORIGIN = { epoch: toEpoch(0), index: logIndex(0) };

export class ReplicaCore {
  /** The leader's lease in its own ticks (options.ts). */
  readonly leaseTicks: number;
  /** Ticks since this process booted. */
  now = 0;
  /** The newest epoch this replica knows; it never accepts an older one (unless a bug is planted). */
  epoch: Epoch;
  government: Government | null;
  readonly log: BucketLog;
  readonly state: KvStateMachine;
  /** Every entry up to here is committed (known from the leader, or counted by the leader). */
  commitIndex: LogIndex;
  /** The prefix of the in-memory log that is durable. */
  stableIndex: LogIndex;
  /** Promises given to leaders (lease.ts); a boot forgets them, so it starts with the boot promise. */
  readonly promise: LeasePromise;
  private truncatedSinceCut = Infinity;
  private persistOps: PersistOp[] = [];
  private messages: Outbound[] = [];
  private replies: ClientReply[] = [];
  private events: ReplicaEvent[] = [];
  private applied: AppliedEntry[] = [];

  constructor(
    readonly id: NodeId,
    readonly bucket: BucketId,
    /** Differs between any two boots of this node (see ReplicaInit.boot). */
    readonly boot: number,
    readonly options: ReplicaOptions,
    stored: StoredBucket,
  ) {
    this.leaseTicks = leaseTicksFor(options);
    this.epoch = stored.meta?.epoch ?? toEpoch(0);
    this.government = stored.meta?.government ?? null;
    this.log = new BucketLog(stored.snapshot?.base ?? ORIGIN, [...stored.entries]);
    this.state = new KvStateMachine({
      sessionsMax: options.sessionsMax,
      resultsMax: options.sessionResultsMax,
      resultsTotalMax: options.sessionResultsTotalMax,
    });
    if (stored.snapshot !== null) this.state.install(stored.snapshot);
    this.commitIndex = this.log.baseIndex;
    this.stableIndex = this.log.lastIndex;
    this.promise = LeasePromise.atBoot(0, options.promiseTicks);
    assert(stored.commit <= this.log.lastIndex, 'the stored commit index is inside the stored log');
    this.commitTo(stored.commit);
  }

  /** This replica's role in its government. */
  get role(): Role {
    return this.government === null ? 'none' : roleIn(this.government, this.id);
  }

  bug(name: BucketBug): boolean {
    return this.options.bugs.has(name);
  }

  // ---- durable changes ----

  /** Adopts a newer government (durably, before anything that depends on it is sent). */
  adopt(g: Government): void {
    assert(g.epoch > this.epoch, `government ${g.epoch} is not newer than ${this.epoch}`);
    assert(g.bucket === this.bucket, 'a government of another bucket');
    this.epoch = g.epoch;
    this.government = g;
    this.persistOps.push({ op: 'meta', meta: { epoch: g.epoch, government: g } });
  }

  /** Leader only: appends a new entry of the current epoch. */
  appendNew(payload: EntryPayload): LogEntry {
    const entry: LogEntry = { epoch: this.epoch, index: logIndex(this.log.lastIndex + 1), payload };
    this.appendEntries([entry]);
    return entry;
  }

  /** Appends entries that continue the log. */
  appendEntries(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return;
    this.log.append(entries);
    this.persistOps.push({ op: 'append', entries });
  }

  /** Removes the entries after `index`. A committed entry is never removed. */
  truncateAfter(index: LogIndex): void {
    assert(
      index >= this.commitIndex,
      `truncating at ${index} would lose commit ${this.commitIndex}`,
    );
    this.log.truncateAfter(index);
    this.persistOps.push({ op: 'truncate', after: index });
    this.stableIndex = logIndex(Math.min(this.stableIndex, index));
    this.truncatedSinceCut = Math.min(this.truncatedSinceCut, index);
  }

  /** Replaces log and state with a snapshot image (backfill). */
  installSnapshot(image: SnapshotImage): void {
    assert(image.base.index >= this.commitIndex, 'a snapshot never moves the commit index back');
    this.log.reset(image.base);
    this.state.install(image);
    this.commitIndex = image.base.index;
    this.persistOps.push({ op: 'snapshot', image });
    this.stableIndex = logIndex(Math.min(this.stableIndex, image.base.index));
    this.truncatedSinceCut = Math.min(this.truncatedSinceCut, image.base.index);
  }

  /** Deletes the bucket's data (this member was excluded by the current edict). */
  dropData(): void {
    this.log.reset(ORIGIN);
    this.state.install({ base: ORIGIN, items: [], sessions: [], sessionFloor: 0 });
    this.commitIndex = logIndex(0);
    this.stableIndex = logIndex(0);
    this.truncatedSinceCut = 0;
    this.persistOps.push({ op: 'drop' });
  }

  /** Advances the commit index and applies what it covers; returns the applied entries. */
  commitTo(index: number): AppliedEntry[] {
    if (index <= this.commitIndex) return [];
    assert(index <= this.log.lastIndex, `commit ${index} past the log end ${this.log.lastIndex}`);
    this.commitIndex = logIndex(index);
    this.persistOps.push({ op: 'commit', index: this.commitIndex });
    const applied: AppliedEntry[] = [];
    for (let i = this.state.applied.index + 1; i <= this.commitIndex; i++) {
      applied.push(this.state.apply(this.log.entry(i)));
    }
    this.applied.push(...applied);
    return applied;
  }

  /**
   * Drops applied entries from the in-memory log once it holds more than twice what
   * `logRetainEntries`/`logRetainBytes` keep, never past `limit` (what the leader's members still
   * need). Memory only: the store keeps every entry, and a boot rebuilds the log from it.
   */
  compactLog(limit: number): void {
    const { logRetainEntries, logRetainBytes } = this.options;
    const log = this.log;
    if (log.length <= 2 * logRetainEntries && log.bytes <= 2 * logRetainBytes) return;
    // Applied entries only: their effect is in the state machine (applied = commit here).
    const upTo = Math.min(limit, this.state.applied.index, this.commitIndex);
    const to = log.compactionPoint(upTo, logRetainEntries, logRetainBytes);
    if (to > log.baseIndex) log.compactTo(to);
  }

  // ---- effects ----

  send(to: NodeId, message: BucketMessage): void {
    assert(to !== this.id, 'a replica never messages itself');
    this.messages.push({ to, message });
  }

  reply(reply: ClientReply): void {
    this.replies.push(reply);
  }

  emit(event: ReplicaEvent): void {
    this.events.push(event);
  }

  /** Whether a Ready would carry anything. */
  hasWork(): boolean {
    return (
      this.persistOps.length > 0 ||
      this.messages.length > 0 ||
      this.replies.length > 0 ||
      this.events.length > 0 ||
      this.applied.length > 0
    );
  }

  /** Takes everything accumulated into a Ready. */
  cut(): Ready {
    const ready: Ready = {
      persist: this.persistOps,
      messages: this.messages,
      replies: this.replies,
      events: this.events,
      applied: this.applied,
      lastIndex: this.log.lastIndex,
    };
    this.persistOps = [];
    this.messages = [];
    this.replies = [];
    this.events = [];
    this.applied = [];
    this.truncatedSinceCut = Infinity;
    return ready;
  }

  /** The Ready's persist is durable: the log is stable through its last index (unless cut since). */
  advance(ready: Ready): void {
    const stable = Math.min(ready.lastIndex, this.truncatedSinceCut, this.log.lastIndex);
    this.stableIndex = logIndex(Math.max(this.stableIndex, stable));
  }
}
