/** A worker thread of the SVD pool (svd-pool.ts): runs randomizedSvd on the matrices it is sent. */
import { parentPort } from 'node:worker_threads';
import { randomizedSvd, type RandomizedSvdOptions } from './svd';

export interface SvdJob {
  id: number;
  a: Float32Array;
  m: number;
  n: number;
  k: number;
  opts: RandomizedSvdOptions;
}

parentPort?.on('message', (job: SvdJob) => {
  try {
    const svd = randomizedSvd(job.a, job.m, job.n, job.k, job.opts);
    parentPort!.postMessage({ id: job.id, svd }, [svd.s.buffer, svd.u.buffer, svd.vt.buffer] as ArrayBuffer[]);
  } catch (e) {
    parentPort!.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) });
  }
});
