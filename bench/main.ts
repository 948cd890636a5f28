/**
 * `npm run bench -- NAME [args]` runs the benchmark in `bench/NAME.ts`, whose module exports
 * `main(args: string[]): Promise<void>`. With no name it runs `cluster` (Edict against etcd, the
 * headline comparison; docs/benchmarks.md); `--list` lists the benchmarks. Benchmarks print tables
 * (and JSON lines with `--json`) and are bounded in time; they are not tests.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DEFAULT = 'cluster';
const dir = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'main.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

const argv = process.argv.slice(2);
if (argv[0] === '--list' || argv[0] === 'list') {
  process.stdout.write(`${available.join('\n')}\n`);
  process.exit(0);
}
const named = argv[0] !== undefined && !argv[0].startsWith('-');
const name = named ? (argv[0] as string) : DEFAULT;
const args = named ? argv.slice(1) : argv;
if (!available.includes(name)) {
  process.stderr.write(
    `usage: npm run bench -- [NAME] [args]   (default ${DEFAULT})\nbenchmarks: ${available.join(', ')}\n`,
  );
  process.exit(2);
}
if (!named)
  process.stderr.write(`bench: running ${DEFAULT} (npm run bench -- --list for the others)\n`);
const module = (await import(`./${name}.ts`)) as { main: (args: string[]) => Promise<void> };
await module.main(args);
