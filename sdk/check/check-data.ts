/**
 * The inputs a check runs on: the given data (the calibration set when there is one), bounded
 * and in memory, or seeded synthetic inputs shaped like the model's when no data is given.
 */
import { batchSize, type Batch } from '../data/batch';
import { Dataset } from '../data/dataset';
import { MmkitError } from '../errors';
import { throwIfAborted } from '../runtime/batched';
import type { TensorInfo } from '../runtime/feeds';
import { syntheticFeeds } from '../runtime/synthetic';

export interface CheckData {
  batches: Batch[];
  items: number;
  /** Items per batch (the first batch's). */
  batch: number;
  /** What the data was, in words, for the result. */
  description: string;
  synthetic: boolean;
}

export interface CheckDataOptions {
  data?: Dataset | AsyncIterable<Batch>;
  maxItems: number;
  /** Regroup into batches of this many items; default the data's own batches (synthetic: DEFAULT_CHECK_BATCH). */
  batch?: number;
  seed: number;
  /** Sizes of symbolic input dimensions other than the batch, for synthetic inputs ({ sequence: 16 }). */
  dims?: Record<string, number>;
  signal?: AbortSignal;
}

export const DEFAULT_CHECK_BATCH = 8;
/**
 * Size given to named free dimensions other than the batch (a text model's sequence) when no data
 * and no dims were given: 1 broadcasts against learned position tables of any length.
 */
export const DEFAULT_FREE_DIM = 1;

/** Named symbolic dimensions of the inputs after the batch axis. */
function freeDims(inputs: readonly TensorInfo[]): string[] {
  const names = new Set<string>();
  for (const input of inputs) input.dims?.forEach((d, axis) => axis > 0 && typeof d === 'string' && names.add(d));
  return [...names];
}

export async function checkData(inputs: readonly TensorInfo[], opts: CheckDataOptions): Promise<CheckData> {
  if (!opts.data) return syntheticData(inputs, opts);
  const source = opts.data instanceof Dataset ? opts.data : Dataset.from(() => opts.data!);
  const bounded = source.take(opts.maxItems);
  const batches: Batch[] = [];
  let items = 0;
  for await (const b of opts.batch ? bounded.batch(opts.batch) : bounded) {
    throwIfAborted(opts.signal, 'The compression check');
    batches.push(b);
    items += batchSize(b);
  }
  if (items === 0) throw new MmkitError('BAD_DATASET', 'The data for the compression check has no items.', { hint: 'Pass a non-empty dataset as data, or leave it out to check on synthetic inputs.' });
  const batch = batchSize(batches[0]);
  const name = source.name ? `${source.name}, ` : '';
  return { batches, items, batch, description: `${name}${items} items in batches of ${batch}`, synthetic: false };
}

function syntheticData(inputs: readonly TensorInfo[], opts: CheckDataOptions): CheckData {
  const batch = opts.batch ?? DEFAULT_CHECK_BATCH;
  const count = Math.max(1, Math.ceil(opts.maxItems / batch));
  // One seed per batch, so batches differ and the whole set is reproducible from opts.seed.
  const defaulted = freeDims(inputs).filter((d) => opts.dims?.[d] === undefined);
  const dims = { ...Object.fromEntries(defaulted.map((d) => [d, DEFAULT_FREE_DIM])), ...opts.dims };
  const batches: Batch[] = Array.from({ length: count }, (_, i) => ({ inputs: syntheticFeeds(inputs, { batchSize: batch, seed: opts.seed + i, dims }) }));
  const sized = defaulted.length ? `, ${defaulted.map((d) => `'${d}'`).join(', ')} = ${DEFAULT_FREE_DIM}` : '';
  return {
    batches,
    items: count * batch,
    batch,
    description: `${count * batch} synthetic items (seeded uniform floats in [-1, 1), zeros for integer inputs; seed ${opts.seed}${sized}) in batches of ${batch}: no data was given`,
    synthetic: true,
  };
}
