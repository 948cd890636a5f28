/**
 * Which steps may start now, under the backfill limit, and a rehearsal that runs a whole move plan
 * in rounds.
 *
 * The scheduler holds no state of its own: the backfills in flight are read off the move plan,
 * which the conductor recomputes from the current map after every change. A backfill is in flight
 * from its `add-learner` step until its `backfill` step completes: in a plan computed from the
 * current map, that is every `backfill` step of a learner that already exists (no `add-learner`
 * for it earlier in its bucket's steps) and has not caught up yet. It loads both its learner and
 * its source. An `add-learner` may start only when both its node and its source are below the
 * limit; no other step is limited. Each bucket runs one step at a time, so the conductor can call
 * {@link startableSteps} after every change of the directory and start what it returns.
 */
import { assert } from '../lib/assert.js';
import type { BucketId, NodeId } from '../lib/ids.js';
import { applyStep, votersOf } from './moves.js';
import type { CurrentMap, CurrentPlacement, MovePlan, MoveStep, TargetMap } from './types.js';

/** Tells whether the learner `node` of `bucket` has caught up (its backfill is complete). */
export type BackfillDone = (bucket: BucketId, node: NodeId) => boolean;

const never: BackfillDone = () => false;

/** Backfills in flight per node (into it or out of it), read off `plan` as described above. */
export function backfillLoad(
  plan: MovePlan,
  backfillDone: BackfillDone = never,
): Map<NodeId, number> {
  const load = new Map<NodeId, number>();
  const bump = (node: NodeId): void => {
    load.set(node, (load.get(node) ?? 0) + 1);
  };
  for (const { steps } of plan.buckets) {
    const added = new Set<NodeId>();
    for (const step of steps) {
      if (step.kind === 'add-learner') added.add(step.node);
      if (step.kind !== 'backfill' || added.has(step.node)) continue;
      if (backfillDone(step.bucket, step.node)) continue;
      bump(step.node);
      bump(step.source);
    }
  }
  return load;
}

/**
 * The steps that may start now: the first step of each bucket of `plan`, in bucket order, except
 * add-learner steps that would take a node to more than `backfillsPerNodeMax` backfills. A
 * backfill step whose learner has caught up is complete, and the bucket's next step is returned
 * instead. A returned backfill step means "keep the copy going"; it completes when the learner
 * reports that it has caught up.
 */
export function startableSteps(plan: MovePlan, backfillDone: BackfillDone = never): MoveStep[] {
  const limit = plan.limits.backfillsPerNodeMax;
  const load = backfillLoad(plan, backfillDone);
  const out: MoveStep[] = [];
  for (const { steps } of plan.buckets) {
    let step = steps[0];
    if (step?.kind === 'backfill' && backfillDone(step.bucket, step.node)) step = steps[1];
    if (step === undefined) continue;
    if (step.kind === 'add-learner') {
      const into = load.get(step.node) ?? 0;
      const from = load.get(step.source) ?? 0;
      if (into >= limit || from >= limit) continue;
      load.set(step.node, into + 1);
      load.set(step.source, from + 1);
    }
    out.push(step);
  }
  return out;
}

/** What a rehearsal observed. */
export interface Rehearsal {
  /** The map at the end: equal to the target, learners empty. */
  readonly final: readonly CurrentPlacement[];
  /** Rounds taken; each round starts every startable step and finishes it (a backfill in one). */
  readonly rounds: number;
  readonly steps: number;
  /** Highest number of backfills in flight into or out of one node, at any time. */
  readonly backfillsPerNodePeak: number;
  /**
   * Lowest margin, over all buckets and times, of voters above min(voters before, voters after).
   * Never negative: a planned move never shrinks a government below both its ends.
   */
  readonly votersMarginMin: number;
}

/**
 * Runs `plan` from `current` to completion in rounds, applying each step with its transition
 * check, and reports what it saw. For tests, the benchmark and `edict plan`; the conductor runs
 * steps itself. `roundsMax` bounds the loop.
 */
export function rehearse(
  current: CurrentMap,
  target: TargetMap,
  plan: MovePlan,
  roundsMax = 1_000_000,
): Rehearsal {
  const state: CurrentPlacement[] = [...current];
  const floor = new Map<BucketId, number>();
  const next = new Map<BucketId, number>();
  for (const { bucket } of plan.buckets) {
    const t = target[bucket] as TargetMap[number];
    floor.set(
      bucket,
      Math.min(votersOf(state[bucket] as CurrentPlacement), 1 + t.followers.length),
    );
    next.set(bucket, 0);
  }
  const stepsOf = new Map(plan.buckets.map((b) => [b.bucket, b.steps]));
  let rounds = 0;
  let steps = 0;
  let peak = 0;
  let margin = Infinity;
  while (next.size > 0) {
    assert(rounds < roundsMax, 'rehearsal: too many rounds');
    rounds++;
    const pending: MovePlan = {
      limits: plan.limits,
      copies: 0,
      buckets: [...next].map(([bucket, at]) => ({
        bucket,
        steps: (stepsOf.get(bucket) as readonly MoveStep[]).slice(at),
      })),
    };
    peak = Math.max(peak, maxLoad(pending));
    const startable = startableSteps(pending);
    assert(startable.length > 0, 'rehearsal: some step can always start');
    for (const step of startable) {
      const b = step.bucket;
      state[b] = applyStep(state[b] as CurrentPlacement, step);
      margin = Math.min(margin, votersOf(state[b] as CurrentPlacement) - (floor.get(b) as number));
      steps++;
      const at = (next.get(b) as number) + 1;
      if (at === (stepsOf.get(b) as readonly MoveStep[]).length) next.delete(b);
      else next.set(b, at);
    }
  }
  return {
    final: state,
    rounds,
    steps,
    backfillsPerNodePeak: peak,
    votersMarginMin: margin === Infinity ? 0 : margin,
  };
}

function maxLoad(plan: MovePlan): number {
  let peak = 0;
  for (const v of backfillLoad(plan).values()) peak = Math.max(peak, v);
  return peak;
}
