import { join } from 'node:path';
import { DEFAULT_CANDIDATES, RELEASE_WORLD_DEFAULTS, simulateReleases } from '../../../simulators/releases.js';
import { createOutputDir } from '../../../simulators/synth-output.js';
import { writeFileAtomic, writeTable } from '../../data/write-log.js';
import { loadTf, type BackendChoice } from '../../tf/backend.js';
import { TOOL_VERSION } from '../../version.js';
import type { FeedbackWorldConfig } from '../../../simulators/feedback-config.js';

/**
 * `ope simulate --releases` (issue 9, item 2): instead of the loop, twelve candidate releases from
 * one world (simulators/releases.ts), each with its offline deltas against the current policy (every
 * OPE estimator, recall@L and nDCG@L on logged clicks) and its true online delta at lags 0, 7 and 14
 * days, written as DIR/releases.csv in the `ope predictive --releases` format, with
 * DIR/releases.json (the values behind the deltas). Returns the summary line.
 */
export async function runReleases(outDir: string, world: FeedbackWorldConfig, backend: BackendChoice | undefined): Promise<{ summary: string; files: string[] }> {
  const rt = await loadTf(backend);
  await createOutputDir(outDir);
  const started = performance.now();
  const sim = await simulateReleases(rt, { world: { ...RELEASE_WORLD_DEFAULTS, ...world } });
  const rows = sim.rows;
  await writeTable(
    join(outDir, 'releases.csv'),
    [
      { name: 'release_id', kind: 'string' },
      { name: 'metric', kind: 'string' },
      { name: 'delta_offline', kind: 'float64' },
      { name: 'delta_online', kind: 'float64' },
      { name: 'lag_days', kind: 'int32' },
    ],
    [
      {
        n: rows.length,
        columns: {
          release_id: rows.map((r) => r.release_id),
          metric: rows.map((r) => r.metric),
          delta_offline: Float64Array.from(rows, (r) => r.delta_offline),
          delta_online: Float64Array.from(rows, (r) => r.delta_online),
          lag_days: Int32Array.from(rows, (r) => r.lag_days),
        },
      },
    ],
  );
  const doc = {
    tool: 'ope-toolkit',
    version: TOOL_VERSION,
    command: 'simulate --releases',
    backend: rt.description,
    world: sim.world,
    recipes: DEFAULT_CANDIDATES,
    current: sim.current,
    candidates: sim.candidates,
  };
  await writeFileAtomic(join(outDir, 'releases.json'), JSON.stringify(doc, null, 2) + '\n');
  const seconds = (performance.now() - started) / 1000;
  return {
    files: ['releases.csv', 'releases.json'],
    summary:
      `ope simulate --releases: ${sim.candidates.length} candidate releases against the current policy (true value ${sim.current.valueTrue.toFixed(4)}) in a world of ${sim.world.users} users and ${sim.world.items} items, seed ${sim.world.seed}, ` +
      `to ${outDir}: releases.csv (${rows.length} rows: release, metric, offline and online delta, lag 0/7/14 days) and releases.json, in ${seconds.toFixed(1)} s on ${rt.description}. Next: ope predictive --releases ${join(outDir, 'releases.csv')}`,
  };
}
