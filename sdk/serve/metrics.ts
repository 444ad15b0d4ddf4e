/**
 * The server's Prometheus metrics, named as Triton names them where Triton has one, so dashboards
 * and alerts written for Triton work unchanged: success/failure counts, inference count (rows)
 * against execution count (batches), so the average batch size is their ratio; cumulative
 * request, queue and compute time in microseconds; pending requests. Histograms are mmkit's own.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export type FailureReason = 'REJECTED' | 'CANCELED' | 'BACKEND' | 'OTHER';

export class ServerMetrics {
  readonly registry = new Registry();
  private readonly labels = ['model', 'version'] as const;
  private readonly success = new Counter({ name: 'nv_inference_request_success', help: 'Number of successful inference requests', labelNames: this.labels, registers: [this.registry] });
  private readonly failure = new Counter({ name: 'nv_inference_request_failure', help: 'Number of failed inference requests', labelNames: [...this.labels, 'reason'], registers: [this.registry] });
  private readonly inferences = new Counter({ name: 'nv_inference_count', help: 'Number of inferences performed (a batch of n rows counts n)', labelNames: this.labels, registers: [this.registry] });
  private readonly executions = new Counter({ name: 'nv_inference_exec_count', help: 'Number of model executions (batches) performed', labelNames: this.labels, registers: [this.registry] });
  private readonly requestUs = new Counter({ name: 'nv_inference_request_duration_us', help: 'Cumulative inference request duration in microseconds', labelNames: this.labels, registers: [this.registry] });
  private readonly queueUs = new Counter({ name: 'nv_inference_queue_duration_us', help: 'Cumulative inference queuing duration in microseconds', labelNames: this.labels, registers: [this.registry] });
  private readonly computeUs = new Counter({ name: 'nv_inference_compute_infer_duration_us', help: 'Cumulative compute inference duration in microseconds', labelNames: this.labels, registers: [this.registry] });
  private readonly pending = new Gauge({ name: 'nv_inference_pending_request_count', help: 'Instantaneous number of pending requests awaiting execution', labelNames: this.labels, registers: [this.registry] });
  private readonly duration = new Histogram({
    name: 'mmkit_inference_request_duration_seconds',
    help: 'Inference request duration in seconds, from the request fully received to the response ready',
    labelNames: [...this.labels, 'protocol'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: 'mmkit_inference_batch_size',
    help: 'Rows per model execution',
    labelNames: this.labels,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  requestDone(model: string, version: string, protocol: 'http' | 'grpc', seconds: number, failure?: FailureReason): void {
    if (failure) this.failure.inc({ model, version, reason: failure });
    else this.success.inc({ model, version });
    this.requestUs.inc({ model, version }, seconds * 1e6);
    this.duration.observe({ model, version, protocol }, seconds);
  }

  batchDone(model: string, version: string, rows: number, computeMs: number): void {
    this.inferences.inc({ model, version }, rows);
    this.executions.inc({ model, version });
    this.computeUs.inc({ model, version }, computeMs * 1e3);
    this.batchSize.observe({ model, version }, rows);
  }

  queued(model: string, version: string, waitedMs: number): void {
    this.queueUs.inc({ model, version }, waitedMs * 1e3);
  }

  setPending(model: string, version: string, count: number): void {
    this.pending.set({ model, version }, count);
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
