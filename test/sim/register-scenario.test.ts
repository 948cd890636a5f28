// The `register` scenario end to end: a seed replays to the same trace, the correct register passes
// a range of seeds, the planted stale-read bug is caught by the linearizability checker (proving the
// checker alive inside a real run), and the `sim` command prints its contract lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { registerScenario } from '../../sim/scenarios/register.js';
import { runSeed } from '../../sim/scenario.js';

const run = (seed: number, bug: string | null = null) =>
  runSeed(registerScenario, { seed: BigInt(seed), steps: null, bug });

describe('register scenario', () => {
  test('the same seed replays the same trace', () => {
    const a = run(7);
    const b = run(7);
    assert.deepEqual(a, b);
    assert.notEqual(run(8).trace, a.trace);
    assert.ok(a.faults > 0 && a.ops > 100, `faults ${a.faults}, ops ${a.ops}`);
  });

  test('the correct register passes seeds 1..20', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const outcome = run(seed);
      assert.deepEqual(outcome.violations, [], `seed ${seed}`);
    }
  });

  test('the stale-read bug is caught on seeds 1..10', () => {
    const caught = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].filter(
      (s) => run(s, 'stale-read').violations.length > 0,
    );
    assert.ok(caught.length > 0, 'no seed caught the stale read');
    const first = run(caught[0] as number, 'stale-read');
    assert.match(first.violations.join('\n'), /linearizability/);
  });

  test('an unknown bug name is refused', () => {
    assert.throws(() => run(1, 'no-such-bug'), /no bug/);
  });
});

describe('sim command', () => {
  const sim = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'sim/main.ts', ...args], { encoding: 'utf8' });

  test('one seed: the last line has every field, and repeats exactly', () => {
    const first = sim('--scenario', 'register', '--seed', '7');
    const second = sim('--scenario', 'register', '--seed', '7');
    assert.equal(first.status, 0, first.stderr);
    const last = first.stdout.trim().split('\n').at(-1) ?? '';
    assert.match(
      last,
      /^scenario=register seed=7 steps=\d+ faults=\d+ ops=\d+ violations=0 trace=[0-9a-f]{16}$/,
    );
    assert.equal(second.stdout, first.stdout);
  });

  test('a range with a planted bug lists failed seeds and exits 1', () => {
    const out = sim('--scenario', 'register', '--seeds', '1..3', '--bug', 'stale-read');
    assert.equal(out.status, 1);
    const lines = out.stdout.trim().split('\n');
    assert.match(lines.at(-1) ?? '', /^scenario=register seeds=3 failed=[1-3]$/);
    const failed = Number(/failed=(\d)/.exec(lines.at(-1) ?? '')?.[1]);
    assert.equal(lines.length - 1, failed, 'one line per failed seed');
  });

  test('bad usage exits 2 with a message', () => {
    const out = sim('--scenario', 'nope', '--seed', '1');
    assert.equal(out.status, 2);
    assert.match(out.stderr, /unknown scenario/);
  });
});
