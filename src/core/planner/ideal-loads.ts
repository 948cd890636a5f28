/**
 * The ideal loads of plan(), per node id, for reports and tests: the replica and leader shares
 * of ideal.ts as exact rationals with their floors and ceilings. A node outside the pool (failed,
 * draining, unused spare) has an ideal of zero.
 */
import type { NodeId } from '../lib/ids.js';
import { leaderShares, replicaShares, shareCeil, shareFloor, type Share } from './ideal.js';
import { buildTopology } from './topology.js';
import type { PlanConstraints, PlannerNode } from './types.js';

/** One node's ideal: `replicas` and `leaders` as rationals, each with floor and ceiling. */
export interface IdealLoad {
  readonly replicas: Share;
  readonly leaders: Share;
  readonly replicasRange: readonly [number, number];
  readonly leadersRange: readonly [number, number];
  /** Whether plan() may place copies on the node. */
  readonly inPool: boolean;
}

/** The ideal loads for `buckets` buckets over `nodes`, keyed by node id. */
export function idealLoads(
  nodes: readonly PlannerNode[],
  buckets: number,
  constraints: PlanConstraints,
): Map<NodeId, IdealLoad> {
  const out = new Map<NodeId, IdealLoad>();
  const topo = buildTopology(nodes, constraints.replicas);
  if (topo === null) return out;
  const rs = replicaShares(topo, buckets);
  const ls = leaderShares(topo, buckets);
  topo.nodes.forEach((node, x) => {
    const inPool = topo.eligible[x] === 1;
    const replicas = inPool
      ? { num: rs.num[x], den: rs.zoneDen[topo.zoneOf[x]] }
      : { num: 0, den: 1 };
    const leaders = inPool ? { num: ls.num[x], den: ls.den } : { num: 0, den: 1 };
    out.set(node.id, {
      replicas,
      leaders,
      replicasRange: [shareFloor(replicas), shareCeil(replicas)],
      leadersRange: [shareFloor(leaders), shareCeil(leaders)],
      inPool,
    });
  });
  return out;
}
