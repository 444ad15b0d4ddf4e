/**
 * Never silently worse: the check that follows every compression. The candidate must load and
 * run in onnxruntime-node and in onnxruntime-web's wasm backend, follow the reference on the
 * check data, not be slower and not be larger; each shortfall becomes a flag with its likely
 * cause, read from the graph and the measurements. The reference runs first: where it fails on
 * the check's inputs, that is the finding, not the candidate's failure. Failures of the candidate
 * are findings, not exceptions: only bad options, a reference that does not load or cancellation
 * throw. The inference it spends is bounded by a time budget, and it says what it cut.
 */
import type { OnnxModel } from '../onnx';
import { feedsFor, throwIfAborted } from '../runtime/batched';
import { createSession, type Session } from '../runtime/session';
import { checkData, type CheckData } from './check-data';
import { compareOutputs, type Fidelity } from './fidelity';
import { FLAG_ORDER, fidelityFallsShort, fidelityFlag, referenceFlag, runtimeFlag, slowerFlag, type CheckFlag } from './flags';
import { clampedTensors } from './fp16-clamp';
import { LAYER_ITEMS, worstLayers } from './layer-drift';
import { compareLatency, MIN_RUNS, type LatencyCheck } from './latency';
import { normalizeCheckOptions, type CheckOptions, type CheckThresholds, type NormalizedCheckOptions } from './options';
import { nodeRun, oneItem, referenceRun, webRun, type RuntimeRun } from './runs';
import { compareSize, sizeCauses, type SizeCheck } from './size';
import { slownessCauses } from './slowness';

export interface CompressionCheck {
  /** No flags. */
  ok: boolean;
  flags: CheckFlag[];
  runs: { node: RuntimeRun; web: RuntimeRun };
  /** Null when the candidate does not run in onnxruntime-node. */
  fidelity: Fidelity | null;
  /** Null when the candidate does not run in onnxruntime-node or latencyBudgetMs is 0. */
  latency: LatencyCheck | null;
  size: SizeCheck;
  /** What the comparison ran on, in words. */
  data: string;
  /** The data was made up (no dataset given): top-1 agreement is reported, not judged. */
  synthetic: boolean;
  thresholds: CheckThresholds;
  /** What the check cut short or left out to stay within its time budget, in words. */
  notes: string[];
}

const ms = (x: number) => `${Math.round(x)} ms`;

/** Share of the time budget the comparison gets: the rest is kept for the latency runs. */
function comparisonBudget(o: NormalizedCheckOptions): number {
  return o.latencyBudgetMs > 0 ? Math.max(o.timeBudgetMs / 2, o.timeBudgetMs - 2 * o.latencyBudgetMs) : o.timeBudgetMs;
}

/**
 * Checks a compressed model against the model it came from. Never throws for what is wrong with
 * the candidate, nor for check inputs the reference itself cannot run on: those come back as flags.
 */
