import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTable } from '../src/data/write-log.js';
import { evaluatePredictive, runPredictive, type PredictiveResult } from '../src/predictive/protocol.js';
import { readReleases, type ReleaseRecord } from '../src/predictive/read-releases.js';
import { predictiveReportHtml } from '../src/report/predictive-report.js';
import { midRanks, pearson, signAgreement, spearman } from '../src/stats/rank-correlation.js';
import { runCli } from './helpers/run-cli.js';

/**
 * `ope predictive` (issue 9): the predictive-validation protocol on hand-made release tables with
 * hand-computed statistics, the verdict rules on constructed tables, bad input, determinism.
 */

/*
 * The hand-made table: metric 'ctr', lag 0, 8 releases r1..r8.
 *   offline x = [0.1, 0.2, 0.2, 0.4, -0.1, 0.0, 0.3, 0.3]
 *   online  y = [0.05, 0.1, 0.3, 0.2, -0.2, 0.1, -0.05, 0.4]
 * Mid-ranks (ties averaged):
 *   x: -0.1 -> 1, 0.0 -> 2, 0.1 -> 3, 0.2 (r2, r3) -> (4+5)/2 = 4.5, 0.3 (r7, r8) -> (6+7)/2 = 6.5, 0.4 -> 8
 *      rank(x) = [3, 4.5, 4.5, 8, 1, 2, 6.5, 6.5]
 *   y: -0.2 -> 1, -0.05 -> 2, 0.05 -> 3, 0.1 (r2, r6) -> (4+5)/2 = 4.5, 0.2 -> 6, 0.3 -> 7, 0.4 -> 8
 *      rank(y) = [3, 4.5, 7, 6, 1, 4.5, 2, 8]
 * Both rank means are 4.5; deviations
 *   dx = [-1.5, 0, 0, 3.5, -3.5, -2.5, 2, 2], dy = [-1.5, 0, 2.5, 1.5, -3.5, 0, -2.5, 3.5]
 *   sum dx dy = 2.25 + 0 + 0 + 5.25 + 12.25 + 0 - 5 + 7 = 21.75
 *   sum dx^2 = 2.25 + 12.25 + 12.25 + 6.25 + 4 + 4 = 41; sum dy^2 = 2.25 + 6.25 + 2.25 + 12.25 + 6.25 + 12.25 = 41.5
 *   Spearman = 21.75 / sqrt(41 * 41.5) = 0.52728...
 * Pearson (scale-free: use 20 x and 20 y = [2,4,4,8,-2,0,6,6], [1,2,6,4,-4,2,-1,8]; halve x: [1,2,2,4,-1,0,3,3]):
 *   sum x = 14, sum y = 18, sum xy = 1+4+12+16+4+0-3+24 = 58, sum x^2 = 44, sum y^2 = 142, n = 8
 *   Sxy = 58 - 14*18/8 = 26.5, Sxx = 44 - 14^2/8 = 19.5, Syy = 142 - 18^2/8 = 101.5
 *   Pearson = 26.5 / sqrt(19.5 * 101.5) = 0.59565...
 * Sign agreement: r6 (0 vs +0.1: a zero agrees only with a zero) and r7 (+0.3 vs -0.05) disagree: 6/8 = 0.75.
 */
const X = [0.1, 0.2, 0.2, 0.4, -0.1, 0.0, 0.3, 0.3];
const Y = [0.05, 0.1, 0.3, 0.2, -0.2, 0.1, -0.05, 0.4];
const SPEARMAN = 21.75 / Math.sqrt(41 * 41.5);
const PEARSON = 26.5 / Math.sqrt(19.5 * 101.5);

function records(metric: string, x: readonly number[], y: readonly number[], lagDays = 0, prefix = 'r'): ReleaseRecord[] {
  return x.map((v, i) => ({ releaseId: `${prefix}${i + 1}`, metric, deltaOffline: v, deltaOnline: y[i], lagDays, row: i }));
}

