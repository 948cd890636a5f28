// Properties of moves() and the scheduler. From random current maps (learners, unknown nodes,
// leaderless new buckets) to the targets plan() gives for random clusters, the steps are run to
// completion (rehearse) and checked: every step is one transition of the seeds' table (applyStep
// asserts it), nothing leads without having been a learner and a follower, a leader steps down
// before it leaves, a government never has fewer voters than at both its ends, at most K
// backfills run into or out of any node, the end is exactly the target, and recomputing the steps
// halfway gives the rest of the original steps (so the conductor may recompute after every edict).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { bucketId, nodeId, type NodeId } from '../../../src/core/lib/ids.js';
import {
  applyStep,
  backfillLoad,
  bucketSteps,
  moves,
  plan,
  rankOf,
  rehearse,
  startableSteps,
  type CurrentMap,
  type CurrentPlacement,
  type MoveStep,
  type TargetMap,
} from '../../../src/core/planner/index.js';
import { clusterArb, currentArb } from './arbitraries.js';

const RUNS = Number(process.env['PLANNER_RUNS'] ?? 200);

/** A random current map and a target for it. */
const pairArb = clusterArb()
  .filter((nodes) => nodes.some((n) => n.state === 'active'))
  .chain((nodes) =>
    fc.record({
      nodes: fc.constant(nodes),
      replicas: fc.integer({ min: 1, max: 4 }),
      limit: fc.integer({ min: 1, max: 3 }),
      current: fc.integer({ min: 1, max: 30 }).chain((b) =>
        currentArb(
          nodes.map((n) => n.id),
          b,
        ),
      ),
    }),
  )
  .map((s) => {
    const result = plan(s.current, s.nodes, { replicas: s.replicas });
    assert.ok(result.ok);
    return { current: s.current, target: result.value.target, limit: s.limit };
  });

const normal = (p: CurrentPlacement): CurrentPlacement => ({
  leader: p.leader,
  followers: [...p.followers].sort((a, b) => a - b),
  learners: [...(p.learners ?? [])].sort((a, b) => a - b),
});

function peakLoad(current: CurrentMap, target: TargetMap, limit: number): number {
  const plan0 = moves(current, target, { backfillsPerNodeMax: limit });
  return Math.max(0, ...backfillLoad(plan0).values());
}

