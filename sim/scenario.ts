/**
 * What a simulation scenario is, and how one seed of it is run. A scenario builds a whole system
 * inside one `Simulator`, drives it with clients and a nemesis, and checks it; the `sim` command runs
 * it for one seed or a range of seeds (sim/main.ts).
 */
import { AssertionError } from '../src/core/lib/assert.js';

export interface ScenarioRun {
  readonly seed: bigint;
  /** Upper bound on simulator events; null for the scenario's own length. */
  readonly steps: number | null;
  /** A planted bug to enable, or null for the correct system. */
  readonly bug: string | null;
}

export interface ScenarioOutcome {
  /** Simulator events run. */
  readonly steps: number;
  /** Faults the nemesis injected. */
  readonly faults: number;
  /** Client operations invoked. */
  readonly ops: number;
  /** One line per violated property; empty when the run passed. */
  readonly violations: readonly string[];
  /** Notes that are not failures (e.g. a checker that gave up on a key). */
  readonly notes: readonly string[];
  /** The trace fingerprint (16 hex digits). */
  readonly trace: string;
}

export interface Scenario {
  readonly name: string;
  readonly description: string;
  /** The planted bugs this scenario knows, for `--bug`. */
  readonly bugs: readonly string[];
  run(run: ScenarioRun): ScenarioOutcome;
}

/**
 * Runs one seed. A failed assertion inside the system under test is a violation of that seed (it is
 * what a crash of a real node would be), not a crash of the runner; any other exception is a bug in
 * the harness and propagates.
 */
export function runSeed(scenario: Scenario, run: ScenarioRun): ScenarioOutcome {
  if (run.bug !== null && !scenario.bugs.includes(run.bug)) {
    throw new Error(
      `scenario ${scenario.name} has no bug '${run.bug}' (known: ${scenario.bugs.join(', ') || 'none'})`,
    );
  }
  try {
    return scenario.run(run);
  } catch (error) {
    if (!(error instanceof AssertionError)) throw error;
    return {
      steps: 0,
      faults: 0,
      ops: 0,
      violations: [`assertion failed: ${error.message}`],
      notes: [],
      trace: '0000000000000000',
    };
  }
}

/** The `sim` command's last line for one seed. */
export function formatOutcome(name: string, seed: bigint, outcome: ScenarioOutcome): string {
  return (
    `scenario=${name} seed=${seed} steps=${outcome.steps} faults=${outcome.faults} ` +
    `ops=${outcome.ops} violations=${outcome.violations.length} trace=${outcome.trace}`
  );
}
