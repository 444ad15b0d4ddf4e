/**
 * A model's instances (Triton's instance_group): worker threads with one onnxruntime session
 * each, all loaded and warmed up before the model is ready. The scheduler hands a batch only to
 * an idle instance, so there is no second queue here. An instance that dies fails its batch and
 * is replaced.
 *
 * Why not piscina: its workers are anonymous and report ready before our warm-up, and its own task
 * queue would sit between the batcher and the instances, where batches must not wait.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { TensorData } from '../tensor-data';
import { MmkitError } from '../errors';
import type { TensorInfo } from '../runtime';
import type { InstanceReply, InstanceSetup, RunTask } from './instance-messages';

export interface InstanceResult {
  outputs: Record<string, TensorData>;
  computeMs: number;
}

interface Instance {
  worker: Worker;
  busy?: { id: number; resolve: (r: InstanceResult) => void; reject: (e: Error) => void; settled: Promise<unknown> };
}

export interface PoolIo {
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  device: string;
  /** Why warm-up was skipped, when it was. */
  warning?: string;
}

function workerScript(): string {
  // A worker thread loads JavaScript: the compiled module beside this one.
  const script = path.join(__dirname, 'instance-worker.js');
  if (!existsSync(script)) {
    throw new MmkitError('RUNTIME', `Serving needs the compiled SDK (${script} is missing).`, { hint: 'Run `npm run build` (npm install does it), and import mmkit from dist/.' });
  }
  return script;
}

export class InstancePool {
  private readonly instances: Instance[] = [];
  private nextId = 0;
  private closed = false;

  private constructor(
    private readonly setup: InstanceSetup,
    private readonly label: string,
    readonly io: PoolIo,
  ) {}

  /** Starts `count` instances and resolves when every one is loaded and warmed up; the first failure rejects (and stops the rest). */
  static async start(setup: InstanceSetup, count: number, label: string): Promise<InstancePool> {
    const script = workerScript();
    const spawned = Array.from({ length: count }, () => spawnInstance(script, setup, label));
    const settled = await Promise.allSettled(spawned);
    const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    const started = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    if (failure) {
      await Promise.all(started.map(({ worker }) => worker.terminate()));
      throw failure.reason;
    }
    const pool = new InstancePool(setup, label, started[0].io);
    for (const { worker } of started) pool.adopt(worker);
    return pool;
  }

  get size(): number {
    return this.instances.length;
  }

  get idle(): number {
    return this.instances.filter((i) => !i.busy).length;
  }

  /** Runs one batch on an idle instance; the caller (the scheduler) only calls when `idle > 0`. */
  run(feeds: Record<string, TensorData>): Promise<InstanceResult> {
    const instance = this.instances.find((i) => !i.busy);
    if (!instance || this.closed) return Promise.reject(new MmkitError('UNAVAILABLE', `${this.label} has no idle instance.`));
    const id = this.nextId++;
    let settle!: { resolve: (r: InstanceResult) => void; reject: (e: Error) => void };
    const result = new Promise<InstanceResult>((resolve, reject) => (settle = { resolve, reject }));
    instance.busy = { id, ...settle, settled: result.catch(() => {}) };
    // The batch's feeds were made for this run (concatenated or decoded from the request): moving them costs no copy.
    const transfer = [...new Set(Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer))];
    const task: RunTask = { id, feeds };
    instance.worker.postMessage(task, transfer);
    return result;
  }

  /**
   * Stops every instance once its running batch is done: terminating a worker inside onnxruntime's
   * run() aborts the whole process (a native exception during teardown).
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.instances.map(async (i) => {
        await i.busy?.settled;
        await i.worker.terminate();
      }),
    );
  }

  private adopt(worker: Worker): void {
    const instance: Instance = { worker };
    this.instances.push(instance);
    worker.on('message', (reply: InstanceReply) => {
      const busy = instance.busy;
      if (!busy || (reply.kind !== 'result' && reply.kind !== 'error') || reply.id !== busy.id) return;
      instance.busy = undefined;
      if (reply.kind === 'result') busy.resolve({ outputs: reply.outputs, computeMs: reply.computeMs });
      else busy.reject(new MmkitError(reply.code, reply.message));
    });
    worker.once('exit', (code) => {
      this.instances.splice(this.instances.indexOf(instance), 1);
      const busy = instance.busy;
      instance.busy = undefined;
      busy?.reject(new MmkitError('SERVER_ERROR', `An instance of ${this.label} stopped (exit ${code}) while running a batch.`, { hint: 'The server replaces it; retry the request.' }));
      if (!this.closed) this.replace();
    });
  }

  private replace(): void {
    spawnInstance(workerScript(), this.setup, this.label).then(
      ({ worker }) => (this.closed ? void worker.terminate() : this.adopt(worker)),
      (e: Error) => console.error(`mmkit serve: could not replace an instance of ${this.label}: ${e.message}`),
    );
  }
}

function spawnInstance(script: string, setup: InstanceSetup, label: string): Promise<{ worker: Worker; io: PoolIo }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: setup });
    const onExit = (code: number) => reject(new MmkitError('BAD_MODEL', `An instance of ${label} exited (code ${code}) while loading.`, { file: setup.modelPath }));
    worker.once('exit', onExit);
    worker.once('error', (e) => reject(new MmkitError('BAD_MODEL', `An instance of ${label} failed while loading: ${e.message}`, { file: setup.modelPath, cause: e })));
    worker.once('message', (reply: InstanceReply) => {
      worker.off('exit', onExit);
      if (reply.kind === 'ready') resolve({ worker, io: { inputs: reply.inputs, outputs: reply.outputs, device: reply.device, warning: reply.warning } });
      else if (reply.kind === 'failed') {
        void worker.terminate();
        reject(new MmkitError(reply.code, reply.message, { file: setup.modelPath }));
      }
    });
  });
}
