// Generators and checkers shared by the planner's tests: random clusters (zones, racks, weights,
// states), random current maps (including unknown nodes, learners and leaderless buckets), and
// the checks every target must pass.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bucketId, nodeId, type NodeId } from '../../../src/core/lib/ids.js';
import {
  idealLoads,
  type CurrentMap,
  type CurrentPlacement,
  type NodeState,
  type PlanConstraints,
  type PlannerNode,
  type TargetMap,
} from '../../../src/core/planner/index.js';

/** A node id that no cluster uses: a node that left the directory. */
export const UNKNOWN_NODE = nodeId(9999);

export const stateArb: fc.Arbitrary<NodeState> = fc.oneof(
  { weight: 12, arbitrary: fc.constant('active' as const) },
  { weight: 1, arbitrary: fc.constant('draining' as const) },
  { weight: 1, arbitrary: fc.constant('spare' as const) },
  { weight: 1, arbitrary: fc.constant('failed' as const) },
);

export interface ClusterOptions {
  readonly nodesMax?: number;
  readonly zonesMax?: number;
  readonly weightMax?: number;
  readonly states?: fc.Arbitrary<NodeState>;
}

/** A cluster of 1..nodesMax nodes with unique ids, zones z0.., racks r0.. (or none). */
export function clusterArb(options: ClusterOptions = {}): fc.Arbitrary<PlannerNode[]> {
  const { nodesMax = 16, zonesMax = 5, weightMax = 3, states = stateArb } = options;
  return fc
    .tuple(
      fc.integer({ min: 1, max: zonesMax }),
      fc.integer({ min: 0, max: 3 }),
      fc.uniqueArray(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: nodesMax }),
    )
    .chain(([zones, racks, ids]) =>
      fc
        .tuple(
          ...ids.map(() =>
            fc.record({
              zone: fc.integer({ min: 0, max: zones - 1 }),
              rack: fc.integer({ min: 0, max: Math.max(0, racks - 1) }),
              weight: fc.integer({ min: 1, max: weightMax }),
              state: states,
            }),
          ),
        )
        .map((fields) =>
          fields.map((f, k) => ({
            id: nodeId(ids[k] as number),
            zone: `z${f.zone}`,
            ...(racks > 0 ? { rack: `r${f.rack}` } : {}),
            weight: f.weight,
            state: f.state,
          })),
        ),
    );
}

/** A random current map of `buckets` buckets over `ids` (plus an unknown node). */
export function currentArb(ids: readonly NodeId[], buckets: number): fc.Arbitrary<CurrentMap> {
  const pool = [...ids, UNKNOWN_NODE];
  const placement = fc
    .tuple(
      fc.shuffledSubarray(pool, { maxLength: Math.min(5, pool.length) }),
      fc.integer({ min: 0, max: 5 }),
      fc.boolean(),
    )
    .map(([members, learnerCount, leaderless]): CurrentPlacement => {
      if (members.length === 0 || (leaderless && learnerCount === 0))
        return { leader: null, followers: [] };
      const learners = members.slice(Math.max(1, members.length - learnerCount));
      const voters = members.slice(0, members.length - learners.length);
      return { leader: voters[0] as NodeId, followers: voters.slice(1), learners };
    });
  return fc.array(placement, { minLength: buckets, maxLength: buckets });
}

export const emptyMap = (buckets: number): CurrentMap =>
  Array.from({ length: buckets }, () => ({ leader: null, followers: [] }));

const membersOf = (p: { leader: NodeId | null; followers: readonly NodeId[] }): NodeId[] =>
  p.leader === null ? [...p.followers] : [p.leader, ...p.followers];

/** Per node id: replicas and leaderships in `map`. */
export function loads(map: CurrentMap): {
  replicas: Map<NodeId, number>;
  leaders: Map<NodeId, number>;
} {
  const replicas = new Map<NodeId, number>();
  const leaders = new Map<NodeId, number>();
  for (const p of map) {
    for (const id of membersOf(p)) replicas.set(id, (replicas.get(id) ?? 0) + 1);
    if (p.leader !== null) leaders.set(p.leader, (leaders.get(p.leader) ?? 0) + 1);
  }
  return { replicas, leaders };
}

