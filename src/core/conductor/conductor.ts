/**
 * The conductor (DESIGN.md 4.4): a deterministic function from the directory to the next commands
 * for the metadata log. It runs on every node; only the metadata leader proposes its output. Every
 * command it returns carries its expectation (an epoch, an incarnation), so proposing the same
 * round twice — or a new leader re-proposing the old leader's round — changes nothing the second
 * time.
 *
 * One round, in order of precedence:
 * 1. Failures: each node the failure detector declares dead is marked dead (with the incarnation it
 *    last heard, so a restarted node is not killed by a stale verdict).
 * 2. Departures preempt everything: each bucket with a dead member gets a government without it at
 *    once. A dead leader is replaced by a surviving follower that is *complete* — known to hold
 *    every acknowledged write (docs/bucket-replication.md, rules S2 and S3) — the one leading the
 *    fewest buckets. A bucket with no complete survivor keeps its government and waits for one of
 *    them to come back: appointing anyone else could lose acknowledged writes.
 * 3. Otherwise, moves: `plan` computes the target map from the live nodes, `moves` the steps of each
 *    bucket, `startableSteps` the next step of each within the backfill limit; each step becomes an
 *    edict. A backfill step is not an edict: it completes when the learner reports `caught-up`.
 * 4. A draining node that is in no government any more is removed.
 *
 * Fall back / fall forward need no special case: a move is a sequence of single edicts, each
 * committed or not; a member that fails mid-move is taken out of whatever government is current
 * (rule 2), and the next round plans again from there.
 */
import type { Command } from '../directory/commands.js';
import type { DirectoryState, Government, NodeRecord } from '../directory/types.js';
import { bucketId, type NodeId } from '../lib/ids.js';
import {
  applyStep,
  moves,
  plan,
  startableSteps,
  type CurrentPlacement,
  type MoveStep,
  type PlannerNode,
  type PlanWarning,
  type TargetPlacement,
} from '../planner/index.js';

export interface ConductorOptions {
  /** Backfills at once into or out of one node; see planner `MoveLimits`. */
  readonly backfillsPerNodeMax: number;
  /** Fan-out preference passed to the planner; absent means none. */
  readonly fanOutMax?: number;
  /** Most edicts proposed in one round, so one round never floods the metadata log. */
  readonly edictsPerRoundMax: number;
}

export const defaultConductorOptions: ConductorOptions = {
  backfillsPerNodeMax: 2,
  // A round proposes at most this many edicts; with a round per metadata-log commit this moves
  // thousands of buckets per second while keeping each Raft batch small.
  edictsPerRoundMax: 256,
};

export interface ConductorInput {
  readonly directory: DirectoryState;
  /** Nodes the failure detector declares dead, with the incarnation last heard. */
  readonly dead: readonly { readonly id: NodeId; readonly incarnation: number }[];
  /** Nodes that keep failing (flap damping): used for new copies only when nothing else fits. */
  readonly damped: (id: NodeId) => boolean;
  /**
   * Whether the leader of `bucket` in `epoch` has drained for a planned handover (its `drained`
   * report arrived, or the driver's deadline for it passed). Availability only (rule A4): the edict
   * is safe either way, but issued before the drain it turns in-flight writes into client retries.
   */
  readonly drained: (bucket: number, epoch: number) => boolean;
}

/** A planned handover waiting for its leader to pause and drain (rule A4). */
export interface PauseRequest {
  readonly bucket: number;
  readonly epoch: number;
  readonly leader: NodeId;
}

export interface ConductorRound {
  readonly commands: readonly Command[];
  /** Leaders the driver must ask to pause before their handover edict is issued. */
  readonly pauses: readonly PauseRequest[];
  /** What the planner could not satisfy, for status and logs. */
  readonly warnings: readonly PlanWarning[];
  /**
   * Buckets stopped because no complete member is alive (rule S3): they keep their government and
   * serve nothing until one comes back. An operator alert: acknowledged writes are at risk.
   */
  readonly stopped: readonly { readonly bucket: number; readonly epoch: number }[];
  /** Buckets whose government differs from the target (moves in progress or waiting). */
  readonly transitions: number;
}

