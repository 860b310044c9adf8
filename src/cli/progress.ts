import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number): void;
  stop(): void;
}

const SILENT: Progress = { update: () => undefined, stop: () => undefined };

/**
 * A progress bar on stderr for long runs; nothing at all when stderr is not a terminal (pipes,
 * CI logs, --json consumers), so machine-readable output is never interleaved with it.
 */
export function progressBar(label: string, total: number | undefined, unit = 'rows'): Progress {
  if (!process.stderr.isTTY) return SILENT;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: total !== undefined ? `${label} [{bar}] {percentage}% | {value}/{total} ${unit} | eta {eta}s` : `${label} {value} ${unit}`,
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total ?? 0, 0);
  return {
    update: (done) => bar.update(done),
    stop: () => bar.stop(),
  };
}
