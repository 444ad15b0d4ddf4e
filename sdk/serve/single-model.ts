/**
 * The serving configuration of one ONNX file without a config.pbtxt, as `mmkit serve MODEL` and
 * `pipeline.serve()` build it: batching on (up to 8 rows) when every input and output has a free first axis,
 * off otherwise; two instances where there are two cores or more.
 */
import * as path from 'node:path';
import { hasBatchAxis, readModelSignature } from './config/model-signature';
import { availableCpus, DEFAULT_MAX_QUEUE_SIZE, type InstanceKind, type ModelServingConfig } from './model-config';

export interface SingleModelOptions {
  /** The name in URLs; default the file name without .onnx. */
  name?: string;
  /** Rows per batch; 0: no batching. Default 8 when the model can batch, else 0. */
  maxBatchSize?: number;
  /** How long a request may wait for others to join its batch; default 0 (batches form from what waits while instances are busy). */
  maxQueueDelayMs?: number;
  preferredBatchSizes?: number[];
  maxQueueSize?: number;
  /** Model instances (worker threads); default defaultInstanceCount(). */
  instances?: number;
  /** onnxruntime intra-op threads per instance; 0 (default): the CPUs shared out. */
  threads?: number;
  kind?: InstanceKind;
}

export const DEFAULT_MAX_BATCH_SIZE = 8;

/** Two instances keep both cores of a small machine busy while one of them waits for its next batch. */
export function defaultInstanceCount(): number {
  return Math.min(2, availableCpus());
}

export async function singleModelConfig(modelPath: string, opts: SingleModelOptions = {}): Promise<ModelServingConfig> {
  const maxBatchSize = opts.maxBatchSize ?? (hasBatchAxis(await readModelSignature(modelPath)) ? DEFAULT_MAX_BATCH_SIZE : 0);
  return {
    name: opts.name ?? path.basename(modelPath).replace(/\.onnx$/i, ''),
    version: '1',
    modelPath: path.resolve(modelPath),
    maxBatchSize,
    dynamicBatching:
      maxBatchSize > 0
        ? {
            maxQueueDelayMicroseconds: (opts.maxQueueDelayMs ?? 0) * 1000,
            preferredBatchSizes: opts.preferredBatchSizes ?? [],
            maxQueueSize: opts.maxQueueSize ?? DEFAULT_MAX_QUEUE_SIZE,
            queueTimeoutMicroseconds: 0,
          }
        : undefined,
    instanceCount: opts.instances ?? defaultInstanceCount(),
    instanceKind: opts.kind ?? 'cpu',
    intraOpThreads: opts.threads ?? 0,
  };
}
