/**
 * The in-memory log of the bootstrap cases: the bench's synthetic rows as one LogBatch plus the
 * inline target policy's PolicyBatch, built through the library's from-arrays helpers.
 */
import { logBatchFromArrays, policyBatchFromArrays } from '../../src/data/from-arrays.js';
import type { AlignedBatch } from '../../src/engine/reblock.js';
import { synthColumns, type SynthColumns } from './synth-log.js';

export interface InMemoryLog {
  readonly columns: SynthColumns;
  readonly aligned: AlignedBatch;
}

export function inMemoryLog(rows: number, seed = 1): InMemoryLog {
  const c = synthColumns(rows, seed);
  const log = logBatchFromArrays({
    action: c.action,
    reward: c.reward,
    propensity: c.propensity,
    qHatLogged: c.qHatLogged,
    qHatTarget: c.qHatTarget,
  });
  const policy = policyBatchFromArrays({ targetPropensity: c.targetPropensity });
  return { columns: c, aligned: { log, policies: [policy] } };
}
