// Scripted planner cases with golden output (after etcd-io/raft's datadriven tests). Each file in
// testdata/ is a script of commands; each command is followed by `----` and the output it must
// print, then a blank line. Run with UPDATE_GOLDEN=1 to rewrite the expected output from the
// actual one, then review the diff like code.
//
// Commands:
//   buckets N                          start from an empty map of N buckets
//   node ID zone=Z [rack=R] [weight=W] [state=S]   add or change a node
//   remove-node ID                     drop a node from the directory
//   fail-over ID                       what the conductor does when a node fails, before any
//                                      planned move: drop it from every government, a follower
//                                      (the lowest id) taking over where it led
//   plan replicas=R [fanout=F]         plan from the current map; prints the target and loads
//   moves [backfills=K]                steps from the current map to the last target
//   apply                              the last target becomes the current map
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeId, type NodeId } from '../../../src/core/lib/ids.js';
import {
  copiesBetween,
  idealLoads,
  lowerBoundMoves,
  moves,
  plan,
  rehearse,
  type CurrentMap,
  type MoveStep,
  type NodeState,
  type PlanConstraints,
  type PlanWarning,
  type PlannerNode,
  type TargetMap,
} from '../../../src/core/planner/index.js';
import { loads } from './arbitraries.js';

const DIR = join(import.meta.dirname, 'testdata');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

interface Case {
  /** Comment lines (starting with #) just before the command. */
  readonly comments: readonly string[];
  readonly command: string;
  readonly expected: string;
}

function parse(text: string): Case[] {
  const lines = text.split('\n');
  const cases: Case[] = [];
  let comments: string[] = [];
  let k = 0;
  while (k < lines.length) {
    const line = lines[k] as string;
    if (line.trim() === '' || line.startsWith('#')) {
      if (line.startsWith('#')) comments.push(line);
      k++;
      continue;
    }
    assert.equal(lines[k + 1], '----', `line ${k + 2}: expected ---- after "${line}"`);
    const out: string[] = [];
    for (k += 2; k < lines.length && lines[k] !== ''; k++) out.push(lines[k] as string);
    cases.push({ comments, command: line, expected: out.join('\n') });
    comments = [];
  }
  return cases;
}

/** The script's state: nodes, current map, last target and its constraints. */
class Script {
  nodes = new Map<NodeId, PlannerNode>();
  current: CurrentMap = [];
  target: TargetMap | null = null;
  constraints: PlanConstraints = { replicas: 3 };

  run(command: string): string {
    const [verb, ...words] = command.split(/\s+/);
    const args = new Map(
      words.filter((w) => w.includes('=')).map((w) => w.split('=') as [string, string]),
    );
    const bare = words.filter((w) => !w.includes('='));
    switch (verb) {
      case 'buckets':
        this.current = Array.from({ length: Number(bare[0]) }, () => ({
          leader: null,
          followers: [],
        }));
        return '';
      case 'node':
        return this.node(Number(bare[0]), args);
      case 'remove-node':
        this.nodes.delete(nodeId(Number(bare[0])));
        return '';
      case 'fail-over':
        return this.failOver(nodeId(Number(bare[0])));
      case 'plan':
        return this.plan(args);
      case 'moves':
        return this.moves(Number(args.get('backfills') ?? 2));
      case 'apply':
        assert.ok(this.target !== null, 'apply after plan');
        this.current = this.target;
        return '';
      default:
        throw new Error(`unknown command ${verb}`);
    }
  }

  private node(id: number, args: Map<string, string>): string {
    const old = this.nodes.get(nodeId(id));
    const rack = args.get('rack') ?? old?.rack;
    this.nodes.set(nodeId(id), {
      id: nodeId(id),
      zone: args.get('zone') ?? old?.zone ?? 'z',
      ...(rack === undefined ? {} : { rack }),
      weight: Number(args.get('weight') ?? old?.weight ?? 1),
      state: (args.get('state') ?? old?.state ?? 'active') as NodeState,
    });
    return '';
  }

