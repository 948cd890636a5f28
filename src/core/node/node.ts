/**
 * One Edict node as a deterministic, sans-I/O state machine (docs/ARCHITECTURE.md, "Node core"):
 * the metadata log's Raft member, the directory applied from it, the metadata leader's duties when
 * this node leads the log, and one bucket replica per bucket this node is a member of. The real
 * server (src/server/node.ts) and the simulator's `cluster` scenario drive the same code:
 *
 * ```ts
 * core.tick();                        // every 10 ms of the local clock
 * core.step(from, message);           // a peer's NodeMessage
 * core.submit(handle, request);       // a front end's request; answered in a later Ready
 * const ready = core.ready();         // persist ready.raft / ready.buckets / ready.compact,
 *                                     // sync, then send ready.messages and deliver ready.replies,
 * core.advance(ready);                // then advance
 * ```
 *
 * Routing: a request for a key goes to the local replica when this node leads the key's bucket;
 * otherwise the node hops it once to the leader the directory names, keeping the reply path (the
 * replicas themselves never hop: their replies could not find the way back). A hopped request that
 * finds no leader is answered WRONG_LEADER with a hint, so the client refreshes its routing table.
 *
 * Every request is answered exactly once: by the replica, by a peer's `answer`, or by TIMEOUT after
 * `requestTicksMax` (outcome unknown for writes). At most `pendingRequestsMax` wait at once.
 */
import type { StoredBucket } from '../bucket/store.js';
import { BucketReplica } from '../bucket/replica.js';
import { persistBytes } from '../bucket/wire-size.js';
import {
  clientId as toClientId,
  type ClientReply,
  type KvCommand,
  type Ready as BucketReady,
  type BucketMessage,
  type ReplicaEvent,
  writeOutcome,
} from '../bucket/types.js';
import { decodeCommand, type Command } from '../directory/commands.js';
import { Directory } from '../directory/directory.js';
import { bucketOf } from '../directory/routing.js';
import { members, type Government } from '../directory/types.js';
import { assert } from '../lib/assert.js';
import { bucketId, epoch as toEpoch, logIndex, type NodeId } from '../lib/ids.js';
import { KEY_BYTES_MAX, VALUE_BYTES_MAX } from '../lib/limits.js';
import type { Prng } from '../lib/prng.js';
import { Raft } from '../raft/raft.js';
import type { Entry, PersistentState, Ready as RaftReady, Snapshot } from '../raft/types.js';
import { MetaDuties } from './meta.js';
import { splitBundle } from './bundle.js';
import type {
  Destination,
  KvErrorCode,
  KvReply,
  KvRequest,
  NodeMessage,
  NodeOutbound,
  NodeProfile,
  Report,
  SessionStamp,
} from './messages.js';
import { defaultNodeOptions, validateNodeOptions, type NodeOptions } from './options.js';

export interface NodeInit {
  readonly id: NodeId;
  readonly profile: NodeProfile;
  /**
   * Differs between any two boots and grows: the directory fences reports of older incarnations.
   * The server uses its durable boot counter × 1,000,000; the node adds one each time the
   * directory declares this boot dead while it is still running.
   */
  readonly incarnation: number;
  /** The raft store's state (a founding node's store holds `bootstrapState(...)`). */
  readonly raft: PersistentState;
  /** Every bucket the bucket store holds, as loaded at boot. */
  readonly buckets: ReadonlyMap<number, StoredBucket>;
  /** Bootstrap parameters on a founding node (it proposes them once it leads); else null. */
  readonly founding: { readonly bucketCount: number; readonly replicas: number } | null;
  readonly prng: Prng;
  readonly options?: NodeOptions;
}

/** The work a node hands its driver; see the module comment for the order. */
export interface NodeReady {
  readonly raft: RaftReady | null;
  /** A metadata-log snapshot to store (the store may drop the entries it covers). */
  readonly compact: Snapshot | null;
  readonly buckets: readonly { readonly bucket: number; readonly ready: BucketReady }[];
  readonly messages: readonly NodeOutbound[];
  readonly replies: readonly { readonly handle: number; readonly reply: KvReply }[];
}

/**
 * Whether a Ready has anything to make durable before its messages may leave. A bucket's `commit`
 * ops do not count: the commit index is recorded lazily (it may lag after a crash, and is learnt
 * again from the leader or recounted from the acknowledgements), so the driver stages them with
 * the Ready and lets the next sync carry them — a write's answer does not wait for an fdatasync
 * of its commit index.
 */
