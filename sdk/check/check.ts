/**
 * Never silently worse: the check that follows every compression. The candidate must load and
 * run in onnxruntime-node and in onnxruntime-web's wasm backend, follow the reference on the
 * check data, not be slower and not be larger; each shortfall becomes a flag with its likely
 * cause, read from the graph and the measurements. Failures of the candidate are findings, not
 * exceptions: only bad options, a broken reference or cancellation throw.
 */
import type { Batch } from '../data/batch';
import type { Dataset } from '../data/dataset';
import { MmkitError } from '../errors';
import { serializeModel, type OnnxModel } from '../onnx';
import { feedsFor, throwIfAborted } from '../runtime/batched';
import { checkDevice, type Device } from '../runtime/device';
import { createSession, type Session } from '../runtime/session';
import { checkData, type CheckData } from './check-data';
import { compareOutputs, type Fidelity } from './fidelity';
import { worstLayers } from './layer-drift';
import { compareLatency, type LatencyCheck } from './latency';
import { describeFailure, type RuntimeFailure } from './runtime-failure';
import { DEFAULT_MIN_ELEMENTS } from '../passes/quantize/dynamic';
import { compareSize, sizeCauses, type SizeCheck } from './size';
import { slownessCauses } from './slowness';
import { createWebSession } from './web-runtime';

export interface CheckThresholds {
  /**
   * Lowest share of items whose top-1 matches the reference (default 0.99): a sound int8 model
   * changes the top-1 of a few items in a thousand; one in a hundred is a visible accuracy change.
   */
  agreement: number;
  /** Lowest mean cosine of output rows (default 0.995): see DEFAULT_THRESHOLDS. */
  cosine: number;
  /** Highest candidate ÷ reference latency, best runs compared (default 1.05: best-run ratios on a busy CPU vary by a few percent). */
  slower: number;
  /** Highest candidate ÷ reference file size before 'not-smaller' (default 0.98: a compression that saves under 2% did not work). */
  notSmaller: number;
}

/**
 * Defaults. The cosine bound sits between what sound compression leaves and real damage,
 * measured on vit-tiny-mnist over 512 MNIST test digits: dynamic int8 keeps a logit cosine of
 * 0.99996 and int4 weight-only (blocks of 32 to 128) 0.9985–0.9991 with top-1 agreement ≥ 99.8%,
 * while per-tensor int8 of a weight with an outlier column falls to 0.72, and the same with
 * per-channel weights but an outlier activation to 0.92 (test/check.test.ts). 0.995 is a logit
 * error of about 10% of the logits' norm.
 */
export const DEFAULT_THRESHOLDS: CheckThresholds = { agreement: 0.99, cosine: 0.995, slower: 1.05, notSmaller: 0.98 };
/** Items compared by default: enough for agreement steps of 1/128, a second or two for a tiny ViT. */
export const DEFAULT_CHECK_ITEMS = 128;
/** Timed milliseconds per model by default: dozens of runs of a tiny ViT, the 3-run minimum of a large one. */
export const DEFAULT_LATENCY_BUDGET_MS = 300;

export interface CheckOptions {
  /** What to compare on (the calibration data when there is one); default seeded synthetic inputs. */
  data?: Dataset | AsyncIterable<Batch>;
  /** Items of `data` to use (default DEFAULT_CHECK_ITEMS). */
  maxItems?: number;
  /** Items per run, for the comparison and the timing; default the data's own batches, or 8. */
  batch?: number;
  thresholds?: Partial<CheckThresholds>;
  /** Where the onnxruntime-node runs go (default 'cpu'). */
  device?: Device;
  /** Also load and run the candidate in onnxruntime-web's wasm backend (default true). */
  web?: boolean;
  /** Timed milliseconds per model; 0 skips the latency comparison. */
  latencyBudgetMs?: number;
  /** Threads per session in the latency comparison (default 1, steady on a busy machine; 0: onnxruntime's default). */
  threads?: number;
  /** Seed of the synthetic inputs (default 0). */
  seed?: number;
  /** Sizes of symbolic input dimensions other than the batch, for synthetic inputs ({ sequence: 16 }). */
  dims?: Record<string, number>;
  /**
   * The step's own minElements (weights smaller than this were left float on purpose), which the
   * explanations of a 'slower' or 'larger' finding name; default quantize.dynamic's. The pipeline
   * passes the compression step's setting.
   */
  minElements?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total?: number, label?: string) => void;
}

export type CheckFlagKind = 'fails-node' | 'fails-web' | 'fidelity' | 'slower' | 'larger' | 'not-smaller';

export interface CheckFlag {
  kind: CheckFlagKind;
  /** What was found, with the numbers. */
  message: string;
  /** The likely cause, and what to do about it. */
  cause: string;
}

/** Whether the candidate loaded and ran in one runtime. */
export interface RuntimeRun {
  ok: boolean;
  /** The web run was not asked for (web: false). */
  skipped?: boolean;
  failure?: RuntimeFailure;
}

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
}

interface Normalized {
  maxItems: number;
  batch?: number;
  thresholds: CheckThresholds;
  device: Device;
  web: boolean;
  latencyBudgetMs: number;
  threads: number;
  seed: number;
  dims?: Record<string, number>;
  minElements: number;
}

