/**
 * `edict plan`: what-if planning. Builds a uniform cluster (N nodes round-robin over Z zones,
 * equal weights), plans it from nothing, applies --add/--remove and plans again from the first
 * target, then reports balance, zone spread, fan-out, the copies the change needs and the lower
 * bound on them. With --json the last line of output is one JSON object (see {@link PlanReport}).
 */
import { performance } from 'node:perf_hooks';
import { InvalidArgumentError, type Command } from 'commander';
import { BUCKETS_MAX, NODES_MAX, REPLICAS_MAX, defaultMoveLimits } from '../core/planner/types.js';
import {
  whatIf,
  type PlanRun,
  type WhatIfInput,
  type WhatIfReport,
} from '../core/planner/what-if.js';

/** The --json object. Field names are a contract for scripts. */
export interface PlanReport {
  readonly input: Required<Omit<WhatIfInput, 'fanOutMax'>> & { readonly fanOutMax: number | null };
  /** Milliseconds of the plan after the change (or of the only plan, without a change). */
  readonly ms: number;
  /** Milliseconds of the first plan, from nothing. */
  readonly msInitial: number;
  readonly nodes: number;
  readonly leaders: { readonly min: number; readonly max: number };
  readonly replicas: { readonly min: number; readonly max: number };
  readonly leaderDeviationMax: number;
  readonly replicaDeviationMax: number;
  readonly zoneViolations: number;
  readonly fanOutMax: number;
  readonly moves: number;
  readonly lowerBoundMoves: number;
  readonly steps: number;
  readonly rounds: number;
  readonly warnings: readonly string[];
}

function integer(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`expected an integer in ${min}..${max}, got '${value}'`);
    return n;
  };
}

/** The JSON report of a what-if. */
export function toReport(input: WhatIfInput, report: WhatIfReport): PlanReport {
  const run = report.final;
  return {
    input: {
      nodes: input.nodes,
      buckets: input.buckets,
      replicas: input.replicas,
      zones: input.zones,
      racks: input.racks ?? 0,
      add: input.add ?? 0,
      remove: input.remove ?? 0,
      fanOutMax: input.fanOutMax ?? null,
      backfillsPerNodeMax: input.backfillsPerNodeMax ?? defaultMoveLimits.backfillsPerNodeMax,
    },
    ms: round(run.ms),
    msInitial: round(report.initial.ms),
    nodes: run.nodes,
    leaders: run.stats.leaders,
    replicas: run.stats.replicas,
    leaderDeviationMax: round(run.stats.leaderDeviationMax),
    replicaDeviationMax: round(run.stats.replicaDeviationMax),
    zoneViolations: run.stats.zoneViolations,
    fanOutMax: run.stats.fanOutMax,
    moves: report.moves,
    lowerBoundMoves: report.lowerBoundMoves,
    steps: report.steps,
    rounds: report.rounds,
    warnings: run.warnings.map((w) => w.code),
  };
}

const round = (x: number): number => Math.round(x * 1000) / 1000;

function describeRun(label: string, run: PlanRun): string {
  const s = run.stats;
  return (
    `  ${label.padEnd(14)} ${run.ms.toFixed(1).padStart(8)} ms   ` +
    `replicas/node ${s.replicas.min}..${s.replicas.max}   ` +
    `leaders/node ${s.leaders.min}..${s.leaders.max}   ` +
    `zone violations ${s.zoneViolations}   fan-out ≤ ${s.fanOutMax}`
  );
}

/** The readable summary. */
export function describe(input: WhatIfInput, report: WhatIfReport): string {
  const { add = 0, remove = 0 } = input;
  const lines = [
    `edict plan: ${input.nodes} nodes over ${input.zones} zones, ` +
      `${input.buckets} buckets × ${input.replicas} replicas`,
    describeRun('initial plan', report.initial),
  ];
  if (add > 0 || remove > 0) {
    const change = [add > 0 ? `+${add}` : '', remove > 0 ? `-${remove}` : ''].join(' ').trim();
    lines.push(describeRun(`${change} node(s)`, report.final));
    const over =
      report.lowerBoundMoves === 0
        ? ''
        : ` (${(((report.moves - report.lowerBoundMoves) / report.lowerBoundMoves) * 100).toFixed(1)}% over)`;
    lines.push(
      `  moves          ${report.moves} copies, lower bound ${report.lowerBoundMoves}${over}; ` +
        `${report.steps} steps in ${report.rounds} rounds at ` +
        `${input.backfillsPerNodeMax ?? defaultMoveLimits.backfillsPerNodeMax} backfills per node`,
    );
  }
  const warnings = report.final.warnings.map((w) => w.code);
  lines.push(`  warnings       ${warnings.length === 0 ? 'none' : warnings.join(', ')}`);
  return lines.join('\n');
}

/** Registers `edict plan` on `program`. */
export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description('what-if planning: balance, zone spread and data movement for a cluster change')
    .option('--nodes <n>', 'nodes in the cluster', integer(1, NODES_MAX), 10)
    .option('--buckets <n>', 'buckets', integer(1, BUCKETS_MAX), 1024)
    .option('--replicas <n>', 'copies per bucket (leader + followers)', integer(1, REPLICAS_MAX), 3)
    .option('--zones <n>', 'zones, nodes assigned round-robin', integer(1, NODES_MAX), 3)
    .option('--racks <n>', 'racks per zone (0: a rack per node)', integer(0, NODES_MAX), 0)
    .option('--add <k>', 'nodes to add after the first plan', integer(0, NODES_MAX), 0)
    .option('--remove <k>', 'nodes to remove after the first plan', integer(0, NODES_MAX), 0)
    .option('--fanout <f>', 'fan-out limit: distinct peers per node', integer(1, NODES_MAX))
    .option(
      '--backfills <k>',
      'backfills per node for the rehearsal',
      integer(1, 1000),
      defaultMoveLimits.backfillsPerNodeMax,
    )
    .option('--json', 'print one JSON object as the last line')
    .action((opts: Record<string, number | boolean | undefined>) => {
      const input: WhatIfInput = {
        nodes: opts['nodes'] as number,
        buckets: opts['buckets'] as number,
        replicas: opts['replicas'] as number,
        zones: opts['zones'] as number,
        racks: opts['racks'] as number,
        add: opts['add'] as number,
        remove: opts['remove'] as number,
        backfillsPerNodeMax: opts['backfills'] as number,
        ...(opts['fanout'] === undefined ? {} : { fanOutMax: opts['fanout'] as number }),
      };
      if ((input.remove ?? 0) >= input.nodes + (input.add ?? 0)) {
        process.stderr.write('edict plan: --remove must leave at least one node\n');
        process.exitCode = 2;
        return;
      }
      const report = whatIf(input, () => performance.now());
      if (opts['json'] === true)
        process.stdout.write(`${JSON.stringify(toReport(input, report))}\n`);
      else process.stdout.write(`${describe(input, report)}\n`);
    });
}
