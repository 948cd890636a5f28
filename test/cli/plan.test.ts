// `edict plan` run as a child process, the way an operator runs it: the JSON report's fields and
// values for a join and a departure, the readable summary, and clean failures on bad input.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

function edict(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    encoding: 'utf8',
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string) as Record<string, unknown>;
}

describe('edict plan', () => {
  test('--json: adding one node to 100 copies no more than 5% over the lower bound', () => {
    const run = edict([
      'plan',
      '--nodes',
      '100',
      '--buckets',
      '1024',
      '--replicas',
      '3',
      '--zones',
      '10',
      '--add',
      '1',
      '--json',
    ]);
    assert.equal(run.status, 0, run.stderr);
    const report = lastJson(run.stdout);
    for (const key of ['ms', 'leaders', 'replicas', 'zoneViolations', 'moves', 'lowerBoundMoves'])
      assert.ok(key in report, `report has ${key}`);
    assert.equal(typeof report['ms'], 'number');
    assert.deepEqual(report['replicas'], { min: 30, max: 31 });
    assert.deepEqual(report['leaders'], { min: 10, max: 11 });
    assert.equal(report['zoneViolations'], 0);
    const moves = report['moves'] as number;
    const bound = report['lowerBoundMoves'] as number;
    assert.ok(bound >= 30 && moves <= bound * 1.05, `${moves} copies, bound ${bound}`);
  });

  test('--json: removing nodes moves what they held, zones still respected', () => {
    const run = edict([
      'plan',
      '--nodes',
      '12',
      '--buckets',
      '256',
      '--zones',
      '3',
      '--remove',
      '2',
      '--json',
    ]);
    assert.equal(run.status, 0, run.stderr);
    const report = lastJson(run.stdout);
    assert.equal(report['nodes'], 10);
    assert.equal(report['zoneViolations'], 0);
    assert.ok((report['moves'] as number) >= (report['lowerBoundMoves'] as number));
    assert.ok((report['lowerBoundMoves'] as number) > 0);
    // Zones of 4, 3 and 3 nodes each hold one copy of every bucket, so nodes in the larger zone
    // hold fewer: the spread is wide, but every node is within ±1 of its ideal.
    assert.ok((report['replicaDeviationMax'] as number) < 1);
    assert.ok((report['leaderDeviationMax'] as number) < 1);
  });

  test('fewer zones than replicas is reported, not hidden', () => {
    const run = edict(['plan', '--nodes', '4', '--zones', '2', '--buckets', '8', '--json']);
    assert.equal(run.status, 0, run.stderr);
    const report = lastJson(run.stdout);
    assert.deepEqual(report['warnings'], ['ZONES_SHORT']);
    assert.equal(
      report['zoneViolations'],
      0,
      'two copies per zone is the cap here, not a violation',
    );
  });

  test('without --json: a readable summary', () => {
    const run = edict(['plan', '--nodes', '6', '--zones', '3', '--buckets', '64', '--add', '1']);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /6 nodes over 3 zones, 64 buckets × 3 replicas/);
    assert.match(run.stdout, /moves +\d+ copies, lower bound \d+/);
    assert.match(run.stdout, /warnings +none/);
  });

  test('bad input fails with a message and a non-zero status', () => {
    for (const args of [
      ['--nodes', '0'],
      ['--nodes', 'ten'],
      ['--replicas', '99'],
      ['--nodes', '3', '--remove', '3'],
    ]) {
      const run = edict(['plan', ...args]);
      assert.notEqual(run.status, 0, `edict plan ${args.join(' ')} fails`);
      assert.ok(run.stderr.length > 0, 'with a message');
    }
  });
});