/**
 * Structure every target has: each bucket has min(replicas, pool) distinct members, all in the
 * pool, followers sorted.
 */
export function checkStructure(
  target: TargetMap,
  nodes: readonly PlannerNode[],
  constraints: PlanConstraints,
  buckets: number,
): void {
  const ideal = idealLoads(nodes, buckets, constraints);
  const pool = [...ideal].filter(([, v]) => v.inPool).map(([id]) => id);
  const size = Math.min(constraints.replicas, pool.length);
  assert.equal(target.length, buckets);
  target.forEach((p, b) => {
    const members = membersOf(p);
    assert.equal(new Set(members).size, members.length, `bucket ${b}: distinct members`);
    assert.equal(members.length, size, `bucket ${b}: ${size} members`);
    for (const id of members) assert.ok(ideal.get(id)?.inPool, `bucket ${b}: node ${id} in pool`);
    assert.deepEqual(
      [...p.followers],
      [...p.followers].sort((x, y) => x - y),
      'followers sorted',
    );
    void bucketId(b);
  });
}

/** Every pool node's replica count within its ideal's floor and ceiling. */
export function checkReplicaBalance(
  target: TargetMap,
  nodes: readonly PlannerNode[],
  constraints: PlanConstraints,
): void {
  const ideal = idealLoads(nodes, target.length, constraints);
  const { replicas } = loads(target);
  for (const [id, load] of ideal) {
    const count = replicas.get(id) ?? 0;
    const [lo, hi] = load.replicasRange;
    assert.ok(
      count >= lo && count <= hi,
      `node ${id}: ${count} replicas, ideal range ${lo}..${hi}`,
    );
  }
}

/** Every pool node's leader count within its ideal's floor and ceiling. */
export function checkLeaderBalance(
  target: TargetMap,
  nodes: readonly PlannerNode[],
  constraints: PlanConstraints,
): void {
  const ideal = idealLoads(nodes, target.length, constraints);
  const { leaders } = loads(target);
  for (const [id, load] of ideal) {
    const count = leaders.get(id) ?? 0;
    const [lo, hi] = load.leadersRange;
    assert.ok(count >= lo && count <= hi, `node ${id}: leads ${count}, ideal range ${lo}..${hi}`);
  }
}

/** The most copies one bucket has in one zone. */
export function maxCopiesPerZone(target: TargetMap, nodes: readonly PlannerNode[]): number {
  const zoneOf = new Map(nodes.map((n) => [n.id, n.zone]));
  let worst = 0;
  for (const p of target) {
    const count = new Map<string, number>();
    for (const id of membersOf(p)) {
      const zone = zoneOf.get(id) as string;
      count.set(zone, (count.get(zone) ?? 0) + 1);
      worst = Math.max(worst, count.get(zone) as number);
    }
  }
  return worst;
}

/**
 * The most copies of a bucket one zone may hold, computed independently of the planner: the
 * smallest m with which the pool's zones can hold min(replicas, pool size) copies.
 */
export function perZoneCap(
  nodes: readonly PlannerNode[],
  constraints: PlanConstraints,
  buckets: number,
): number {
  const ideal = idealLoads(nodes, buckets, constraints);
  const sizes = new Map<string, number>();
  for (const n of nodes)
    if (ideal.get(n.id)?.inPool) sizes.set(n.zone, (sizes.get(n.zone) ?? 0) + 1);
  const copies = Math.min(
    constraints.replicas,
    [...sizes.values()].reduce((a, b) => a + b, 0),
  );
  for (let m = 1; ; m++) {
    if ([...sizes.values()].reduce((acc, size) => acc + Math.min(m, size), 0) >= copies) return m;
  }
}
