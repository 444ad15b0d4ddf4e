/** The compression check's options, their defaults and their validation. */
import type { Batch } from '../data/batch';
import type { Dataset } from '../data/dataset';
import { MmkitError } from '../errors';
import { DEFAULT_MIN_ELEMENTS } from '../passes/quantize/dynamic';
import { checkDevice, type Device } from '../runtime/device';

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
  /**
   * Highest max |Δ| of a single-value output (a score [N] or [N, 1]) relative to its scale
   * (default 0.1: see OutputFidelity.scoreDrift): there the per-item cosine only compares signs.
   * Sound int8 or float16 moves a sigmoid score by a few thousandths; 0.1 is a tenth of its range.
   */
  scoreDrift: number;
}

/**
 * Defaults. The cosine bound sits between what sound compression leaves and real damage,
 * measured on vit-tiny-mnist over 512 MNIST test digits: dynamic int8 keeps a logit cosine of
 * 0.99996 and int4 weight-only (blocks of 32 to 128) 0.9985–0.9991 with top-1 agreement ≥ 99.8%,
 * while per-tensor int8 of a weight with an outlier column falls to 0.72, and the same with
 * per-channel weights but an outlier activation to 0.92 (test/check.test.ts). 0.995 is a logit
 * error of about 10% of the logits' norm.
 */
export const DEFAULT_THRESHOLDS: CheckThresholds = { agreement: 0.99, cosine: 0.995, slower: 1.05, notSmaller: 0.98, scoreDrift: 0.1 };
/** Items compared by default: enough for agreement steps of 1/128, a second or two for a tiny ViT. */
export const DEFAULT_CHECK_ITEMS = 128;
/** Timed milliseconds per model by default: dozens of runs of a tiny ViT, the 3-run minimum of a large one. */
export const DEFAULT_LATENCY_BUDGET_MS = 300;
/**
 * Milliseconds of inference the check spends by default, comparing and timing both models. Here
 * (2 busy cores) 128 items of vit-tiny-mnist take about a second; PP-OCRv4 det at 224 × 224 takes
 * 2.6 s a batch of 8 for both models, so it gets 2 of its 16 batches and no latency runs.
 */
export const DEFAULT_TIME_BUDGET_MS = 5000;

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
  /** Sizes of symbolic input dimensions, for synthetic inputs ({ samples: 1280 }); see runtime/input-shapes.ts for the sizes chosen otherwise. */
  dims?: Record<string, number>;
  /** Whole shapes of one synthetic batch by input name, batch axis included ({ input: [1, 1280] }). */
  inputs?: Record<string, number[]>;
  /**
   * Milliseconds of inference (both models' runs for the comparison and the timing) the check may
   * spend (default DEFAULT_TIME_BUDGET_MS). Past it, fewer batches are compared (always at least
   * one) and fewer latency runs made, or none; `notes` says what was cut. 0: one batch, no timing.
   */
  timeBudgetMs?: number;
  /**
   * The step's own minElements (weights smaller than this were left float on purpose), which the
   * explanations of a 'slower' or 'larger' finding name; default quantize.dynamic's. The pipeline
   * passes the compression step's setting.
   */
  minElements?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total?: number, label?: string) => void;
}

export interface NormalizedCheckOptions {
  maxItems: number;
  batch?: number;
  thresholds: CheckThresholds;
  device: Device;
  web: boolean;
  latencyBudgetMs: number;
  threads: number;
  seed: number;
  dims?: Record<string, number>;
  inputs?: Record<string, number[]>;
  timeBudgetMs: number;
  minElements: number;
}

function wholeNumber(name: string, value: number | undefined, min: number): void {
  if (value !== undefined && !(Number.isInteger(value) && value >= min)) {
    throw new MmkitError('BAD_OPTION', `checkCompression: ${name} must be a whole number ≥ ${min}, got ${JSON.stringify(value)}.`);
  }
}

/** Options with defaults filled in and values checked. */
export function normalizeCheckOptions(opts: CheckOptions = {}): NormalizedCheckOptions {
  wholeNumber('maxItems', opts.maxItems, 1);
  wholeNumber('batch', opts.batch, 1);
  wholeNumber('latencyBudgetMs', opts.latencyBudgetMs, 0);
  wholeNumber('seed', opts.seed, 0);
  wholeNumber('threads', opts.threads, 0);
  wholeNumber('minElements', opts.minElements, 0);
  wholeNumber('timeBudgetMs', opts.timeBudgetMs, 0);
  for (const [name, size] of Object.entries(opts.dims ?? {})) wholeNumber(`dims.${name}`, size, 1);
  for (const [name, shape] of Object.entries(opts.inputs ?? {})) {
    if (!Array.isArray(shape)) throw new MmkitError('BAD_OPTION', `checkCompression: inputs.${name} must be a shape such as [1, 1280], got ${JSON.stringify(shape)}.`);
    shape.forEach((size, axis) => wholeNumber(`inputs.${name}[${axis}]`, size, 1));
  }
  if (opts.web !== undefined && typeof opts.web !== 'boolean') throw new MmkitError('BAD_OPTION', `checkCompression: web must be true or false, got ${JSON.stringify(opts.web)}.`);
  const thresholds = { ...DEFAULT_THRESHOLDS, ...opts.thresholds };
  const ranges: Record<keyof CheckThresholds, [number, number, string]> = {
    agreement: [0, 1, 'a share between 0 and 1, e.g. 0.99'],
    cosine: [-1, 1, 'a cosine between -1 and 1, e.g. 0.995'],
    slower: [1, Infinity, 'a latency ratio ≥ 1, e.g. 1.05 for 5% slower'],
    notSmaller: [0, 1, 'a size ratio between 0 and 1, e.g. 0.98'],
    scoreDrift: [0, Infinity, 'a share of the output\'s scale ≥ 0, e.g. 0.1'],
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
    ...(opts.inputs ? { inputs: opts.inputs } : {}),
    timeBudgetMs: opts.timeBudgetMs ?? DEFAULT_TIME_BUDGET_MS,
    minElements: opts.minElements ?? DEFAULT_MIN_ELEMENTS,
  };
}
