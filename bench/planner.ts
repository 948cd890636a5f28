/**
 * Planner benchmark: planning time, balance, zone spread and data movement for uniform clusters
 * of 10 to 10,000 nodes with 1,024 and 16,384 buckets, 3 replicas.
 *
 *   npm run bench -- planner [--repeat 5] [--json] [--max-nodes 10000]
 *
 * For each size: the plan from nothing (first run, then the median of `repeat` more, wall clock and
 * CPU time), the spreads
 * of leaders and replicas per node (max − min) and the zone violations of that plan; then one node
 * added (in the next zone of the round-robin) and the last node removed (as if it failed), each
 * planned from the first target, with the copies it takes against the lower bound.
 */
import { performance } from 'node:perf_hooks';
import { copiesBetween, lowerBoundMoves, mapStats, plan } from '../src/core/planner/index.js';
import type { CurrentMap, PlannerNode, TargetMap } from '../src/core/planner/index.js';
import { uniformNode } from '../src/core/planner/what-if.js';

const SIZES: readonly (readonly [number, number])[] = [10, 100, 1000, 10000].flatMap((n) =>
  [1024, 16384].map((b) => [n, b] as const),
);
const REPLICAS = 3;

interface Row {
  nodes: number;
  buckets: number;
  zones: number;
  msFirst: number;
  msMedian: number;
  cpuMsMedian: number;
  leaderSpread: number;
  replicaSpread: number;
  zoneViolations: number;
  addMs: number;
  addCopies: number;
  addBound: number;
  removeMs: number;
  removeCopies: number;
  removeBound: number;
}

/**
 * One plan, timed by the wall clock and by the CPU time of the process (user + system, all
 * threads), which is less sensitive to other load on the machine but includes the JIT's threads.
 */
function timePlan(
  current: CurrentMap,
  nodes: readonly PlannerNode[],
): { ms: number; cpuMs: number; target: TargetMap } {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const result = plan(current, nodes, { replicas: REPLICAS });
  const ms = performance.now() - start;
  const used = process.cpuUsage(cpu);
  if (!result.ok) throw new Error('plan failed');
  return { ms, cpuMs: (used.user + used.system) / 1000, target: result.value.target };
}

const median = (xs: number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function measure(n: number, buckets: number, repeat: number): Row {
  const zones = n >= 100 ? 10 : 5;
  const nodes = Array.from({ length: n }, (_, k) => uniformNode(k + 1, zones, 0));
  const empty: CurrentMap = Array.from({ length: buckets }, () => ({
    leader: null,
    followers: [],
  }));
  const first = timePlan(empty, nodes);
  const runs = Array.from({ length: repeat }, () => timePlan(empty, nodes));
  const stats = mapStats(first.target, nodes, { replicas: REPLICAS });
  const grown = [...nodes, uniformNode(n + 1, zones, 0)];
  const added = timePlan(first.target, grown);
  const shrunk = nodes.slice(0, n - 1);
  const removed = timePlan(first.target, shrunk);
  return {
    nodes: n,
    buckets,
    zones,
    msFirst: first.ms,
    msMedian: median(runs.map((r) => r.ms)),
    cpuMsMedian: median(runs.map((r) => r.cpuMs)),
    leaderSpread: stats.leaders.max - stats.leaders.min,
    replicaSpread: stats.replicas.max - stats.replicas.min,
    zoneViolations: stats.zoneViolations,
    addMs: added.ms,
    addCopies: copiesBetween(first.target, added.target),
    addBound: lowerBoundMoves(first.target, grown, { replicas: REPLICAS }),
    removeMs: removed.ms,
    removeCopies: copiesBetween(first.target, removed.target),
    removeBound: lowerBoundMoves(first.target, shrunk, { replicas: REPLICAS }),
  };
}

function option(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  return at === -1 ? fallback : Number(args[at + 1]);
}

export async function main(args: string[]): Promise<void> {
  const repeat = option(args, '--repeat', 5);
  const maxNodes = option(args, '--max-nodes', 10000);
  const json = args.includes('--json');
  const header =
    '| nodes | buckets | zones | plan ms: first / median (CPU) | leader spread | replica spread | zone violations | +1 node: ms, copies / bound | −1 node: ms, copies / bound |';
  process.stdout.write(`${header}\n|${'---|'.repeat(9)}\n`);
  for (const [n, b] of SIZES) {
    if (n > maxNodes) continue;
    const row = measure(n, b, repeat);
    if (json) process.stdout.write(`${JSON.stringify(row)}\n`);
    process.stdout.write(
      `| ${n} | ${b} | ${row.zones} | ` +
        `${row.msFirst.toFixed(1)} / ${row.msMedian.toFixed(1)} (${row.cpuMsMedian.toFixed(1)}) | ` +
        `${row.leaderSpread} | ${row.replicaSpread} | ${row.zoneViolations} | ` +
        `${row.addMs.toFixed(1)}, ${row.addCopies} / ${row.addBound} | ` +
        `${row.removeMs.toFixed(1)}, ${row.removeCopies} / ${row.removeBound} |\n`,
    );
  }
  await Promise.resolve();
}
