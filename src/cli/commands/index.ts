import type { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * One file per command; each adds itself to the program. Loaded on demand: a command's module
 * pulls in its readers, estimators or TF.js, and loading all of them cost every invocation about
 * half a second of start-up (bench point-1e7-arrow, `cli`).
 */
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  validate: async () => (await import('./validate.js')).registerValidate,
  evaluate: async () => (await import('./evaluate.js')).registerEvaluate,
  fit: async () => (await import('./fit.js')).registerFit,
  synth: async () => (await import('./synth.js')).registerSynth,
  demo: async () => (await import('./demo.js')).registerDemo,
  simulate: async () => (await import('./simulate.js')).registerSimulate,
  gate: async () => (await import('./gate.js')).registerGate,
  filter: async () => (await import('./filter.js')).registerFilter,
  replay: async () => (await import('./replay.js')).registerReplay,
  predictive: async () => (await import('./predictive.js')).registerPredictive,
  sql: async () => (await import('./sql.js')).registerSql,
};

/**
 * Registers the command named on the command line alone when there is one (its options and help
 * are complete without the others), none for `ope --version`, else every command (for `ope
 * --help`, `ope help X` and the error on an unknown command), in the order `ope --help` lists them.
 */
export async function registerCommands(program: Command, argv: readonly string[]): Promise<void> {
  const args = argv.slice(2);
  const named = args.find((a) => !a.startsWith('-'));
  if (named === undefined && (args.includes('--version') || args.includes('-V'))) return;
  const names = named !== undefined && named in COMMANDS ? [named] : Object.keys(COMMANDS);
  const registers = await Promise.all(names.map((n) => COMMANDS[n]()));
  for (const register of registers) register(program);
}
