// The weighted ideal (ideal.ts) against a simple floating-point reference: water-filling found by
// bisection on λ under the node and zone caps. Shares must agree, add up to every copy exactly,
// respect the caps; quotas must sit at the floor or ceiling of their share, add up, and keep every
// zone under its cap. Also the topology's choice of pool (spares, draining nodes) and per-zone cap.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeId } from '../../../src/core/lib/ids.js';
import {
  leaderShares,
  replicaQuotas,
  replicaShares,
  shareCeil,
  shareFloor,
  shareValue,
} from '../../../src/core/planner/ideal.js';
import { buildTopology, type Topology } from '../../../src/core/planner/topology.js';
import type { PlannerNode } from '../../../src/core/planner/index.js';
import { clusterArb } from './arbitraries.js';

/** Reference: t(n) per pool node by bisection (floats), nested node and zone caps. */
function referenceShares(topo: Topology, buckets: number): Map<number, number> {
  const total = topo.replicas * buckets;
  const zoneCap = topo.perZone * buckets;
  const zoneShare = (members: Int32Array, lambda: number): number =>
    members.reduce((acc, n) => acc + Math.min(buckets, (topo.weight[n] as number) * lambda), 0);
  const fill = (lambda: number): number =>
    topo.zoneNodes.reduce((acc, members) => acc + Math.min(zoneCap, zoneShare(members, lambda)), 0);
  const solve = (f: (x: number) => number, target: number): number => {
    let lo = 0;
    let hi = 1;
    while (f(hi) < target - 1e-9 && hi < 1e15) hi *= 2;
    for (let k = 0; k < 200; k++) {
      const mid = (lo + hi) / 2;
      if (f(mid) < target) lo = mid;
      else hi = mid;
    }
    return hi;
  };
  const lambda = solve(fill, total);
  const out = new Map<number, number>();
  for (const members of topo.zoneNodes) {
    const capped = zoneShare(members, lambda) > zoneCap + 1e-9;
    const mu = capped ? solve((x) => zoneShare(members, x), zoneCap) : lambda;
    for (const n of members) out.set(n, Math.min(buckets, (topo.weight[n] as number) * mu));
  }
  return out;
}

const setupArb = clusterArb({ nodesMax: 12, weightMax: 5 })
  .filter((nodes) => nodes.some((n) => n.state !== 'failed'))
  .chain((nodes) =>
    fc.record({
      nodes: fc.constant(nodes),
      replicas: fc.integer({ min: 1, max: 5 }),
      buckets: fc.integer({ min: 1, max: 5000 }),
      held: fc.array(fc.nat({ max: 50 }), { minLength: nodes.length, maxLength: nodes.length }),
    }),
  );

