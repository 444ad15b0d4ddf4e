/**
 * What the REST and gRPC front ends share: the served models, health, server metadata, and
 * inference with its metrics and its count of requests in flight (which a graceful stop waits for).
 */
import type { TensorData } from '../tensor-data';
import { MmkitError } from '../errors';
import { MMKIT_VERSION } from '../version';
import type { ServerMetrics } from './metrics';
import type { ServerMetadata } from './protocol-types';
import type { InferenceRequest, ServedModel } from './served-model';
import { asServingError, failureReasonOf } from './status';

export class InferenceService {
  private readonly models = new Map<string, ServedModel>();
  private loading = 0;
  private draining = false;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(readonly metrics: ServerMetrics) {}

  readonly metadata: ServerMetadata = { name: 'mmkit', version: MMKIT_VERSION, extensions: ['binary_tensor_data'] };

  /** Live: the process answers. */
  get live(): boolean {
    return true;
  }

  /** Ready: every model loaded and warmed up, and not stopping. */
  get ready(): boolean {
    return !this.draining && this.loading === 0 && this.models.size > 0;
  }

  get modelNames(): string[] {
    return [...this.models.keys()];
  }

  /** Registers a model while it loads, so readiness waits for it. */
  async add(load: Promise<ServedModel>): Promise<ServedModel> {
    this.loading++;
    try {
      const model = await load;
      this.models.set(model.config.name, model);
      return model;
    } finally {
      this.loading--;
    }
  }

  /** The model a request names; an unknown name or version is UNKNOWN_MODEL, one stopping is UNAVAILABLE. */
  model(name: string, version?: string): ServedModel {
    const model = this.models.get(name);
    if (!model) {
      throw new MmkitError('UNKNOWN_MODEL', `Model '${name}' is not served here.`, { hint: this.models.size ? `Served models: ${this.modelNames.join(', ')}.` : 'No model is loaded yet.' });
    }
    if (version && !model.metadata.versions.includes(version)) {
      throw new MmkitError('UNKNOWN_MODEL', `Version ${version} of model '${name}' is not served here.`, { hint: `Served versions: ${model.metadata.versions.join(', ')}; or leave the version out.` });
    }
    return model;
  }

  modelReady(name: string, version?: string): boolean {
    this.model(name, version);
    return !this.draining;
  }

  /**
   * Counts a request from its arrival (its body may still be on the way) until it is answered, so
   * that a drain waits for it: a request counted only once it reached a model could be cut off.
   */
  async track<T>(handle: () => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await handle();
    } finally {
      if (--this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    }
  }

  /** Runs one request, counting it for metrics. */
  async infer(name: string, version: string | undefined, request: InferenceRequest, protocol: 'http' | 'grpc'): Promise<{ model: ServedModel; outputs: Record<string, TensorData> }> {
    const started = performance.now();
    let model: ServedModel | undefined;
    try {
      if (this.draining) throw new MmkitError('UNAVAILABLE', 'The server is shutting down.', { hint: 'Retry on another replica.' });
      model = this.model(name, version);
      const outputs = await model.infer(request);
      this.metrics.requestDone(name, model.config.version, protocol, (performance.now() - started) / 1000);
      return { model, outputs };
    } catch (e) {
      const error = asServingError(e);
      if (model) this.metrics.requestDone(name, model.config.version, protocol, (performance.now() - started) / 1000, failureReasonOf(error));
      throw error;
    }
  }

  /** Stops taking requests (ready turns false) and resolves once those in flight are answered, or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    if (this.inFlight === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async close(): Promise<void> {
    this.draining = true;
    await Promise.all([...this.models.values()].map((m) => m.close()));
    this.models.clear();
  }
}