export function needsPersist(r: NodeReady): boolean {
  if (r.compact !== null) return true;
  if (r.raft !== null && (r.raft.entries.length > 0 || r.raft.hardState !== null)) return true;
  if (r.raft?.snapshot != null) return true;
  return r.buckets.some((b) => b.ready.persist.some((op) => op.op !== 'commit'));
}

type Origin =
  | { readonly kind: 'local'; readonly handle: number }
  | { readonly kind: 'peer'; readonly node: NodeId; readonly ref: number }
  | { readonly kind: 'own-session' };

interface Pending {
  readonly origin: Origin;
  readonly deadline: number;
  /** Where the answer will come from, to clean up on timeout. */
  waitKey: string | null;
  /** The own-session seq a sessionless write holds, released when it is answered. */
  ownSeq: number | null;
  /** The peer it was hopped to, if any. */
  hoppedTo: NodeId | null;
  /** Bytes of the value it writes (0 for anything but a put), counted in `pendingWriteBytes`. */
  readonly writeBytes: number;
}

/** The client id the node's reads carry: reads are not deduplicated, so any id does. */
const READS_CLIENT = toClientId(1);

const fail = (code: KvErrorCode, message: string, leaderHint: NodeId | null = null): KvReply => ({
  ok: false,
  code,
  message,
  leaderHint,
});

/** A key as the replicas hold it: one char per byte, so any byte string round-trips. */
export function keyString(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < key.length; i += 4096) {
    s += String.fromCharCode(...key.subarray(i, i + 4096));
  }
  return s;
}

export class NodeCore {
  readonly id: NodeId;
  readonly options: NodeOptions;
  private incarnation: number;
  private readonly profile: NodeProfile;
  private readonly raft: Raft;
  private directory: Directory;
  private meta: MetaDuties | null = null;
  private readonly replicas = new Map<number, BucketReplica>();
  private dirty = new Set<number>();
  private readonly stored: Map<number, StoredBucket>;
  private readonly founding: NodeInit['founding'];
  private now = 0;
  private outbox: NodeOutbound[] = [];
  /** Bucket messages of the Ready being cut, by peer (`bucket` messages that fit a frame each). */
  private readonly bucketBatches = new Map<NodeId, BucketMessage[]>();
  private replies: { handle: number; reply: KvReply }[] = [];
  /** Bytes of values of the pending writes (Pending.writeBytes). */
  private pendingWriteBytes = 0;
  /** When a connection to each peer was last refused (ticks), for a new metadata leader. */
  private readonly refusedAt = new Map<NodeId, number>();
  private compactPending: Snapshot | null = null;
  private lastCompact: number;
  private inFlight: NodeReady | null = null;
  /** Set by leave(): no more heartbeats or registrations. */
  private leaving = false;
  /** The tick this node last heard from the metadata leader (or led itself). */
  private lastLeaderContact = 0;
  private readonly pending = new Map<number, Pending>();
  private nextRef = 1;
  private nextReadId = 1;
  /** Requests waiting for a replica's reply: `r<id>` for reads, `w<client>/<seq>` for writes. */
  private readonly waiting = new Map<string, number[]>();
  private readonly own = {
    clientId: null as number | null,
    opening: false,
    nextSeq: 1,
    inFlight: new Set<number>(),
    queue: [] as { ref: number; request: Extract<KvRequest, { op: 'put' | 'delete' }> }[],
  };

  constructor(init: NodeInit) {
    this.options = validateNodeOptions(init.options ?? defaultNodeOptions);
    this.id = init.id;
    this.incarnation = init.incarnation;
    this.profile = init.profile;
    this.founding = init.founding;
    this.stored = new Map(init.buckets);
    const snapshot = init.raft.snapshot;
    this.directory = new Directory();
    if (snapshot !== null) {
      const decoded = Directory.decode(snapshot.data);
      assert(decoded.ok, 'the stored metadata snapshot decodes');
      this.directory = decoded.value;
    }
    this.lastCompact = snapshot?.meta.index ?? 0;
    this.raft = new Raft(
      { id: init.id, state: init.raft, prng: init.prng.fork() },
      this.options.raft,
    );
    // Buckets this node held: their replicas come back (and re-adopt the directory's edicts).
    for (const bucket of init.buckets.keys()) this.replica(bucket);
    this.syncAllBuckets();
  }

  // ---- inputs ----

  tick(): void {
    this.now += 1;
    this.raft.tick();
    for (const [bucket, replica] of this.replicas) {
      replica.tick();
      this.dirty.add(bucket);
    }
    this.meta?.tick();
    if (this.now % this.options.detector.heartbeatTicks === 0) this.sendHeartbeat();
    if (this.now % this.options.joinRetryTicks === 0) this.maybeJoin();
    this.expire();
    this.afterInput();
  }

