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
  if (typeof b !== 'object' || b === null || typeof b.inputs !== 'object' || b.inputs === null) {
    throw new MmkitError('BAD_DATASET', `A dataset batch has no inputs: got ${b === null || typeof b !== 'object' ? String(b) : `an object with keys ${Object.keys(b).join(', ') || 'none'}`}.`, {
      hint: 'Each batch is { inputs, label? }: inputs a tensor or a record of named tensors ({ inputs: { x: { dtype, dims, data } } }).',
    });
  }
  return isTensorData(b.inputs) ? [b.inputs] : Object.values(b.inputs);
}

export function batchSize(b: Batch): number {
  const [first] = inputTensors(b);
  if (!first) throw new MmkitError('BAD_DATASET', 'A dataset batch has no input tensors.', { hint: 'Each batch needs `inputs`: a tensor or a record of named tensors.' });
  const n = first.dims[0];
  const named = isTensorData(b.inputs) ? [] : Object.entries(b.inputs);
  for (const [name, t] of named) {
    if (t.dims[0] === n) continue;
    const [firstName] = named[0];
    throw new MmkitError('BAD_DATASET', `A dataset batch mixes batch sizes: input '${firstName}' [${first.dims.join(', ')}] has ${n} items, input '${name}' [${t.dims.join(', ')}] has ${t.dims[0] ?? 'no axis'}.`, {
      tensor: name,
      hint: "A Dataset batches every input along its first axis; an input batched on another axis (a recurrent state [layers, N, hidden]) or with none (a scalar) cannot go in one yet. Check such models on synthetic inputs (check: { inputs: { ... } }).",
    });
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
