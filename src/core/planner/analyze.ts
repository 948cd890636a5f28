/**
 * Measures of a map, for tests, the benchmark and `edict plan`: load per node against the ideal,
 * failure-domain rule, fan-out; the copies between two maps; and the fewest copies any correct
 * plan would need (the lower bound the planner's movement is judged against).
 */
import type { NodeId } from '../lib/ids.js';
import { replicaShares, leaderShares, shareCeil, shareFloor, shareValue } from './ideal.js';
import { buildTopology, type Topology } from './topology.js';
import type { CurrentMap, PlanConstraints, PlannerNode } from './types.js';

/** A range of per-node counts. */
export interface Spread {
  readonly min: number;
  readonly max: number;
}

/** How a map measures up, over the nodes the planner may use (its pool). */
export interface MapStats {
  /** Replicas (leader or follower) per pool node. */
  readonly replicas: Spread;
  /** Leaderships per pool node. */
  readonly leaders: Spread;
  /** Largest |replicas − ideal| over pool nodes; below 1 means every node is within ±1. */
  readonly replicaDeviationMax: number;
  /** Largest |leaders − ideal| over pool nodes. */
  readonly leaderDeviationMax: number;
  /** Buckets with more copies in one zone than the per-zone cap (1 when zones ≥ replicas). */
  readonly zoneViolations: number;
  /** Buckets with a copy on a node outside the pool (draining, failed, unknown). */
  readonly bucketsOffPool: number;
  /** Largest number of distinct peers of one node. */
  readonly fanOutMax: number;
}

const members = (p: CurrentMap[number]): NodeId[] =>
  p.leader === null ? [...p.followers] : [p.leader, ...p.followers];

/** Measures `map` (learners ignored) against the ideal for `nodes` and `constraints`. */
export function mapStats(
  map: CurrentMap,
  nodes: readonly PlannerNode[],
  constraints: PlanConstraints,
): MapStats {
  const topo = buildTopology(nodes, constraints.replicas);
  if (topo === null) return emptyStats(map.length);
  const n = topo.nodes.length;
  const replicas = new Int32Array(n);
  const leaders = new Int32Array(n);
  const peers: Set<number>[] = Array.from({ length: n }, () => new Set());
  let zoneViolations = 0;
  let bucketsOffPool = 0;
  for (const placement of map) {
    const nodesOf = members(placement).map((id) => topo.indexOf.get(id) ?? -1);
    if (nodesOf.some((x) => x === -1 || topo.eligible[x] === 0)) bucketsOffPool++;
    const zones = new Map<number, number>();
    for (const x of nodesOf) {
      if (x === -1) continue;
      replicas[x] += 1;
      const zone = topo.zoneOf[x];
      if (zone !== -1) zones.set(zone, (zones.get(zone) ?? 0) + 1);
      for (const y of nodesOf) if (y !== -1 && y !== x) (peers[x] as Set<number>).add(y);
    }
    if ([...zones.values()].some((c) => c > topo.perZone)) zoneViolations++;
    const leader = placement.leader === null ? undefined : topo.indexOf.get(placement.leader);
    if (leader !== undefined) leaders[leader] += 1;
  }
  const deviation = deviations(topo, map.length, replicas, leaders);
  const pool = Array.from(topo.pool);
  return {
    replicas: spread(pool.map((x) => replicas[x])),
    leaders: spread(pool.map((x) => leaders[x])),
    replicaDeviationMax: deviation.replicas,
    leaderDeviationMax: deviation.leaders,
    zoneViolations,
    bucketsOffPool,
    fanOutMax: peers.reduce((acc, s) => Math.max(acc, s.size), 0),
  };
}

function deviations(
  topo: Topology,
  buckets: number,
  replicas: Int32Array,
  leaders: Int32Array,
): { replicas: number; leaders: number } {
  const rs = replicaShares(topo, buckets);
  const ls = leaderShares(topo, buckets);
  let r = 0;
  let l = 0;
  for (const x of topo.pool) {
    const ideal = shareValue({ num: rs.num[x], den: rs.zoneDen[topo.zoneOf[x]] });
    r = Math.max(r, Math.abs(replicas[x] - ideal));
    l = Math.max(l, Math.abs(leaders[x] - shareValue({ num: ls.num[x], den: ls.den })));
  }
  return { replicas: r, leaders: l };
}

