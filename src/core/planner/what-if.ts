/**
 * What-if planning, for `edict plan` and the benchmark: a uniform cluster is planned from nothing,
 * then nodes are added or removed and it is planned again from the first target, and the second
 * plan is measured against the first (copies, lower bound, steps, rounds under the backfill limit).
 *
 * Pure, like the rest of the planner: time comes from an injected `now()` (milliseconds), so that
 * the shell decides what clock to use and tests can pass a fake one.
 */
import { assert } from '../lib/assert.js';
import { nodeId } from '../lib/ids.js';
import { copiesBetween, lowerBoundMoves, mapStats, type MapStats } from './analyze.js';
import { moves } from './moves.js';
import { plan } from './plan.js';
import { rehearse } from './schedule.js';
import {
  defaultMoveLimits,
  type CurrentMap,
  type Plan,
  type PlanConstraints,
  type PlanWarning,
  type PlannerNode,
} from './types.js';

/** The cluster and the change to try. */
export interface WhatIfInput {
  readonly nodes: number;
  readonly buckets: number;
  readonly replicas: number;
  readonly zones: number;
  /** Racks per zone; 0 (default) means every node is its own rack. */
  readonly racks?: number;
  /** Nodes to add (ids after the last), continuing the round-robin over zones. */
  readonly add?: number;
  /** Nodes to remove: the highest ids, as if they had failed. */
  readonly remove?: number;
  readonly fanOutMax?: number;
  /** Backfill limit for the rehearsal of the moves (default: defaultMoveLimits). */
  readonly backfillsPerNodeMax?: number;
}

/** One planning run. */
export interface PlanRun {
  readonly ms: number;
  readonly nodes: number;
  readonly stats: MapStats;
  readonly warnings: readonly PlanWarning[];
}

/** The report of {@link whatIf}. */
export interface WhatIfReport {
  /** The first plan, from nothing. */
  readonly initial: PlanRun;
  /** The plan after the change (the same as `initial` when nothing changes). */
  readonly final: PlanRun;
  /** Copies from the first target to the second. */
  readonly moves: number;
  /** The fewest copies any correct target would need (analyze.ts). */
  readonly lowerBoundMoves: number;
  /** Steps of moves() from the first target to the second. */
  readonly steps: number;
  /** Rounds of the rehearsal under the backfill limit (each backfill takes one round). */
  readonly rounds: number;
}

/**
 * Node i (1-based) of a uniform cluster: zone z(i-1 mod Z), rack r(⌊(i-1)/Z⌋ mod racks), weight 1.
 */
export function uniformNode(i: number, zones: number, racks: number): PlannerNode {
  return {
    id: nodeId(i),
    zone: `z${(i - 1) % zones}`,
    ...(racks > 0 ? { rack: `r${Math.floor((i - 1) / zones) % racks}` } : {}),
    weight: 1,
    state: 'active',
  };
}

function timed(
  now: () => number,
  current: CurrentMap,
  nodes: readonly PlannerNode[],
  c: PlanConstraints,
): { plan: Plan; run: PlanRun } {
  const start = now();
  const result = plan(current, nodes, c);
  const ms = now() - start;
  assert(result.ok, 'a what-if cluster has usable nodes');
  const stats = mapStats(result.value.target, nodes, c);
  return {
    plan: result.value,
    run: { ms, nodes: nodes.length, stats, warnings: result.value.warnings },
  };
}

/** Runs the what-if described by `input`; `now()` times the two calls to plan(). */
export function whatIf(input: WhatIfInput, now: () => number = () => 0): WhatIfReport {
  const { add = 0, remove = 0, racks = 0 } = input;
  assert(Number.isInteger(input.nodes) && input.nodes >= 1, 'nodes must be a positive integer');
  assert(Number.isInteger(input.zones) && input.zones >= 1, 'zones must be a positive integer');
  assert(Number.isInteger(add) && add >= 0, 'add must be a non-negative integer');
  assert(Number.isInteger(remove) && remove >= 0 && remove < input.nodes + add, 'remove too many');
  const c: PlanConstraints =
    input.fanOutMax === undefined
      ? { replicas: input.replicas }
      : { replicas: input.replicas, fanOutMax: input.fanOutMax };
  const before = Array.from({ length: input.nodes }, (_, k) =>
    uniformNode(k + 1, input.zones, racks),
  );
  const empty: CurrentMap = Array.from({ length: input.buckets }, () => ({
    leader: null,
    followers: [],
  }));
  const first = timed(now, empty, before, c);
  if (add === 0 && remove === 0)
    return {
      initial: first.run,
      final: first.run,
      moves: 0,
      lowerBoundMoves: 0,
      steps: 0,
      rounds: 0,
    };
  const grown = [
    ...before,
    ...Array.from({ length: add }, (_, k) => uniformNode(input.nodes + k + 1, input.zones, racks)),
  ];
  const after = grown.slice(0, grown.length - remove);
  const second = timed(now, first.plan.target, after, c);
  const limits = {
    backfillsPerNodeMax: input.backfillsPerNodeMax ?? defaultMoveLimits.backfillsPerNodeMax,
  };
  const steps = moves(first.plan.target, second.plan.target, limits);
  const rehearsal = rehearse(first.plan.target, second.plan.target, steps);
  return {
    initial: first.run,
    final: second.run,
    moves: copiesBetween(first.plan.target, second.plan.target),
    lowerBoundMoves: lowerBoundMoves(first.plan.target, after, c),
    steps: rehearsal.steps,
    rounds: rehearsal.rounds,
  };
}
