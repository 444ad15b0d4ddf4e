import { throwIfAborted } from '../runtime/batched';
import type { ConcreteDevice, Device } from '../runtime/device';
import { createSession, type SessionOptions } from '../runtime/session';
import type { ModelSource } from '../runtime/source';
import { syntheticFeeds, type SyntheticFeedsOptions } from '../runtime/synthetic';
import { DEFAULT_WARMUP_BATCHES, latencyStats, type BatchTiming, type LatencyStats } from './latency';
import { MmkitError } from '../errors';

export interface TimeModelOptions extends SyntheticFeedsOptions {
  /** Timed runs, after the warm-up runs; default 20. */
  runs?: number;
  /** Untimed runs first; default DEFAULT_WARMUP_BATCHES. */
  warmup?: number;
  device?: Device;
  intraOpThreads?: SessionOptions['intraOpThreads'];
  interOpThreads?: SessionOptions['interOpThreads'];
  signal?: AbortSignal;
}

export interface TimingReport {
  latency: LatencyStats;
  device: ConcreteDevice;
  /** The shapes that were fed. */
  inputs: Record<string, number[]>;
}

/**
 * Latency of a model on made-up inputs of its declared shapes: no dataset needed, so any two
 * variants (fp32 vs int8, one thread vs four) can be compared on equal terms.
 */
export async function timeModel(model: ModelSource, opts: TimeModelOptions = {}): Promise<TimingReport> {
  const runs = opts.runs ?? 20;
  const warmup = opts.warmup ?? DEFAULT_WARMUP_BATCHES;
  for (const [name, n, min] of [['runs', runs, 1], ['warmup', warmup, 0]] as const) {
    if (!(Number.isInteger(n) && n >= min)) throw new MmkitError('BAD_OPTION', `timeModel: ${name} must be a whole number ≥ ${min}, got ${n}.`);
  }
  const session = await createSession(model, { device: opts.device, intraOpThreads: opts.intraOpThreads, interOpThreads: opts.interOpThreads });
  try {
    const feeds = syntheticFeeds(session.inputs, opts);
    const items = Object.values(feeds)[0]?.dims[0] ?? 1;
    const timings: BatchTiming[] = [];
    for (let i = 0; i < warmup + runs; i++) {
      throwIfAborted(opts.signal, 'Timing');
      const start = performance.now();
      await session.run(feeds);
      timings.push({ ms: performance.now() - start, items });
    }
    return {
      latency: latencyStats(timings, warmup),
      device: session.device,
      inputs: Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, t.dims])),
    };
  } finally {
    await session.dispose();
  }
}
