/**
 * How one model is served: the fields of Triton's model configuration that mmkit honours, in
 * TypeScript form. `mmkit serve MODEL.onnx` builds one from flags, `mmkit serve --model-repository`
 * reads one from each config.pbtxt (config/), and `mmkit export triton` writes one (sdk/deploy).
 */
import { availableParallelism } from 'node:os';
import { MmkitError } from '../errors';

export interface DynamicBatchingConfig {
  /** How long the oldest waiting request may wait for others to join its batch (Triton's max_queue_delay_microseconds). */
  maxQueueDelayMicroseconds: number;
  /** Batch sizes to form as soon as enough requests wait (Triton's preferred_batch_size); empty: only max_batch_size. */
  preferredBatchSizes: number[];
  /** Requests that may wait; one more is refused with 503 (Triton's default_queue_policy.max_queue_size; 0: the default bound). */
  maxQueueSize: number;
  /** A request that waited this long is refused (default_queue_policy.default_timeout_microseconds; 0: no limit). */
  queueTimeoutMicroseconds: number;
}

export type InstanceKind = 'cpu' | 'gpu';

export interface ModelServingConfig {
  /** The model's name in URLs and requests. */
  name: string;
  /** The version served (Triton's numbered folder); '1' for a single file. */
  version: string;
  /** The ONNX file; external data lies beside it. */
  modelPath: string;
  /**
   * Largest batch the server forms along the model's first axis (Triton's max_batch_size). 0: the
   * model's first axis is not a batch axis the server may use, requests run as they come.
   */
  maxBatchSize: number;
  /** Merge concurrent requests into batches; absent: each request runs alone. */
  dynamicBatching?: DynamicBatchingConfig;
  /** Model instances: worker threads, each with its own onnxruntime session (Triton's instance_group count). */
  instanceCount: number;
  /** Where the instances run (instance_group kind); gpu falls back to cpu with a notice when no GPU runtime is there. */
  instanceKind: InstanceKind;
  /** onnxruntime intra-op threads per instance; 0: the CPUs shared out between all instances of all models. */
  intraOpThreads: number;
}

/** Requests a batching queue holds when the configuration does not bound it (Triton leaves it unbounded; mmkit does not). */
export const DEFAULT_MAX_QUEUE_SIZE = 1024;

/** Checks a configuration's numbers, naming the model and the field at fault. */
export function validateServingConfig(c: ModelServingConfig): ModelServingConfig {
  const bad = (field: string, what: string, hint: string): never => {
    throw new MmkitError('BAD_OPTION', `Model '${c.name}': ${field} ${what}.`, { file: c.modelPath, hint });
  };
  if (!/^[A-Za-z0-9_.-]+$/.test(c.name)) bad('name', `'${c.name}' is not a valid model name`, 'Use letters, digits, _, . and - only.');
  if (!/^[0-9]+$/.test(c.version)) bad('version', `'${c.version}' is not a version number`, 'Versions are whole numbers, as Triton names version folders.');
  if (!Number.isInteger(c.maxBatchSize) || c.maxBatchSize < 0) bad('max_batch_size', `must be a whole number ≥ 0, got ${c.maxBatchSize}`, 'Use 0 for a model without a batch axis.');
  if (!Number.isInteger(c.instanceCount) || c.instanceCount < 1) bad('instance count', `must be a whole number ≥ 1, got ${c.instanceCount}`, 'Use 1 instance per CPU core at most.');
  if (!Number.isInteger(c.intraOpThreads) || c.intraOpThreads < 0) bad('intra-op threads', `must be a whole number ≥ 0, got ${c.intraOpThreads}`, 'Use 0 to share the CPUs out between instances.');
  const b = c.dynamicBatching;
  if (b) {
    if (c.maxBatchSize < 1) bad('dynamic_batching', 'needs max_batch_size ≥ 1', 'Set max_batch_size, or drop dynamic_batching.');
    if (!(b.maxQueueDelayMicroseconds >= 0)) bad('max_queue_delay_microseconds', `must be ≥ 0, got ${b.maxQueueDelayMicroseconds}`, 'Use 0 to form batches only from requests already waiting.');
    for (const p of b.preferredBatchSizes) {
      if (!Number.isInteger(p) || p < 1 || p > c.maxBatchSize) bad('preferred_batch_size', `${p} is outside 1…max_batch_size (${c.maxBatchSize})`, 'Preferred sizes must be batches the model may run.');
    }
    if (!Number.isInteger(b.maxQueueSize) || b.maxQueueSize < 0) bad('max_queue_size', `must be a whole number ≥ 0, got ${b.maxQueueSize}`, 'Use 0 for the default bound.');
    if (!(b.queueTimeoutMicroseconds >= 0)) bad('default_timeout_microseconds', `must be ≥ 0, got ${b.queueTimeoutMicroseconds}`, 'Use 0 for no limit.');
  }
  return c;
}

/**
 * The CPUs the server may use: MMKIT_CPUS when set (a container sets it from its CPU limit, which
 * the process cannot see), else the cores the process can run on.
 */
export function availableCpus(env: NodeJS.ProcessEnv = process.env): number {
  const limit = Number(env.MMKIT_CPUS);
  return Number.isInteger(limit) && limit > 0 ? limit : availableParallelism();
}

/**
 * onnxruntime's intra-op threads for each instance when the configuration leaves it to us:
 * onnxruntime's default sizes each session's pool to every core (and ignores container CPU
 * limits), so W instances would run W × cores threads; share the CPUs out instead.
 */
export function threadsPerInstance(totalInstances: number, cpus = availableCpus()): number {
  return Math.max(1, Math.floor(cpus / Math.max(1, totalInstances)));
}
