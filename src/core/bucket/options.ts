/**
 * Options of a bucket replica, with their units and the reasons for their defaults. Every queue and
 * batch in the replica is bounded by one of these. Time is in ticks of the node's local clock (the
 * server ticks every 10 ms; so does the simulator's SimHost).
 */
import { assert } from '../lib/assert.js';

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
  /** Entries sent to a peer beyond what it acknowledged (the pipeline window). */
  readonly pipelineEntriesMax: number;
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
  /** Entries a backfilling member buffers while its snapshot arrives; newer ones are resent later. */
  readonly backfillBufferEntriesMax: number;
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
  pipelineEntriesMax: 256,
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
  backfillBufferEntriesMax: 1024,
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
    'pipelineEntriesMax',
    'uncommittedEntriesMax',
    'backlogMax',
    'backlogTicksMax',
    'pendingReadsMax',
    'pauseTicksMax',
    'sessionsMax',
    'sessionResultsMax',
    'sessionResultsTotalMax',
    'snapshotChunkItemsMax',
    'backfillBufferEntriesMax',
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
  assert(
    options.sessionResultsMax <= options.sessionResultsTotalMax,
    'sessionResultsTotalMax holds one full session',
  );
  const lease = leaseTicksFor(options);
  assert(lease >= 2 * options.heartbeatTicks, 'heartbeats renew the lease at least twice');
  return options;
}
