/**
 * The `edict` command. Each subcommand lives in its own module as it arrives; this file only
 * registers them. Errors leave with a non-zero status and a one-line message on stderr.
 */
import { Command } from 'commander';
import { registerPlanCommand } from './plan.js';

export function buildProgram(): Command {
  const program = new Command('edict')
    .description('Edict: a sharded, replicated, strongly consistent key-value store')
    .version('0.1.0');

  program
    .command('dev')
    .description('start a local cluster with data under ./.edict/')
    .option('--nodes <n>', 'number of nodes', '3')
    .action(() => {
      process.stderr.write(
        'edict dev: the node server is not built yet. When it is, this command starts a local\n' +
          'cluster (3 nodes by default) with its data under ./.edict/ and prints their ports.\n' +
          'Until then, `npm test` and `npm run sim` exercise the simulator.\n',
      );
      process.exitCode = 2;
    });

  registerPlanCommand(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
