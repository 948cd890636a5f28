/**
 * The planner's vocabulary: nodes as the planner sees them, bucket maps (current and target),
 * constraints, warnings and limits. The conductor builds these from the directory, calls
 * {@link plan} each time the directory changes, then walks each bucket to its target with the steps
 * of {@link moves}.
 *
 * Maps are arrays indexed by bucket number: `map[b]` is the government of `BucketId` b, and the
 * number of buckets is the array's length.
 */
import type { BucketId, NodeId } from '../lib/ids.js';

/**
 * What a node may be used for.
 * - `active`: hosts buckets; the planner balances load over active nodes.
 * - `draining`: healthy but leaving; the target holds nothing on it, and its copies stay until new
 *   ones are made elsewhere. Used only when the active and spare nodes cannot hold `replicas` copies.
 * - `spare`: healthy and empty, held in reserve; used only when active nodes alone cannot give every
 *   bucket its replicas or its spread over zones.
 * - `failed`: gone; never used, and its copies count as lost.
 */
export type NodeState = 'active' | 'draining' | 'spare' | 'failed';

/** A node as the planner sees it. */
export interface PlannerNode {
  readonly id: NodeId;
  /** Failure domain, outermost level. Any non-empty string; compared as a string. */
  readonly zone: string;
  /**
   * Failure domain inside the zone; rack names are scoped by zone. When absent the node is a rack
   * of its own.
   */
  readonly rack?: string;
  /** Relative capacity: an integer in 1..{@link WEIGHT_MAX}. Loads are proportional to weight. */
  readonly weight: number;
  readonly state: NodeState;
}

/**
 * One bucket's members in the current map (the directory's view). `leader` is null only for a
 * bucket that has no government yet (a new keyspace). Learners are transitional members that are
 * being backfilled; they are not counted as replicas.
 */
export interface CurrentPlacement {
  readonly leader: NodeId | null;
  readonly followers: readonly NodeId[];
  readonly learners?: readonly NodeId[];
}

/** One bucket's government in a target map: one leader and the followers, sorted by id. */
export interface TargetPlacement {
  readonly leader: NodeId;
  readonly followers: readonly NodeId[];
}

/** The current map: `current[b]` for every bucket b. */
export type CurrentMap = readonly CurrentPlacement[];
/** A target map: `target[b]` for every bucket b. A target map is also a valid current map. */
export type TargetMap = readonly TargetPlacement[];

/** What a plan must satisfy. */
export interface PlanConstraints {
  /** Copies per bucket: one leader and `replicas - 1` followers. 1..{@link REPLICAS_MAX}. */
  readonly replicas: number;
  /**
   * Fan-out limit: the most distinct peers (other members of the buckets it hosts) one node
   * should replicate with. A preference for new placements, reported when exceeded; absent means
   * no limit.
   */
  readonly fanOutMax?: number;
}

/**
 * Something the plan could not do as asked. Each has a stable `code`; none makes the target
 * unsafe, they say where it falls short of the constraints.
 */
export type PlanWarning =
  | {
      /** Fewer usable nodes than replicas: buckets get `replicas` = `available` copies. */
      readonly code: 'REPLICAS_SHORT';
      readonly replicas: number;
      readonly available: number;
    }
  | {
      /** Fewer zones than replicas: some copies of a bucket must share a zone (at most `perZone`). */
      readonly code: 'ZONES_SHORT';
      readonly zones: number;
      readonly replicas: number;
      readonly perZone: number;
    }
  | {
      /** Buckets with more copies in one zone than `perZone`, which should have been avoidable. */
      readonly code: 'ZONE_VIOLATION';
      readonly buckets: number;
    }
  | {
      /** Buckets with two copies in one rack although their zone had a free rack. */
      readonly code: 'RACK_COLLISION';
      readonly buckets: number;
    }
  | {
      /** Spare nodes put to use because the active ones were not enough. */
      readonly code: 'SPARES_USED';
      readonly nodes: readonly NodeId[];
    }
  | {
      /** Draining nodes kept in use because active and spare nodes were not enough. */
      readonly code: 'DRAINING_USED';
      readonly nodes: readonly NodeId[];
    }
  | {
      /** Nodes whose replica count is off their quota (outside ±1 of the ideal). */
      readonly code: 'REPLICA_BALANCE';
      readonly nodes: number;
    }
  | {
      /** Nodes whose leader count is off their quota (outside ±1 of the ideal). */
      readonly code: 'LEADER_BALANCE';
      readonly nodes: number;
    }
  | {
      /** Nodes with more distinct peers than `fanOutMax`; `worst` is the largest fan-out. */
      readonly code: 'FAN_OUT_EXCEEDED';
      readonly fanOutMax: number;
      readonly nodes: number;
      readonly worst: number;
    };