  step(from: NodeId, m: NodeMessage): void {
    switch (m.t) {
      case 'raft':
        if (m.m.to !== this.id || m.m.from !== from) break;
        this.raft.step(m.m);
        if (from === this.raft.status().leader) this.lastLeaderContact = this.now;
        break;
      case 'bucket':
        for (const bm of m.ms) {
          this.replicaIfKnown(bm.bucket)?.step(from, bm);
          this.dirty.add(bm.bucket);
        }
        break;
      case 'heartbeat':
        this.meta?.heartbeat(from, m.incarnation);
        break;
      case 'join':
        this.onJoin(m);
        break;
      case 'report':
        for (const r of m.reports) this.meta?.report(from, r);
        break;
      case 'leaving':
        this.meta?.leaving(from, m.incarnation);
        break;
      case 'pause':
        this.replicas.get(m.bucket)?.pause(toEpoch(m.epoch));
        this.dirty.add(m.bucket);
        break;
      case 'hop':
        this.accept({ kind: 'peer', node: from, ref: m.ref }, m.request, true);
        break;
      case 'answer': {
        const p = this.pending.get(m.ref);
        if (p !== undefined && p.hoppedTo === from) this.finish(m.ref, m.reply);
        break;
      }
    }
    this.afterInput();
  }

  /** A front end's request; its answer comes in a later Ready's `replies` under `handle`. */
  submit(handle: number, request: KvRequest): void {
    this.accept({ kind: 'local', handle }, request, false);
    this.afterInput();
  }

  /**
   * The node is shutting down: asks the metadata leader to declare this incarnation dead now, so
   * that its buckets get new governments at once; a metadata leader also hands its leadership to
   * another voter. The driver then waits (bounded) until this node leads no bucket.
   */
  leave(): void {
    this.leaving = true;
    const status = this.raft.status();
    if (this.meta !== null) {
      this.meta.leaving(this.id, this.incarnation);
      const other = status.config.voters.find((id) => id !== this.id);
      if (other !== undefined) this.raft.transferLeadership(other);
    } else if (status.leader !== null) {
      this.send(status.leader, { t: 'leaving', incarnation: this.incarnation });
    }
    this.afterInput();
  }

  /**
   * The driver found nothing listening at `peer`'s address (a connection was refused): on the
   * metadata leader, evidence for the failure detector that the process is gone (a node refused
   * and then silent for two heartbeat intervals is dead, without the full timeout).
   */
  peerRefused(peer: NodeId): void {
    this.refusedAt.set(peer, this.now);
    this.meta?.detector.refused(peer);
    // A follower whose metadata leader is gone campaigns at once rather than after a timeout.
    this.raft.leaderUnreachable(peer);
    this.afterInput();
  }

  /**
   * The driver could not hand the hop of request `ref` to a link to `to` (the link is down, or
   * its queue full): nothing was sent, so the request is answered `UNAVAILABLE` (not executed) at
   * once, and its client retries, rather than waiting out its deadline.
   */
  hopUndelivered(to: NodeId, ref: number): void {
    const p = this.pending.get(ref);
    if (p === undefined || p.hoppedTo !== to) return;
    this.finish(ref, fail('UNAVAILABLE', `no link to node ${to}, which leads the key's bucket`));
    this.afterInput();
  }

  // ---- Ready ----

  ready(): NodeReady | null {
    if (this.inFlight !== null) return null;
    const raft = this.raft.hasReady() ? this.raft.ready() : null;
    const buckets: { bucket: number; ready: BucketReady }[] = [];
    // Bounded: replicas past readyPersistBytesMax stay dirty and go in the next Ready.
    const later = new Set<number>();
    let bytes = 0;
    for (const bucket of this.dirty) {
      if (bytes >= this.options.readyPersistBytesMax) {
        later.add(bucket);
        continue;
      }
      const r = this.replicas.get(bucket)?.ready() ?? null;
      if (r === null) continue;
      buckets.push({ bucket, ready: r });
      bytes += persistBytes(r.persist);
    }
    this.dirty = later;
    for (const { bucket, ready } of buckets) this.collect(bucket, ready);
    for (const [to, ms] of this.bucketBatches) {
      for (const part of splitBundle(ms)) this.send(to, { t: 'bucket', ms: part });
    }
    this.bucketBatches.clear();
    if (raft !== null) {
      for (const m of raft.messages) this.outbox.push({ to: m.to, message: { t: 'raft', m } });
    }
    const compact = this.compactPending;
    this.compactPending = null;
    if (
      raft === null &&
      buckets.length === 0 &&
      compact === null &&
      this.outbox.length === 0 &&
      this.replies.length === 0
    ) {
      return null;
    }
    const ready: NodeReady = {
      raft,
      compact,
      buckets,
      messages: this.outbox,
      replies: this.replies,
    };
    this.outbox = [];
    this.replies = [];
    this.inFlight = ready;
    return ready;
  }

