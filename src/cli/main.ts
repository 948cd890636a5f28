/**
 * The `edict` command. Each group of subcommands lives in its own module; this file registers them
 * and turns errors into one line on stderr with a stable code and a non-zero status.
 */
import { Command } from 'commander';
import { EdictError } from '../errors.js';
import { registerKvCommands } from './kv-commands.js';
import { registerNodeCommands } from './node-commands.js';
import { registerPlanCommand } from './plan.js';

export function buildProgram(): Command {
  const program = new Command('edict')
    .description('Edict: a sharded, replicated, strongly consistent key-value store')
    .version('0.1.0');

  registerNodeCommands(program);
  registerKvCommands(program);
  registerPlanCommand(program);
  return program;
}

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  const code = error instanceof EdictError ? error.code : 'INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`edict: ${code}: ${message}\n`);
  process.exitCode = 1;
}
