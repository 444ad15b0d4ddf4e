/**
 * The inputs a check runs on: the given data (the calibration set when there is one), bounded
 * and in memory, or seeded synthetic inputs shaped like the model's when no data is given (see
 * runtime/input-shapes.ts for how free sizes are chosen), made batch by batch as the check asks.
 */
import { batchSize, type Batch } from '../data/batch';
import { Dataset } from '../data/dataset';
import { MmkitError } from '../errors';
import { bytesPerElement, type OnnxModel } from '../onnx';
import { throwIfAborted } from '../runtime/batched';
import type { TensorInfo } from '../runtime/feeds';
import { syntheticInputs } from '../runtime/input-shapes';
import { syntheticFeeds } from '../runtime/synthetic';
import { elementCount } from '../tensor-data';

export interface CheckData {
  /** Batches available; the check may compare fewer (its time budget). */
  count: number;
  /** Batch i (0 ≤ i < count); synthetic ones are made when asked for. */
  batch(i: number): Batch;
  /** Items per batch (the first batch's). */
  batchItems: number;
  /** What the first `used` batches are, in words, for the result. */
  describe(used: number): string;
  /** The synthetic batches' input shapes, in words ('input [8, 512]'); undefined for given data. */
  shapes?: string;
  synthetic: boolean;
}

export interface CheckDataOptions {
  data?: Dataset | AsyncIterable<Batch>;
  maxItems: number;
  /** Regroup into batches of this many items; default the data's own batches (synthetic: DEFAULT_CHECK_BATCH, fewer for large inputs). */
  batch?: number;
  seed: number;
  /** Sizes of symbolic input dimensions, for synthetic inputs ({ sequence: 16 }). */
  dims?: Record<string, number>;
  /** Whole shapes of one synthetic batch by input name, batch axis included ({ input: [1, 1280] }). */
  inputs?: Record<string, number[]>;
  signal?: AbortSignal;
}

export const DEFAULT_CHECK_BATCH = 8;
/** Input bytes of one synthetic batch the default batch size shrinks to: one 1024 × 1024 RGB image is 12 MiB. */
export const SYNTHETIC_BATCH_BYTES = 16 * 2 ** 20;

export async function checkData(model: OnnxModel, inputs: readonly TensorInfo[], opts: CheckDataOptions): Promise<CheckData> {
  if (!opts.data) return syntheticData(model, inputs, opts);
  const source = opts.data instanceof Dataset ? opts.data : Dataset.from(() => opts.data!);
  const bounded = source.take(opts.maxItems);
  const batches: Batch[] = [];
  for await (const b of opts.batch ? bounded.batch(opts.batch) : bounded) {
    throwIfAborted(opts.signal, 'The compression check');
    batches.push(b);
  }
  if (batches.length === 0) throw new MmkitError('BAD_DATASET', 'The data for the compression check has no items.', { hint: 'Pass a non-empty dataset as data, or leave it out to check on synthetic inputs.' });
  const batchItems = batchSize(batches[0]);
  const name = source.name ? `${source.name}, ` : '';
  return {
    count: batches.length,
    batch: (i) => batches[i],
    batchItems,
    describe: (used) => `${name}${batches.slice(0, used).reduce((n, b) => n + batchSize(b), 0)} items in batches of ${batchItems}`,
    synthetic: false,
  };
}

const inputBytes = (shapes: Record<string, number[]>, inputs: readonly TensorInfo[]) =>
  inputs.reduce((n, i) => n + elementCount(shapes[i.name]) * (i.dtype ? bytesPerElement(i.dtype) : 4), 0);

function syntheticData(model: OnnxModel, inputs: readonly TensorInfo[], opts: CheckDataOptions): CheckData {
  const shapeOpts = { inputs: opts.inputs, dims: opts.dims };
  // A batch of made-up inputs holds DEFAULT_CHECK_BATCH items, or fewer where each item is large.
  const perItem = inputBytes(syntheticInputs(model, inputs, shapeOpts).shapes, inputs);
  const batchSize = opts.batch ?? Math.max(1, Math.min(DEFAULT_CHECK_BATCH, Math.floor(SYNTHETIC_BATCH_BYTES / perItem)));
  const { shapes, values, chosen } = syntheticInputs(model, inputs, { ...shapeOpts, batchSize });
  // The batch axis may be fixed (a model exported for batch 1): items are what the first input holds.
  const batchItems = Object.values(shapes).find((d) => d.length > 0)?.[0] ?? 1;
  const count = Math.max(1, Math.ceil(opts.maxItems / batchItems));
  const made = new Map<number, Batch>();
  // One seed per batch, so batches differ and the whole set is reproducible from opts.seed.
  const batch = (i: number): Batch => {
    let b = made.get(i);
    if (!b) made.set(i, (b = { inputs: syntheticFeeds(inputs, { inputs: shapes, values, seed: opts.seed + i }) }));
    return b;
  };
  const at = Object.entries(shapes).map(([n, d]) => `${n} [${d.join(', ')}]`).join(', ');
  return {
    count,
    batch,
    batchItems,
    describe: (used) =>
      `${used * batchItems} synthetic items (seeded uniform floats in [-1, 1), zeros for integer inputs; seed ${opts.seed}${chosen.length ? `, ${chosen.join(', ')}` : ''}) in batches of ${batchItems} (${at}): no data was given`,
    shapes: at,
    synthetic: true,
  };
}
