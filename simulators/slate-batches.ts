import type { LogBatch, PolicyBatch } from '../src/data/batch.js';
import { clusterKeyOfInteger } from '../src/data/cluster-key.js';
import type { AlignedBatch } from '../src/engine/reblock.js';
import { slateTargetName } from './slate-config.js';
import { generateSlateLog, type SlateSynthBatch, type SlateSynthConfig } from './slate-world.js';

/**
 * A synthetic slate log straight into the estimators, without files: the LogBatch and PolicyBatch
 * columns the readers produce from `ope synth --slate` output (slate ids keyed as the readers key
 * them), for studies that evaluate many logs (convergence, coverage, benchmarks).
 */
export function slateSynthToAligned(b: SlateSynthBatch): AlignedBatch {
  const clusterKey = new Uint32Array(b.n);
  for (let i = 0; i < b.n; i++) clusterKey[i] = clusterKeyOfInteger(b.slateId[i]);
  const log: LogBatch = {
    source: '<slate synth>',
    rowOffset: b.rowOffset,
    n: b.n,
    action: b.action,
    reward: b.reward,
    propensity: b.propensity,
    position: b.position,
    clusterKey,
    propensityItemPosition: b.propensityItemPosition,
    propensityCascade: b.propensityCascade,
    propensityItemPositions: { width: b.L, values: b.propensityItemPositions },
    qHat: { width: b.K, values: b.qHat },
    context: { width: b.d, values: b.context },
  };
  const policies: PolicyBatch[] = b.targets.map((t) => ({
    n: b.n,
    targetPropensity: t.targetPropensity,
    targetPropensityItemPosition: t.targetPropensityItemPosition,
    targetPropensityCascade: t.targetPropensityCascade,
    targetPropensityItemPositions: { width: b.L, values: t.targetPropensityItemPositions },
    actionDist: { width: b.K, values: t.actionDist },
  }));
  return { log, policies };
}

/**
 * generateSlateLog as aligned batches with the target names in policy order; `onBatch` sees every
 * generated batch first (e.g. a SlateSampleTruthAccumulator).
 */
export function slateSynthAligned(config: SlateSynthConfig, onBatch?: (b: SlateSynthBatch) => void, batchSlates?: number): { names: string[]; batches: Iterable<AlignedBatch> } {
  const first = generateSlateLog({ ...config, n: 1 }).next();
  const names = first.done === true ? [] : first.value.targets.map((t) => slateTargetName(t.spec));
  return {
    names,
    batches: {
      *[Symbol.iterator]() {
        for (const b of generateSlateLog(config, batchSlates)) {
          onBatch?.(b);
          yield slateSynthToAligned(b);
        }
      },
    },
  };
}