describe('ideal', () => {
  test('replica shares agree with the reference, add up exactly and respect the caps', () => {
    fc.assert(
      fc.property(setupArb, ({ nodes, replicas, buckets }) => {
        const topo = buildTopology(nodes, replicas) as Topology;
        const shares = replicaShares(topo, buckets);
        const reference = referenceShares(topo, buckets);
        let sum = 0;
        const zoneSum = new Float64Array(topo.zoneNodes.length);
        for (const n of topo.pool) {
          const share = {
            num: shares.num[n] as number,
            den: shares.zoneDen[topo.zoneOf[n] as number] as number,
          };
          const t = shareValue(share);
          assert.ok(
            Math.abs(t - (reference.get(n) as number)) < 1e-6,
            `node ${n}: ${t} vs ${reference.get(n)}`,
          );
          assert.ok(t <= buckets, 'a node holds at most one copy of each bucket');
          sum += t;
          zoneSum[topo.zoneOf[n] as number] += t;
        }
        assert.ok(Math.abs(sum - topo.replicas * buckets) < 1e-6);
        for (const z of zoneSum) assert.ok(z <= topo.perZone * buckets + 1e-6, 'zone cap');
      }),
    );
  });

  test('quotas are floors or ceilings that add up and keep zones under their caps', () => {
    fc.assert(
      fc.property(setupArb, ({ nodes, replicas, buckets, held }) => {
        const topo = buildTopology(nodes, replicas) as Topology;
        const shares = replicaShares(topo, buckets);
        const heldArr = Int32Array.from(held);
        const quota = replicaQuotas(topo, buckets, shares, heldArr, new Float64Array(nodes.length));
        let sum = 0;
        const zoneSum = new Float64Array(topo.zoneNodes.length);
        for (const n of topo.pool) {
          const share = {
            num: shares.num[n] as number,
            den: shares.zoneDen[topo.zoneOf[n] as number] as number,
          };
          const q = quota[n] as number;
          assert.ok(q === shareFloor(share) || q === shareCeil(share));
          sum += q;
          zoneSum[topo.zoneOf[n] as number] += q;
        }
        assert.equal(sum, topo.replicas * buckets);
        for (const z of zoneSum) assert.ok(z <= topo.perZone * buckets);
      }),
    );
  });

  test('equal weights without caps: every node’s share is R·B/N', () => {
    const nodes: PlannerNode[] = Array.from({ length: 7 }, (_, i) => ({
      id: nodeId(i + 1),
      zone: `z${i % 7}`,
      weight: 1,
      state: 'active',
    }));
    const topo = buildTopology(nodes, 3) as Topology;
    const shares = replicaShares(topo, 100);
    for (const n of topo.pool)
      assert.equal(
        shareValue({
          num: shares.num[n] as number,
          den: shares.zoneDen[topo.zoneOf[n] as number] as number,
        }),
        300 / 7,
      );
    const leaders = leaderShares(topo, 100);
    for (const n of topo.pool)
      assert.equal(shareValue({ num: leaders.num[n] as number, den: leaders.den }), 100 / 7);
  });

  test('a zone with one node and three zones for three replicas: that node holds every bucket', () => {
    const nodes: PlannerNode[] = [
      { id: nodeId(1), zone: 'a', weight: 1, state: 'active' },
      { id: nodeId(2), zone: 'b', weight: 1, state: 'active' },
      { id: nodeId(3), zone: 'b', weight: 1, state: 'active' },
      { id: nodeId(4), zone: 'c', weight: 1, state: 'active' },
      { id: nodeId(5), zone: 'c', weight: 1, state: 'active' },
    ];
    const topo = buildTopology(nodes, 3) as Topology;
    const shares = replicaShares(topo, 10);
    const t = (n: number): number =>
      shareValue({
        num: shares.num[n] as number,
        den: shares.zoneDen[topo.zoneOf[n] as number] as number,
      });
    assert.deepEqual([0, 1, 2, 3, 4].map(t), [10, 5, 5, 5, 5]);
  });
});

describe('topology', () => {
  const node = (id: number, zone: string, state: PlannerNode['state'] = 'active'): PlannerNode => ({
    id: nodeId(id),
    zone,
    weight: 1,
    state,
  });

  test('a spare in a new zone is used when active nodes span too few zones', () => {
    const topo = buildTopology(
      [node(1, 'a'), node(2, 'b'), node(3, 'b'), node(4, 'c', 'spare'), node(5, 'b', 'spare')],
      3,
    ) as Topology;
    assert.deepEqual(
      Array.from(topo.pool).map((i) => topo.nodes[i]?.id),
      [1, 2, 3, 4],
    );
    assert.equal(topo.perZone, 1);
    assert.deepEqual(topo.warnings, [{ code: 'SPARES_USED', nodes: [4] }]);
  });

  test('draining nodes are used only when active and spare nodes are too few', () => {
    const topo = buildTopology(
      [node(1, 'a'), node(2, 'b', 'draining'), node(3, 'c', 'draining')],
      2,
    ) as Topology;
    assert.deepEqual(
      Array.from(topo.pool).map((i) => topo.nodes[i]?.id),
      [1, 2],
    );
    assert.deepEqual(topo.warnings, [{ code: 'DRAINING_USED', nodes: [2] }]);
  });

  test('per-zone cap: the fewest copies per zone that still fit the replicas', () => {
    const cap = (zones: string[], replicas: number): number =>
      (
        buildTopology(
          zones.map((z, i) => node(i + 1, z)),
          replicas,
        ) as Topology
      ).perZone;
    assert.equal(cap(['a', 'b', 'c'], 3), 1);
    assert.equal(cap(['a', 'a', 'b', 'b'], 3), 2);
    assert.equal(cap(['a', 'b', 'b', 'b', 'b'], 5), 4);
    assert.equal(cap(['a', 'a', 'a'], 3), 3);
  });

  test('no usable node: no topology', () => {
    assert.equal(buildTopology([node(1, 'a', 'failed')], 3), null);
    assert.equal(buildTopology([], 3), null);
  });
});
