import type { Command } from 'commander';
import { registerEvaluate } from './evaluate.js';
import { registerFit } from './fit.js';
import { registerValidate } from './validate.js';
import { registerSynth } from './synth.js';
import { registerDemo } from './demo.js';
import { registerSimulate } from './simulate.js';
import { registerGate } from './gate.js';
import { registerFilter } from './filter.js';
import { registerReplay } from './replay.js';
import { registerPredictive } from './predictive.js';
import { registerSql } from './sql.js';

/** One file per command; each adds itself to the program. */
export function registerCommands(program: Command): void {
  registerValidate(program);
  registerEvaluate(program);
  registerFit(program);
  registerSynth(program);
  registerDemo(program);
  registerSimulate(program);
  registerGate(program);
  registerFilter(program);
  registerReplay(program);
  registerPredictive(program);
  registerSql(program);
}
