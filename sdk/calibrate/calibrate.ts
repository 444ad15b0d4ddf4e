/**
 * Calibration: runs the float model in onnxruntime over a dataset with taps on the tensors to be
 * quantized and picks each tensor's range. Streaming: one batch of activations is alive at a time.
 * 'minmax' needs one pass; the other methods a second one that fills histograms over the ranges the
 * first pass found (exact edges, so no re-binning as the range grows).
 */
import type { Dataset } from '../data/dataset';
import type { TensorData } from '../tensor-data';
import { MmkitError } from '../errors';
import type { OnnxModel } from '../onnx';
import type { RunContext } from '../step';
import { feedsFor, throwIfAborted } from '../runtime/batched';
import { createSession, type Session } from '../runtime/session';
import type { Device } from '../runtime/device';
import { ActivationHistogram, RangeTracker, type TensorRange } from './histogram';
import { CALIBRATION_METHODS, chooseRange, type CalibrationMethod } from './methods';

export interface CalibrateOptions extends RunContext {
  /** Tensors to calibrate: graph inputs or node outputs of float32 type. */
  tensors: readonly string[];
  /** Default 'minmax'. */
  method?: CalibrationMethod;
  /** For 'percentile' (default 99.999). */
  percentile?: number;
  /** Ranges for symmetric (int8, zero point 0) or asymmetric (uint8) grids; default false. */
  symmetric?: boolean;
  /** Items of `data` to use (default all). */
  maxItems?: number;
  /** Histogram bins (default 2048, as TensorRT's entropy calibration). */
  bins?: number;
  device?: Device;
}

/** One tensor's calibrated range and the range actually observed. */
export interface CalibratedRange extends TensorRange {
  observed: TensorRange;
}

/** Calibrated ranges by tensor name. */
export type CalibrationTable = Map<string, CalibratedRange>;

export const DEFAULT_PERCENTILE = 99.999;
export const DEFAULT_BINS = 2048;

function bad(message: string, hint?: string): MmkitError {
  return new MmkitError('BAD_OPTION', `calibrate: ${message}`, { hint });
}

function checkOptions(o: CalibrateOptions): Required<Pick<CalibrateOptions, 'method' | 'percentile' | 'symmetric' | 'bins'>> {
  const method = o.method ?? 'minmax';
  if (!CALIBRATION_METHODS.includes(method)) throw bad(`unknown method ${JSON.stringify(method)}.`, `Use one of ${CALIBRATION_METHODS.map((m) => `'${m}'`).join(', ')}.`);
  const percentile = o.percentile ?? DEFAULT_PERCENTILE;
  if (typeof percentile !== 'number' || !(percentile > 50 && percentile <= 100)) throw bad(`percentile must be in (50, 100], got ${JSON.stringify(percentile)}.`, 'E.g. 99.99 clips the rarest 0.01% of values.');
  const bins = o.bins ?? DEFAULT_BINS;
  if (!Number.isInteger(bins) || bins < 256) throw bad(`bins must be a whole number ≥ 256, got ${JSON.stringify(bins)}.`);
  if (o.maxItems !== undefined && !(Number.isInteger(o.maxItems) && o.maxItems > 0)) throw bad(`maxItems must be a whole number ≥ 1, got ${JSON.stringify(o.maxItems)}.`);
  return { method, percentile, symmetric: o.symmetric ?? false, bins };
}

function floatValues(name: string, t: TensorData): Float32Array {
  if (t.dtype !== 'float32') {
    throw new MmkitError('DTYPE_MISMATCH', `calibrate: tensor '${name}' is ${t.dtype}; only float32 tensors are calibrated.`, { tensor: name, hint: 'Leave it out of `tensors`.' });
  }
  return t.data as Float32Array;
}

/** Runs the model over the data once, handing every calibrated tensor's values to `visit`. */
async function pass(session: Session, data: Dataset, tensors: readonly string[], taps: string[], visit: (name: string, values: Float32Array) => void, progress: (items: number) => void, o: RunContext): Promise<number> {
  let items = 0;
  for await (const batch of data) {
    throwIfAborted(o.signal, 'Calibration');
    const feeds = feedsFor(session, batch);
    const out = taps.length > 0 ? await session.run(feeds, { fetch: taps }) : {};
    for (const name of tensors) visit(name, floatValues(name, out[name] ?? feeds[name]));
    items += Object.values(feeds)[0]?.dims[0] ?? 0;
    progress(items);
  }
  return items;
}

/**
 * The calibrated range of each tensor over the data. Cancellable through `signal` (CANCELLED);
 * `onProgress(items done, items total, 'calibrate')` after each batch.
 */
export async function calibrate(model: OnnxModel, data: Dataset, opts: CalibrateOptions): Promise<CalibrationTable> {
  const o = checkOptions(opts);
  const tensors = [...new Set(opts.tensors)];
  const used = opts.maxItems === undefined ? data : data.take(opts.maxItems);
  const inputs = new Set(model.proto.graph?.input.map((v) => v.name));
  const taps = tensors.filter((t) => !inputs.has(t));
  const session = await createSession(model, { taps, device: opts.device });
  const passes = o.method === 'minmax' ? 1 : 2;
  const size = used.size;
  let offset = 0;
  const progress = (items: number) => opts.onProgress?.(offset + items, size === undefined ? undefined : size * passes, 'calibrate');
  try {
    const ranges = new Map(tensors.map((t) => [t, new RangeTracker()]));
    const items = await pass(session, used, tensors, taps, (name, v) => ranges.get(name)!.add(v), progress, opts);
    if (items === 0) throw new MmkitError('BAD_DATASET', `calibrate: the calibration dataset ${data.name ?? ''} is empty.`.replace('  ', ' '), { hint: 'Pass at least one batch of inputs (e.g. mnist({ split: "train" }).take(128)).' });
    for (const [name, r] of ranges) {
      if (!(r.min <= r.max)) throw new MmkitError('BAD_DATASET', `calibrate: tensor '${name}' had no finite values over the calibration data.`, { tensor: name, hint: 'Check the inputs for NaNs, or leave this tensor float.' });
    }
    const table: CalibrationTable = new Map();
    if (passes === 1) {
      for (const [name, r] of ranges) table.set(name, { min: r.min, max: r.max, observed: { min: r.min, max: r.max } });
      return table;
    }
    offset = items;
    const hists = new Map([...ranges].map(([name, r]) => [name, new ActivationHistogram({ min: r.min, max: r.max }, o.bins)]));
    await pass(session, used, tensors, taps, (name, v) => hists.get(name)!.add(v), progress, opts);
    for (const [name, h] of hists) {
      throwIfAborted(opts.signal, 'Calibration');
      table.set(name, { ...chooseRange(h, o), observed: { ...h.range } });
    }
    return table;
  } finally {
    await session.dispose();
  }
}