  advance(ready: NodeReady): void {
    assert(ready === this.inFlight, 'advance() of a Ready that is not in flight');
    this.inFlight = null;
    for (const { bucket, ready: r } of ready.buckets) {
      this.replicas.get(bucket)?.advance(r);
      this.dirty.add(bucket);
    }
    if (ready.raft !== null) {
      if (ready.raft.snapshot !== null) this.restore(ready.raft.snapshot);
      for (const entry of ready.raft.committed) this.apply(entry);
      this.raft.advance(ready.raft);
      this.maybeCompact();
    }
    this.afterInput();
  }

  // ---- views ----

  get mapVersion(): number {
    return this.directory.mapVersion;
  }

  /** The directory as this node has applied it (read-only use). */
  get view(): Directory {
    return this.directory;
  }

  get isMetaLeader(): boolean {
    return this.meta !== null;
  }

  get metaLeader(): NodeId | null {
    return this.raft.status().leader;
  }

  get currentIncarnation(): number {
    return this.incarnation;
  }

  raftStatus(): ReturnType<Raft['status']> {
    return this.raft.status();
  }

  raftProgress(node: NodeId): ReturnType<Raft['progressOf']> {
    return this.raft.progressOf(node);
  }

  replicaOf(bucket: number): BucketReplica | undefined {
    return this.replicas.get(bucket);
  }

  /** The last conductor round's transitions and stopped buckets, on the metadata leader. */
  lastRound(): { transitions: number; stopped: number } | null {
    const r = this.meta?.lastRound ?? null;
    return r === null ? null : { transitions: r.transitions, stopped: r.stopped.length };
  }

  /** Whether the metadata leader's failure detector damps `id` (false elsewhere). */
  isDamped(id: NodeId): boolean {
    return this.meta?.detector.isDamped(id) ?? false;
  }

  /** Requests waiting for an answer (for metrics and tests). */
  get pendingRequests(): number {
    return this.pending.size;
  }

  // ---- requests ----

  private accept(origin: Origin, request: KvRequest, hopped: boolean): void {
    if (this.pending.size >= this.options.pendingRequestsMax) {
      return this.answer(origin, fail('QUEUE_FULL', `${this.pending.size} requests waiting`));
    }
    const writeBytes = request.op === 'put' ? request.value.length : 0;
    if (
      writeBytes > 0 &&
      this.pendingWriteBytes > 0 &&
      this.pendingWriteBytes + writeBytes > this.options.pendingWriteBytesMax
    ) {
      return this.answer(
        origin,
        fail('QUEUE_FULL', `${this.pendingWriteBytes} bytes of writes waiting; retry later`),
      );
    }
    this.pendingWriteBytes += writeBytes;
    const ref = this.nextRef++;
    this.pending.set(ref, {
      origin,
      deadline: this.now + this.options.requestTicksMax,
      waitKey: null,
      ownSeq: null,
      hoppedTo: null,
      writeBytes,
    });
    this.route(ref, request, hopped);
  }

  private route(ref: number, request: KvRequest, hopped: boolean): void {
    if (request.op === 'open-session' || request.op === 'drain') {
      return this.routeMeta(ref, request, hopped);
    }
    const problem = this.badRequest(request);
    if (problem !== null) return this.finish(ref, fail('BAD_REQUEST', problem));
    const count = this.directory.state().bucketCount;
    if (count === 0)
      return this.finish(ref, fail('UNAVAILABLE', 'the cluster is not bootstrapped'));
    const bucket = bucketOf(request.key, count);
    const replica = this.replicas.get(bucket);
    if (replica !== undefined && replica.role === 'leader') {
      return this.serveLocally(ref, bucket, replica, request);
    }
    const leader = this.directory.government(bucket)?.leader ?? null;
    if (leader === null)
      return this.finish(ref, fail('UNAVAILABLE', `bucket ${bucket} has no leader`));
    if (hopped || leader === this.id) {
      return this.finish(ref, fail('WRONG_LEADER', `not the leader of bucket ${bucket}`, leader));
    }
    this.hop(ref, leader, request);
  }