function wholeNumber(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= min)) {
    throw new MmkitError('BAD_OPTION', `checkCompression: ${name} must be a whole number ≥ ${min}, got ${JSON.stringify(value)}.`);
  }
}

/** Options with defaults filled in and values checked. */
export function normalizeCheckOptions(opts: CheckOptions = {}): Normalized {
  wholeNumber('maxItems', opts.maxItems, 1);
  wholeNumber('batch', opts.batch, 1);
  wholeNumber('latencyBudgetMs', opts.latencyBudgetMs, 0);
  wholeNumber('seed', opts.seed, 0);
  wholeNumber('threads', opts.threads, 0);
  wholeNumber('minElements', opts.minElements, 0);
  for (const [name, size] of Object.entries(opts.dims ?? {})) wholeNumber(`dims.${name}`, size, 1);
  if (opts.web !== undefined && typeof opts.web !== 'boolean') throw new MmkitError('BAD_OPTION', `checkCompression: web must be true or false, got ${JSON.stringify(opts.web)}.`);
  const thresholds = { ...DEFAULT_THRESHOLDS, ...opts.thresholds };
  const ranges: Record<keyof CheckThresholds, [number, number, string]> = {
    agreement: [0, 1, 'a share between 0 and 1, e.g. 0.99'],
    cosine: [-1, 1, 'a cosine between -1 and 1, e.g. 0.995'],
    slower: [1, Infinity, 'a latency ratio ≥ 1, e.g. 1.05 for 5% slower'],
    notSmaller: [0, 1, 'a size ratio between 0 and 1, e.g. 0.98'],
  };
  for (const [key, [lo, hi, what]] of Object.entries(ranges) as [keyof CheckThresholds, [number, number, string]][]) {
    const v = thresholds[key];
    if (typeof v !== 'number' || !(v >= lo && v <= hi)) {
      throw new MmkitError('BAD_OPTION', `checkCompression: thresholds.${key} must be ${what}, got ${JSON.stringify(v)}.`, { hint: `The default is ${DEFAULT_THRESHOLDS[key]}.` });
    }
  }
  for (const key of Object.keys(thresholds)) {
    if (!(key in DEFAULT_THRESHOLDS)) throw new MmkitError('BAD_OPTION', `checkCompression: unknown threshold '${key}'.`, { hint: `Thresholds are ${Object.keys(DEFAULT_THRESHOLDS).join(', ')}.` });
  }
  return {
    maxItems: opts.maxItems ?? DEFAULT_CHECK_ITEMS,
    ...(opts.batch ? { batch: opts.batch } : {}),
    thresholds,
    device: checkDevice(opts.device),
    web: opts.web ?? true,
    latencyBudgetMs: opts.latencyBudgetMs ?? DEFAULT_LATENCY_BUDGET_MS,
    threads: opts.threads ?? 1,
    seed: opts.seed ?? 0,
    ...(opts.dims ? { dims: opts.dims } : {}),
    minElements: opts.minElements ?? DEFAULT_MIN_ELEMENTS,
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Loads the candidate in onnxruntime-node and runs one batch: the session, or why not. */
async function nodeRun(candidate: OnnxModel, first: Batch, device: Device): Promise<{ run: RuntimeRun; session?: Session }> {
  let session: Session;
  try {
    session = await createSession(candidate, { device });
  } catch (e) {
    return { run: { ok: false, failure: describeFailure('onnxruntime-node', 'load', e, candidate) } };
  }
  try {
    await session.run(feedsFor(session, first));
    return { run: { ok: true }, session };
  } catch (e) {
    await session.dispose();
    return { run: { ok: false, failure: describeFailure('onnxruntime-node', 'run', e, candidate) } };
  }
}

async function webRun(candidate: OnnxModel, first: Batch): Promise<RuntimeRun> {
  let stage: 'load' | 'run' = 'load';
  try {
    const session = await createWebSession(serializeModel(candidate));
    try {
      stage = 'run';
      await session.run(feedsFor({ inputNames: session.inputNames, label: 'the candidate' }, first));
    } finally {
      await session.release();
    }
    return { ok: true };
  } catch (e) {
    return { ok: false, failure: describeFailure('onnxruntime-web (wasm)', stage, e, candidate) };
  }
}

function runtimeFlag(kind: 'fails-node' | 'fails-web', runtime: string, f: RuntimeFailure): CheckFlag {
  const what = f.stage === 'load' ? 'does not load in' : 'loads but fails to run in';
  return { kind, message: `The model ${what} ${runtime}${f.ops.length ? ` (${f.ops.join(', ')})` : ''}.`, cause: f.cause };
}

/**
 * Top-1 agreement is judged on real data only: on made-up inputs the two top scores are often
 * near-tied, so sound quantization flips some of them (measured: 98.4% agreement at cosine
 * 0.99998 for int8 of a 128-way projection on synthetic inputs). The cosine is judged always.
 */
function agreementTooLow(f: Fidelity, t: CheckThresholds, synthetic: boolean): boolean {
  return !synthetic && f.agreement !== null && f.agreement < t.agreement;
}

function fidelityFallsShort(f: Fidelity, t: CheckThresholds, synthetic: boolean): boolean {
  return agreementTooLow(f, t, synthetic) || f.cosine < t.cosine;
}

function fidelityFlag(f: Fidelity, t: CheckThresholds, synthetic: boolean): CheckFlag {
  const lowAgreement = agreementTooLow(f, t, synthetic);
  const lowCosine = f.cosine < t.cosine;
  const parts = [
    f.agreement === null ? undefined : `top-1 agreement ${pct(f.agreement)}${lowAgreement ? ` (below ${pct(t.agreement)})` : ''}`,
    `output cosine ${f.cosine.toFixed(4)}${lowCosine ? ` (below ${t.cosine})` : ''}`,
    `max |Δ| ${f.maxAbsDiff.toPrecision(3)}`,
  ].filter(Boolean);
  const [worst, ...rest] = f.worstLayers;
  const cause = worst
    ? `the error starts at layer '${worst.node}' (${worst.op}, output '${worst.tensor}'): median channel error ${worst.channelError.toPrecision(2)} (whole tensor ${worst.relativeError.toPrecision(2)})${rest.length ? `; next ${rest.map((l) => `'${l.node}' (+${l.added.toPrecision(2)})`).join(', ')}` : ''} — exclude it (exclude.nodes), or give it finer scales (per-channel, smaller blocks)`
    : 'no layer could be matched by name between the two graphs; compare them tensor by tensor with compareTensors (sdk/analysis) to find where the error starts';
  return { kind: 'fidelity', message: `The outputs drift from the reference on ${f.items} items: ${parts.join(', ')}.`, cause };
}

/**
 * Checks a compressed model against the model it came from. Never throws for what is wrong with
 * the candidate: that comes back as flags.
 */
export async function checkCompression(reference: OnnxModel, candidate: OnnxModel, opts: CheckOptions = {}): Promise<CompressionCheck> {
  const o = normalizeCheckOptions(opts);
  throwIfAborted(opts.signal, 'The compression check');
  const progress = (done: number, label: string) => opts.onProgress?.(done, undefined, label);
  const flags: CheckFlag[] = [];
  const refSession = await createSession(reference, { device: o.device });
  let candSession: Session | undefined;
  try {
    const data: CheckData = await checkData(refSession.inputs, { data: opts.data, maxItems: o.maxItems, batch: o.batch, seed: o.seed, dims: o.dims, signal: opts.signal });
    const first = data.batches[0];

    progress(0, 'runtimes');
    const node = await nodeRun(candidate, first, o.device);
    candSession = node.session;
    if (node.run.failure) flags.push(runtimeFlag('fails-node', 'onnxruntime-node', node.run.failure));
    const web: RuntimeRun = o.web ? await webRun(candidate, first) : { ok: false, skipped: true };
    if (web.failure) flags.push(runtimeFlag('fails-web', "onnxruntime-web's wasm backend", web.failure));
    throwIfAborted(opts.signal, 'The compression check');

    let fidelity: Fidelity | null = null;
    let latency: LatencyCheck | null = null;
    if (candSession) {
      fidelity = await compareOutputs(refSession, candSession, data.batches, opts.signal, (done) => opts.onProgress?.(done, data.batches.length, 'fidelity'));
      if (fidelityFallsShort(fidelity, o.thresholds, data.synthetic)) {
        // Only now is the per-layer comparison worth its cost: it names the cause.
        fidelity.worstLayers = await worstLayers(reference, candidate, data.batches, { device: o.device, signal: opts.signal });
        flags.push(fidelityFlag(fidelity, o.thresholds, data.synthetic));
      }
      if (o.latencyBudgetMs > 0) {
        progress(0, 'latency');
        latency = await compareLatency({ model: reference, feeds: feedsFor(refSession, first) }, { model: candidate, feeds: feedsFor(candSession, first) }, data.batch, { budgetMs: o.latencyBudgetMs, threads: o.threads, device: o.device, signal: opts.signal });
        if (latency.ratio > o.thresholds.slower) {
          const causes = slownessCauses(reference, candidate, o.minElements);
          flags.push({
            kind: 'slower',
            message: `The model is slower than the reference: ${latency.ratio.toFixed(2)}× its time at batch ${latency.batch} (best run ${latency.candidateBestMs.toPrecision(3)} ms vs ${latency.referenceBestMs.toPrecision(3)} ms, p50 ${latency.candidateMs.toPrecision(3)} vs ${latency.referenceMs.toPrecision(3)} ms, ${latency.runs} runs each on ${latency.threads || "onnxruntime's default"} thread(s)).`,
            cause: causes.length ? causes.join('; ') : `the graph shows no usual cause; on a busy machine this can be noise — check again with a larger latencyBudgetMs`,
          });
        }
      }
    }

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
    return { ok: flags.length === 0, flags, runs: { node: node.run, web }, fidelity, latency, size, data: data.description, synthetic: data.synthetic, thresholds: o.thresholds };
  } finally {
    await Promise.all([refSession.dispose(), candSession?.dispose()]);
  }
}
