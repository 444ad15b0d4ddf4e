/**
 * Latency of the candidate against the reference on one batch of the check data: the two are
 * timed in turn (so load on a shared machine hits both alike), after warm-up, within a time
 * budget. The verdict compares the best (fastest) runs: load from other processes only ever adds
 * time, so the fastest run is the closest to the model's own cost. On a 2-core machine at load
 * average 13, six repeats gave best-run ratios of 0.71–0.75 for vit-tiny int8 vs fp32 (median
 * of pair ratios: 0.72–0.99, p50 ratio: 0.68–0.89) and 1.34–1.48 for a model made slower by
 * run-time quantization (p50 ratio: 0.77–2.37).
 *
 * Sessions run on one thread by default: with onnxruntime's thread pools, the pool of the
 * session that just ran keeps spinning while the other runs, and on a loaded 2-core machine the
 * ratio of vit-tiny int8 to fp32 then swung between 0.83 and 1.22 over five repeats; on one
 * thread it stayed within 0.75–0.80 (measured at batch 8).
 */
import type { TensorData } from '../tensor-data';
import { quantile } from '../eval/latency';
import type { OnnxModel } from '../onnx';
import { throwIfAborted } from '../runtime/batched';
import type { Device } from '../runtime/device';
import { createSession, type Session } from '../runtime/session';

export interface LatencyCheck {
  /** Items per timed run. */
  batch: number;
  /** p50 of each model's timed runs, in milliseconds. */
  referenceMs: number;
  candidateMs: number;
  /** Fastest run of each model, in milliseconds. */
  referenceBestMs: number;
  candidateBestMs: number;
  /** candidate ÷ reference fastest run: above 1 the candidate is slower. */
  ratio: number;
  /** Threads per session (0: onnxruntime's default). */
  threads: number;
  /** Timed runs of each model. */
  runs: number;
}

export interface LatencyOptions {
  threads: number;
  /** Timed milliseconds to spend per model, at least MIN_RUNS runs each (a large model gets just those). */
  budgetMs: number;
  /** Milliseconds the warm-up and timed runs of both models may take in all: past it, fewer than MIN_RUNS (at least one). */
  capMs: number;
  signal?: AbortSignal;
}

/**
 * Untimed runs first (lazy allocation, kernel selection). One is enough for the fastest-run
 * verdict, and a large model's run can take a second or more on a small CPU.
 */
export const WARMUP_RUNS = 1;
/** Fewest timed runs per model, whatever the budget: the best of three still shrugs off a stray slow run. */
export const MIN_RUNS = 3;
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
  const start = performance.now();
  for (let i = 0; i < WARMUP_RUNS; i++) for (const m of both) await m.session.run(m.feeds);
  const times: number[][] = [[], []];
  const spent = [0, 0];
  while (times[0].length < MAX_RUNS && (times[0].length < MIN_RUNS || Math.min(...spent) < opts.budgetMs)) {
    if (times[0].length > 0 && performance.now() - start >= opts.capMs) break;
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
  const [referenceBestMs, candidateBestMs] = times.map((t) => Math.min(...t));
  return { batch, referenceMs, candidateMs, referenceBestMs, candidateBestMs, ratio: candidateBestMs / referenceBestMs, runs: times[0].length, threads: opts.threads };
}
