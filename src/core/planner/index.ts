/**
 * The planner (DESIGN.md 4.3): `plan` computes a target map, `moves` the steps from the current
 * map to it, `startableSteps` which of them may start under the backfill limit. All pure and
 * deterministic; see docs/planner.md.
 */
export { plan } from './plan.js';
export { moves, bucketSteps, applyStep, rankOf, votersOf } from './moves.js';
export { startableSteps, backfillLoad, rehearse, type Rehearsal } from './schedule.js';
export { mapStats, copiesBetween, lowerBoundMoves, type MapStats, type Spread } from './analyze.js';
export { idealLoads, type IdealLoad } from './ideal-loads.js';
export * from './types.js';
