import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import wabtInit from 'wabt';
import { describe, expect, it } from 'vitest';
import { POISSON_KERNEL_WASM_BASE64 } from '../src/stats/poisson-kernel-wasm.js';
import { poissonBlockSums, poissonBlockSumsJs, poissonPlan } from '../src/stats/poisson-bootstrap.js';
import { MIX_MUL_1, MIX_MUL_2, POISSON1_THRESHOLDS, mix32 } from '../src/stats/hash.js';

const WAT = fileURLToPath(new URL('../src/stats/poisson-kernel.wat', import.meta.url));
const GENERATED = fileURLToPath(new URL('../src/stats/poisson-kernel-wasm.ts', import.meta.url));

describe('WebAssembly bootstrap kernel', () => {
  it('the embedded binary is the compiled poisson-kernel.wat (OPE_WRITE_WASM=1 regenerates it)', async () => {
    const wabt = await wabtInit();
    const binary = Buffer.from(wabt.parseWat('poisson-kernel.wat', readFileSync(WAT, 'utf8'), { simd: true }).toBinary({}).buffer).toString('base64');
    if (process.env.OPE_WRITE_WASM === '1') {
      writeFileSync(GENERATED, `/** The compiled src/stats/poisson-kernel.wat (test/poisson-kernel-wasm.test.ts checks it is current). */\nexport const POISSON_KERNEL_WASM_BASE64 =\n  '${binary}';\n`);
      return;
    }
    expect(POISSON_KERNEL_WASM_BASE64).toBe(binary);
  });

  it('gives the same bits as the JavaScript kernel for every row count and column count', () => {
    for (const [n, M, seed] of [
      [8192, 1, 1],
      [8191, 2, 2],
      [5, 3, 3],
      [1, 1, 4],
      [4099, 4, 5],
    ] as const) {
      const plan = poissonPlan(64, seed);
      const hashes = Uint32Array.from({ length: n }, (_, i) => mix32((i * 2654435761 + seed) >>> 0));
      const cols = Array.from({ length: M }, (_, j) => Float64Array.from({ length: n }, (_, i) => Math.sin(i * (j + 1) + seed) * 10 ** ((i % 7) - 3)));
      const wasm = new Float64Array(64 * (M + 1));
      const js = new Float64Array(64 * (M + 1));
      poissonBlockSums(plan, hashes, n, cols, wasm);
      poissonBlockSumsJs(plan, hashes, n, cols, js);
      expect(Array.from(wasm)).toEqual(Array.from(js));
    }
  });

  it('draws every count of the Poisson table exactly, including the rare ones above 5', () => {
    // Invert mix32 to place u = mix32(hash ^ key) at, below and above every threshold.
    const inverseOdd = (c: number) => {
      let inv = c;
      for (let i = 0; i < 5; i++) inv = Math.imul(inv, 2 - Math.imul(c, inv));
      return inv >>> 0;
    };
    const unmix = (y: number) => {
      y = (y ^ (y >>> 16)) >>> 0;
      y = Math.imul(y, inverseOdd(MIX_MUL_2)) >>> 0;
      y = (y ^ (y >>> 15) ^ (y >>> 30)) >>> 0;
      y = Math.imul(y, inverseOdd(MIX_MUL_1)) >>> 0;
      return (y ^ (y >>> 16)) >>> 0;
    };
    const plan = poissonPlan(1, 0);
    const key = plan.repKeys[0];
    const us = POISSON1_THRESHOLDS.slice(0, -1).flatMap((t) => [t - 1, t, t + 1]).concat([0, 4294967295]);
    expect(us.every((u) => mix32(unmix(u)) === u)).toBe(true);
    const hashes = Uint32Array.from(us, (u) => (unmix(u) ^ key) >>> 0);
    const n = hashes.length;
    const expected = us.map((u) => POISSON1_THRESHOLDS.findIndex((t) => u < t));
    expect(Math.max(...expected)).toBe(12);
    for (let i = 0; i < n; i++) {
      const one = new Float64Array(n);
      one[i] = 1;
      const wasm = new Float64Array(2);
      const js = new Float64Array(2);
      poissonBlockSums(plan, hashes, n, [one], wasm);
      poissonBlockSumsJs(plan, hashes, n, [one], js);
      expect([wasm[1], js[1]], `u = ${us[i]}`).toEqual([expected[i], expected[i]]);
    }
  });
});
