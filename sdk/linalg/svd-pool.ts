/**
 * Randomized SVDs of many weights spread over the CPU's cores: worker threads when this module
 * runs as compiled JavaScript (a worker needs a .js file to load), the calling thread otherwise.
 * Every job is seeded, so where it runs never changes its result.
 */
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { MmkitError } from '../errors';
import { randomizedSvd, type RandomizedSvdOptions, type Svd } from './svd';
import type { SvdJob } from './svd-worker';

type Reply = { id: number; svd: Svd } | { id: number; error: string };

export class SvdPool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, { resolve: (s: Svd) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private turn = 0;

  private constructor(threads: number) {
    const script = path.join(__dirname, 'svd-worker.js');
    this.workers = Array.from({ length: threads }, () => {
      const w = new Worker(script);
      w.on('message', (reply: Reply) => this.settle(reply));
      w.on('error', (e) => this.failAll(e));
      return w;
    });
  }

  /**
   * One worker per core, at most one per job, when there are two jobs or more for two cores or more and
   * the compiled worker exists; else none (jobs run inline).
   */
  static open(jobs: number): SvdPool {
    const threads = Math.min(jobs, availableParallelism());
    return new SvdPool(__filename.endsWith('.js') && threads > 1 ? threads : 0);
  }

  /** Threads that run jobs (0: the calling thread runs them). */
  get threads(): number {
    return this.workers.length;
  }

  run(a: Float32Array, m: number, n: number, k: number, opts: RandomizedSvdOptions): Promise<Svd> {
    if (this.workers.length === 0) return Promise.resolve(randomizedSvd(a, m, n, k, opts));
    const id = this.nextId++;
    const worker = this.workers[this.turn++ % this.workers.length];
    return new Promise<Svd>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // A copy: the caller's weight stays usable (it may be a view on the model's bytes).
      const job: SvdJob = { id, a: Float32Array.from(a), m, n, k, opts };
      worker.postMessage(job, [job.a.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private settle(reply: Reply): void {
    const waiting = this.pending.get(reply.id);
    if (!waiting) return;
    this.pending.delete(reply.id);
    if ('error' in reply) waiting.reject(new MmkitError('RUNTIME', `SVD failed in a worker thread: ${reply.error}`));
    else waiting.resolve(reply.svd);
  }

  private failAll(e: Error): void {
    for (const { reject } of this.pending.values()) reject(new MmkitError('RUNTIME', `An SVD worker thread stopped: ${e.message}`, { cause: e }));
    this.pending.clear();
  }
}
