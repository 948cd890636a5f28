/**
 * One replica of one bucket: the deterministic, sans-I/O state machine of the half-Paxos
 * (DESIGN.md 4.5; docs/bucket-replication.md). Its driver feeds it edicts, ticks, peer messages and
 * client requests, and carries out the `Ready`s it returns:
 *
 * ```ts
 * replica.onGovernment(g);          // an edict, from the metadata log
 * replica.tick();                   // every tick of the local clock
 * replica.step(from, message);      // a peer's message
 * replica.request(clientRequest);   // a client's read or write
 * replica.pause(epoch);             // the conductor prepares a planned handover
 * const ready = replica.ready();    // persist → sync → send → reply → advance(ready)
 * ```
 *
 * Handlers read: guard (epoch fencing, sender) → assertions → work. Fencing: a message of an older
 * epoch is refused (answered `stale`); a message of a newer one carries its government, which is
 * adopted first. A replica never goes back to an older epoch: its epoch is persisted before anything
 * it does in that epoch leaves the node.
 */
import { assert } from '../lib/assert.js';
import { err, ok, type Result } from '../lib/result.js';
import { Backlog } from './backlog.js';
import { LeaderState, type HeldRequest } from './leader.js';
import { MemberState } from './member.js';
import { defaultReplicaOptions, validateReplicaOptions, type ReplicaOptions } from './options.js';
import { ReplicaCore } from './replica-core.js';
import type { StoredBucket } from './store.js';
import type {
  AppendMessage,
  BucketId,
  BucketMessage,
  ClientRequest,
  Epoch,
  Government,
  LogIndex,
  NodeId,
  Position,
  Ready,
  RequestErrorCode,
  Role,
  Versioned,
} from './types.js';

/** What a replica is built from: its identity, what storage recovered, and options. */
export interface ReplicaInit {
  readonly id: NodeId;
  readonly bucket: BucketId;
  /**
   * A number that differs between any two boots of this node's process: a durable boot counter,
   * or 53 random bits. Lease stamps carry it, so a grant addressed to an earlier boot is ignored.
   */
  readonly boot: number;
  /** The store's `load()`; an empty bucket for a node that never held it. */
  readonly stored: StoredBucket;
  readonly options?: ReplicaOptions;
}

/** A snapshot of a replica's state, for status pages, tests and the simulator's checkers. */
export interface ReplicaStatus {
  readonly id: NodeId;
  readonly epoch: Epoch;
  readonly role: Role;
  /** Leader only: activated, and whether the read lease holds now. */
  readonly activated: boolean;
  readonly leaseValid: boolean;
  readonly paused: boolean;
  readonly deposed: boolean;
  readonly commitIndex: LogIndex;
  readonly lastIndex: LogIndex;
  readonly stableIndex: LogIndex;
  readonly base: Position;
  readonly backlog: number;
  readonly backfilling: boolean;
}

/** The log as the outside may read it. */
export interface LogView {
  readonly lastIndex: LogIndex;
  readonly basePosition: Position;
  epochAt(index: number): Epoch | null;
}

export class BucketReplica {
  private readonly core: ReplicaCore;
  private readonly member: MemberState;
  private readonly backlog: Backlog<HeldRequest>;
  private leader: LeaderState | null = null;
  private inFlight: Ready | null = null;

  constructor(init: ReplicaInit) {
    const options = validateReplicaOptions(init.options ?? defaultReplicaOptions);
    assert(Number.isSafeInteger(init.boot), 'the boot id is a safe integer');
    this.core = new ReplicaCore(init.id, init.bucket, init.boot, options, init.stored);
    this.member = new MemberState(this.core);
    this.backlog = new Backlog(options.backlogMax, options.backlogTicksMax);
    if (this.core.role === 'leader') this.leader = new LeaderState(this.core, this.backlog, null);
  }

  get id(): NodeId {
    return this.core.id;
  }

  get epoch(): Epoch {
    return this.core.epoch;
  }

  get government(): Government | null {
    return this.core.government;
  }

  get role(): Role {
    return this.core.role;
  }

  get commitIndex(): LogIndex {
    return this.core.commitIndex;
  }

  get log(): LogView {
    return this.core.log;
  }

  /** The applied value of `key` on this replica (no linearizability: for checks and debugging). */
  peek(key: string): Versioned | null {
    return this.core.state.read(key);
  }

