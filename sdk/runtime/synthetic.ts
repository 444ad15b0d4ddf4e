import { mulberry32 } from '../random';
import type { TensorData } from '../tensor-data';
import { MmkitError } from '../errors';
import { typedArrayFor } from '../onnx';
import type { TensorInfo } from './feeds';

export interface SyntheticFeedsOptions {
  /** Size of a symbolic first (batch) dimension; default 1. */
  batchSize?: number;
  /** Sizes of other symbolic dimensions, by their name in the model ("seq": 77). */
  dims?: Record<string, number>;
  /** Whole shapes by input name, used as given (see inputShapes for choosing them). */
  inputs?: Record<string, readonly number[]>;
  /** A value to fill an input with, by input name (a sample rate the graph branches on). */
  values?: Record<string, number>;
  /** Seed of the float values; default 0. */
  seed?: number;
}

function dimsOf(input: TensorInfo, opts: SyntheticFeedsOptions): number[] {
  const given = opts.inputs?.[input.name];
  if (given) return [...given];
  return input.dims!.map((d, axis) => {
    if (typeof d === 'number') return d;
    const named = d === null ? undefined : opts.dims?.[d];
    const size = named ?? (axis === 0 ? (opts.batchSize ?? 1) : undefined);
    if (size === undefined) {
      throw new MmkitError('BAD_OPTION', `Input '${input.name}' has a free dimension ${d === null ? `at axis ${axis}` : `'${d}'`} of unknown size.`, {
        tensor: input.name,
        hint: d === null ? 'Feed real data instead.' : `Give its size: { dims: { '${d}': … } }.`,
      });
    }
    return size;
  });
}

/**
 * Feeds shaped like a model's declared inputs, for timing and probing without a dataset. Float
 * inputs get seeded uniform values in [-1, 1); integer and bool inputs get zeros, which are valid
 * indices and masks for any embedding or gather; `values` override either.
 */
export function syntheticFeeds(inputs: readonly TensorInfo[], opts: SyntheticFeedsOptions = {}): Record<string, TensorData> {
  const rand = mulberry32(opts.seed ?? 0);
  const feeds: Record<string, TensorData> = {};
  for (const input of inputs) {
    if (!input.dtype || (!input.dims && !opts.inputs?.[input.name])) {
      throw new MmkitError('UNSUPPORTED', `Input '${input.name}' is not a tensor with a declared type, so no data can be made up for it.`, { tensor: input.name, hint: 'Feed real data instead.' });
    }
    const dims = dimsOf(input, opts);
    const count = dims.reduce((a, b) => a * b, 1);
    const data = new (typedArrayFor(input.dtype))(count);
    const value = opts.values?.[input.name];
    if (value !== undefined) (data as { fill(v: number | bigint): unknown }).fill(data instanceof BigInt64Array || data instanceof BigUint64Array ? BigInt(value) : value);
    else if (data instanceof Float32Array || data instanceof Float64Array) for (let i = 0; i < count; i++) data[i] = rand() * 2 - 1;
    feeds[input.name] = { data, dims, dtype: input.dtype };
  }
  return feeds;
}