function spread(values: readonly number[]): Spread {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  return values.length === 0 ? { min: 0, max: 0 } : { min, max };
}

function emptyStats(buckets: number): MapStats {
  return {
    replicas: { min: 0, max: 0 },
    leaders: { min: 0, max: 0 },
    replicaDeviationMax: 0,
    leaderDeviationMax: 0,
    zoneViolations: 0,
    bucketsOffPool: buckets,
    fanOutMax: 0,
  };
}

/**
 * Copies needed to go from `current` to `target`: members of the target that hold nothing of the
 * bucket in the current map (a current learner counts as holding it).
 */
export function copiesBetween(current: CurrentMap, target: CurrentMap): number {
  let copies = 0;
  target.forEach((placement, b) => {
    const before = current[b];
    const held = new Set(
      before === undefined ? [] : [...members(before), ...(before.learners ?? [])],
    );
    for (const id of members(placement)) if (!held.has(id)) copies++;
  });
  return copies;
}

/**
 * The fewest copies any correct target for `current` must make: a target in which every pool
 * node holds ⌊t⌋ to ⌈t⌉ replicas (t its ideal), every bucket has its replicas, and no zone holds
 * more than perZone copies of a bucket. It is the largest of four bounds, each of which every
 * correct target obeys:
 * - nodes: a node holding h copies receives at least ⌊t⌋ − h;
 * - capacity: a node keeps at most min(h, ⌈t⌉), and all the rest of the R·B copies are new;
 * - buckets: a bucket keeps at most perZone copies per zone, on pool nodes;
 * - zones: a zone keeps at most perZone copies of each bucket, and must reach ⌊t(zone)⌋.
 * For a join it is the newcomer's ⌊t⌋; for a departure, the copies the departed nodes held.
 */
export function lowerBoundMoves(
  current: CurrentMap,
  nodes: readonly PlannerNode[],
  constraints: PlanConstraints,
): number {
  const topo = buildTopology(nodes, constraints.replicas);
  if (topo === null) return 0;
  const buckets = current.length;
  const held = new Int32Array(topo.nodes.length);
  const needyHeld = new Int32Array(topo.nodes.length);
  let needyBuckets = 0;
  let bucketBound = 0;
  for (const placement of current) {
    const perZone = new Map<number, number>();
    const usable: number[] = [];
    for (const id of new Set([...members(placement), ...(placement.learners ?? [])])) {
      const x = topo.indexOf.get(id);
      if (x === undefined || topo.eligible[x] === 0) continue;
      held[x] += 1;
      usable.push(x);
      perZone.set(topo.zoneOf[x], (perZone.get(topo.zoneOf[x]) ?? 0) + 1);
    }
    let keepable = 0;
    for (const count of perZone.values()) keepable += Math.min(count, topo.perZone);
    const missing = Math.max(0, topo.replicas - keepable);
    bucketBound += missing;
    if (missing > 0) {
      needyBuckets += 1;
      for (const x of usable) needyHeld[x] += 1;
    }
  }
  const shares = replicaShares(topo, buckets);
  let nodeBound = 0;
  let absorbable = 0;
  let kept = 0;
  for (const x of topo.pool) {
    const share = { num: shares.num[x], den: shares.zoneDen[topo.zoneOf[x]] };
    const deficit = Math.max(0, shareFloor(share) - held[x]);
    nodeBound += deficit;
    absorbable += Math.min(deficit, needyBuckets - needyHeld[x]);
    kept += Math.min(held[x], shareCeil(share));
  }
  const mixedBound = nodeBound + Math.max(0, bucketBound - absorbable);
  const capacityBound = topo.replicas * buckets - kept;
  return Math.max(mixedBound, capacityBound);
}
