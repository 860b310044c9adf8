import { Command, CommanderError } from 'commander';
import { InputError, UsageError } from '../data/errors.js';
import { TOOL_VERSION } from '../version.js';
import { registerCommands } from './commands/index.js';

/**
 * Exit codes (DESIGN.md §4): 0 success, 2 bad input or usage (one line naming file, column, row),
 * 1 internal error. `ope gate` adds its own verdict codes.
 */
export async function run(argv: readonly string[]): Promise<number> {
  const program = new Command();
  program
    .name('ope')
    .description('Counterfactual off-policy evaluation of recommender and ranking policies')
    .version(TOOL_VERSION)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  await registerCommands(program, argv);
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return exitCodeFor(err);
  }
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander already printed its message (help, version or a usage error).
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
    return 2;
  }
  if (err instanceof InputError || err instanceof UsageError) {
    process.stderr.write(`ope: error: ${err.message}\n`);
    return 2;
  }
  const e = err instanceof Error ? err : new Error(String(err));
  process.stderr.write(`ope: internal error: ${e.message}\n${process.env.OPE_DEBUG ? (e.stack ?? '') + '\n' : '(set OPE_DEBUG=1 for a stack trace)\n'}`);
  return 1;
}
