// Minimal movement. From a planned map, one change (a node joins, is drained, fails or leaves)
// is planned again, and the copies it takes are compared with two references:
// - the exact optimum, the fewest copies of any correct target, found by a min-cost flow
//   (reference-flow.ts) on small clusters: the plan never beats it (it would not be correct) and
//   stays close to it;
// - the counting lower bound of analyze.ts (what `edict plan` and the benchmark report), which
//   must never exceed the optimum, and which the plan meets exactly in uniform clusters (equal
//   weights, equal zones, at least as many zones as replicas), the common production shape.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeId } from '../../../src/core/lib/ids.js';
import {
  copiesBetween,
  lowerBoundMoves,
  plan,
  type CurrentMap,
  type PlanConstraints,
  type PlannerNode,
  type TargetMap,
} from '../../../src/core/planner/index.js';
import { clusterArb, emptyMap } from './arbitraries.js';
import { optimalCopies } from './reference-flow.js';

const RUNS = Number(process.env['PLANNER_RUNS'] ?? 100);

function planned(
  current: CurrentMap,
  nodes: readonly PlannerNode[],
  c: PlanConstraints,
): TargetMap {
  const result = plan(current, nodes, c);
  assert.ok(result.ok);
  return result.value.target;
}

type Change = 'join' | 'drain' | 'fail' | 'leave';
const changeArb = fc.constantFrom<Change>('join', 'drain', 'fail', 'leave');

interface Scenario {
  readonly nodes: PlannerNode[];
  readonly replicas: number;
  readonly buckets: number;
  readonly change: Change;
  readonly which: number;
  readonly zone: number;
  readonly weight: number;
}

const NEWCOMER = nodeId(1000);

function applyChange(s: Scenario): PlannerNode[] {
  const victim = (s.nodes[s.which % s.nodes.length] as PlannerNode).id;
  switch (s.change) {
    case 'join':
      return [...s.nodes, { id: NEWCOMER, zone: `z${s.zone}`, weight: s.weight, state: 'active' }];
    case 'drain':
      return s.nodes.map((n) => (n.id === victim ? { ...n, state: 'draining' as const } : n));
    case 'fail':
      return s.nodes.map((n) => (n.id === victim ? { ...n, state: 'failed' as const } : n));
    case 'leave':
      return s.nodes.filter((n) => n.id !== victim);
  }
}

/** Small random clusters: any zones, racks and weights. */
const smallArb: fc.Arbitrary<Scenario> = clusterArb({
  states: fc.constant('active' as const),
  nodesMax: 9,
}).chain((nodes) =>
  fc.record({
    nodes: fc.constant(nodes),
    replicas: fc.integer({ min: 1, max: 3 }),
    buckets: fc.integer({ min: 1, max: 24 }),
    change: changeArb,
    which: fc.nat(),
    zone: fc.nat({ max: 5 }),
    weight: fc.integer({ min: 1, max: 3 }),
  }),
);

/** Uniform clusters: Z equal zones of equal-weight nodes, Z ≥ replicas. */
const uniformArb: fc.Arbitrary<Scenario> = fc
  .record({
    zones: fc.integer({ min: 1, max: 4 }),
    perZone: fc.integer({ min: 1, max: 3 }),
    replicas: fc.integer({ min: 1, max: 3 }),
    buckets: fc.integer({ min: 1, max: 40 }),
    change: changeArb,
    which: fc.nat(),
    zone: fc.nat(),
  })
  .filter((r) => r.zones >= r.replicas)
  .map((r) => ({
    nodes: Array.from({ length: r.zones * r.perZone }, (_, i) => ({
      id: nodeId(i + 1),
      zone: `z${i % r.zones}`,
      weight: 1,
      state: 'active' as const,
    })),
    replicas: r.replicas,
    buckets: r.buckets,
    change: r.change,
    which: r.which,
    zone: r.zone % r.zones,
    weight: 1,
  }));

function replan(s: Scenario): { before: TargetMap; after: TargetMap; nodes: PlannerNode[] } | null {
  const c = { replicas: s.replicas };
  const before = planned(emptyMap(s.buckets), s.nodes, c);
  const nodes = applyChange(s);
  if (!nodes.some((n) => n.state === 'active')) return null;
  return { before, after: planned(before, nodes, c), nodes };
}

describe('plan: minimal movement', () => {
  test('lower bound ≤ optimum ≤ copies planned', () => {
    fc.assert(
      fc.property(smallArb, (s) => {
        const r = replan(s);
        if (r === null) return;
        const c = { replicas: s.replicas };
        const optimum = optimalCopies(r.before, r.nodes, c);
        assert.notEqual(optimum, null, 'a correct target exists');
        const bound = lowerBoundMoves(r.before, r.nodes, c);
        assert.ok(bound <= (optimum as number), `bound ${bound} above the optimum ${optimum}`);
        const copies = copiesBetween(r.before, r.after);
        assert.ok(copies >= (optimum as number), `${copies} copies beat the optimum ${optimum}`);
      }),
      { numRuns: RUNS },
    );
  });

  test('copies stay within 2% of the optimum overall, 4 copies at worst (fixed sample)', () => {
    let copies = 0;
    let optimum = 0;
    let worst = 0;
    for (const s of fc.sample(smallArb, { numRuns: 400, seed: 20_240_501 })) {
      const r = replan(s);
      if (r === null) continue;
      const best = optimalCopies(r.before, r.nodes, { replicas: s.replicas }) as number;
      const made = copiesBetween(r.before, r.after);
      copies += made;
      optimum += best;
      worst = Math.max(worst, made - best);
    }
    assert.ok(copies <= optimum * 1.02, `${copies} copies against an optimum of ${optimum}`);
    assert.ok(worst <= 4, `worst case ${worst} copies above the optimum`);
  });

  test('uniform clusters: one change copies the optimum, or at most one copy more', () => {
    fc.assert(
      fc.property(uniformArb, (s) => {
        const r = replan(s);
        if (r === null) return;
        const copies = copiesBetween(r.before, r.after);
        const optimum = optimalCopies(r.before, r.nodes, { replicas: s.replicas });
        assert.ok(
          copies <= (optimum as number) + 1,
          `${s.change}: ${copies} copies, optimum ${optimum}`,
        );
      }),
      { numRuns: RUNS },
    );
  });
});