  status(): ReplicaStatus {
    const c = this.core;
    return {
      id: c.id,
      epoch: c.epoch,
      role: c.role,
      activated: this.leader?.activated ?? false,
      leaseValid: this.leader?.leaseValid() ?? false,
      paused: this.leader?.paused ?? false,
      deposed: this.leader?.deposed ?? false,
      commitIndex: c.commitIndex,
      lastIndex: c.log.lastIndex,
      stableIndex: c.stableIndex,
      base: c.log.basePosition,
      backlog: this.backlog.size,
      backfilling: this.member.backfilling,
    };
  }

  // ---- inputs ----

  /**
   * An edict: the government of `g.epoch`, committed in the metadata log. Older or repeated edicts
   * are ignored. A member that the edict excludes deletes its copy of the bucket now — never before.
   */
  onGovernment(g: Government): void {
    assert(
      g.bucket === this.core.bucket,
      `edict for bucket ${g.bucket} sent to ${this.core.bucket}`,
    );
    if (g.epoch <= this.core.epoch) return;
    this.adopt(g);
  }

  /** One tick of the local clock. */
  tick(): void {
    const core = this.core;
    core.now += 1;
    this.leader?.tick();
    core.compactLog(this.leader === null ? Infinity : this.leader.compactionLimit());
    for (const held of this.backlog.expire(core.now)) this.refuse(held.request, 'UNAVAILABLE');
    if (this.leader === null && this.backlog.size > 0) this.routeBacklog();
  }

  /** A client request that arrived at this node. Answered through a later Ready's replies. */
  request(request: ClientRequest): void {
    assert(request.bucket === this.core.bucket, 'a request for another bucket');
    if (request.kind === 'write') {
      const { seq, ackedBelow } = request;
      assert(Number.isSafeInteger(seq) && seq >= 1, `seq ${seq} is a positive integer`);
      assert(
        Number.isSafeInteger(ackedBelow) && ackedBelow >= 1 && ackedBelow <= seq,
        `ackedBelow ${ackedBelow} outside 1..${seq}`,
      );
    }
    this.route({ request, hops: 0 });
  }

  /**
   * The conductor prepares a planned handover: the leader of `epoch` holds new writes in its
   * backlog and emits `drained` once nothing is in flight. Refused unless this node leads `epoch`.
   */
  pause(epoch: Epoch): Result<void, 'STALE_EPOCH' | 'NOT_LEADER'> {
    if (epoch !== this.core.epoch) return err('STALE_EPOCH');
    if (this.leader === null) return err('NOT_LEADER');
    this.leader.pause();
    return ok(undefined);
  }

  /** A message from the peer `from`. */
  step(from: NodeId, m: BucketMessage): void {
    assert(
      m.bucket === this.core.bucket,
      `message for bucket ${m.bucket} sent to ${this.core.bucket}`,
    );
    assert(from !== this.core.id, 'a replica never hears from itself');
    switch (m.type) {
      case 'append':
        return this.onAppend(from, m);
      case 'append-ack':
        if (this.fenced(m.epoch)) return;
        return this.leader?.onAppendAck(from, m);
      case 'snapshot-chunk':
        return this.onSnapshotChunk(from, m);
      case 'snapshot-ack':
        if (this.fenced(m.epoch)) return;
        return this.leader?.onSnapshotAck(from, m);
      case 'stale':
        return this.leader?.onStale(m.epoch);
      case 'lease-release':
        return this.core.promise.release(m.epoch);
      case 'forward':
        return this.onForward(m.epoch, { request: m.request, hops: m.hops });
    }
  }

  /** The work to do, or null when there is none or the previous Ready is not advanced yet. */
  ready(): Ready | null {
    if (this.inFlight !== null) return null;
    this.leader?.flush();
    if (!this.core.hasWork()) return null;
    this.inFlight = this.core.cut();
    return this.inFlight;
  }

  /** The driver persisted, sent and delivered `ready`. */
  advance(ready: Ready): void {
    assert(ready === this.inFlight, 'advance() of a Ready that is not in flight');
    this.inFlight = null;
    this.core.advance(ready);
    this.leader?.onStable();
  }

  // ---- guards and handlers ----

  /** Whether a reply-type message of `epoch` must be dropped: not of this epoch (bug aside). */
  private fenced(epoch: Epoch): boolean {
    if (epoch === this.core.epoch) return false;
    return !(epoch < this.core.epoch && this.core.bug('bucket-no-epoch-fence'));
  }

