/**
 * `npm run bench -- NAME [args]` runs the benchmark in `bench/NAME.ts`, whose module exports
 * `main(args: string[]): Promise<void>`. With no name it lists the benchmarks. Benchmarks print
 * tables (and JSON lines with `--json`) and are bounded in time; they are not tests.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(dir)
  .filter((f) => f.endsWith('.ts') && f !== 'main.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (name === undefined || !available.includes(name)) {
  process.stderr.write(
    `usage: npm run bench -- NAME [args]\nbenchmarks: ${available.join(', ') || '(none yet)'}\n`,
  );
  process.exit(name === undefined ? 0 : 2);
}
const module = (await import(`./${name}.ts`)) as { main: (args: string[]) => Promise<void> };
await module.main(args);
