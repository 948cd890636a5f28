/**
 * `moves(current, target, limits)`: for every bucket whose government differs from its target,
 * the ordered steps that take it there, each a single transition of the seeds' table.
 *
 * A node's state for a bucket has a rank: null 0, learner 1, follower 2, leader 3. Every step
 * moves one node one rank (transfer-leader moves two nodes at once, one up and one down), so:
 * - nothing becomes leader without first being a learner that backfilled and a follower;
 * - a leader steps down to follower (transfer-leader) before it is demoted and removed.
 *
 * Order within a bucket, pairwise so that the government never shrinks below its size and grows
 * by at most one while data moves:
 * 1. remove learners the target does not want (an abandoned backfill);
 * 2. if the target leader is already a follower, transfer leadership to it (no copy needed), once
 *    no learner is copying from the current leader;
 * 3. repeat: demote and remove one leaving follower while the government is larger than the
 *    target; add one new member (add-learner → backfill → promote): learners already copying
 *    first, then the target leader, then by id; transfer leadership as soon as the target leader
 *    is a follower;
 * 4. finally demote and remove what is still leaving, the old leader last.
 * The number of voters (leader and followers) thus never drops below min(current, target) voters.
 *
 * A bucket with no members at all gets a single `create` step: it has no data, so there is
 * nothing to backfill and no leader to hand over from. The conductor must not pass a bucket that
 * lost all its members as empty; that is data loss, not a planned move.
 */
import { assert, unreachable } from '../lib/assert.js';
import { bucketId, type BucketId, type NodeId } from '../lib/ids.js';
import type {
  BucketMoves,
  CurrentMap,
  CurrentPlacement,
  MoveLimits,
  MovePlan,
  MoveStep,
  TargetMap,
  TargetPlacement,
} from './types.js';

const ascending = (a: NodeId, b: NodeId): number => a - b;

/** The rank of `node` in `placement`: 0 null, 1 learner, 2 follower, 3 leader. */
export function rankOf(placement: CurrentPlacement, node: NodeId): 0 | 1 | 2 | 3 {
  if (placement.leader === node) return 3;
  if (placement.followers.includes(node)) return 2;
  if ((placement.learners ?? []).includes(node)) return 1;
  return 0;
}

/** The voters of a placement: its leader and followers. */
export const votersOf = (p: CurrentPlacement): number =>
  (p.leader === null ? 0 : 1) + p.followers.length;

function placementOf(
  leader: NodeId | null,
  followers: Iterable<NodeId>,
  learners: Iterable<NodeId>,
): CurrentPlacement {
  return {
    leader,
    followers: [...followers].sort(ascending),
    learners: [...learners].sort(ascending),
  };
}

/**
 * The placement after `step`. Asserts the step's precondition, which is its row of the
 * transition table; a violation is a programmer error in whoever built the step.
 */
export function applyStep(p: CurrentPlacement, step: MoveStep): CurrentPlacement {
  const learners = p.learners ?? [];
  const without = (list: readonly NodeId[], node: NodeId): NodeId[] =>
    list.filter((x) => x !== node);
  switch (step.kind) {
    case 'create':
      assert(p.leader === null && p.followers.length === 0, 'create: the bucket has no members');
      assert(learners.length === 0, 'create: the bucket has no learners');
      return placementOf(step.leader, step.followers, []);
    case 'add-learner':
      assert(rankOf(p, step.node) === 0, 'add-learner: null → learner only');
      assert(p.leader === step.source, 'add-learner: the source is the leader');
      return placementOf(p.leader, p.followers, [...learners, step.node]);
    case 'backfill':
      assert(rankOf(p, step.node) === 1, 'backfill: into a learner');
      assert(p.leader === step.source, 'backfill: from the leader');
      return p;
    case 'promote':
      assert(rankOf(p, step.node) === 1, 'promote: learner → follower only');
      return placementOf(p.leader, [...p.followers, step.node], without(learners, step.node));
    case 'transfer-leader':
      assert(p.leader === step.from, 'transfer-leader: from the leader');
      assert(rankOf(p, step.to) === 2, 'transfer-leader: to a follower only');
      return placementOf(step.to, [...without(p.followers, step.to), step.from], learners);
    case 'demote':
      assert(
        rankOf(p, step.node) === 2,
        'demote: follower → learner only (a leader steps down first)',
      );
      return placementOf(p.leader, without(p.followers, step.node), [...learners, step.node]);
    case 'remove':
      assert(rankOf(p, step.node) === 1, 'remove: learner → null only');
      return placementOf(p.leader, p.followers, without(learners, step.node));
    default:
      return unreachable(step, 'unknown step');
  }
}