  private onAppend(from: NodeId, m: AppendMessage): void {
    const core = this.core;
    if (m.epoch < core.epoch) {
      if (!core.bug('bucket-no-epoch-fence')) return this.sendStale(from);
      if (core.role === 'follower' || core.role === 'learner') this.member.onAppend(from, m, false);
      return;
    }
    assert(m.government.epoch === m.epoch, 'an append carries the government of its epoch');
    assert(m.government.leader === from, 'only the leader of an epoch appends in it');
    if (m.epoch > core.epoch) this.adopt(m.government);
    assert(core.government?.leader === from, 'one leader per epoch');
    const role = core.role;
    assert(role === 'follower' || role === 'learner', `append to a ${role} of epoch ${m.epoch}`);
    this.member.onAppend(from, m, true);
  }

  private onSnapshotChunk(from: NodeId, m: BucketMessage & { type: 'snapshot-chunk' }): void {
    const core = this.core;
    if (m.epoch < core.epoch) return this.sendStale(from);
    if (m.epoch > core.epoch) return; // the next append brings the government first
    assert(core.government?.leader === from, 'only the leader of an epoch sends snapshots in it');
    this.member.onSnapshotChunk(from, m);
  }

  private onForward(epoch: Epoch, held: HeldRequest): void {
    // The sender knows a newer government than this node: wait for its edict rather than hop back.
    if (epoch > this.core.epoch && this.leader === null) return this.hold(held);
    this.route(held);
  }

  private sendStale(to: NodeId): void {
    this.core.send(to, { type: 'stale', bucket: this.core.bucket, epoch: this.core.epoch });
  }

  // ---- governments ----

  private adopt(g: Government): void {
    const core = this.core;
    const wasMember = core.role !== 'none';
    const previous = this.leader;
    const carried = previous?.stepDown() ?? null;
    this.leader = null;
    if (previous !== null) {
      // This node serves nothing of the old epoch from now on: its followers may forget the lease.
      for (const f of previous.government.followers) {
        core.send(f, { type: 'lease-release', bucket: core.bucket, epoch: previous.epoch });
      }
    }
    this.member.reset();
    core.adopt(g);
    if (core.role === 'none' && wasMember) {
      core.dropData();
      core.emit({ kind: 'dropped', bucket: core.bucket, epoch: g.epoch });
    }
    if (core.role === 'leader') {
      this.leader = new LeaderState(core, this.backlog, carried?.waiters ?? null);
    } else if (carried !== null) {
      // Writes in flight go to the new leader as retries: its session table keeps them at most once.
      for (const w of carried.waiters.values()) this.hold({ request: w.request, hops: 0 });
    }
    for (const read of carried?.reads ?? []) this.hold(read);
    this.routeBacklog();
  }

  // ---- routing client requests ----

  /** Sends a request where it can be served: here if this node leads, else a hop to the leader. */
  private route(held: HeldRequest): void {
    if (this.leader !== null) return this.leader.admit(held);
    const target = this.core.government?.leader ?? null;
    if (target === null || target === this.core.id) return this.hold(held);
    if (held.hops >= this.core.options.hopsMax)
      return this.refuse(held.request, 'NOT_LEADER', target);
    this.core.send(target, {
      type: 'forward',
      bucket: this.core.bucket,
      epoch: this.core.epoch,
      request: held.request,
      hops: held.hops + 1,
    });
  }

  /** Holds a request until a leader is known (or the leader activates). */
  private hold(held: HeldRequest): void {
    if (!this.backlog.push(held, this.core.now)) this.refuse(held.request, 'BUSY');
  }

  private routeBacklog(): void {
    if (this.leader !== null) return this.leader.admitBacklog();
    const target = this.core.government?.leader ?? null;
    if (target === null || target === this.core.id) return;
    for (const held of this.backlog.drain()) this.route(held);
  }

  private refuse(request: ClientRequest, code: RequestErrorCode, hint: NodeId | null = null): void {
    const requestId = request.kind === 'read' ? request.requestId : request.seq;
    this.core.reply({
      clientId: request.clientId,
      kind: request.kind,
      requestId,
      body: { ok: false, code, leaderHint: hint ?? this.core.government?.leader ?? null },
    });
  }
}