/** Computes the next commands. Pure: the same input always gives the same round. */
export function conduct(
  input: ConductorInput,
  options: ConductorOptions = defaultConductorOptions,
): ConductorRound {
  const { directory } = input;
  if (directory.bucketCount === 0) {
    return { commands: [], pauses: [], warnings: [], stopped: [], transitions: 0 };
  }
  const nodes = new Map(directory.nodes.map((n) => [n.id, n]));
  const commands: Command[] = [];
  for (const verdict of input.dead) {
    const node = nodes.get(verdict.id);
    // A verdict on the registered incarnation or a newer one (a restart that died before its
    // register committed) kills the node; one on an older incarnation is stale.
    if (node === undefined || verdict.incarnation < node.incarnation) continue;
    if (node.state !== 'active' && node.state !== 'draining') continue;
    commands.push({ kind: 'mark-dead', id: verdict.id, incarnation: node.incarnation });
    nodes.set(node.id, { ...node, state: 'dead' });
  }
  const stopped: { bucket: number; epoch: number }[] = [];
  const departures = departureEdicts(directory.buckets, nodes, stopped);
  if (departures.length > 0 || commands.length > 0) {
    return {
      commands: [...commands, ...departures],
      pauses: [],
      warnings: [],
      stopped,
      transitions: departures.length,
    };
  }
  // Stopped buckets still hold dead members; the planner leaves them alone until one returns.
  const round = moveEdicts(directory, input, options, new Set(stopped.map((s) => s.bucket)));
  return { ...round, stopped, commands: [...round.commands, ...removals(directory)] };
}

const alive = (nodes: ReadonlyMap<NodeId, NodeRecord>, id: NodeId): boolean => {
  const state = nodes.get(id)?.state;
  return state === 'active' || state === 'draining';
};

function departureEdicts(
  buckets: readonly Government[],
  nodes: ReadonlyMap<NodeId, NodeRecord>,
  stopped: { bucket: number; epoch: number }[],
): Command[] {
  const leaders = new Map<NodeId, number>();
  for (const g of buckets)
    if (g.leader !== null) leaders.set(g.leader, (leaders.get(g.leader) ?? 0) + 1);
  const edicts: Command[] = [];
  buckets.forEach((g, bucket) => {
    const members = [...(g.leader === null ? [] : [g.leader]), ...g.followers, ...g.learners];
    if (members.every((id) => alive(nodes, id))) return;
    const followers = g.followers.filter((id) => alive(nodes, id));
    const learners = g.learners.filter((id) => alive(nodes, id));
    let leader = g.leader;
    if (leader !== null && !alive(nodes, leader)) {
      // Only a complete member may usurp: it holds every acknowledged write.
      const successor = followers
        .filter((id) => g.complete.includes(id))
        .sort((a, b) => (leaders.get(a) ?? 0) - (leaders.get(b) ?? 0) || a - b)[0];
      if (successor === undefined) {
        stopped.push({ bucket, epoch: g.epoch }); // no complete member left: wait for one
        return;
      }
      leaders.set(successor, (leaders.get(successor) ?? 0) + 1);
      leader = successor;
    }
    edicts.push({
      kind: 'edict',
      bucket,
      expectEpoch: g.epoch,
      leader,
      followers: followers.filter((id) => id !== leader),
      learners,
    });
  });
  return edicts;
}

function plannerNodes(directory: DirectoryState, damped: (id: NodeId) => boolean): PlannerNode[] {
  const out: PlannerNode[] = [];
  for (const n of directory.nodes) {
    if (n.state === 'removed') continue;
    const state =
      n.state === 'dead'
        ? 'failed'
        : n.state === 'draining'
          ? 'draining'
          : damped(n.id)
            ? 'spare'
            : 'active';
    out.push({ id: n.id, zone: n.zone, rack: n.rack, weight: n.weight, state });
  }
  return out;
}