function csvOf(rows: readonly ReleaseRecord[], withLag = true): string {
  const head = withLag ? 'release_id,metric,delta_offline,delta_online,lag_days' : 'release_id,metric,delta_offline,delta_online';
  return [head, ...rows.map((r) => [r.releaseId, r.metric, r.deltaOffline, r.deltaOnline, ...(withLag ? [r.lagDays] : [])].join(','))].join('\n') + '\n';
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ope-predictive-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('rank correlation', () => {
  it('mid-ranks average the ranks of ties', () => {
    expect([...midRanks(X)]).toEqual([3, 4.5, 4.5, 8, 1, 2, 6.5, 6.5]);
    expect([...midRanks(Y)]).toEqual([3, 4.5, 7, 6, 1, 4.5, 2, 8]);
    expect([...midRanks([5, 5, 5])]).toEqual([2, 2, 2]);
  });

  it('Spearman with ties, Pearson and sign agreement equal the hand-computed values', () => {
    expect(Math.abs(spearman(X, Y) - SPEARMAN)).toBeLessThan(1e-12);
    expect(Math.abs(pearson(X, Y) - PEARSON)).toBeLessThan(1e-12);
    expect(signAgreement(X, Y)).toBe(0.75);
  });

  it('is NaN where undefined', () => {
    expect(spearman([1], [2])).toBeNaN();
    expect(pearson([1, 1, 1], [1, 2, 3])).toBeNaN();
    expect(signAgreement([], [])).toBeNaN();
    expect(signAgreement([0, -0], [0, 0])).toBe(1);
    expect(() => pearson([1, 2], [1])).toThrow(RangeError);
  });
});

describe('ope predictive on a hand-made table', () => {
  it('reports the hand-computed statistics from CSV, JSON and JSONL, and no warning with 8 releases', async () => {
    const rows = records('ctr', X, Y);
    const csv = join(dir, 'hand.csv');
    await writeFile(csv, csvOf(rows, false));
    const json = join(dir, 'hand.json');
    await writeFile(json, JSON.stringify(rows.map((r) => ({ release_id: r.releaseId, metric: r.metric, delta_offline: r.deltaOffline, delta_online: r.deltaOnline }))));
    const jsonl = join(dir, 'hand.jsonl');
    await writeFile(jsonl, rows.map((r) => JSON.stringify({ release_id: r.releaseId, metric: r.metric, delta_offline: r.deltaOffline, delta_online: r.deltaOnline, lag_days: 0 })).join('\n') + '\n');
    for (const file of [csv, json, jsonl]) {
      const r = await runPredictive(file, { bootstrap: 200 });
      expect(r.metrics).toHaveLength(1);
      const l = r.metrics[0].lags[0];
      expect(l.lagDays).toBe(0);
      expect(l.n).toBe(8);
      expect(Math.abs(l.spearman.estimate - SPEARMAN)).toBeLessThan(1e-12);
      expect(Math.abs(l.pearson.estimate - PEARSON)).toBeLessThan(1e-12);
      expect(l.signAgreement.estimate).toBe(0.75);
      expect(l.spearman.lower).toBeLessThanOrEqual(l.spearman.estimate);
      expect(l.spearman.upper).toBeGreaterThanOrEqual(l.spearman.estimate);
      expect(r.warnings).toEqual([]);
    }
  });

  it('reads Arrow and Parquet with integer lags', async () => {
    const rows = [
      ...records('ctr', X, Y, 0),
      ...records(
        'ctr',
        X,
        Y.map((v) => -v),
        7,
      ),
    ];
    const n = rows.length;
    const columns = {
      release_id: rows.map((r) => r.releaseId),
      metric: rows.map((r) => r.metric),
      delta_offline: Float64Array.from(rows, (r) => r.deltaOffline),
      delta_online: Float64Array.from(rows, (r) => r.deltaOnline),
      lag_days: Int32Array.from(rows, (r) => r.lagDays),
    };
    const schema = [
      { name: 'release_id', kind: 'string' },
      { name: 'metric', kind: 'string' },
      { name: 'delta_offline', kind: 'float64' },
      { name: 'delta_online', kind: 'float64' },
      { name: 'lag_days', kind: 'int32' },
    ] as const;
    for (const ext of ['arrow', 'parquet']) {
      const file = join(dir, `lags.${ext}`);
      await writeTable(file, schema, [{ n, columns }]);
      const read = await readReleases(file);
      expect(read.map((r) => [r.releaseId, r.lagDays, r.deltaOnline])).toEqual(rows.map((r) => [r.releaseId, r.lagDays, r.deltaOnline]));
    }
  });

  it('computes each lag on its own and checks the direction across lags', () => {
    const up = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((v) => v - 5.5);
    const rows = [
      ...records('ctr', X, Y, 0),
      ...records(
        'ctr',
        X,
        Y.map((v) => -v),
        7,
      ),
      ...records('ctr', up, up, 14),
      ...records('ctr', up, up, 0).map((r) => ({ ...r, metric: 'dwell' })),
    ];
    const r = evaluatePredictive(rows, { bootstrap: 100 });
    const ctr = r.metrics.find((m) => m.metric === 'ctr');
    expect(ctr?.lags.map((l) => [l.lagDays, l.n])).toEqual([
      [0, 8],
      [7, 8],
      [14, 10],
    ]);
    expect(Math.abs((ctr?.lags[1].spearman.estimate ?? 0) + SPEARMAN)).toBeLessThan(1e-12);
    expect(Math.abs((ctr?.lags[1].pearson.estimate ?? 0) + PEARSON)).toBeLessThan(1e-12);
    expect(ctr?.lags[1].signAgreement.estimate).toBe(1 / 8); // only r7 (+0.3, +0.05) agrees; r6 (0 vs -0.1) does not
    expect(ctr?.lags[2].spearman.estimate).toBe(1);
    expect(ctr?.verdictLag).toBe(0);
    expect(ctr?.verdict).toBe('supporting');
    expect(ctr?.reasons.join(' ')).toMatch(/direction not stable: Spearman -0\.527 at lag 7/);
    expect(r.metrics.map((m) => m.metric)).toEqual(['ctr', 'dwell']);
  });
});

describe('verdict rules', () => {
  const tenUp = [-5, -4, -3, -2, -1, 1, 2, 3, 4, 5];

  it('a perfectly monotone metric with 10 releases is a gate', () => {
    const r = evaluatePredictive(
      records(
        'monotone',
        tenUp,
        tenUp.map((v) => 0.01 * v ** 3),
      ),
    );
    const m = r.metrics[0];
    expect(m.lags[0].spearman.estimate).toBe(1);
    expect(m.lags[0].spearman.lower).toBe(1);
    expect(m.lags[0].signAgreement.lower).toBe(1);
    expect(m.verdict).toBe('gate');
    expect(r.warnings).toEqual([]);
  });

  it('a noisy positive metric is supporting', () => {
    // Spearman 0.2988 (scipy), 6 of 10 signs agree: positive, but the interval reaches below 0.
    const r = evaluatePredictive(records('noisy', tenUp, [1, -3, 2, -1, -2, 3, -4, 2, -1, 4]));
    const m = r.metrics[0];
    expect(m.lags[0].spearman.estimate).toBeCloseTo(0.298786042326361, 12);
    expect(m.lags[0].spearman.lower).toBeLessThan(0);
    expect(m.verdict).toBe('supporting');
  });

  it('a negative metric is dropped', () => {
    const r = evaluatePredictive(
      records(
        'inverse',
        tenUp,
        tenUp.map((v) => -2 * v + 0.3),
      ),
    );
    expect(r.metrics[0].lags[0].spearman.estimate).toBe(-1);
    expect(r.metrics[0].verdict).toBe('drop');
  });

  it('a monotone metric with 6 releases is only supporting, with the protocol warning', () => {
    const six = [-3, -2, -1, 1, 2, 3];
    const r = evaluatePredictive(records('short', six, six));
    expect(r.metrics[0].verdict).toBe('supporting');
    expect(r.metrics[0].reasons.join(' ')).toMatch(/only 6 releases at lag 0 \(< 8\)/);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/metric 'short': 6 releases at lag 0; the protocol needs at least 8 releases/);
  });

  it('thresholds can be overridden', () => {
    const six = [-3, -2, -1, 1, 2, 3];
    const r = evaluatePredictive(records('short', six, six), { rules: { minReleases: 5 } });
    expect(r.metrics[0].verdict).toBe('gate');
    expect(r.warnings).toEqual([]);
  });

  it('counts and leaves out undefined bootstrap replicates', () => {
    // Two distinct offline values among 3 releases: a resample of one release repeated is constant.
    const r = evaluatePredictive(records('tiny', [1, 2, 2], [1, 2, 3]), { bootstrap: 500 });
    const s = r.metrics[0].lags[0].spearman;
    expect(s.dropped).toBeGreaterThan(0);
    expect(Number.isFinite(s.lower)).toBe(true);
    expect(r.warnings.some((w) => /bootstrap replicates of Spearman were undefined/.test(w))).toBe(true);
  });
});