  private routeMeta(
    ref: number,
    request: Extract<KvRequest, { op: 'open-session' | 'drain' }>,
    hopped: boolean,
  ): void {
    const meta = this.meta;
    if (meta !== null) {
      if (request.op === 'open-session') return meta.openSession(ref);
      if (!meta.drain(request.node, ref)) {
        const known = this.directory.node(request.node) !== undefined;
        return this.finish(
          ref,
          known
            ? fail('BAD_REQUEST', `node ${request.node} is not active`)
            : fail('UNKNOWN_NODE', `no node ${request.node}`),
        );
      }
      return;
    }
    const leader = this.raft.status().leader;
    if (hopped || leader === null || leader === this.id) {
      return this.finish(ref, fail('UNAVAILABLE', 'no metadata leader is known here'));
    }
    this.hop(ref, leader, request);
  }

  private hop(ref: number, to: NodeId, request: KvRequest): void {
    const p = this.pending.get(ref);
    assert(p !== undefined, 'a hop of a pending request');
    p.hoppedTo = to;
    this.send(to, { t: 'hop', ref, request });
  }

  private badRequest(r: Extract<KvRequest, { key: Uint8Array }>): string | null {
    if (r.key.length === 0 || r.key.length > KEY_BYTES_MAX) {
      return `a key is 1 to ${KEY_BYTES_MAX} bytes`;
    }
    if (r.op === 'put' && r.value.length > VALUE_BYTES_MAX) {
      return `a value is at most ${VALUE_BYTES_MAX} bytes`;
    }
    if (r.op === 'put' || r.op === 'delete') {
      const s = r.session;
      if (s !== null) {
        const ints = [s.clientId, s.seq, s.ackedBelow].every(
          (n) => Number.isSafeInteger(n) && n >= 1,
        );
        if (!ints || s.ackedBelow > s.seq) return 'a session stamp is 1 ≤ ackedBelow ≤ seq';
      }
      if (r.conditions.ifVersion !== undefined && !Number.isSafeInteger(r.conditions.ifVersion)) {
        return 'ifVersion is an integer';
      }
    }
    return null;
  }

  private serveLocally(
    ref: number,
    bucket: number,
    replica: BucketReplica,
    request: Extract<KvRequest, { key: Uint8Array }>,
  ): void {
    const p = this.pending.get(ref) as Pending;
    const key = keyString(request.key);
    if (request.op === 'get') {
      const requestId = this.nextReadId++;
      this.wait(ref, `r${requestId}`);
      replica.request({
        kind: 'read',
        bucket: bucketId(bucket),
        clientId: READS_CLIENT,
        requestId,
        key,
      });
    } else {
      const stamp = request.session ?? this.ownStamp(ref, request);
      if (stamp === null) return; // queued until the node's own session opens
      if (request.session === null) p.ownSeq = stamp.seq;
      const command = toCommand(request, key);
      if (typeof command === 'string') return this.finish(ref, fail('BAD_REQUEST', command));
      this.wait(ref, `w${stamp.clientId}/${stamp.seq}`);
      replica.request({
        kind: 'write',
        bucket: bucketId(bucket),
        clientId: toClientId(stamp.clientId),
        seq: stamp.seq,
        ackedBelow: stamp.ackedBelow,
        command,
      });
    }
    this.dirty.add(bucket);
  }

  private wait(ref: number, key: string): void {
    (this.pending.get(ref) as Pending).waitKey = key;
    const list = this.waiting.get(key);
    if (list === undefined) this.waiting.set(key, [ref]);
    else list.push(ref);
  }

  /** A stamp of the node's own session for a sessionless write, or null while it opens. */
  private ownStamp(
    ref: number,
    request: Extract<KvRequest, { op: 'put' | 'delete' }>,
  ): SessionStamp | null {
    const own = this.own;
    if (own.clientId === null) {
      own.queue.push({ ref, request });
      if (!own.opening) {
        own.opening = true;
        this.accept({ kind: 'own-session' }, { op: 'open-session' }, false);
      }
      return null;
    }
    const seq = own.nextSeq++;
    own.inFlight.add(seq);
    let ackedBelow = seq;
    for (const s of own.inFlight) ackedBelow = Math.min(ackedBelow, s);
    return { clientId: own.clientId, seq, ackedBelow };
  }

