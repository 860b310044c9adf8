/**
 * Small dense linear algebra on Float64Array for the linear learners: row-major d x d matrices.
 * The learners keep A^-1 (never A) and update it in O(d^2) per observation by Sherman-Morrison.
 */

/** The d x d identity times `scale`. */
export function scaledIdentity(d: number, scale: number): Float64Array {
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) m[i * d + i] = scale;
  return m;
}

/** out = M x (M symmetric d x d, or any: row-major). */
export function matVec(m: Float64Array, off: number, x: Float64Array, d: number, out: Float64Array): void {
  for (let i = 0; i < d; i++) {
    let s = 0;
    const r = off + i * d;
    for (let j = 0; j < d; j++) s += m[r + j] * x[j];
    out[i] = s;
  }
}

export function dotN(x: Float64Array, y: Float64Array, d: number): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += x[j] * y[j];
  return s;
}

/**
 * Sherman-Morrison: (A + x x^T)^-1 = A^-1 - (A^-1 x)(x^T A^-1) / (1 + x^T A^-1 x), for symmetric
 * A^-1 stored at `ainv[off .. off + d*d)`. `u` (length d) is scratch; on return it holds A^-1 x
 * of the *old* inverse. O(d^2).
 */
export function shermanMorrisonUpdate(ainv: Float64Array, off: number, x: Float64Array, d: number, u: Float64Array): void {
  matVec(ainv, off, x, d, u);
  const denom = 1 + dotN(x, u, d);
  for (let i = 0; i < d; i++) {
    const ui = u[i] / denom;
    const r = off + i * d;
    for (let j = 0; j < d; j++) ainv[r + j] -= ui * u[j];
  }
}

/** Inverse by Gauss-Jordan with partial pivoting (for tests and checks; O(d^3)). Throws on a singular matrix. */
export function invert(m: Float64Array, d: number): Float64Array {
  const a = Float64Array.from(m);
  const inv = scaledIdentity(d, 1);
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(a[r * d + c]) > Math.abs(a[p * d + c])) p = r;
    if (a[p * d + c] === 0) throw new RangeError('invert: singular matrix');
    if (p !== c)
      for (let j = 0; j < d; j++) {
        [a[p * d + j], a[c * d + j]] = [a[c * d + j], a[p * d + j]];
        [inv[p * d + j], inv[c * d + j]] = [inv[c * d + j], inv[p * d + j]];
      }
    const piv = a[c * d + c];
    for (let j = 0; j < d; j++) {
      a[c * d + j] /= piv;
      inv[c * d + j] /= piv;
    }
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = a[r * d + c];
      if (f === 0) continue;
      for (let j = 0; j < d; j++) {
        a[r * d + j] -= f * a[c * d + j];
        inv[r * d + j] -= f * inv[c * d + j];
      }
    }
  }
  return inv;
}

/**
 * Per-action ridge regression state shared by LinUCB and linear Thompson sampling: for each
 * action a, A_a^-1 = (lambda I + sum x x^T)^-1 and theta_a = A_a^-1 b_a with b_a = sum r x, over
 * the features z = (x, 1) (the context with an intercept appended, so a log without context still
 * learns per-action means).
 */
export class PerActionRidge {
  readonly p: number;
  readonly ainv: Float64Array;
  readonly b: Float64Array;
  readonly theta: Float64Array;
  /** The current features z = (x, 1). */
  readonly z: Float64Array;
  private readonly u: Float64Array;

  constructor(
    readonly K: number,
    readonly d: number,
    lambda: number,
  ) {
    const p = (this.p = d + 1);
    this.ainv = new Float64Array(K * p * p);
    for (let a = 0; a < K; a++) for (let i = 0; i < p; i++) this.ainv[a * p * p + i * p + i] = 1 / lambda;
    this.b = new Float64Array(K * p);
    this.theta = new Float64Array(K * p);
    this.z = new Float64Array(p);
    this.u = new Float64Array(p);
  }

  /** Loads z = (x, 1). */
  features(x: Float64Array): Float64Array {
    const { z, d } = this;
    for (let j = 0; j < d; j++) z[j] = x[j];
    z[d] = 1;
    return z;
  }

  /** x . theta_a and z^T A_a^-1 z for the features last loaded. O(p^2). */
  meanAndVariance(a: number): [number, number] {
    const { p, z, ainv, theta } = this;
    const off = a * p * p;
    let mean = 0;
    let q = 0;
    for (let i = 0; i < p; i++) {
      mean += z[i] * theta[a * p + i];
      let s = 0;
      const r = off + i * p;
      for (let j = 0; j < p; j++) s += ainv[r + j] * z[j];
      q += z[i] * s;
    }
    return [mean, q];
  }

  update(x: Float64Array, a: number, r: number): void {
    const { p, ainv, b, theta, u } = this;
    const z = this.features(x);
    shermanMorrisonUpdate(ainv, a * p * p, z, p, u);
    for (let i = 0; i < p; i++) b[a * p + i] += r * z[i];
    // theta_a = A_a^-1 b_a with the new inverse: O(p^2).
    const off = a * p * p;
    for (let i = 0; i < p; i++) {
      let s = 0;
      const row = off + i * p;
      for (let j = 0; j < p; j++) s += ainv[row + j] * b[a * p + j];
      theta[a * p + i] = s;
    }
  }
}
