/**
 * Options of a bucket replica, with their units and the reasons for their defaults. Every queue and
 * batch in the replica is bounded by one of these. Time is in ticks of the node's local clock (the
 * server ticks every 10 ms; so does the simulator's SimHost).
 */
import { assert } from '../lib/assert.js';
import { VALUE_BYTES_MAX } from '../lib/limits.js';
import { BUCKET_FRAME_BYTES_MAX, sessionsBytesMax } from './wire-size.js';

/** The planted bugs a replica knows. Production code never sets any. */
export const bucketBugs = ['bucket-no-epoch-fence', 'bucket-ack-before-all'] as const;
export type BucketBug = (typeof bucketBugs)[number];

export interface ReplicaOptions {
  /**
   * Ticks a follower promises a leader, from the moment it receives the leader's message, during
   * which it will help no leader of a newer epoch activate. 30 ticks (300 ms) keeps a failover well
   * under DESIGN's 1 s target while heartbeats renew the lease ten times over.
   */
  readonly promiseTicks: number;
  /**
   * The largest clock-rate error of any node, e.g. 0.05 for ±5 % (the simulator's SimHost bound).
   * The leader's lease is shortened so that it always ends, in real time, before the promises
   * behind it do (see lease.ts).
   */
  readonly clockDriftMax: number;
  /** Ticks between heartbeats (empty appends that renew the lease and carry the commit index). */
  readonly heartbeatTicks: number;
  /** Ticks without progress after which unacknowledged entries or snapshot chunks are resent. */
  readonly resendTicks: number;
  /** Entries in one append message: bounds a message (and a follower's fsync batch). */
  readonly appendEntriesMax: number;
  /**
   * Bytes of entries in one append message (wire-size.ts estimates), at least one entry whatever
   * its size: `appendEntriesMax` alone lets 64 values of up to 16 MiB make one message, far over
   * the frame limit, which the transport refuses on every resend. At most `VALUE_BYTES_MAX`, so
   * a batch always fits a frame.
   */
  readonly appendBytesMax: number;
  /** Entries sent to a peer beyond what it acknowledged (the pipeline window). */
  readonly pipelineEntriesMax: number;
  /**
   * Bytes of entries sent to a peer beyond what it acknowledged, at least one entry: bounds what
   * one peer's connection is handed per round trip, so that large values queue in the replica (and
   * go as acknowledgements come back) rather than being encoded and refused by a full outbound
   * queue (4 MiB per connection, src/net/options.ts). At least `appendBytesMax`.
   */
  readonly pipelineBytesMax: number;
  /** Entries appended but not yet committed, beyond which new writes get `BUSY`. */
  readonly uncommittedEntriesMax: number;
  /** Requests a replica holds while it cannot serve them (activating, paused, leaderless). */
  readonly backlogMax: number;
  /** Ticks a request may wait in the backlog before it is answered `UNAVAILABLE`. */
  readonly backlogTicksMax: number;
  /** Reads waiting for a lease; beyond this, `BUSY`. */
  readonly pendingReadsMax: number;
  /** Ticks a paused leader waits for the handover edict before it resumes by itself. */
  readonly pauseTicksMax: number;
  /** Times a request may be hopped between nodes before `NOT_LEADER` is answered. */
  readonly hopsMax: number;
  /** Sessions kept per bucket; the least recently used is evicted beyond this. */
  readonly sessionsMax: number;
  /**
   * Results one session keeps (seqs at or above its floor, see sessions.ts); beyond this the
   * smallest is dropped and the floor raised past it. A client whose applied seqs above its oldest
   * write in flight outnumber this may see that write refused STALE_SEQ (outcome unknown); keep
   * the client's pipeline (src/client: writesInFlightMax, 4096 by default) well below it.
   */
  readonly sessionResultsMax: number;
  /**
   * Results kept over all sessions of a bucket (memory, and the last snapshot chunk, which carries
   * them all); beyond this the least recently used sessions are evicted. At least
   * `sessionResultsMax`.
   */
  readonly sessionResultsTotalMax: number;
  /** Keys in one snapshot chunk. */
  readonly snapshotChunkItemsMax: number;
  /**
   * Bytes of keys and values in one snapshot chunk (wire-size.ts estimates), at least one key
   * whatever its size; the last chunk's sessions count too (they go alone in a chunk of their own
   * when they do not fit with the last keys). Without it a backfill of a bucket holding a few
   * MiB-sized values builds a chunk over the frame limit and never finishes. At most
   * `VALUE_BYTES_MAX`.
   */
  readonly snapshotChunkBytesMax: number;
  /** Entries a backfilling member buffers while its snapshot arrives; newer ones are resent later. */
  readonly backfillBufferEntriesMax: number;
  /**
   * Applied entries a replica keeps in memory after compacting its log (the store keeps them all).
   * It compacts once it holds twice this many, or twice `logRetainBytes`: the state machine holds
   * the effect of what goes, and a member that needs it later is sent a snapshot.
   */
  readonly logRetainEntries: number;
  /** Bytes of entries (wire-size.ts) a replica keeps in memory after compacting its log. */
  readonly logRetainBytes: number;
  /**
   * A leader keeps what a member has not acknowledged yet, so that a member a little behind is
   * not sent a whole snapshot, up to this many bytes of log; past it, it compacts anyway and the
   * member that lags this far gets a snapshot.
   */
  readonly logLaggardBytesMax: number;
  /** Ticks between the leader's repeated reports (`activated`, `caught-up`) to the conductor. */
  readonly reportTicks: number;
  /** Planted bugs for the simulator; empty in production. */
  readonly bugs: ReadonlySet<BucketBug>;
}