  private onOwnSession(reply: KvReply): void {
    const own = this.own;
    own.opening = false;
    const queued = own.queue;
    own.queue = [];
    if (reply.ok && reply.op === 'open-session') {
      own.clientId = reply.clientId;
      own.nextSeq = 1;
      own.inFlight.clear();
      for (const q of queued) if (this.pending.has(q.ref)) this.route(q.ref, q.request, false);
    } else {
      for (const q of queued) this.finish(q.ref, fail('UNAVAILABLE', 'no session could be opened'));
    }
  }

  /** Answers request `ref` (once) and releases what it held. */
  private finish(ref: number, reply: KvReply): void {
    const p = this.pending.get(ref);
    if (p === undefined) return;
    this.pending.delete(ref);
    this.pendingWriteBytes -= p.writeBytes;
    if (p.waitKey !== null) {
      const list = this.waiting.get(p.waitKey)?.filter((r) => r !== ref) ?? [];
      if (list.length === 0) this.waiting.delete(p.waitKey);
      else this.waiting.set(p.waitKey, list);
    }
    if (p.ownSeq !== null) {
      this.own.inFlight.delete(p.ownSeq);
      if (!reply.ok && reply.code === 'SESSION_EXPIRED') this.own.clientId = null;
    }
    this.answer(p.origin, reply);
  }

  private answer(origin: Origin, reply: KvReply): void {
    if (origin.kind === 'local') this.replies.push({ handle: origin.handle, reply });
    else if (origin.kind === 'peer')
      this.send(origin.node, { t: 'answer', ref: origin.ref, reply });
    else this.onOwnSession(reply);
  }

  private expire(): void {
    for (const [ref, p] of this.pending) {
      if (p.deadline > this.now) continue;
      this.finish(ref, fail('TIMEOUT', 'no answer within the deadline; the outcome is unknown'));
    }
  }

  // ---- replicas ----

  /** Turns a replica's Ready into node messages, answers and reports. */
  private collect(bucket: number, ready: BucketReady): void {
    for (const o of ready.messages) {
      const batch = this.bucketBatches.get(o.to);
      if (batch === undefined) this.bucketBatches.set(o.to, [o.message]);
      else batch.push(o.message);
    }
    for (const reply of ready.replies) this.onReplicaReply(reply);
    const reports: Report[] = [];
    for (const e of ready.events) {
      const r = toReport(e);
      if (r !== null) reports.push(r);
    }
    if (reports.length > 0) this.report(reports);
    void bucket;
  }

  private onReplicaReply(reply: ClientReply): void {
    const key =
      reply.kind === 'read' ? `r${reply.requestId}` : `w${reply.clientId}/${reply.requestId}`;
    const refs = this.waiting.get(key);
    if (refs === undefined) return;
    for (const ref of [...refs]) this.finish(ref, toKvReply(reply));
  }

  private report(reports: Report[]): void {
    const leader = this.raft.status().leader;
    if (this.meta !== null) for (const r of reports) this.meta.report(this.id, r);
    else if (leader !== null) this.send(leader, { t: 'report', reports });
  }

  /** The replica of `bucket`, created when this node is (or was) a member. */
  private replica(bucket: number): BucketReplica {
    let replica = this.replicas.get(bucket);
    if (replica === undefined) {
      const stored = this.stored.get(bucket) ?? EMPTY_BUCKET;
      this.stored.delete(bucket);
      replica = new BucketReplica({
        id: this.id,
        bucket: bucketId(bucket),
        boot: this.incarnation,
        stored,
        options: this.options.replica,
      });
      this.replicas.set(bucket, replica);
    }
    this.dirty.add(bucket);
    return replica;
  }

  /**
   * The replica a peer's bucket message is for. A message of a government this node has not
   * applied yet (it learns edicts later than the bucket's leader) creates the replica: the append
   * carries the government.
   */
  private replicaIfKnown(bucket: number): BucketReplica | null {
    const existing = this.replicas.get(bucket);
    if (existing !== undefined) return existing;
    const count = this.directory.state().bucketCount;
    if (count === 0 || bucket < 0 || bucket >= count || !Number.isSafeInteger(bucket)) return null;
    return this.replica(bucket);
  }

  private syncBucket(bucket: number, previous: Government | undefined): void {
    const g = this.directory.government(bucket);
    if (g === undefined || g.epoch === 0) return;
    const member = members(g).includes(this.id);
    if (!member && !this.replicas.has(bucket)) return;
    const replica = this.replica(bucket);
    if (
      this.options.bugs.has('conductor-no-fence') &&
      previous !== undefined &&
      previous.leader !== null &&
      previous.leader !== g.leader &&
      previous.leader !== this.id &&
      this.directory.node(previous.leader)?.state === 'dead'
    ) {
      // The planted bug: trusting the failure detector, forget the old leader's lease at once.
      replica.step(previous.leader, {
        type: 'lease-release',
        bucket: bucketId(bucket),
        epoch: previous.epoch,
      });
    }
    replica.onGovernment({
      bucket: bucketId(bucket),
      epoch: g.epoch,
      leader: g.leader,
      followers: g.followers,
      learners: g.learners,
    });
  }

