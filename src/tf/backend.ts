import { UsageError } from '../data/errors.js';

/**
 * The only module that knows TensorFlow.js backends (issue 5, item 1).
 *
 * - `@tensorflow/tfjs-node` (libtensorflow, native, multi-threaded) when it is installed and loads.
 *   It is an optional dependency: its install script downloads libtensorflow, which fails without
 *   the internet, and npm then skips it; `import()` throws and we fall back.
 * - Otherwise `@tensorflow/tfjs` on the WebAssembly backend (XNNPACK with SIMD; its .wasm files ship
 *   in the npm package, so it works offline): 1.7x (logistic) to 4x (MLP) the plain-JS `cpu` backend on the reward
 *   models here (bench/README.md, "TF.js backends").
 * - `cpu` (plain JS) only when wasm fails to initialize.
 *
 * OPE_TF_BACKEND=node|wasm|cpu (or `--tf-backend`) forces one; a forced backend that does not load
 * is a usage error, not a silent fallback. Model code uses only ops with gradients on every backend
 * (no gather / embedding lookups, whose gradient has no wasm kernel: actions enter as one-hot
 * matmuls and per-action output columns).
 */

export type TfModule = typeof import('@tensorflow/tfjs');
export type BackendChoice = 'auto' | 'node' | 'wasm' | 'cpu';
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'node', 'wasm', 'cpu'];

export interface TfRuntime {
  readonly tf: TfModule;
  /** tf.getBackend() after loading: 'tensorflow' (tfjs-node), 'wasm' or 'cpu'. */
  readonly backend: BackendName;
  /** What ran, for every output: 'tfjs-node 4.22.0 (tensorflow)', 'tfjs 4.22.0 (wasm, SIMD)', ... */
  readonly description: string;
  /** Why a faster backend was not used (empty when the first choice loaded). */
  readonly fallbacks: readonly string[];
}

/** How modules are imported; tests replace it to simulate a missing tfjs-node. */
export type Importer = (specifier: string) => Promise<unknown>;

const defaultImporter: Importer = (specifier) => import(specifier);

/** Reads OPE_TF_BACKEND; undefined when unset or empty. */
export function backendFromEnv(env: NodeJS.ProcessEnv = process.env): BackendChoice | undefined {
  const v = env.OPE_TF_BACKEND?.trim();
  if (v === undefined || v === '') return undefined;
  return parseBackendChoice(v, 'OPE_TF_BACKEND');
}

export function parseBackendChoice(v: string, where: string): BackendChoice {
  if ((BACKEND_CHOICES as readonly string[]).includes(v)) return v as BackendChoice;
  throw new UsageError(`${where} must be one of ${BACKEND_CHOICES.join(', ')}, got '${v}'`);
}

/**
 * The TF.js engine is process-wide (one registry of backends and tensors), so the runtime is
 * loaded once per process and per choice; asking for another backend later switches the engine.
 */
const loaded = new Map<string, Promise<TfRuntime>>();

export async function loadTf(choice: BackendChoice = backendFromEnv() ?? 'auto', importer: Importer = defaultImporter): Promise<TfRuntime> {
  // A custom importer (tests) is never cached: it simulates another installation.
  if (importer !== defaultImporter) return load(choice, importer);
  let p = loaded.get(choice);
  if (p === undefined) {
    p = load(choice, importer);
    loaded.set(choice, p);
    p.catch(() => loaded.delete(choice));
  }
  const rt = await p;
  // Another load may have switched the process-wide engine since: switch it back.
  if (rt.tf.getBackend() !== rt.backend) {
    await rt.tf.setBackend(rt.backend);
    await rt.tf.ready();
  }
  return rt;
}

function reason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e.code === 'ERR_MODULE_NOT_FOUND') return 'not installed';
  const msg = (e.message ?? String(err)).split('\n')[0];
  return e.code !== undefined ? `${e.code}: ${msg}` : msg;
}

async function load(choice: BackendChoice, importer: Importer): Promise<TfRuntime> {
  const fallbacks: string[] = [];
  if (choice === 'auto' || choice === 'node') {
    try {
      const tf = (await importer('@tensorflow/tfjs-node')) as TfModule;
      await tf.ready();
      quiet(tf);
      return { tf, backend: 'tensorflow', description: `tfjs-node ${tf.version.tfjs} (tensorflow)`, fallbacks };
    } catch (err) {
      if (choice === 'node')
        throw new UsageError(`the tfjs-node backend was asked for but @tensorflow/tfjs-node does not load here (${reason(err)}); install it with internet access, or use wasm or cpu`);
      fallbacks.push(`tfjs-node not available (${reason(err)})`);
    }
  }
  const tf = (await importer('@tensorflow/tfjs')) as TfModule;
  quiet(tf);
  if (choice === 'auto' || choice === 'wasm') {
    try {
      await importer('@tensorflow/tfjs-backend-wasm');
      if (!(await tf.setBackend('wasm'))) throw new Error('setBackend(wasm) returned false');
      await tf.ready();
      const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
      return { tf, backend: 'wasm', description: `tfjs ${tf.version.tfjs} (wasm${simd ? ', SIMD' : ''})`, fallbacks };
    } catch (err) {
      if (choice === 'wasm') throw new UsageError(`the wasm backend was asked for but did not initialize (${reason(err)})`);
      fallbacks.push(`wasm did not initialize (${reason(err)})`);
    }
  }
  if (!(await tf.setBackend('cpu'))) throw new Error('the TF.js cpu backend did not initialize');
  await tf.ready();
  return { tf, backend: 'cpu', description: `tfjs ${tf.version.tfjs} (cpu)`, fallbacks };
}

/**
 * PROD mode: no debug checks, and none of TF.js's console banners ("looks like you are running
 * TensorFlow.js in Node.js ...") in the middle of a report.
 */
function quiet(tf: TfModule): void {
  tf.env().set('PROD', true);
}