function moveEdicts(
  directory: DirectoryState,
  input: ConductorInput,
  options: ConductorOptions,
  stopped: ReadonlySet<number>,
): Omit<ConductorRound, 'stopped'> {
  if (stopped.size > 0) {
    // The planner needs a live leader in every bucket; moves wait until stopped buckets recover.
    return { commands: [], pauses: [], warnings: [], transitions: stopped.size };
  }
  const current: CurrentPlacement[] = directory.buckets.map((g) => ({
    leader: g.leader,
    followers: g.followers,
    learners: g.learners,
  }));
  // A bucket in the middle of a move keeps walking to the target recorded when the move began, and
  // the planner sees it as already there; every other bucket is planned from its voters (a learner
  // left over from an abandoned move is not a placement to plan from). Planning again from a
  // half-moved government made the target depend on how far the move had got: a bucket with an
  // extra voter dropped the newcomer again, one with a learner promoted it, round after round
  // (the cluster scenario, seeds 54 and 56).
  const nodeStates = new Map(directory.nodes.map((n) => [n.id, n.state]));
  const recorded = directory.buckets.map((g) => movingTo(g, nodeStates));
  const placements: CurrentPlacement[] = directory.buckets.map((g, b) => {
    const to = recorded[b] ?? null;
    return to === null
      ? { leader: g.leader, followers: g.followers, learners: [] }
      : { leader: to.leader, followers: to.followers, learners: [] };
  });
  const planned = plan(placements, plannerNodes(directory, input.damped), {
    replicas: directory.replicas,
    ...(options.fanOutMax === undefined ? {} : { fanOutMax: options.fanOutMax }),
  });
  if (!planned.ok) return { commands: [], pauses: [], warnings: [], transitions: 0 }; // no live node
  const target: TargetPlacement[] = planned.value.target.map((p, b) => recorded[b] ?? p);
  const movePlan = moves(current, target, {
    backfillsPerNodeMax: options.backfillsPerNodeMax,
  });
  const caughtUp = (bucket: number, node: NodeId): boolean =>
    directory.buckets[bucket]?.caughtUp.includes(node) ?? false;
  const commands: Command[] = [];
  const pauses: PauseRequest[] = [];
  for (const step of startableSteps(movePlan, caughtUp)) {
    if (commands.length >= options.edictsPerRoundMax) break;
    if (step.kind === 'transfer-leader') {
      const g = directory.buckets[step.bucket] as Government;
      // A follower promoted a moment ago leads only once the current leader has activated (S3).
      if (!g.complete.includes(step.to)) continue;
      // A planned handover first pauses the leader and waits for its drain (A4).
      if (!input.drained(step.bucket, g.epoch)) {
        pauses.push({ bucket: step.bucket, epoch: g.epoch, leader: step.from });
        continue;
      }
    }
    const edict = edictFor(directory.buckets, current, target, step);
    if (edict !== null) commands.push(edict);
  }
  return {
    commands,
    pauses,
    warnings: planned.value.warnings,
    transitions: movePlan.buckets.length,
  };
}

/** The edict that performs `step`, or null for a step that is not an edict (a running backfill). */
function edictFor(
  governments: readonly Government[],
  current: readonly CurrentPlacement[],
  target: readonly TargetPlacement[],
  step: MoveStep,
): Command | null {
  if (step.kind === 'backfill') return null;
  const g = governments[step.bucket] as Government;
  const next = applyStep(current[step.bucket] as CurrentPlacement, step);
  return {
    kind: 'edict',
    bucket: bucketId(step.bucket),
    expectEpoch: g.epoch,
    leader: next.leader,
    followers: next.followers,
    learners: next.learners ?? [],
    target: target[step.bucket] as TargetPlacement,
  };
}

/**
 * The target of the move `g` is in the middle of, or null: none recorded, already reached (same
 * leader, same followers, no learners), or no longer reachable because one of its nodes is not
 * active any more (draining, dead or removed), in which case the bucket is planned again.
 */
function movingTo(
  g: Government,
  states: ReadonlyMap<NodeId, NodeRecord['state']>,
): TargetPlacement | null {
  const to = g.target;
  if (to === null) return null;
  const reached =
    g.leader === to.leader &&
    g.learners.length === 0 &&
    g.followers.length === to.followers.length &&
    to.followers.every((id) => g.followers.includes(id));
  if (reached) return null;
  return [to.leader, ...to.followers].every((id) => states.get(id) === 'active') ? to : null;
}

function removals(directory: DirectoryState): Command[] {
  const inUse = new Set<NodeId>();
  for (const g of directory.buckets) {
    if (g.leader !== null) inUse.add(g.leader);
    for (const id of [...g.followers, ...g.learners]) inUse.add(id);
  }
  return directory.nodes
    .filter((n) => n.state === 'draining' && !inUse.has(n.id))
    .map((n) => ({ kind: 'remove', id: n.id }));
}