  private syncAllBuckets(): void {
    const count = this.directory.state().bucketCount;
    for (let b = 0; b < count; b += 1) this.syncBucket(b, undefined);
  }

  // ---- the metadata log ----

  private apply(entry: Entry): void {
    const waited = this.meta?.awaited.get(entry.index);
    if (waited !== undefined) this.meta?.awaited.delete(entry.index);
    if (entry.type !== 'normal' || entry.data.length === 0) {
      if (waited !== undefined) this.abandonWaiters(waited.what.waiters);
      return;
    }
    const decoded = decodeCommand(entry.data);
    assert(decoded.ok, `metadata entry ${entry.index} decodes`);
    const command = decoded.value;
    const before = command.kind === 'edict' ? this.directory.government(command.bucket) : undefined;
    const sessionsBefore = this.directory.state().sessions;
    const result = this.directory.apply(command);
    const ours = waited !== undefined && waited.term === entry.term;
    if (waited !== undefined && !ours) this.abandonWaiters(waited.what.waiters);
    if (!result.applied) {
      if (ours) this.refuseWaiters(waited.what.waiters, command);
      return;
    }
    this.meta?.onApplied(command);
    if (ours) this.answerWaiters(waited.what.waiters, command, sessionsBefore);
    this.afterApply(command, before);
  }

  private afterApply(c: Command, before: Government | undefined): void {
    if (c.kind === 'edict') this.syncBucket(c.bucket, before);
    if (c.kind === 'bootstrap') this.syncAllBuckets();
    if (c.kind === 'register' && c.id === this.id && c.incarnation > this.incarnation) {
      // The metadata leader registered this node past an incarnation declared dead (meta.ts).
      this.incarnation = c.incarnation;
    }
    if (c.kind === 'mark-dead' && c.id === this.id && c.incarnation >= this.incarnation) {
      // Declared dead while running: come back as a new incarnation with no buckets of the old.
      this.incarnation = c.incarnation + 1;
    }
  }

  private answerWaiters(waiters: readonly number[], c: Command, sessionsBefore: number): void {
    waiters.forEach((ref, i) => {
      if (c.kind === 'open-sessions') {
        this.finish(ref, { ok: true, op: 'open-session', clientId: sessionsBefore + i + 1 });
      } else {
        this.finish(ref, { ok: true, op: 'drain' });
      }
    });
  }

  private refuseWaiters(waiters: readonly number[], c: Command): void {
    for (const ref of waiters) {
      this.finish(ref, fail('BAD_REQUEST', `the ${c.kind} command was refused`));
    }
  }

  private abandonWaiters(waiters: readonly number[]): void {
    for (const ref of waiters) {
      this.finish(ref, fail('UNAVAILABLE', 'the metadata leader changed; retry'));
    }
  }

  private restore(snapshot: Snapshot): void {
    const decoded = Directory.decode(snapshot.data);
    assert(decoded.ok, 'a metadata snapshot from the leader decodes');
    this.directory = decoded.value;
    this.lastCompact = snapshot.meta.index;
    this.syncAllBuckets();
  }

  private maybeCompact(): void {
    const applied = this.raft.status().applied;
    if (applied - this.lastCompact < this.options.compactEntries) return;
    const snapshot = this.raft.compact(logIndex(applied), this.directory.encode());
    if (snapshot === null) return;
    this.compactPending = snapshot;
    this.lastCompact = applied;
  }

  // ---- membership, heartbeats, leadership ----

  private registered(): boolean {
    const me = this.directory.node(this.id);
    return me !== undefined && me.incarnation === this.incarnation && me.state !== 'dead';
  }

  private maybeJoin(): void {
    if (this.leaving || this.directory.node(this.id)?.state === 'removed') return;
    // Registered as far as this node can tell — but a node cut off from the metadata log (removed
    // from its configuration while it was declared dead) cannot tell: unheard from the leader for
    // two election timeouts, it asks the seeds again.
    const leader = this.raft.status().leader;
    if (leader === this.id) this.lastLeaderContact = this.now;
    const cutOff = this.now - this.lastLeaderContact > 2 * this.options.raft.electionTicks;
    if (this.registered() && !cutOff) return;
    const message: NodeMessage = {
      t: 'join',
      id: this.id,
      incarnation: this.incarnation,
      profile: this.profile,
    };
    if (this.meta !== null) return this.meta.join(this.id, this.incarnation, this.profile);
    if (leader !== null) this.send(leader, message);
    if (leader === null || cutOff) this.send('seeds', message);
  }

