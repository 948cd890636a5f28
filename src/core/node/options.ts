/**
 * Options of a node's core, in ticks of its local clock (10 ms in the server and the simulator).
 */
import type { ConductorOptions } from '../conductor/conductor.js';
import { defaultConductorOptions } from '../conductor/conductor.js';
import {
  defaultFailureDetectorOptions,
  type FailureDetectorOptions,
} from '../conductor/failure-detector.js';
import { assert } from '../lib/assert.js';
import { VALUE_BYTES_MAX } from '../lib/limits.js';
import { defaultReplicaOptions, type ReplicaOptions } from '../bucket/options.js';
import { defaultRaftOptions, type RaftOptions } from '../raft/options.js';

/** Planted bugs of the node layer, for the simulator. Production code never sets any. */
export const nodeBugs = ['conductor-no-fence'] as const;
export type NodeBug = (typeof nodeBugs)[number];

export interface NodeOptions {
  readonly raft: RaftOptions;
  readonly replica: ReplicaOptions;
  readonly detector: FailureDetectorOptions;
  readonly conductor: ConductorOptions;
  /** Ticks between conductor rounds on the metadata leader (one round in flight at a time). */
  readonly roundTicks: number;
  /** Ticks after which a round whose commands never applied is given up (leadership churn). */
  readonly roundTimeoutTicks: number;
  /** Ticks a planned handover waits for the paused leader's `drained` before going ahead. */
  readonly drainWaitTicks: number;
  /** Ticks between attempts to register (join) while the directory does not list this boot. */
  readonly joinRetryTicks: number;
  /** Ticks a request may wait for its answer before it is answered TIMEOUT (outcome unknown). */
  readonly requestTicksMax: number;
  /** Requests waiting for an answer on this node; beyond it, QUEUE_FULL. */
  readonly pendingRequestsMax: number;
  /**
   * Bytes of values of the writes waiting for an answer on this node; a write that would go past
   * it is answered QUEUE_FULL (not executed). Bounds what a burst of large writes stages for one
   * fdatasync: the node's bucket log refuses to stage more than 256 MiB, and a refusal there stops
   * the node. At least one maximal value.
   */
  readonly pendingWriteBytesMax: number;
  /**
   * Bytes of bucket writes (wire-size.ts `persistBytes`) one Ready carries, at least one bucket's:
   * replicas past it wait, dirty, for the next Ready. With many buckets receiving large appends at
   * once, one Ready could otherwise stage more than the bucket log's 256 MiB limit for one sync,
   * and a refusal there stops the node.
   */
  readonly readyPersistBytesMax: number;
  /**
   * Ticks a new metadata leader waits, while some bucket has never had a government, for as many
   * live nodes as the bucket's replica count before it creates governments anyway.
   */
  readonly createWaitTicks: number;
  /** Compact the metadata log after this many applied entries. */
  readonly compactEntries: number;
  /** Metadata-log voters wanted (odd). */
  readonly metaVotersMax: number;
  readonly bugs: ReadonlySet<NodeBug>;
}

export const defaultNodeOptions: NodeOptions = {
  // Ticks are 10 ms: elections after 300-600 ms of silence, heartbeats every 30 ms.
  raft: { ...defaultRaftOptions, electionTicks: 30, heartbeatTicks: 3, snapshotRetryTicks: 100 },
  // Requests are hopped by the node (with their reply path), never by the replica. Heartbeats
  // every 100 ms still renew a 300 ms lease three times over, at a third of the idle traffic of
  // the replica's default (a node hosts hundreds of buckets).
  replica: { ...defaultReplicaOptions, hopsMax: 0, heartbeatTicks: 10 },
  detector: defaultFailureDetectorOptions,
  conductor: defaultConductorOptions,
  roundTicks: 5,
  roundTimeoutTicks: 100,
  drainWaitTicks: 40,
  joinRetryTicks: 20,
  requestTicksMax: 500,
  pendingRequestsMax: 65536,
  pendingWriteBytesMax: 64 * 1024 * 1024,
  readyPersistBytesMax: 64 * 1024 * 1024,
  createWaitTicks: 1000,
  compactEntries: 1000,
  metaVotersMax: 5,
  bugs: new Set(),
};

export function validateNodeOptions(o: NodeOptions): NodeOptions {
  for (const [name, v] of Object.entries({
    roundTicks: o.roundTicks,
    roundTimeoutTicks: o.roundTimeoutTicks,
    drainWaitTicks: o.drainWaitTicks,
    joinRetryTicks: o.joinRetryTicks,
    requestTicksMax: o.requestTicksMax,
    pendingRequestsMax: o.pendingRequestsMax,
    pendingWriteBytesMax: o.pendingWriteBytesMax,
    readyPersistBytesMax: o.readyPersistBytesMax,
    compactEntries: o.compactEntries,
    createWaitTicks: o.createWaitTicks,
  })) {
    assert(Number.isSafeInteger(v) && v > 0, `${name} must be a positive integer, got ${v}`);
  }
  assert(o.pendingWriteBytesMax >= VALUE_BYTES_MAX, 'pendingWriteBytesMax holds one maximal value');
  assert(o.metaVotersMax >= 1 && o.metaVotersMax % 2 === 1, 'metaVotersMax is odd');
  assert(o.replica.hopsMax === 0, 'the node hops requests itself: replica hopsMax must be 0');
  return o;
}