export async function checkCompression(reference: OnnxModel, candidate: OnnxModel, opts: CheckOptions = {}): Promise<CompressionCheck> {
  const o = normalizeCheckOptions(opts);
  throwIfAborted(opts.signal, 'The compression check');
  const progress = (done: number, label: string) => opts.onProgress?.(done, undefined, label);
  const flags: CheckFlag[] = [];
  const notes: string[] = [];
  const refSession = await createSession(reference, { device: o.device });
  let candSession: Session | undefined;
  try {
    const data: CheckData = await checkData(reference, refSession.inputs, { data: opts.data, maxItems: o.maxItems, batch: o.batch, seed: o.seed, dims: o.dims, inputs: o.inputs, signal: opts.signal });
    const first = data.batch(0);

    progress(0, 'runtimes');
    // The reference first: where it cannot run on these inputs, the candidate is not to blame.
    const ref = await referenceRun(refSession, first);
    if ('error' in ref) flags.push(referenceFlag(ref.error, data));
    const runOn = 'error' in ref ? undefined : oneItem(first);
    const node = await nodeRun(candidate, reference, runOn, o.device);
    candSession = node.session;
    if (node.run.failure) flags.push(runtimeFlag('fails-node', 'onnxruntime-node', node.run.failure));
    throwIfAborted(opts.signal, 'The compression check');

    let fidelity: Fidelity | null = null;
    let latency: LatencyCheck | null = null;
    if (candSession && !('error' in ref)) {
      const compared = await compareOutputs(refSession, candSession, data, {
        budgetMs: comparisonBudget(o) - ref.ms,
        firstReference: ref.outputs,
        signal: opts.signal,
        onBatch: (done) => opts.onProgress?.(done, data.count, 'fidelity'),
      });
      fidelity = compared.fidelity;
      // Inference time only: the budget is in milliseconds of the models' runs.
      const spent = ref.ms + compared.ms;
      if (fidelity.batches < data.count) notes.push(`Compared ${fidelity.batches} of ${data.count} batches (${fidelity.items} items) within the time budget (timeBudgetMs ${o.timeBudgetMs}).`);
      if (fidelityFallsShort(fidelity, o.thresholds, data.synthetic)) {
        // Only now is the per-layer comparison worth its cost: it names the cause.
        const layerBatches = Array.from({ length: Math.min(fidelity.batches, Math.ceil(LAYER_ITEMS / data.batchItems)) }, (_, i) => data.batch(i));
        fidelity.worstLayers = await worstLayers(reference, candidate, layerBatches, { device: o.device, signal: opts.signal });
        flags.push(fidelityFlag(fidelity, o.thresholds, data.synthetic, clampedTensors(reference, candidate)));
      }
      if (o.latencyBudgetMs > 0) {
        // A warm-up and one timed run of each model must fit in what is left.
        const left = o.timeBudgetMs - spent;
        const perBatch = spent / fidelity.batches;
        if (2 * perBatch > left) {
          notes.push(`Latency not compared: a run of both models takes about ${ms(perBatch)}, and ${ms(Math.max(0, left))} of the time budget (timeBudgetMs ${o.timeBudgetMs}) was left for a warm-up and a timed run of each; raise timeBudgetMs to time them.`);
        } else {
          progress(0, 'latency');
          latency = await compareLatency({ model: reference, feeds: feedsFor(refSession, first) }, { model: candidate, feeds: feedsFor(candSession, first) }, data.batchItems, {
            budgetMs: Math.min(o.latencyBudgetMs, left / 2),
            capMs: left,
            threads: o.threads,
            device: o.device,
            signal: opts.signal,
          });
          // Fewer runs than a verdict needs (one stray slow run would decide it): reported, not judged.
          if (latency.runs < MIN_RUNS) notes.push(`Latency from ${latency.runs} timed run(s) of each model (${latency.ratio.toFixed(2)}×), fewer than the ${MIN_RUNS} a verdict needs, so not judged: the time budget (timeBudgetMs ${o.timeBudgetMs}) ran out.`);
          else if (latency.ratio > o.thresholds.slower) flags.push(slowerFlag(latency, slownessCauses(reference, candidate, o.minElements)));
        }
      }
    }

    // The web run comes after the timed ones: the first onnxruntime-node run after an
    // onnxruntime-web session took 2–8 s here (mel front end), which would eat the time budget.
    progress(0, 'runtimes');
    const web: RuntimeRun = o.web ? await webRun(candidate, runOn) : { ok: false, skipped: true };
    if (web.failure) flags.push(runtimeFlag('fails-web', "onnxruntime-web's wasm backend", web.failure));

    progress(0, 'size');
    const size = compareSize(reference, candidate);
    if (size.ratio > o.thresholds.notSmaller) {
      const causes = sizeCauses(reference, candidate, size, o.minElements);
      const larger = size.ratio > 1;
      flags.push({
        kind: larger ? 'larger' : 'not-smaller',
        message: `The model file is ${larger ? 'larger than' : 'hardly smaller than'} the reference's: ${size.candidateBytes} vs ${size.referenceBytes} bytes (${size.ratio.toFixed(3)}×).`,
        cause: causes.length ? causes.join('; ') : 'the graph shows no float weights left behind; the pass found little to compress in this model',
      });
    }
    // What was compared; without a comparison, the one batch the runs were tried on.
    const described = data.describe(fidelity ? fidelity.batches : 1);
    flags.sort((a, b) => FLAG_ORDER.indexOf(a.kind) - FLAG_ORDER.indexOf(b.kind));
    return { ok: flags.length === 0, flags, runs: { node: node.run, web }, fidelity, latency, size, data: described, synthetic: data.synthetic, thresholds: o.thresholds, notes };
  } finally {
    await Promise.all([refSession.dispose(), candSession?.dispose()]);
  }
}
