/**
 * The `sim` command.
 *
 *   npm run sim -- --scenario NAME --seed N [--steps N] [--bug NAME]
 *   npm run sim -- --scenario NAME --seeds A..B [--bug NAME]
 *
 * One seed: prints each violation, then as the last line
 * `scenario=NAME seed=N steps=N faults=N ops=N violations=N trace=HEX`.
 * A range: prints that line for each failed seed (violations on stderr), then as the last line
 * `scenario=NAME seeds=K failed=F`. Exit status 1 when any seed failed, 2 on bad usage.
 */
import { seed64 } from '../src/core/lib/prng.js';
import { formatOutcome, runSeed, type Scenario } from './scenario.js';
import { scenarios } from './scenarios/index.js';

interface Args {
  scenario: Scenario;
  seeds: { from: bigint; to: bigint } | null;
  seed: bigint | null;
  steps: number | null;
  bug: string | null;
}

function usage(message: string): never {
  process.stderr.write(
    `sim: ${message}\nusage: npm run sim -- --scenario NAME (--seed N | --seeds A..B) [--steps N] [--bug NAME]\n` +
      `scenarios: ${scenarios.map((s) => `${s.name} (bugs: ${s.bugs.join(', ') || 'none'})`).join('; ')}\n`,
  );
  process.exit(2);
}

function parseSeed(text: string): bigint {
  if (!/^\d+$/.test(text)) usage(`bad seed '${text}'`);
  return seed64(BigInt(text));
}

function parseArgs(argv: readonly string[]): Args {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i] as string;
    const value = argv[i + 1];
    if (!flag.startsWith('--') || value === undefined) usage(`bad argument '${flag}'`);
    values.set(flag.slice(2), value);
  }
  for (const key of values.keys()) {
    if (!['scenario', 'seed', 'seeds', 'steps', 'bug'].includes(key))
      usage(`unknown flag --${key}`);
  }
  const name = values.get('scenario') ?? usage('--scenario is required');
  const scenario = scenarios.find((s) => s.name === name) ?? usage(`unknown scenario '${name}'`);
  const seedText = values.get('seed');
  const seedsText = values.get('seeds');
  if ((seedText === undefined) === (seedsText === undefined))
    usage('give exactly one of --seed, --seeds');
  let seeds: Args['seeds'] = null;
  if (seedsText !== undefined) {
    const match = /^(\d+)\.\.(\d+)$/.exec(seedsText) ?? usage(`bad range '${seedsText}'`);
    seeds = { from: parseSeed(match[1] as string), to: parseSeed(match[2] as string) };
    if (seeds.to < seeds.from) usage(`empty range '${seedsText}'`);
  }
  const stepsText = values.get('steps');
  const steps = stepsText === undefined ? null : Number(stepsText);
  if (steps !== null && (!Number.isSafeInteger(steps) || steps <= 0))
    usage(`bad --steps '${stepsText}'`);
  const bug = values.get('bug') ?? null;
  if (bug !== null && !scenario.bugs.includes(bug)) usage(`scenario ${name} has no bug '${bug}'`);
  return { scenario, seeds, seed: seedText === undefined ? null : parseSeed(seedText), steps, bug };
}

function main(): number {
  const args = parseArgs(process.argv.slice(2));
  const { scenario, steps, bug } = args;
  if (args.seed !== null) {
    const outcome = runSeed(scenario, { seed: args.seed, steps, bug });
    for (const note of outcome.notes) process.stdout.write(`note: ${note}\n`);
    for (const v of outcome.violations) process.stdout.write(`violation: ${v}\n`);
    process.stdout.write(`${formatOutcome(scenario.name, args.seed, outcome)}\n`);
    return outcome.violations.length > 0 ? 1 : 0;
  }
  const range = args.seeds as { from: bigint; to: bigint };
  let failed = 0;
  let count = 0;
  for (let seed = range.from; seed <= range.to; seed++) {
    count += 1;
    const outcome = runSeed(scenario, { seed, steps, bug });
    if (outcome.violations.length === 0) continue;
    failed += 1;
    for (const v of outcome.violations) process.stderr.write(`seed ${seed}: ${v}\n`);
    process.stdout.write(`${formatOutcome(scenario.name, seed, outcome)}\n`);
  }
  process.stdout.write(`scenario=${scenario.name} seeds=${count} failed=${failed}\n`);
  return failed > 0 ? 1 : 0;
}

process.exitCode = main();
