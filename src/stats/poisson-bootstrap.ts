import { POISSON_KERNEL_WASM_BASE64 } from './poisson-kernel-wasm.js';
import { CELL_SHIFT, MIX_MUL_1, MIX_MUL_2, POISSON1_CELLS, POISSON1_THRESHOLDS, clusterHash, replicateKey, seedKey } from './hash.js';

/**
 * Poisson bootstrap over one canonical block (Hanley & MacGibbon 2006; Chamandy et al. 2012,
 * "Estimating uncertainty for massive data streams"). Replicate b gives every cluster c the weight
 * W_cb ~ Poisson(1) from the counter-based hash of (seed, cluster key, b) in hash.ts, so the same
 * seed gives the same weights whatever the split of the data; a replicate's estimate is
 * f(sum_i W_ib t_i / sum_i W_ib).
 */
export interface PoissonPlan {
  readonly replicates: number;
  readonly seed: number;
  /** replicateKey(b) for b < replicates, computed once. */
  readonly repKeys: Uint32Array;
  readonly seedK: number;
}

export function poissonPlan(replicates: number, seed: number): PoissonPlan {
  const repKeys = new Uint32Array(replicates);
  for (let b = 0; b < replicates; b++) repKeys[b] = replicateKey(b);
  return { replicates, seed, repKeys, seedK: seedKey(seed) };
}

/**
 * Per-row cluster hashes of a block: the row's 32-bit cluster key (request id hash) when present,
 * else its global row ordinal (mod 2^32).
 */
export function blockClusterHashes(plan: PoissonPlan, n: number, rowOffset: number, clusterKey: Uint32Array | undefined, out: Uint32Array): void {
  for (let i = 0; i < n; i++) {
    const key = clusterKey !== undefined ? clusterKey[i] : (rowOffset + i) >>> 0;
    out[i] = clusterHash(plan.seedK, key);
  }
}

type Kernel = (repKeys: Uint32Array, replicates: number, hashes: Uint32Array, n: number, cols: readonly Float64Array[], out: Float64Array, cells: Uint8Array, thresholds: readonly number[]) => void;

/**
 * The JavaScript form of the hot loop (the reference for the WebAssembly kernel below, which is
 * what runs). It is compiled once per column count M with one pair of scalar accumulators per
 * column (no inner loop over columns, no weight buffer). Rows alternate between two
 * accumulators to halve the floating-point add latency chain; the summation order is still fixed
 * by the row's position in its canonical block (even rows, odd rows, then their sum), so results
 * stay bit-identical across batchings. Counts are small integers, summed exactly.
 */
function compileKernel(M: number): Kernel {
  const decl: string[] = [];
  const load: string[] = [];
  const accEven: string[] = [];
  const accOdd: string[] = [];
  const tail: string[] = [];
  const store: string[] = [];
  for (let j = 0; j < M; j++) {
    load.push(`const c${j} = cols[${j}];`);
    decl.push(`let e${j} = 0, o${j} = 0;`);
    accEven.push(`e${j} += w * c${j}[i];`);
    accOdd.push(`o${j} += v * c${j}[i + 1];`);
    tail.push(`e${j} += w * c${j}[i];`);
    store.push(`out[base + ${j + 1}] = e${j} + o${j};`);
  }
  const hash = (src: string, dst: string) =>
    `let ${dst} = ${src} ^ k; ${dst} ^= ${dst} >>> 16; ${dst} = Math.imul(${dst}, ${MIX_MUL_1}); ${dst} ^= ${dst} >>> 15; ${dst} = Math.imul(${dst}, ${MIX_MUL_2}); ${dst} ^= ${dst} >>> 16;`;
  const draw = (x: string, dst: string) => `let ${dst} = cells[${x} >>> ${CELL_SHIFT}]; if (${dst} === 255) { const u = ${x} >>> 0; ${dst} = 0; while (u >= thresholds[${dst}]) ${dst}++; }`;
  const body = `
    ${load.join('\n')}
    const stride = ${M + 1};
    const even = n & ~1;
    for (let b = 0; b < replicates; b++) {
      const k = repKeys[b];
      let count = 0;
      ${decl.join('\n')}
      let i = 0;
      for (; i < even; i += 2) {
        ${hash('hashes[i]', 'x')}
        ${hash('hashes[i + 1]', 'y')}
        ${draw('x', 'w')}
        ${draw('y', 'v')}
        count += w + v;
        ${accEven.join('\n')}
        ${accOdd.join('\n')}
      }
      if (i < n) {
        ${hash('hashes[i]', 'x')}
        ${draw('x', 'w')}
        count += w;
        ${tail.join('\n')}
      }
      const base = b * stride;
      out[base] = count;
      ${store.join('\n')}
    }`;
  return new Function('repKeys', 'replicates', 'hashes', 'n', 'cols', 'out', 'cells', 'thresholds', body) as Kernel;
}

