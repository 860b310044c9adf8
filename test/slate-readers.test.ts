import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openLog, openPolicy } from '../src/data/read-log.js';
import type { LogBatch, PolicyBatch } from '../src/data/batch.js';
import { generateSlateLog, type SlateSynthConfig } from '../simulators/slate-world.js';
import { writeSlateSynth } from '../simulators/write-slate-synth.js';

const config: SlateSynthConfig = {
  n: 300,
  actions: 6,
  slateLength: 3,
  dim: 2,
  logger: 'plackett-luce',
  reward: 'independent',
  loggingTemperature: 1,
  qHatNoise: 0.1,
  seed: 4,
  populationSamples: 1000,
};

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const cat = (parts: (Float64Array | undefined)[]) => Float64Array.from(parts.flatMap((p) => Array.from(p ?? [])));

describe('slate columns in the readers (DESIGN.md §2 slate logs)', () => {
  it('read back exactly what ope synth --slate wrote, in Arrow and CSV', async () => {
    const gen = [...generateSlateLog(config)];
    const want = {
      ip: cat(gen.map((b) => b.propensityItemPosition)),
      cascade: cat(gen.map((b) => b.propensityCascade)),
      tip: cat(gen.map((b) => b.targets[0].targetPropensityItemPosition)),
      tcascade: cat(gen.map((b) => b.targets[0].targetPropensityCascade)),
    };
    for (const format of ['arrow', 'csv'] as const) {
      const dir = mkdtempSync(join(tmpdir(), `ope-slate-${format}-`));
      const { truth } = await writeSlateSynth(config, { outDir: dir, format });
      const log: LogBatch[] = await all(openLog(join(dir, truth.log_file), { batchRows: 100 }).batches());
      const pol: PolicyBatch[] = await all(openPolicy(join(dir, truth.targets[0].file), { batchRows: 100 }).batches());
      expect(cat(log.map((b) => b.propensityItemPosition))).toEqual(want.ip);
      expect(cat(log.map((b) => b.propensityCascade))).toEqual(want.cascade);
      expect(cat(pol.map((b) => b.targetPropensityItemPosition))).toEqual(want.tip);
      expect(cat(pol.map((b) => b.targetPropensityCascade))).toEqual(want.tcascade);
      expect(log[0].clusterKey).toBeDefined(); // slate_id clusters the bootstrap
    }
  });

  it('a zero cascade propensity is an input error naming file, column and row', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ope-slate-bad-'));
    const file = join(dir, 'log.csv');
    writeFileSync(file, 'slate_id,position,action,reward,propensity,propensity_item_position,propensity_cascade\n0,0,1,1,0.1,0.5,0.5\n0,1,2,0,0.1,0.2,0\n');
    await expect(all(openLog(file).batches())).rejects.toThrow(/log\.csv: column 'propensity_cascade', row 1 \(line 3\): propensity_cascade must be in \(0, 1\], got 0/);
  });
});