/** The warning codes, for exhaustive handling. */
export type PlanWarningCode = PlanWarning['code'];

/** The result of {@link plan}. */
export interface Plan {
  readonly target: TargetMap;
  /** Sorted by code; empty when every constraint is met. */
  readonly warnings: readonly PlanWarning[];
}

/** A step that moves one bucket toward its target. Steps of one bucket run one at a time, in order. */
export type MoveStep =
  | {
      /**
       * Installs the first government of a bucket that has none (a new keyspace, no data yet).
       * Never used for a bucket that has members.
       */
      readonly kind: 'create';
      readonly bucket: BucketId;
      readonly leader: NodeId;
      readonly followers: readonly NodeId[];
    }
  | {
      /** null → learner: `node` joins as a learner and starts receiving the leader's writes. */
      readonly kind: 'add-learner';
      readonly bucket: BucketId;
      readonly node: NodeId;
      /** The member the backfill copies from: the bucket's leader. */
      readonly source: NodeId;
    }
  | {
      /** The learner copies the bucket's state from `source`; done when it has caught up. */
      readonly kind: 'backfill';
      readonly bucket: BucketId;
      readonly node: NodeId;
      readonly source: NodeId;
    }
  | {
      /** learner → follower, after its backfill: the learner now counts as a replica. */
      readonly kind: 'promote';
      readonly bucket: BucketId;
      readonly node: NodeId;
    }
  | {
      /** leader → follower and follower → leader, atomically (abdicate). */
      readonly kind: 'transfer-leader';
      readonly bucket: BucketId;
      readonly from: NodeId;
      readonly to: NodeId;
    }
  | {
      /** follower → learner: the node stops counting as a replica. Never applied to the leader. */
      readonly kind: 'demote';
      readonly bucket: BucketId;
      readonly node: NodeId;
    }
  | {
      /** learner → null: the node leaves the bucket and may delete its copy. */
      readonly kind: 'remove';
      readonly bucket: BucketId;
      readonly node: NodeId;
    };

/** The step kinds, in the order a bucket's steps use them. */
export type MoveStepKind = MoveStep['kind'];

/** The ordered steps of one bucket. */
export interface BucketMoves {
  readonly bucket: BucketId;
  readonly steps: readonly MoveStep[];
}

/** Limits on the execution of moves. */
export interface MoveLimits {
  /**
   * At most this many backfills may run at once into or out of any one node (counted together).
   * A backfill runs from its `add-learner` step until its `promote` step.
   */
  readonly backfillsPerNodeMax: number;
}

/**
 * Default limits. Two backfills per node keep a joining node's disk and network busy while leaving
 * room for client traffic; the seeds suggest 1 full scan at a time for a spinning disk and 10 for
 * an SSD, so the operator should raise it for SSD-only clusters.
 */
export const defaultMoveLimits: MoveLimits = { backfillsPerNodeMax: 2 };

/** The result of {@link moves}: the steps of every bucket whose government differs from its target. */
export interface MovePlan {
  /** Ascending by bucket; buckets already at their target are absent. */
  readonly buckets: readonly BucketMoves[];
  /** Copies to make: the number of `add-learner` steps plus the copies of `create` steps. */
  readonly copies: number;
  readonly limits: MoveLimits;
}

/** Largest node weight. Bounds every product in the exact integer arithmetic of the ideal. */
export const WEIGHT_MAX = 1000;
/** Most copies per bucket. */
export const REPLICAS_MAX = 15;
/** Most buckets in one map. */
export const BUCKETS_MAX = 1 << 20;
/** Most nodes given to one plan. */
export const NODES_MAX = 100_000;