/** The ordered steps that take one bucket from `current` to `target` (empty when equal). */
export function bucketSteps(
  bucket: BucketId,
  current: CurrentPlacement,
  target: TargetPlacement,
): MoveStep[] {
  const wanted = new Set<NodeId>([target.leader, ...target.followers]);
  assert(wanted.size === 1 + target.followers.length, `bucket ${bucket}: target repeats a node`);
  if (current.leader === null) {
    assert(current.followers.length === 0, `bucket ${bucket}: followers without a leader`);
    assert((current.learners ?? []).length === 0, `bucket ${bucket}: learners without a leader`);
    const followers = [...target.followers].sort(ascending);
    return [{ kind: 'create', bucket, leader: target.leader, followers }];
  }
  const steps: MoveStep[] = [];
  let state: CurrentPlacement = current;
  const push = (step: MoveStep): void => {
    state = applyStep(state, step);
    steps.push(step);
  };
  const leaving = (): NodeId[] => state.followers.filter((x) => !wanted.has(x)).sort(ascending);
  const maybeTransfer = (): void => {
    if (state.leader !== target.leader && rankOf(state, target.leader) === 2)
      push({ kind: 'transfer-leader', bucket, from: state.leader as NodeId, to: target.leader });
  };
  const dropOne = (node: NodeId): void => {
    push({ kind: 'demote', bucket, node });
    push({ kind: 'remove', bucket, node });
  };
  for (const node of [...(current.learners ?? [])].sort(ascending))
    if (!wanted.has(node)) push({ kind: 'remove', bucket, node });
  // Learners already copying first, then the target leader, then by id.
  const order = (x: NodeId): number => (rankOf(state, x) === 1 ? 0 : x === target.leader ? 1 : 2);
  const adds = [...wanted]
    .filter((x) => rankOf(state, x) < 2)
    .sort((a, b) => order(a) - order(b) || a - b);
  for (const node of adds) {
    // Never while a learner copies from the leader: its source must stay put.
    if ((state.learners ?? []).length === 0) maybeTransfer();
    for (let out = leaving(); votersOf(state) > wanted.size && out.length > 0; out = leaving())
      dropOne(out[0] as NodeId);
    const source = state.leader as NodeId;
    if (rankOf(state, node) === 0) push({ kind: 'add-learner', bucket, node, source });
    push({ kind: 'backfill', bucket, node, source });
    push({ kind: 'promote', bucket, node });
  }
  maybeTransfer();
  for (let out = leaving(); out.length > 0; out = leaving()) dropOne(out[0] as NodeId);
  assert(state.leader === target.leader, `bucket ${bucket}: steps reach the target leader`);
  assert(votersOf(state) === wanted.size, `bucket ${bucket}: steps reach the target voters`);
  return steps;
}

/**
 * The steps from `current` to `target`, bucket by bucket. `limits` ride along for the scheduler
 * (schedule.ts), which decides which steps may start.
 */
export function moves(current: CurrentMap, target: TargetMap, limits: MoveLimits): MovePlan {
  assert(current.length === target.length, 'current and target have the same buckets');
  assert(
    Number.isInteger(limits.backfillsPerNodeMax) && limits.backfillsPerNodeMax >= 1,
    'backfillsPerNodeMax must be a positive integer',
  );
  const buckets: BucketMoves[] = [];
  let copies = 0;
  for (let b = 0; b < target.length; b++) {
    const bucket = bucketId(b);
    const steps = bucketSteps(bucket, current[b] as CurrentPlacement, target[b] as TargetPlacement);
    if (steps.length === 0) continue;
    for (const step of steps) {
      if (step.kind === 'add-learner') copies++;
      if (step.kind === 'create') copies += 1 + step.followers.length;
    }
    buckets.push({ bucket, steps });
  }
  return { buckets, copies, limits };
}
