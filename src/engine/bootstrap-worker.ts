import { parentPort, workerData } from 'node:worker_threads';
import { poissonBlockSums, poissonPlan, type PoissonPlan } from '../stats/poisson-bootstrap.js';
import { TreeSum } from '../stats/tree-sum.js';
import type { WorkerMessage, WorkerReply, WorkerSetup } from './bootstrap-pool.js';

/**
 * A bootstrap worker owns the replicates [from, to) and sees every canonical block, in block
 * order. Each replicate's sums follow the same reduction tree as on one thread (blocks into
 * chunks into the total), so the split by replicate changes no bit of the result.
 */
const setup = workerData as WorkerSetup;
const full = poissonPlan(setup.replicates, setup.seed);
const plan: PoissonPlan = { ...full, replicates: setup.to - setup.from, repKeys: full.repKeys.subarray(setup.from, setup.to) };
const size = plan.replicates * (setup.columns + 1);
const block = new Float64Array(size);
const tree = new TreeSum(size);

parentPort?.on('message', (msg: WorkerMessage) => {
  if (msg.type === 'block') {
    const cols = msg.cols.map((c) => new Float64Array(c));
    poissonBlockSums(plan, new Uint32Array(msg.hashes), msg.n, cols, block);
    tree.addBlock(block);
    const ack: WorkerReply = { type: 'ack' };
    parentPort?.postMessage(ack);
  } else {
    const totals = tree.result();
    const reply: WorkerReply = { type: 'totals', totals };
    parentPort?.postMessage(reply, [totals.buffer as ArrayBuffer]);
  }
});
