// The `raft` scenario end to end: a seed replays to the same trace; the correct core passes a few
// seeds (the full 1..200 sweep is `npm run sim -- --scenario raft --seeds 1..200`); and each planted
// bug is caught within a bounded range of seeds, proving the checkers alive inside a real run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { raftScenario } from '../../sim/scenarios/raft.js';
import { runSeed } from '../../sim/scenario.js';

const run = (seed: number, bug: string | null = null) =>
  runSeed(raftScenario, { seed: BigInt(seed), steps: null, bug });

/** The first seed in [from, to] on which the run has a violation, or null. */
function firstCaught(
  from: number,
  to: number,
  bug: string,
): { seed: number; violations: readonly string[] } | null {
  for (let seed = from; seed <= to; seed++) {
    const outcome = run(seed, bug);
    if (outcome.violations.length > 0) return { seed, violations: outcome.violations };
  }
  return null;
}

describe('raft scenario', () => {
  test('the same seed replays the same trace', () => {
    const a = run(3);
    const b = run(3);
    assert.deepEqual(a, b);
    assert.notEqual(run(4).trace, a.trace);
    assert.ok(a.faults > 20 && a.ops > 500, `faults ${a.faults}, ops ${a.ops}`);
  });

  test('the correct core passes seeds 1..4, and a leader commits soon after healing', () => {
    for (let seed = 1; seed <= 4; seed++) {
      const outcome = run(seed);
      assert.deepEqual(outcome.violations, [], `seed ${seed}`);
      assert.ok(outcome.notes.some((n) => n.startsWith('liveness: a probe committed')));
    }
  });

  test('planted bug raft-vote-no-log-check is caught within seeds 1..5', () => {
    const caught = firstCaught(1, 5, 'raft-vote-no-log-check');
    assert.ok(caught !== null, 'no seed caught the vote granted without the log check');
    assert.match(
      caught.violations.join('\n'),
      /leader completeness|commit durability|state machine safety|linearizability/,
    );
  });

  test('planted bug raft-commit-old-term is caught within seeds 1..15', () => {
    const caught = firstCaught(1, 15, 'raft-commit-old-term');
    assert.ok(caught !== null, 'no seed caught the commit of an old-term entry');
    assert.match(
      caught.violations.join('\n'),
      /commit durability|leader completeness|state machine safety/,
    );
    // The same history without the bug is safe: the violation is the bug's, not the harness's.
    assert.deepEqual(run(caught.seed).violations, []);
  });
});
