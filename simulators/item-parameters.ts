import type { RandomStream } from './random-streams.js';

/** Spread of the per-item biases: enough that items differ on average, not so much that one dominates. */
const BIAS_SD = 0.5;

/**
 * The true item parameters (theta_a ~ N(0, (scale^2 / d) I), bias b_a ~ N(0, BIAS_SD^2)) and the
 * logger's perturbation of them (eta, c: the same shapes scaled by `perturbation`), drawn in this
 * order from `rng`. The draw order is part of every generator's output definition: changing it
 * changes every seed's world.
 */
export function drawItemParameters(
  rng: RandomStream,
  K: number,
  d: number,
  scale: number,
  perturbation: number,
): { theta: Float64Array; bias: Float64Array; eta: Float64Array; c: Float64Array; draw: (length: number, sd: number) => Float64Array } {
  const draw = (length: number, sd: number): Float64Array => {
    const v = new Float64Array(length);
    for (let i = 0; i < length; i++) v[i] = sd * rng.normal();
    return v;
  };
  const thetaSd = scale / Math.sqrt(d);
  const theta = draw(K * d, thetaSd);
  const bias = draw(K, BIAS_SD);
  const eta = draw(K * d, thetaSd * perturbation);
  const c = draw(K, BIAS_SD * perturbation);
  return { theta, bias, eta, c, draw };
}
