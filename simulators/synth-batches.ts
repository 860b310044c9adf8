import type { LogBatch, PolicyBatch } from '../src/data/batch.js';
import { clusterKeyOfInteger } from '../src/data/cluster-key.js';
import type { AlignedBatch } from '../src/engine/reblock.js';
import { generateBanditLog, type BanditSynthConfig, type SynthBatch } from './bandit-world.js';

/**
 * A synthetic log straight into the estimators, without files: the same LogBatch and PolicyBatch
 * columns the readers produce from `ope synth` output (request ids keyed exactly as the readers key
 * them), for studies that evaluate thousands of logs (coverage, bias).
 */
export function synthToAligned(b: SynthBatch): AlignedBatch {
  const clusterKey = new Uint32Array(b.n);
  for (let i = 0; i < b.n; i++) clusterKey[i] = clusterKeyOfInteger(b.requestId[i]);
  const log: LogBatch = {
    source: '<synth>',
    rowOffset: b.rowOffset,
    n: b.n,
    action: b.action,
    reward: b.reward,
    propensity: b.propensity,
    clusterKey,
    qHat: { width: b.K, values: b.qHat },
    context: { width: b.d, values: b.context },
  };
  const policies: PolicyBatch[] = b.targets.map((t) => ({ n: b.n, actionDist: { width: b.K, values: t.actionDist }, targetPropensity: t.targetPropensity }));
  return { log, policies };
}

/** generateBanditLog as aligned batches, with the target names in policy order. */
export function synthAligned(config: BanditSynthConfig, batchRows?: number): { names: string[]; batches: Iterable<AlignedBatch> } {
  const first = generateBanditLog({ ...config, n: 1 }).next();
  const names = first.done === true ? [] : first.value.targets.map((t) => t.name);
  return {
    names,
    batches: {
      *[Symbol.iterator]() {
        for (const b of generateBanditLog(config, batchRows)) yield synthToAligned(b);
      },
    },
  };
}
