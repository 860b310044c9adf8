import { Command, Option } from 'commander';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { UsageError } from '../../data/errors.js';
import { openLog } from '../../data/read-log.js';
import { writeFileAtomic, writeTable } from '../../data/write-log.js';
import { REPLAY_METHODS, replayLog, summarizeLog, type ReplayMethod } from '../../replay/engine.js';
import { parseReplayPolicySpec, resolveReplayPolicies, REPLAY_POLICY_NAMES } from '../../replay/specs.js';
import { CURVE_SCHEMA, curveBatches, replayHtml, replayJson, replayTable } from '../../report/replay-report.js';
import { parseColumnsMapping } from '../options.js';
import { parseFloatOption, parseIntOption } from '../parse.js';
import { progressBar } from '../progress.js';

/**
 * `ope replay` (issue 8): replay adaptive policies (epsilon-greedy, LinUCB, Thompson sampling, a
 * fixed policy file) on a log, R times with different seeds; average reward per accepted event
 * with a bootstrap interval over the replays, learning curves as CSV and an HTML report.
 */

interface ReplayFlags {
  resample: 'poisson' | 'none';
  log: string;
  policy: string[];
  replays: string;
  seed: string;
  maxRatio?: string;
  method: ReplayMethod;
  actions?: string;
  alpha: string;
  curvePoints: string;
  columns?: string;
  out?: string;
  json?: boolean;
}

const collect = (v: string, acc: string[]): string[] => [...acc, v];

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('replay adaptive (learning) policies on a log: average reward per accepted event with an interval over replays, learning curves, HTML report')
    .requiredOption('--log <file>', 'the log (action, reward, propensity; context for the contextual learners)')
    .requiredOption('--policy <spec>', `a policy to replay (repeatable): ${REPLAY_POLICY_NAMES.join(', ')}, with parameters as linucb:alpha=1, ts:v=0.5,lambda=1, eps:epsilon=0.1`, collect, [])
    .option('--replays <R>', 'replays with different seeds', '20')
    .option('--seed <s>', 'seed of the replays (0..4294967295)', '12345')
    .option('--max-ratio <M>', 'M of the rejection rule, >= max pi/mu (default: max over the log of 1/propensity)')
    .addOption(new Option('--method <m>', 'rejection (Li et al. 2011, Dudik et al. 2012) or queue (Mandel et al. 2016; discrete contexts)').choices([...REPLAY_METHODS]).default('rejection'))
    .addOption(
      new Option(
        '--resample <how>',
        "poisson: every replay weighs its accepted events by Poisson(1) bootstrap weights, so the interval covers the log's reward noise; none: plain averages (the interval then covers the replay's own draws only)",
      )
        .choices(['poisson', 'none'])
        .default('poisson'),
    )
    .option('--actions <K>', 'number of actions (default: the largest logged action + 1)')
    .option('--alpha <a>', 'one minus the level of the interval', '0.05')
    .option('--curve-points <n>', 'points per curve in the CSV and the report (0 = every accepted event)', '200')
    .option('--columns <new=old,...>', 'map contract column names to the names in your file')
    .option('--out <dir>', 'write replay.json, curves.csv and report.html into this folder (atomically)')
    .option('--json', 'print one JSON document to stdout instead of the table')
    .action(async (flags: ReplayFlags) => {
      if (flags.policy.length === 0) throw new UsageError('--policy is needed at least once');
      const specs = flags.policy.map(parseReplayPolicySpec);
      const replays = parseIntOption('--replays', flags.replays, 1, 100_000);
      const seed = parseIntOption('--seed', flags.seed, 0, 4294967295);
      const maxRatio = flags.maxRatio === undefined ? undefined : parseFloatOption('--max-ratio', flags.maxRatio);
      if (maxRatio !== undefined && !(maxRatio >= 1 && Number.isFinite(maxRatio))) throw new UsageError(`--max-ratio needs a finite number >= 1, got '${flags.maxRatio}'`);
      const actions = flags.actions === undefined ? undefined : parseIntOption('--actions', flags.actions, 2);
      const alpha = parseFloatOption('--alpha', flags.alpha);
      if (!(alpha > 0 && alpha < 1)) throw new UsageError(`--alpha needs a number in (0, 1), got '${flags.alpha}'`);
      const points = parseIntOption('--curve-points', flags.curvePoints, 0);
      const read = flags.columns === undefined ? {} : { columns: parseColumnsMapping(flags.columns) };
      const log = openLog(flags.log, read);
      const { K } = await summarizeLog(log, actions);
      const policies = await resolveReplayPolicies(specs, log, K, read);
      const progress = progressBar('replaying', undefined);
      const started = Date.now();
      let res;
      try {
        res = await replayLog(log, { policies, replays, seed, method: flags.method, maxRatio, actions: K, alpha, resample: flags.resample, onProgress: (rows) => progress.update(rows) });
      } finally {
        progress.stop();
      }
      const seconds = (Date.now() - started) / 1000;
      const doc = replayJson(res, { command: 'replay', log: flags.log, seconds });
      const footer = [`${seconds.toFixed(1)}s`];
      if (flags.out !== undefined) {
        await mkdir(flags.out, { recursive: true });
        await writeFileAtomic(join(flags.out, 'replay.json'), JSON.stringify(doc, null, 2) + '\n');
        await writeTable(join(flags.out, 'curves.csv'), CURVE_SCHEMA, curveBatches(res, points));
        await writeFileAtomic(join(flags.out, 'report.html'), await replayHtml(res, flags.log, points));
        footer.push(`written to ${flags.out}: replay.json, curves.csv, report.html`);
      }
      process.stdout.write(flags.json === true ? JSON.stringify(doc, null, 2) + '\n' : replayTable(res, footer));
    });
}