describe('ope predictive CLI', () => {
  it('prints the table, warns below 8 releases, and writes JSON and the HTML report', async () => {
    const rows = [...records('ctr', X, Y), ...records('dwell', [1, 2, 3, 4, 5], [2, 1, 4, 3, 5])];
    const file = join(dir, 'cli.csv');
    await writeFile(file, csvOf(rows));
    const out = join(dir, 'cli.json');
    const report = join(dir, 'cli.html');
    const r = runCli(['predictive', '--releases', file, '--bootstrap', '300', '--out', out, '--report', report]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Spearman \[95% CI\]/);
    expect(r.stdout).toMatch(/ctr\s+0\s+8\s+0\.527 \[/);
    expect(r.stdout).toMatch(/warning: metric 'dwell': 5 releases at lag 0; the protocol needs at least 8 releases/);
    const json = JSON.parse(await readFile(out, 'utf8')) as PredictiveResult;
    expect(json.metrics.map((m) => m.metric)).toEqual(['ctr', 'dwell']);
    expect(json.bootstrap.replicates).toBe(300);
    const html = await readFile(report, 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('id="chart-ctr"');
    expect(html).toContain('id="chart-dwell"');
    expect(html).toContain('data-metric="ctr" data-verdict="supporting"');
    expect((html.match(/<svg/g) ?? []).length).toBe(2);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
  });

  it('is deterministic: same seed, same JSON; another seed moves the intervals only', async () => {
    const file = join(dir, 'det.csv');
    await writeFile(file, csvOf(records('ctr', X, Y)));
    const a = runCli(['predictive', '--releases', file, '--json', '--seed', '7']);
    const b = runCli(['predictive', '--releases', file, '--json', '--seed', '7']);
    const c = runCli(['predictive', '--releases', file, '--json', '--seed', '8']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    const ja = JSON.parse(a.stdout) as PredictiveResult;
    const jc = JSON.parse(c.stdout) as PredictiveResult;
    expect(ja.bootstrap.replicates).toBe(2000);
    expect(jc.metrics[0].lags[0].spearman.estimate).toBe(ja.metrics[0].lags[0].spearman.estimate);
    expect(jc.metrics[0].lags[0].spearman.lower).not.toBe(ja.metrics[0].lags[0].spearman.lower);
    // In-process too, and the report is byte-identical.
    const r1 = evaluatePredictive(records('ctr', X, Y), { seed: 3, bootstrap: 300 });
    const r2 = evaluatePredictive(records('ctr', X, Y), { seed: 3, bootstrap: 300 });
    expect(JSON.stringify(r1)).toBe(JSON.stringify(r2));
    expect(await predictiveReportHtml(r1)).toBe(await predictiveReportHtml(r2));
  });

  const bad: readonly { name: string; file: string; text: string; message: RegExp }[] = [
    { name: 'missing column', file: 'missing.csv', text: 'release_id,metric,delta_offline\nr1,ctr,0.1\n', message: /missing\.csv: column 'delta_online': missing column 'delta_online'/ },
    {
      name: 'non-numeric delta',
      file: 'text.csv',
      text: 'release_id,metric,delta_offline,delta_online\nr1,ctr,0.1,0.2\nr2,ctr,abc,0.1\n',
      message: /text\.csv: column 'delta_offline', row 1 \(line 3\): delta_offline must be a number, got 'abc'/,
    },
    { name: 'NaN delta', file: 'nan.csv', text: 'release_id,metric,delta_offline,delta_online\nr1,ctr,0.1,NaN\n', message: /nan\.csv: column 'delta_online', row 0 \(line 2\): delta_online is NaN/ },
    {
      name: 'empty release id',
      file: 'empty-id.json',
      text: '[{"release_id":"r1","metric":"ctr","delta_offline":1,"delta_online":1},{"release_id":" ","metric":"ctr","delta_offline":1,"delta_online":1}]',
      message: /empty-id\.json: column 'release_id', row 1: release_id is empty/,
    },
    {
      name: 'duplicate (release, metric, lag)',
      file: 'dup.csv',
      text: 'release_id,metric,delta_offline,delta_online,lag_days\nr1,ctr,1,1,0\nr1,ctr,1,1,7\nr1,ctr,2,2,0\n',
      message: /dup\.csv: column 'release_id', row 2 \(line 4\): release 'r1', metric 'ctr', lag 0 appears twice \(first at row 0\)/,
    },
    {
      name: 'bad lag',
      file: 'lag.csv',
      text: 'release_id,metric,delta_offline,delta_online,lag_days\nr1,ctr,1,1,1.5\n',
      message: /lag\.csv: column 'lag_days', row 0 \(line 2\): lag_days must be a whole number/,
    },
    { name: 'no rows', file: 'header.csv', text: 'release_id,metric,delta_offline,delta_online\n', message: /header\.csv: no rows/ },
  ];
  for (const c of bad) {
    it(`exits 2 on ${c.name}, naming the column and row`, async () => {
      const file = join(dir, c.file);
      await writeFile(file, c.text);
      const r = runCli(['predictive', '--releases', file]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(c.message);
    });
  }

  it('exits 2 on a bad option', () => {
    const r = runCli(['predictive', '--releases', join(dir, 'det.csv'), '--alpha', '2']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/alpha must be in \(0, 1\)/);
  });
});
