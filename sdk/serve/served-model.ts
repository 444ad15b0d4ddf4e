/**
 * One model behind the server: its instances, its scheduler, its metadata, and the check of each
 * request against what the model declares. Batches are cut back into each request's own rows.
 */
import { concatRows, elementCount, sliceRows, type TensorData } from '../tensor-data';
import { MmkitError } from '../errors';
import type { TensorInfo } from '../runtime';
import { datatypeOf } from './datatypes';
import { InstancePool } from './instance-pool';
import { DEFAULT_MAX_QUEUE_SIZE, type ModelServingConfig } from './model-config';
import type { ServerMetrics } from './metrics';
import type { ModelMetadata, TensorMetadata } from './protocol-types';
import { Scheduler, type Queued } from './scheduler';

export interface InferenceRequest {
  inputs: Record<string, TensorData>;
  /** Outputs to return; default every output. */
  outputs?: string[];
  /** Aborted when the client goes away: a request still queued is dropped. */
  signal?: AbortSignal;
}

interface Job {
  request: InferenceRequest;
  /** Rows along the batch axis (1 when the model has none the server may use). */
  rows: number;
}

export class ServedModel {
  readonly metadata: ModelMetadata;
  private readonly scheduler: Scheduler<Job, Record<string, TensorData>>;

  private constructor(
    readonly config: ModelServingConfig,
    private readonly pool: InstancePool,
    private readonly metrics: ServerMetrics,
  ) {
    const { name, version, maxBatchSize, dynamicBatching: b } = config;
    this.metadata = {
      name,
      versions: [version],
      platform: 'onnxruntime_onnx',
      inputs: pool.io.inputs.map((t) => tensorMetadata(t, name)),
      outputs: pool.io.outputs.map((t) => tensorMetadata(t, name)),
    };
    this.scheduler = new Scheduler<Job, Record<string, TensorData>>(
      {
        batching: b !== undefined,
        maxBatchSize: Math.max(1, maxBatchSize),
        maxQueueDelayMs: (b?.maxQueueDelayMicroseconds ?? 0) / 1000,
        preferredBatchSizes: b?.preferredBatchSizes ?? [],
        maxQueueSize: b?.maxQueueSize || DEFAULT_MAX_QUEUE_SIZE,
        queueTimeoutMs: (b?.queueTimeoutMicroseconds ?? 0) / 1000,
      },
      () => this.pool.idle,
      (batch) => this.runBatch(batch),
      `model '${name}'`,
    );
  }

  /** Loads and warms up every instance; resolves when the model is ready to serve. */
  static async load(config: ModelServingConfig, intraOpThreads: number, metrics: ServerMetrics): Promise<ServedModel> {
    const b = config.dynamicBatching;
    const warmupBatchSizes = config.maxBatchSize > 0 ? [...new Set([1, ...(b?.preferredBatchSizes ?? []), ...(b ? [config.maxBatchSize] : [])])] : [];
    const pool = await InstancePool.start(
      { modelPath: config.modelPath, device: config.instanceKind === 'gpu' ? 'cuda' : 'cpu', intraOpThreads, warmupBatchSizes },
      config.instanceCount,
      `model '${config.name}'`,
    );
    if (pool.io.warning) console.warn(`mmkit serve: model '${config.name}': ${pool.io.warning}`);
    if (config.maxBatchSize > 0) {
      const fixed = [...pool.io.inputs.map((t) => ['input', t] as const), ...pool.io.outputs.map((t) => ['output', t] as const)].find(([, t]) => typeof t.dims?.[0] === 'number');
      if (fixed) {
        await pool.close();
        const [kind, t] = fixed;
        throw new MmkitError('BAD_OPTION', `Model '${config.name}': max_batch_size is ${config.maxBatchSize}, but ${kind} '${t.name}' has a fixed first axis (${t.dims![0]}), so the server cannot batch along it.`, {
          file: config.modelPath,
          tensor: t.name,
          hint: 'Serve it with max_batch_size 0 (no batching), or export the model with a symbolic batch axis.',
        });
      }
    }
    return new ServedModel(config, pool, metrics);
  }

  get pending(): number {
    return this.scheduler.pending;
  }

  /** Checks a request against the model, queues it, and resolves with its own outputs. */
  async infer(request: InferenceRequest): Promise<Record<string, TensorData>> {
    const rows = this.check(request);
    const signature = this.pool.io.inputs.map((i) => `${request.inputs[i.name].dtype}[${request.inputs[i.name].dims.slice(1)}]`).join(';');
    const { name, version } = this.config;
    this.metrics.setPending(name, version, this.scheduler.pending + 1);
    try {
      return await this.scheduler.submit({ request, rows }, rows, signature, request.signal);
    } finally {
      this.metrics.setPending(name, version, this.scheduler.pending);
    }
  }

  async close(): Promise<void> {
    this.scheduler.rejectAll(new MmkitError('UNAVAILABLE', `Model '${this.config.name}' is unloading.`, { hint: 'Retry on another replica.' }));
    await this.pool.close();
  }

