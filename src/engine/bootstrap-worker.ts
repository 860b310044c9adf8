import { parentPort, workerData } from 'node:worker_threads';
import { poissonBlockSums, poissonPlan } from '../stats/poisson-bootstrap.js';
import type { ChunkJob, ChunkResult, WorkerSetup } from './bootstrap-pool.js';

/**
 * A bootstrap worker: takes whole canonical chunks and returns their replicate totals, each
 * chunk summed block by block in block order exactly as TreeSum does on the main thread, so the
 * result does not depend on which thread computed which chunk.
 */
const setup = workerData as WorkerSetup;
const plan = poissonPlan(setup.replicates, setup.seed);
const size = setup.replicates * (setup.columns + 1);
const block = new Float64Array(size);

parentPort?.on('message', (job: ChunkJob) => {
  const chunk = new Float64Array(size);
  for (const b of job.blocks) {
    poissonBlockSums(plan, b.hashes, b.n, b.cols, block);
    for (let j = 0; j < size; j++) chunk[j] += block[j];
  }
  const result: ChunkResult = { id: job.id, totals: chunk };
  parentPort?.postMessage(result, [chunk.buffer]);
});
