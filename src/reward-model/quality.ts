/**
 * How good a fitted q_hat is, on held-out (cross-fitted) predictions at the logged action: DR is
 * only as good as its q_hat (issue 5, item 3). Binary rewards: log loss and Brier RMSE; continuous:
 * RMSE. Calibration for both: the expected calibration error over 10 bins of the prediction
 * (Naeini, Cooper & Hauskrecht 2015), sum_b (n_b / n) |mean prediction_b - mean reward_b|, and the
 * reliability table behind it.
 */
export interface ReliabilityBin {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
  readonly meanPredicted: number;
  readonly meanObserved: number;
}

export interface ModelQuality {
  readonly n: number;
  /** Binary rewards only: mean -[r log p + (1 - r) log(1 - p)], p clipped to [1e-7, 1 - 1e-7]. */
  readonly logLoss?: number;
  /** sqrt(mean (prediction - reward)^2): the Brier score's root for binary rewards. */
  readonly rmse: number;
  /** The same for the constant predictor mean(reward): what the model improves on. */
  readonly baselineRmse: number;
  readonly ece: number;
  readonly reliability: readonly ReliabilityBin[];
}

const BINS = 10;
const EPS = 1e-7;

export function modelQuality(pred: Float64Array, reward: ArrayLike<number>, binary: boolean): ModelQuality {
  const n = pred.length;
  let se = 0;
  let ll = 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += reward[i];
  mean /= n;
  let base = 0;
  for (let i = 0; i < n; i++) {
    const e = pred[i] - reward[i];
    se += e * e;
    const b = mean - reward[i];
    base += b * b;
    if (binary) {
      const p = Math.min(1 - EPS, Math.max(EPS, pred[i]));
      ll -= reward[i] === 1 ? Math.log(p) : Math.log(1 - p);
    }
  }
  const reliability = binary ? equalWidthBins(pred, reward) : equalCountBins(pred, reward);
  let ece = 0;
  for (const b of reliability) ece += (b.count / n) * Math.abs(b.meanPredicted - b.meanObserved);
  return { n, logLoss: binary ? ll / n : undefined, rmse: Math.sqrt(se / n), baselineRmse: Math.sqrt(base / n), ece, reliability };
}

/** Probabilities: bins [0, 0.1), [0.1, 0.2), ..., [0.9, 1]; empty bins are left out. */
function equalWidthBins(pred: Float64Array, reward: ArrayLike<number>): ReliabilityBin[] {
  const count = new Float64Array(BINS);
  const sp = new Float64Array(BINS);
  const sr = new Float64Array(BINS);
  for (let i = 0; i < pred.length; i++) {
    const b = Math.min(BINS - 1, Math.max(0, Math.floor(pred[i] * BINS)));
    count[b]++;
    sp[b] += pred[i];
    sr[b] += reward[i];
  }
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < BINS; b++) {
    if (count[b] > 0) out.push({ lower: b / BINS, upper: (b + 1) / BINS, count: count[b], meanPredicted: sp[b] / count[b], meanObserved: sr[b] / count[b] });
  }
  return out;
}

/** Continuous predictions: 10 bins of (nearly) equal count, by sorted prediction. */
function equalCountBins(pred: Float64Array, reward: ArrayLike<number>): ReliabilityBin[] {
  const n = pred.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => pred[a] - pred[b] || a - b);
  const out: ReliabilityBin[] = [];
  for (let b = 0; b < BINS; b++) {
    const from = Math.floor((b * n) / BINS);
    const to = Math.floor(((b + 1) * n) / BINS);
    if (to <= from) continue;
    let sp = 0;
    let sr = 0;
    for (let k = from; k < to; k++) {
      sp += pred[order[k]];
      sr += reward[order[k]];
    }
    out.push({ lower: pred[order[from]], upper: pred[order[to - 1]], count: to - from, meanPredicted: sp / (to - from), meanObserved: sr / (to - from) });
  }
  return out;
}