  private async runBatch(batch: Queued<Job>[]): Promise<Record<string, TensorData>[]> {
    const { name, version } = this.config;
    const started = performance.now();
    for (const q of batch) this.metrics.queued(name, version, started - q.enqueuedAt);
    const feeds: Record<string, TensorData> =
      batch.length === 1
        ? batch[0].item.request.inputs
        : Object.fromEntries(this.pool.io.inputs.map((i) => [i.name, concatRows(batch.map((q) => q.item.request.inputs[i.name]), i.name)]));
    const rows = batch.reduce((n, q) => n + q.rows, 0);
    let result;
    try {
      result = await this.pool.run(feeds);
    } finally {
      this.scheduler.schedule();
    }
    this.metrics.batchDone(name, version, rows, result.computeMs);
    return this.split(batch, result.outputs, rows);
  }

  /** Each request's own rows of every output it asked for. */
  private split(batch: Queued<Job>[], outputs: Record<string, TensorData>, rows: number): Record<string, TensorData>[] {
    if (batch.length === 1) return [pick(outputs, batch[0].item.request.outputs)];
    for (const [out, t] of Object.entries(outputs)) {
      if (t.dims[0] !== rows) {
        throw new MmkitError('SERVER_ERROR', `Model '${this.config.name}': output '${out}' has ${t.dims[0]} rows for a batch of ${rows}, so it cannot be split between requests.`, {
          tensor: out,
          hint: 'Serve this model with max_batch_size 0: its outputs do not follow the batch axis.',
        });
      }
    }
    let offset = 0;
    return batch.map((q) => {
      const own = Object.fromEntries(Object.entries(outputs).map(([n, t]) => [n, sliceRows(t, offset, offset + q.rows)]));
      offset += q.rows;
      return pick(own, q.item.request.outputs);
    });
  }

  /** Validates the request's tensors against the model's inputs; returns its rows along the batch axis. */
  private check(request: InferenceRequest): number {
    const model = `Model '${this.config.name}'`;
    const declared = this.pool.io.inputs;
    const names = declared.map((i) => i.name);
    for (const name of Object.keys(request.inputs)) {
      if (!names.includes(name)) throw new MmkitError('BAD_REQUEST', `${model} has no input '${name}'.`, { tensor: name, hint: `Its inputs: ${names.join(', ')}.` });
    }
    const outputNames = this.pool.io.outputs.map((o) => o.name);
    for (const name of request.outputs ?? []) {
      if (!outputNames.includes(name)) throw new MmkitError('BAD_REQUEST', `${model} has no output '${name}'.`, { tensor: name, hint: `Its outputs: ${outputNames.join(', ')}.` });
    }
    let rows: number | undefined;
    for (const input of declared) {
      const t = request.inputs[input.name];
      if (!t) throw new MmkitError('BAD_REQUEST', `${model} needs input '${input.name}', which the request does not have.`, { tensor: input.name, hint: `Send every input: ${names.join(', ')}.` });
      const meta = tensorMetadata(input, this.config.name);
      const want = datatypeOf(t.dtype);
      if (want !== meta.datatype) {
        throw new MmkitError('BAD_REQUEST', `${model}: input '${input.name}' is ${meta.datatype}, but the request sends ${want}.`, { tensor: input.name, hint: `Send ${meta.datatype} data.` });
      }
      const fits = t.dims.length === meta.shape.length && meta.shape.every((d, i) => d === -1 || d === t.dims[i]);
      if (!fits) {
        throw new MmkitError('BAD_REQUEST', `${model}: input '${input.name}' has shape [${meta.shape}], but the request sends [${t.dims}].`, {
          tensor: input.name,
          hint: '-1 marks a free dimension; every other must match.',
        });
      }
      if (elementCount(t.dims) !== t.data.length) {
        throw new MmkitError('BAD_REQUEST', `${model}: input '${input.name}' claims shape [${t.dims}] (${elementCount(t.dims)} values) but carries ${t.data.length}.`, { tensor: input.name, hint: 'Send exactly as many values as the shape holds.' });
      }
      const r = this.config.maxBatchSize > 0 ? t.dims[0] : 1;
      if (rows !== undefined && r !== rows) {
        throw new MmkitError('BAD_REQUEST', `${model}: inputs disagree on the batch size (${rows} and ${r} rows in '${input.name}').`, { tensor: input.name, hint: 'Every input carries the same number of rows.' });
      }
      rows = r;
    }
    rows ??= 1;
    if (this.config.maxBatchSize > 0 && (rows < 1 || rows > this.config.maxBatchSize)) {
      throw new MmkitError('BAD_REQUEST', `${model}: the request has ${rows} rows; this model takes 1 to ${this.config.maxBatchSize} per request (max_batch_size).`, {
        hint: 'Split the request into smaller ones.',
      });
    }
    return rows;
  }
}

function tensorMetadata(t: TensorInfo, model: string): TensorMetadata {
  if (!t.dtype || !t.dims) throw new MmkitError('UNSUPPORTED', `Model '${model}': '${t.name}' is not a tensor; mmkit serves tensor inputs and outputs only.`, { tensor: t.name });
  return { name: t.name, datatype: datatypeOf(t.dtype, t.name), shape: t.dims.map((d) => (typeof d === 'number' ? d : -1)) };
}

function pick(outputs: Record<string, TensorData>, names: string[] | undefined): Record<string, TensorData> {
  return names && names.length > 0 ? Object.fromEntries(names.map((n) => [n, outputs[n]])) : outputs;
}