describe('moves', () => {
  test('rehearsed steps reach the target, within the limits', () => {
    fc.assert(
      fc.property(pairArb, ({ current, target, limit }) => {
        const mp = moves(current, target, { backfillsPerNodeMax: limit });
        const run = rehearse(current, target, mp);
        assert.deepEqual(
          run.final.map(normal),
          target.map((t) => normal({ ...t, learners: [] })),
        );
        assert.ok(run.votersMarginMin >= 0, 'no government shrinks below both its ends');
        const initial = peakLoad(current, target, limit);
        assert.ok(run.backfillsPerNodePeak <= Math.max(limit, initial), 'backfill limit');
      }),
      { numRuns: RUNS },
    );
  });

  test('each step moves one node one rank; leaders come from followers, leave as followers, and never while a learner copies', () => {
    fc.assert(
      fc.property(pairArb, ({ current, target }) => {
        for (const { bucket, steps } of moves(current, target, { backfillsPerNodeMax: 1 })
          .buckets) {
          let state = current[bucket] as CurrentPlacement;
          for (const step of steps) {
            if (step.kind === 'transfer-leader')
              assert.deepEqual(
                state.learners ?? [],
                [],
                'no learner copies from a leader on its way out',
              );
            const next = applyStep(state, step);
            const touched = new Set([...membersOf(state), ...membersOf(next)]);
            for (const node of touched) {
              const before = rankOf(state, node);
              const after = rankOf(next, node);
              if (step.kind === 'create') {
                assert.equal(before, 0, 'create: only for a bucket with no members');
                continue;
              }
              assert.ok(Math.abs(after - before) <= 1, `${step.kind}: ${before} → ${after}`);
              if (after === 3 && before !== 3)
                assert.equal(before, 2, 'a new leader was a follower');
              if (before === 3 && after !== 3)
                assert.equal(after, 2, 'a leader steps down to follower');
            }
            state = next;
          }
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('recomputing the steps halfway gives the rest of them', () => {
    fc.assert(
      fc.property(pairArb, fc.nat(), ({ current, target }, cut) => {
        for (const { bucket, steps } of moves(current, target, { backfillsPerNodeMax: 1 })
          .buckets) {
          const k = cut % (steps.length + 1);
          let state = current[bucket] as CurrentPlacement;
          for (const step of steps.slice(0, k)) state = applyStep(state, step);
          const rest = bucketSteps(bucket, state, target[bucket] as TargetMap[number]);
          // The map does not record that a backfill finished: recomputed right after one, the
          // steps start with that backfill again (the conductor knows it is done and skips it).
          const previous = steps[k - 1];
          const expected = previous?.kind === 'backfill' ? steps.slice(k - 1) : steps.slice(k);
          assert.deepEqual(rest, expected);
        }
      }),
      { numRuns: RUNS },
    );
  });

  test('startable steps respect the backfill limit and take one step per bucket', () => {
    fc.assert(
      fc.property(pairArb, ({ current, target, limit }) => {
        const mp = moves(current, target, { backfillsPerNodeMax: limit });
        const load = backfillLoad(mp);
        const started = startableSteps(mp);
        const buckets = started.map((s) => s.bucket);
        assert.equal(new Set(buckets).size, buckets.length, 'one step per bucket');
        for (const step of started) {
          if (step.kind !== 'add-learner') continue;
          load.set(step.node, (load.get(step.node) ?? 0) + 1);
          load.set(step.source, (load.get(step.source) ?? 0) + 1);
        }
        const initial = backfillLoad(mp);
        for (const [node, n] of load)
          assert.ok(n <= Math.max(limit, initial.get(node) ?? 0), `node ${node}: ${n} backfills`);
      }),
      { numRuns: RUNS },
    );
  });
});

function membersOf(p: CurrentPlacement): NodeId[] {
  return [...(p.leader === null ? [] : [p.leader]), ...p.followers, ...(p.learners ?? [])];
}

describe('moves: scripted cases', () => {
  const n = nodeId;
  const b0 = bucketId(0);
  const kinds = (steps: readonly MoveStep[]): string[] =>
    steps.map((s) =>
      s.kind === 'transfer-leader'
        ? `transfer ${s.from}→${s.to}`
        : s.kind === 'create'
          ? `create ${s.leader}`
          : `${s.kind} ${s.node}`,
    );

  test('a new bucket is created in one step', () => {
    const steps = bucketSteps(
      b0,
      { leader: null, followers: [] },
      { leader: n(1), followers: [n(2)] },
    );
    assert.deepEqual(kinds(steps), ['create 1']);
  });

  test('promotion of a follower needs no copy', () => {
    const steps = bucketSteps(
      b0,
      { leader: n(1), followers: [n(2), n(3)] },
      { leader: n(2), followers: [n(1), n(3)] },
    );
    assert.deepEqual(kinds(steps), ['transfer 1→2']);
  });

  test('replacing the leader: the newcomer is caught up, leads, then the old leader leaves', () => {
    const steps = bucketSteps(
      b0,
      { leader: n(1), followers: [n(2), n(3)] },
      { leader: n(4), followers: [n(2), n(3)] },
    );
    assert.deepEqual(kinds(steps), [
      'add-learner 4',
      'backfill 4',
      'promote 4',
      'transfer 1→4',
      'demote 1',
      'remove 1',
    ]);
  });

  test('two swaps alternate adds and removals, so voters stay within [R, R+1]', () => {
    const steps = bucketSteps(
      b0,
      { leader: n(1), followers: [n(2), n(3)] },
      { leader: n(1), followers: [n(4), n(5)] },
    );
    assert.deepEqual(kinds(steps), [
      'add-learner 4',
      'backfill 4',
      'promote 4',
      'demote 2',
      'remove 2',
      'add-learner 5',
      'backfill 5',
      'promote 5',
      'demote 3',
      'remove 3',
    ]);
  });

  test('an under-replicated bucket is filled before anything leaves', () => {
    const steps = bucketSteps(
      b0,
      { leader: n(1), followers: [], learners: [n(9)] },
      { leader: n(1), followers: [n(2), n(3)] },
    );
    assert.deepEqual(kinds(steps), [
      'remove 9',
      'add-learner 2',
      'backfill 2',
      'promote 2',
      'add-learner 3',
      'backfill 3',
      'promote 3',
    ]);
  });

  test('a learner already copying is finished first', () => {
    const steps = bucketSteps(
      b0,
      { leader: n(1), followers: [n(2)], learners: [n(5)] },
      { leader: n(1), followers: [n(4), n(5)] },
    );
    assert.deepEqual(kinds(steps), [
      'backfill 5',
      'promote 5',
      'add-learner 4',
      'backfill 4',
      'promote 4',
      'demote 2',
      'remove 2',
    ]);
  });

  test('the scheduler holds back backfills beyond the limit', () => {
    const current: CurrentMap = [0, 1, 2].map(() => ({ leader: n(1), followers: [n(2)] }));
    const target: TargetMap = [0, 1, 2].map(() => ({ leader: n(1), followers: [n(2), n(3)] }));
    const mp = moves(current, target, { backfillsPerNodeMax: 2 });
    assert.deepEqual(kinds(startableSteps(mp)), ['add-learner 3', 'add-learner 3']);
    const run = rehearse(current, target, mp);
    assert.equal(run.backfillsPerNodePeak, 2);
  });
});