export const defaultReplicaOptions: ReplicaOptions = {
  promiseTicks: 30,
  clockDriftMax: 0.05,
  heartbeatTicks: 3,
  resendTicks: 6,
  appendEntriesMax: 64,
  // 1 MiB: small writes are bounded by the count (64 entries of 16 KiB), while a follower's batch
  // of large values still makes several messages that share a peer's connection with other buckets.
  appendBytesMax: 1024 * 1024,
  pipelineEntriesMax: 256,
  // The transport's outbound queue per connection: more in flight to one peer would be refused.
  pipelineBytesMax: 4 * 1024 * 1024,
  uncommittedEntriesMax: 1024,
  backlogMax: 256,
  backlogTicksMax: 60,
  pendingReadsMax: 256,
  pauseTicksMax: 30,
  hopsMax: 2,
  sessionsMax: 4096,
  sessionResultsMax: 1024,
  sessionResultsTotalMax: 65536,
  snapshotChunkItemsMax: 64,
  // As appendBytesMax: one chunk in flight per transfer, resent whole when lost.
  snapshotChunkBytesMax: 1024 * 1024,
  backfillBufferEntriesMax: 1024,
  // A node hosts up to thousands of buckets: at most 2 × 1 MiB of log each between compactions,
  // and 1,024 entries are seconds of writes to one bucket, enough for a member that hiccups to
  // catch up from the log.
  logRetainEntries: 1024,
  logRetainBytes: 1024 * 1024,
  // A slow member may hold back 64 MiB of one bucket's log before it is sent a snapshot instead.
  logLaggardBytesMax: 64 * 1024 * 1024,
  reportTicks: 10,
  bugs: new Set(),
};

/**
 * The leader's lease in its own ticks, for a promise of `promiseTicks` on the follower's clock.
 * A promise counted from a tick boundary lasts at least (promiseTicks - 1) tick periods of the
 * follower's clock, i.e. ≥ (promiseTicks - 1)/(1 + ρ) real periods; a lease of L leader ticks,
 * counted from a stamp taken before the promise began, ends ≤ L/(1 - ρ) real periods after it.
 * L = ⌊(promiseTicks - 1)(1 - ρ)/(1 + ρ)⌋ makes the lease end first.
 */
export function leaseTicksFor(options: ReplicaOptions): number {
  const rho = options.clockDriftMax;
  return Math.floor(((options.promiseTicks - 1) * (1 - rho)) / (1 + rho));
}

/** Checks the options once, at start. */
export function validateReplicaOptions(options: ReplicaOptions): ReplicaOptions {
  const positive: (keyof ReplicaOptions)[] = [
    'promiseTicks',
    'heartbeatTicks',
    'resendTicks',
    'appendEntriesMax',
    'appendBytesMax',
    'pipelineEntriesMax',
    'pipelineBytesMax',
    'uncommittedEntriesMax',
    'backlogMax',
    'backlogTicksMax',
    'pendingReadsMax',
    'pauseTicksMax',
    'sessionsMax',
    'sessionResultsMax',
    'sessionResultsTotalMax',
    'snapshotChunkItemsMax',
    'snapshotChunkBytesMax',
    'backfillBufferEntriesMax',
    'logRetainEntries',
    'logRetainBytes',
    'logLaggardBytesMax',
    'reportTicks',
  ];
  for (const key of positive) {
    const value = options[key] as number;
    assert(Number.isSafeInteger(value), `replica option ${key} must be an integer`);
    assert(value > 0, `replica option ${key} must be positive`);
  }
  assert(options.hopsMax >= 0, 'hopsMax must not be negative');
  assert(options.clockDriftMax >= 0 && options.clockDriftMax < 0.5, 'clockDriftMax in [0, 0.5)');
  assert(options.appendEntriesMax <= options.pipelineEntriesMax, 'a batch fits in the pipeline');
  assert(options.appendBytesMax <= options.pipelineBytesMax, 'a batch fits in the pipeline bytes');
  assert(options.appendBytesMax <= VALUE_BYTES_MAX, 'an append batch fits a frame');
  assert(options.snapshotChunkBytesMax <= VALUE_BYTES_MAX, 'a snapshot chunk fits a frame');
  // The last chunk may carry every session alone: it must fit a frame too.
  const sessions = sessionsBytesMax(options.sessionsMax, options.sessionResultsTotalMax);
  assert(sessions <= BUCKET_FRAME_BYTES_MAX - 1024, 'every session fits one chunk');
  assert(
    options.sessionResultsMax <= options.sessionResultsTotalMax,
    'sessionResultsTotalMax holds one full session',
  );
  assert(options.logLaggardBytesMax >= 2 * options.logRetainBytes, 'a laggard may hold a full log');
  const lease = leaseTicksFor(options);
  assert(lease >= 2 * options.heartbeatTicks, 'heartbeats renew the lease at least twice');
  return options;
}
