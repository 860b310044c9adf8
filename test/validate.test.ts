import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogBatch } from '../src/data/batch.js';
import { InputError, UsageError } from '../src/data/errors.js';
import { openLog, type LogSource } from '../src/data/read-log.js';
import { validateLog } from '../src/data/validate.js';
import { writeTable, type OutColumnSpec } from '../src/data/write-log.js';
import { renderValidation } from '../src/cli/commands/validate.js';
import { parseColumnsMapping } from '../src/cli/options.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-validate-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const FULL_HEADER = 'request_id,position,action,reward,propensity,target_propensity,policy_id,feature_snapshot_id,event_ts';

async function csv(name: string, lines: readonly string[]): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, lines.join('\n') + '\n');
  return path;
}

describe('validateLog', () => {
  it('reports rows, columns, K and what the log supports', async () => {
    const path = await csv('good.csv', [
      FULL_HEADER,
      'r1,0,0,1,0.5,0.5,p1,s1,2024-01-01T00:00:00Z',
      'r1,1,3,0,0.25,0.5,p1,s1,2024-01-01T00:00:00Z',
      'r2,0,1,1,0.5,0.25,p1,s1,1704067200',
    ]);
    const report = await validateLog(openLog(path));
    expect(report).toEqual({
      file: path,
      rows: 3,
      columns: FULL_HEADER.split(','),
      contract: {
        action: 'action',
        reward: 'reward',
        propensity: 'propensity',
        position: 'position',
        request_id: 'request_id',
        event_ts: 'event_ts',
        target_propensity: 'target_propensity',
        policy_id: 'policy_id',
        feature_snapshot_id: 'feature_snapshot_id',
      },
      K: 4,
      hasTarget: true,
      hasRewardModel: false,
      isRanking: true,
      requests: 2,
      warnings: [],
      contractShare: 1,
      contractMissing: [],
    });
    const text = renderValidation(report);
    expect(text).toContain(`${path}: valid log, 3 rows`);
    expect(text).toContain('no warnings');
  });

  it('takes K from the list columns when present', async () => {
    const path = join(dir, 'lists.parquet');
    const spec: OutColumnSpec[] = [
      { name: 'action', kind: 'int32' },
      { name: 'reward', kind: 'float64' },
      { name: 'propensity', kind: 'float64' },
      { name: 'action_dist', kind: 'list', width: 5 },
      { name: 'q_hat', kind: 'list', width: 5 },
    ];
    await writeTable(path, spec, [
      {
        n: 2,
        columns: {
          action: Int32Array.from([0, 1]),
          reward: Float64Array.from([1, 0]),
          propensity: Float64Array.from([0.2, 0.2]),
          action_dist: new Float64Array(10).fill(0.2),
          q_hat: new Float64Array(10).fill(0.5),
        },
      },
    ]);
    const report = await validateLog(openLog(path));
    expect(report.K).toBe(5);
    expect(report.hasTarget).toBe(true);
    expect(report.hasRewardModel).toBe(true);
    expect(report.isRanking).toBe(false);
    expect(report.requests).toBeUndefined();
  });

  it('warns about tiny propensities and weights above 1000, without failing', async () => {
    const path = await csv('heavy.csv', [
      'action,reward,propensity,target_propensity',
      '0,1,0.00001,0.5',
      '1,0,0.00005,0.01',
      '0,1,0.5,0.5',
      '1,1,0.0002,0.9',
    ]);
    const report = await validateLog(openLog(path));
    const tiny = report.warnings.find((w) => w.code === 'tiny-propensity');
    expect(tiny).toMatchObject({ count: 2, value: 0.00001 });
    const heavy = report.warnings.find((w) => w.code === 'large-weight');
    expect(heavy).toMatchObject({ count: 2, value: 0.5 / 0.00001 });
    expect(heavy?.message).toContain('2 rows (50.0%) have an importance weight above 1000 (max 50000)');
  });

  it('reports the share of rows with the full release log contract and which columns are missing', async () => {
    const partial = await csv('partial.csv', [
      FULL_HEADER,
      'r1,0,0,1,0.5,0.5,p1,s1,1704067200',
      ',0,0,1,0.5,0.5,p1,s1,1704067200',
      'r3,0,0,1,0.5,0.5,,s1,1704067200',
      'r4,0,0,1,0.5,0.5,p1,s1,',
    ]);
    const report = await validateLog(openLog(partial));
    expect(report.contractShare).toBe(0.25);
    expect(report.warnings).toEqual([
      {
        code: 'log-contract',
        message: '25.0% of rows carry the full release log contract (request_id, policy_id, position, propensity, feature_snapshot_id, event_ts); the other rows have nulls in it',
        count: 3,
        value: 0.25,
      },
    ]);
    const bare = await csv('bare.csv', ['item_id,reward,pscore', '0,1,0.5']);
    const r2 = await validateLog(openLog(bare));
    expect(r2.contractShare).toBe(0);
    expect(r2.contractMissing).toEqual(['request_id', 'policy_id', 'position', 'feature_snapshot_id', 'event_ts']);
    expect(r2.warnings[0].message).toContain('missing columns: request_id, policy_id, position, feature_snapshot_id, event_ts');
  });

  it('finds a duplicate (request_id, position) pair and names both rows, across batches', async () => {
    const lines = ['request_id,position,action,reward,propensity'];
    for (let r = 0; r < 20; r++) for (let p = 0; p < 3; p++) lines.push(`${r},${p},0,1,0.5`);
    lines.push('7,1,0,1,0.5');
    const path = await csv('dup.csv', lines);
    const err = await validateLog(openLog(path, { batchRows: 8 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toBe(
      `${path}: column 'position', row 60: duplicate (request_id, position) = (7, 1): row 60 repeats row 22; each request has one row per position`,
    );
    expect((err as InputError).row).toBe(60);
  });

  it('tracks positions beyond 30 and string ids', async () => {
    const path = await csv('far.csv', ['slate_id,position,action,reward,propensity', 'a,40,0,1,0.5', 'b,40,0,1,0.5', 'a,41,0,1,0.5', 'a,40,0,1,0.5']);
    await expect(validateLog(openLog(path))).rejects.toThrow('duplicate (slate_id, position) = ("a", 40): row 3 repeats row 0');
    const ok = await csv('far-ok.csv', ['slate_id,position,action,reward,propensity', 'a,40,0,1,0.5', 'b,40,0,1,0.5', 'a,41,0,1,0.5', 'a,3,0,1,0.5']);
    expect((await validateLog(openLog(ok))).requests).toBe(2);
  });

  it('validates a library caller\'s batches (no duplicate check without ids)', async () => {
    const batch: LogBatch = {
      source: 'memory',
      rowOffset: 0,
      n: 2,
      action: Int32Array.from([0, 2]),
      reward: Float64Array.from([1, 0]),
      propensity: Float64Array.from([0.5, 0.5]),
      position: Int32Array.from([0, 1]),
      clusterKey: Uint32Array.from([1, 1]),
    };
    const source: LogSource = {
      path: 'memory',
      async *batches() {
        yield batch;
      },
    };
    const report = await validateLog(source);
    expect(report.rows).toBe(2);
    expect(report.K).toBe(3);
    expect(report.warnings.map((w) => w.code)).toEqual(['log-contract', 'duplicates-not-checked']);
  });
});

describe('parseColumnsMapping', () => {
  it('parses new=old pairs', () => {
    expect(parseColumnsMapping('propensity=pscore, action=item ,reward=click')).toEqual({ propensity: 'pscore', action: 'item', reward: 'click' });
  });

  it('rejects bad syntax with a UsageError', () => {
    for (const bad of ['propensity', '=x', 'a=', 'a=b=c', '', 'a=b,a=c']) {
      expect(() => parseColumnsMapping(bad), bad).toThrow(UsageError);
    }
  });
});
