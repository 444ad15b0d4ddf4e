import { MmkitError } from '../errors';
import { concatRows, isTensorData, sliceRows, type TensorData } from '../tensor-data';

/**
 * One batch of a dataset. A bare TensorData feeds a model with a single input; a record maps
 * input names to tensors. Every tensor and the labels share the first (batch) axis.
 */
export interface Batch {
  inputs: TensorData | Record<string, TensorData>;
  label?: Int32Array;
}

export function inputTensors(b: Batch): TensorData[] {
  return isTensorData(b.inputs) ? [b.inputs] : Object.values(b.inputs);
}

export function batchSize(b: Batch): number {
  const [first] = inputTensors(b);
  if (!first) throw new MmkitError('BAD_DATASET', 'A dataset batch has no input tensors.', { hint: 'Each batch needs `inputs`: a tensor or a record of named tensors.' });
  const n = first.dims[0];
  for (const t of inputTensors(b)) {
    if (t.dims[0] !== n) throw new MmkitError('BAD_DATASET', `A dataset batch mixes batch sizes ${n} and ${t.dims[0]} across its inputs.`, { hint: 'All inputs of a batch must have the same first dimension.' });
  }
  if (b.label && b.label.length !== n) {
    throw new MmkitError('BAD_DATASET', `A dataset batch has ${n} items but ${b.label.length} labels.`, { hint: 'Give exactly one label per item.' });
  }
  return n;
}

function mapInputs(b: Batch, f: (t: TensorData, name: string) => TensorData): Batch['inputs'] {
  if (isTensorData(b.inputs)) return f(b.inputs, 'inputs');
  return Object.fromEntries(Object.entries(b.inputs).map(([k, t]) => [k, f(t, k)]));
}

/** Items [start, end) of a batch, as views. */
export function sliceBatch(b: Batch, start: number, end: number): Batch {
  return { inputs: mapInputs(b, (t) => sliceRows(t, start, end)), label: b.label?.subarray(start, end) };
}

export function concatBatches(parts: readonly Batch[]): Batch {
  if (parts.length === 1) return parts[0];
  const [first] = parts;
  const inputs = isTensorData(first.inputs)
    ? concatRows(parts.map((p) => p.inputs as TensorData))
    : Object.fromEntries(Object.keys(first.inputs).map((k) => [k, concatRows(parts.map((p) => (p.inputs as Record<string, TensorData>)[k]), k)]));
  const withLabels = parts.filter((p) => p.label).length;
  if (withLabels !== 0 && withLabels !== parts.length) {
    throw new MmkitError('BAD_DATASET', 'Some dataset batches have labels and others do not.', { hint: 'Give labels for every batch or for none.' });
  }
  let label: Int32Array | undefined;
  if (withLabels) {
    label = new Int32Array(parts.reduce((n, p) => n + p.label!.length, 0));
    let o = 0;
    for (const p of parts) {
      label.set(p.label!, o);
      o += p.label!.length;
    }
  }
  return { inputs, label };
}