  private onJoin(m: Extract<NodeMessage, { t: 'join' }>): void {
    if (this.meta !== null) return this.meta.join(m.id, m.incarnation, m.profile);
    const leader = this.raft.status().leader;
    if (leader !== null && leader !== this.id) this.send(leader, m);
  }

  private sendHeartbeat(): void {
    if (this.leaving) return;
    const leader = this.raft.status().leader;
    if (this.meta !== null) this.meta.heartbeat(this.id, this.incarnation);
    else if (leader !== null) this.send(leader, { t: 'heartbeat', incarnation: this.incarnation });
  }

  private afterInput(): void {
    const leading = this.raft.status().role === 'leader';
    if (leading && this.meta === null) {
      this.meta = new MetaDuties({
        id: this.id,
        raft: this.raft,
        directory: () => this.directory,
        options: this.options,
        founding: this.founding,
        pause: (leader, bucket, epoch) => {
          if (leader === this.id) {
            this.replicas.get(bucket)?.pause(toEpoch(epoch));
            this.dirty.add(bucket);
          } else {
            this.send(leader, { t: 'pause', bucket, epoch });
          }
        },
      });
      // Refusals heard as a follower still count: a node whose port refused connections within
      // the last election timeout and stays silent is dead after refusedDeadTicks, not deadTicks.
      for (const [peer, at] of this.refusedAt) {
        if (this.now - at <= this.options.raft.electionTicks) this.meta.detector.refused(peer);
      }
      this.refusedAt.clear();
    } else if (!leading && this.meta !== null) {
      const waiters = this.meta.abandon();
      this.meta = null;
      this.abandonWaiters(waiters);
    }
  }

  private send(to: Destination, message: NodeMessage): void {
    this.outbox.push({ to, message });
  }
}

const EMPTY_BUCKET: StoredBucket = { meta: null, snapshot: null, entries: [], commit: logIndex(0) };

function toReport(e: ReplicaEvent): Report | null {
  switch (e.kind) {
    case 'activated':
      return { kind: 'activated', bucket: e.bucket, epoch: e.epoch };
    case 'caught-up':
      return { kind: 'caught-up', bucket: e.bucket, epoch: e.epoch, node: e.node };
    case 'drained':
      return { kind: 'drained', bucket: e.bucket, epoch: e.epoch };
    case 'dropped':
      return null;
  }
}

/** A front end's write as a replica command, or why it cannot be one. */
function toCommand(
  r: Extract<KvRequest, { op: 'put' | 'delete' }>,
  key: string,
): KvCommand | string {
  const { ifVersion, ifExists } = r.conditions;
  if (ifExists !== undefined && typeof ifExists !== 'boolean') return 'ifExists is a boolean';
  const conditions = {
    ...(ifVersion === undefined ? {} : { ifVersion }),
    ...(ifExists === undefined ? {} : { ifExists }),
  };
  return r.op === 'put'
    ? { op: 'put', key, value: r.value, ...conditions }
    : { op: 'delete', key, ...conditions };
}

function toKvReply(reply: ClientReply): KvReply {
  const body = reply.body;
  if (!body.ok) {
    switch (body.code) {
      case 'NOT_LEADER':
        return fail('WRONG_LEADER', 'not the leader of this bucket', body.leaderHint);
      case 'BUSY':
        return fail('QUEUE_FULL', 'the bucket leader is busy; retry later');
      case 'UNAVAILABLE':
        return fail('UNAVAILABLE', 'the bucket has no serving leader now; retry later');
      case 'STALE_SEQ':
        return fail('STALE_SEQ', 'a newer write of this session was applied; outcome unknown');
      case 'SESSION_EXPIRED':
        return fail('SESSION_EXPIRED', 'the session is unknown to this bucket; open a new one');
    }
  }
  if (body.kind === 'read') {
    const v = body.value;
    return { ok: true, op: 'get', value: v?.value ?? null, version: v?.version ?? 0 };
  }
  const result = body.result;
  const outcome = writeOutcome(result);
  if (!outcome.ok) return fail('CONDITION_FAILED', 'the condition did not hold');
  return { ok: true, op: result.op === 'delete' ? 'delete' : 'put', version: outcome.version };
}
