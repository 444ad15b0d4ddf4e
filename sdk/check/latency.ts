/**
 * Latency of the candidate against the reference on one batch of the check data: the two are
 * timed in turn (so load on a shared machine hits both alike), after warm-up, within a time
 * budget. The ratio is the median of the per-pair ratios, which drifting load cancels out of.
 *
 * Sessions run on one thread by default: with onnxruntime's thread pools, the pool of the
 * session that just ran keeps spinning while the other runs, and on a loaded 2-core machine the
 * ratio of vit-tiny int8 to fp32 then swung between 0.83 and 1.22 over five repeats; on one
 * thread it stayed within 0.75–0.80 (measured at batch 8).
 */
import type { TensorData } from '../data/tensor-data';
import { quantile } from '../eval/latency';
import type { OnnxModel } from '../onnx';
import { throwIfAborted } from '../runtime/batched';
import type { Device } from '../runtime/device';
import { createSession, type Session } from '../runtime/session';

export interface LatencyCheck {
  /** Items per timed run. */
  batch: number;
  referenceMs: number;
  candidateMs: number;
  /** Median of candidate ÷ reference time over adjacent pairs of runs: above 1 the candidate is slower. */
  ratio: number;
  /** Threads per session (0: onnxruntime's default). */
  threads: number;
  /** Timed runs of each model. */
  runs: number;
}

export interface LatencyOptions {
  threads: number;
  /** Timed milliseconds to spend per model, at least MIN_RUNS runs each. */
  budgetMs: number;
  signal?: AbortSignal;
}

/** Untimed runs first: session start-up, lazy allocation, kernel selection. */
export const WARMUP_RUNS = 2;
/** Fewest timed runs per model: a median of fewer is not worth a verdict. */
export const MIN_RUNS = 5;
const MAX_RUNS = 200;

interface Timed {
  model: OnnxModel;
  feeds: Record<string, TensorData>;
}

export async function compareLatency(reference: Timed, candidate: Timed, batch: number, opts: LatencyOptions & { device: Device }): Promise<LatencyCheck> {
  const sessions: Session[] = [];
  try {
    for (const m of [reference, candidate]) sessions.push(await createSession(m.model, { device: opts.device, intraOpThreads: opts.threads, reuse: false }));
    return await timeInTurn(sessions.map((session, k) => ({ session, feeds: [reference, candidate][k].feeds })), batch, opts);
  } finally {
    await Promise.all(sessions.map((s) => s.dispose()));
  }
}

async function timeInTurn(both: { session: Session; feeds: Record<string, TensorData> }[], batch: number, opts: LatencyOptions): Promise<LatencyCheck> {
  for (let i = 0; i < WARMUP_RUNS; i++) for (const m of both) await m.session.run(m.feeds);
  const times: number[][] = [[], []];
  const spent = [0, 0];
  while (times[0].length < MAX_RUNS && (times[0].length < MIN_RUNS || Math.min(...spent) < opts.budgetMs)) {
    throwIfAborted(opts.signal, 'The compression check');
    for (const [k, m] of both.entries()) {
      const start = performance.now();
      await m.session.run(m.feeds);
      const ms = performance.now() - start;
      times[k].push(ms);
      spent[k] += ms;
    }
  }
  const median = (values: number[]) => quantile([...values].sort((a, b) => a - b), 0.5);
  const [referenceMs, candidateMs] = times.map(median);
  const ratio = median(times[1].map((ms, i) => ms / times[0][i]));
  return { batch, referenceMs, candidateMs, ratio, runs: times[0].length, threads: opts.threads };
}
