/**
 * The directory's data: nodes and their state, every bucket's government, the map version. It is
 * the replicated state machine of the metadata log (DESIGN.md 4.2): a pure function of the log, so
 * every node that applied the same prefix holds a byte-identical directory (invariant 5).
 */
import type { BucketId, Epoch, MapVersion, NodeId } from '../lib/ids.js';
import type { TargetPlacement } from '../planner/types.js';

/**
 * A node's life: `active` hosts buckets; `draining` keeps serving while the conductor moves its
 * buckets away; `dead` was declared failed by the failure detector (its incarnation is fenced off);
 * `removed` is gone for good. A node that comes back after `dead` must register with a higher
 * incarnation and starts again as `active` with no buckets.
 */
export type NodeState = 'active' | 'draining' | 'dead' | 'removed';

export interface NodeRecord {
  readonly id: NodeId;
  /** Where peers and clients reach it, `host:port`. */
  readonly address: string;
  readonly zone: string;
  readonly rack: string;
  /** Relative capacity; the planner gives it buckets in proportion. */
  readonly weight: number;
  /** Grows each time the process restarts with its identity; fences stale reports. */
  readonly incarnation: number;
  /**
   * Names the node's data directory (made at its first start). A node that registers with a new
   * one lost its data: it is dropped from every bucket's `complete` members (rule S2), since it no
   * longer holds the writes it acknowledged.
   */
  readonly storageId: string;
  readonly state: NodeState;
}

/**
 * One bucket's government. Epochs only grow; every edict installs epoch + 1. The leader is one of
 * the voters; followers are waited for on every write; learners receive writes but are not waited
 * for (they are backfilling). `caughtUp` lists the learners that reported a finished backfill in
 * this epoch: only those may be promoted.
 *
 * `complete` lists the members known to hold every acknowledged write (docs/bucket-replication.md,
 * rule S2): the voters of a bucket's first government; on each edict, `complete ∩ voters(new)`;
 * when the current leader reports `activated`, all current voters. Only a complete member may be
 * named leader (rule S3): a follower promoted a moment ago may still lack writes acknowledged in
 * the previous epoch until the leader of the new one has activated.
 *
 * `target` is where the move in progress takes the bucket: the voters it will have when the move
 * is done (null: no move recorded). The conductor records it with the first edict of a move and
 * repeats it on every later one, and keeps walking to it while its nodes stay active, instead of
 * planning again from a half-moved government (docs/conductor.md, "Moves follow a recorded
 * target"). An edict without one (a departure) clears it.
 */
export interface Government {
  readonly epoch: Epoch;
  readonly leader: NodeId | null;
  readonly followers: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly caughtUp: readonly NodeId[];
  readonly complete: readonly NodeId[];
  readonly target: Placement | null;
}

/**
 * A bucket's voters as a move's destination: the planner's target placement of the bucket (the
 * leader, and the followers in ascending order).
 */
export type Placement = TargetPlacement;

export interface DirectoryState {
  /** Buckets per keyspace; fixed at bootstrap. 0 before bootstrap. */
  readonly bucketCount: number;
  /** Members per bucket (leader + followers) the planner aims for. */
  readonly replicas: number;
  /** Grows with every change of a government or of a node's membership. */
  readonly version: MapVersion;
  /** Nodes by id, in ascending id order. */
  readonly nodes: readonly NodeRecord[];
  /** Governments indexed by bucket id. */
  readonly buckets: readonly Government[];
  /** The last client-session id allocated (0: none yet). Ids are 1, 2, 3, ... */
  readonly sessions: number;
  /**
   * Nodes an operator asked to drain and not yet removed, ascending. The intent outlives a death:
   * a draining node that dies and registers again comes back draining, not active.
   */
  readonly drains: readonly NodeId[];
}

/** The voters of a government: the leader, then the followers. */
export function voters(g: Pick<Government, 'leader' | 'followers'>): NodeId[] {
  return [...(g.leader === null ? [] : [g.leader]), ...g.followers];
}

/** The members of a government, leader first, then followers, then learners. */
export function members(g: Government): NodeId[] {
  return [...(g.leader === null ? [] : [g.leader]), ...g.followers, ...g.learners];
}

export type { BucketId, Epoch, MapVersion, NodeId };