const kernels = new Map<number, Kernel>();

/** The JavaScript kernel: the reference the WebAssembly one must match bit for bit (tests check it). */
export function poissonBlockSumsJs(plan: PoissonPlan, hashes: Uint32Array, n: number, cols: readonly Float64Array[], out: Float64Array): void {
  let kernel = kernels.get(cols.length);
  if (kernel === undefined) {
    kernel = compileKernel(cols.length);
    kernels.set(cols.length, kernel);
  }
  kernel(plan.repKeys, plan.replicates, hashes, n, cols, out, POISSON1_CELLS, POISSON1_THRESHOLDS);
}

interface WasmKernel {
  readonly memory: WebAssembly.Memory;
  readonly weights: (hashes: number, n: number, key: number, w: number) => number;
  readonly dot: (w: number, c: number, n: number) => number;
}

/**
 * The WebAssembly SIMD kernel (src/stats/poisson-kernel.wat): four rows per instruction for the
 * hash and the Poisson draw (12 unsigned compares instead of a table lookup), two per instruction
 * for the weighted sums, in the same summation order as the JavaScript kernel. One instance per
 * thread; layout: hashes, then the weights, then the columns, one block each.
 */
let wasm: WasmKernel | undefined;

function wasmKernel(): WasmKernel {
  if (wasm === undefined) {
    const module = new WebAssembly.Module(Buffer.from(POISSON_KERNEL_WASM_BASE64, 'base64'));
    const exports = new WebAssembly.Instance(module).exports as unknown as WasmKernel;
    wasm = exports;
  }
  return wasm;
}

/**
 * out[b * (M + 1)] = sum_i W_ib, out[b * (M + 1) + 1 + j] = sum_i W_ib cols[j][i], summed in the
 * canonical order described at compileKernel. Runs the WebAssembly kernel (the same bits as the
 * JavaScript one, several times faster).
 */
export function poissonBlockSums(plan: PoissonPlan, hashes: Uint32Array, n: number, cols: readonly Float64Array[], out: Float64Array): void {
  const k = wasmKernel();
  const M = cols.length;
  const hashesAt = 0;
  const weightsAt = align16(n * 4);
  const colsAt = weightsAt + align16(n * 8);
  const bytes = colsAt + M * align16(n * 8);
  const have = k.memory.buffer.byteLength;
  if (bytes > have) k.memory.grow(Math.ceil((bytes - have) / 65536));
  const mem = k.memory.buffer;
  new Uint32Array(mem, hashesAt, n).set(hashes.subarray(0, n));
  const colAt: number[] = [];
  for (let j = 0; j < M; j++) {
    const at = colsAt + j * align16(n * 8);
    new Float64Array(mem, at, n).set(cols[j].subarray(0, n));
    colAt.push(at);
  }
  const stride = M + 1;
  for (let b = 0; b < plan.replicates; b++) {
    const base = b * stride;
    out[base] = k.weights(hashesAt, n, plan.repKeys[b] | 0, weightsAt);
    for (let j = 0; j < M; j++) out[base + 1 + j] = k.dot(weightsAt, colAt[j], n);
  }
}

function align16(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}