  private failOver(failed: NodeId): string {
    const lines: string[] = [];
    this.current = this.current.map((p, b) => {
      const followers = p.followers.filter((x) => x !== failed);
      const learners = (p.learners ?? []).filter((x) => x !== failed);
      if (p.leader !== failed) return { leader: p.leader, followers, learners };
      const [leader, ...rest] = [...followers].sort((x, y) => x - y);
      lines.push(`b${b}: ${failed} → ${leader ?? 'none'}`);
      return { leader: leader ?? null, followers: rest, learners };
    });
    return lines.join('\n');
  }

  private plan(args: Map<string, string>): string {
    const fanout = args.get('fanout');
    this.constraints = {
      replicas: Number(args.get('replicas') ?? 3),
      ...(fanout === undefined ? {} : { fanOutMax: Number(fanout) }),
    };
    const nodes = [...this.nodes.values()];
    const result = plan(this.current, nodes, this.constraints);
    if (!result.ok) return `error ${result.code}`;
    const target = result.value.target;
    this.target = target;
    const lines = target.map(
      (p, b) => `b${b}: ${[`${p.leader}*`, ...p.followers.map(String)].join(' ')}`,
    );
    const ideal = idealLoads(nodes, target.length, this.constraints);
    const { replicas, leaders } = loads(target);
    for (const node of [...nodes].sort((a, b) => a.id - b.id)) {
      const load = ideal.get(node.id);
      const where = `${node.zone}${node.rack === undefined ? '' : `/${node.rack}`}`;
      const range = (r: readonly [number, number] | undefined): string =>
        r === undefined || !load?.inPool ? '-' : `${r[0]}..${r[1]}`;
      lines.push(
        `node ${node.id} ${where} w${node.weight} ${node.state}: ` +
          `replicas ${replicas.get(node.id) ?? 0} (${range(load?.replicasRange)}), ` +
          `leaders ${leaders.get(node.id) ?? 0} (${range(load?.leadersRange)})`,
      );
    }
    lines.push(
      `copies ${copiesBetween(this.current, target)}, lower bound ` +
        `${lowerBoundMoves(this.current, nodes, this.constraints)}`,
    );
    lines.push(`warnings: ${result.value.warnings.map(describeWarning).join('; ') || 'none'}`);
    return lines.join('\n');
  }

  private moves(backfills: number): string {
    assert.ok(this.target !== null, 'moves after plan');
    const mp = moves(this.current, this.target, { backfillsPerNodeMax: backfills });
    const lines = mp.buckets.map(
      ({ bucket, steps }) => `b${bucket}: ${steps.map(describeStep).join('; ')}`,
    );
    const run = rehearse(this.current, this.target, mp);
    lines.push(
      `${mp.copies} copies, ${run.steps} steps in ${run.rounds} rounds; ` +
        `at most ${run.backfillsPerNodePeak} backfills per node; voters margin ${run.votersMarginMin}`,
    );
    return lines.join('\n');
  }
}

function describeStep(step: MoveStep): string {
  switch (step.kind) {
    case 'create':
      return `create ${step.leader}* ${step.followers.join(' ')}`.trim();
    case 'add-learner':
    case 'backfill':
      return `${step.kind} ${step.node} from ${step.source}`;
    case 'transfer-leader':
      return `transfer-leader ${step.from}→${step.to}`;
    default:
      return `${step.kind} ${step.node}`;
  }
}

function describeWarning(w: PlanWarning): string {
  const { code, ...rest } = w;
  const detail = Object.entries(rest)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`)
    .join(' ');
  return `${code} ${detail}`.trim();
}

describe('planner golden scripts', () => {
  for (const file of readdirSync(DIR)
    .filter((f) => f.endsWith('.txt'))
    .sort()) {
    test(file, () => {
      const path = join(DIR, file);
      const text = readFileSync(path, 'utf8');
      const script = new Script();
      const actual = parse(text).map((c) => ({ ...c, actual: script.run(c.command) }));
      if (UPDATE) {
        const body = actual.map(
          (c) =>
            `${c.comments.map((line) => `${line}\n`).join('')}${c.command}\n----\n` +
            `${c.actual}${c.actual === '' ? '' : '\n'}`,
        );
        writeFileSync(path, body.join('\n'));
        return;
      }
      for (const c of actual) assert.equal(c.actual, c.expected, `${file}: ${c.command}`);
    });
  }
});
