/**
 * A model's request queue and batch former, with Triton's dynamic batcher semantics: a batch is
 * formed only when an instance is idle; it takes waiting requests in arrival order that agree on
 * every non-batch dimension, up to max_batch_size rows; it goes at once when it is full, when it
 * reaches a preferred size, when the next request cannot join it, or when its oldest request has
 * waited max_queue_delay; otherwise the scheduler waits for more. Without dynamic batching every
 * request is its own batch. The queue is bounded (back-pressure) and may time requests out.
 */
import { MmkitError } from '../errors';

export interface SchedulerOptions {
  /** Rows a batch may hold; 1 without dynamic batching. */
  maxBatchSize: number;
  batching: boolean;
  maxQueueDelayMs: number;
  preferredBatchSizes: number[];
  maxQueueSize: number;
  /** 0: no limit. */
  queueTimeoutMs: number;
}

export interface Queued<T> {
  item: T;
  rows: number;
  /** Requests batch together only when their signatures (non-batch shapes and dtypes) are equal. */
  signature: string;
  enqueuedAt: number;
}

interface Waiting<T, R> extends Queued<T> {
  resolve: (r: R) => void;
  reject: (e: Error) => void;
}

/** Runs one batch; resolves with one result per request, in the batch's order. */
export type BatchRunner<T, R> = (batch: Queued<T>[]) => Promise<R[]>;

export class Scheduler<T, R> {
  private readonly queue: Waiting<T, R>[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly opts: SchedulerOptions,
    /** How many batches may run at once (the model's idle instances). */
    private readonly idle: () => number,
    private readonly runBatch: BatchRunner<T, R>,
    private readonly label: string,
  ) {}

  /** Requests waiting for an instance. */
  get pending(): number {
    return this.queue.length;
  }

  /** Queues a request; `signal` withdraws it while it still waits (its client went away), so no instance spends time on it. */
  submit(item: T, rows: number, signature: string, signal?: AbortSignal): Promise<R> {
    if (this.queue.length >= this.opts.maxQueueSize) {
      return Promise.reject(
        new MmkitError('UNAVAILABLE', `The queue of ${this.label} is full (${this.opts.maxQueueSize} requests waiting).`, {
          hint: 'Retry later with backoff, or add instances or replicas (max_queue_size bounds the queue).',
        }),
      );
    }
    return new Promise<R>((resolve, reject) => {
      const waiting: Waiting<T, R> = { item, rows, signature, enqueuedAt: performance.now(), resolve, reject };
      this.queue.push(waiting);
      signal?.addEventListener('abort', () => this.withdraw(waiting), { once: true });
      this.schedule();
    });
  }

  /** Forms and starts batches while instances are idle; call again whenever one becomes idle. */
  schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = performance.now();
    this.expire(now);
    while (this.queue.length > 0 && this.idle() > 0) {
      const take = this.batchSize(now);
      if (take === 0) {
        // Wait for more requests, at most until the oldest one's delay runs out.
        const wait = this.queue[0].enqueuedAt + this.opts.maxQueueDelayMs - now;
        this.timer = setTimeout(() => this.schedule(), Math.max(0, wait));
        return;
      }
      const batch = this.queue.splice(0, take);
      this.runBatch(batch).then(
        (results) => batch.forEach((w, i) => w.resolve(results[i])),
        (e: Error) => batch.forEach((w) => w.reject(e)),
      );
    }
    if (this.queue.length > 0 && this.opts.queueTimeoutMs > 0) {
      this.timer = setTimeout(() => this.schedule(), this.queue[0].enqueuedAt + this.opts.queueTimeoutMs - now);
    }
  }

  private withdraw(waiting: Waiting<T, R>): void {
    const at = this.queue.indexOf(waiting);
    if (at < 0) return; // already running: its result is simply not sent
    this.queue.splice(at, 1);
    waiting.reject(new MmkitError('CANCELLED', `The client of a request to ${this.label} went away while it waited.`));
    this.schedule();
  }

  /** Refuses every waiting request (the server is stopping without draining). */
  rejectAll(e: Error): void {
    clearTimeout(this.timer);
    for (const w of this.queue.splice(0)) w.reject(e);
  }

  /** How many requests from the head of the queue to run now; 0: wait for more. */
  private batchSize(now: number): number {
    if (!this.opts.batching) return 1;
    const head = this.queue[0];
    let rows = 0;
    let count = 0;
    // The longest head run that agrees with the head and fits, and whether something stopped it.
    let blocked = false;
    for (const w of this.queue) {
      if (w.signature !== head.signature || rows + w.rows > this.opts.maxBatchSize) {
        blocked = true;
        break;
      }
      rows += w.rows;
      count++;
    }
    if (blocked || rows === this.opts.maxBatchSize) return count;
    const preferred = this.largestPreferredPrefix(count);
    if (preferred > 0) return preferred;
    return now - head.enqueuedAt >= this.opts.maxQueueDelayMs ? count : 0;
  }

  /** Requests from the head whose rows add up to the largest preferred batch size reachable, or 0. */
  private largestPreferredPrefix(available: number): number {
    let best = 0;
    let rows = 0;
    for (let i = 0; i < available; i++) {
      rows += this.queue[i].rows;
      if (this.opts.preferredBatchSizes.includes(rows)) best = i + 1;
    }
    return best;
  }

  private expire(now: number): void {
    if (this.opts.queueTimeoutMs <= 0) return;
    while (this.queue.length > 0 && now - this.queue[0].enqueuedAt >= this.opts.queueTimeoutMs) {
      this.queue.shift()!.reject(
        new MmkitError('UNAVAILABLE', `The request waited ${this.opts.queueTimeoutMs} ms in the queue of ${this.label} and timed out.`, {
          hint: 'The server is overloaded: retry later, or add instances or replicas.',
        }),
      );
    }
  }
}
