import * as ort from 'onnxruntime-node';
import type { TensorData } from '../tensor-data';
import { elementCount } from '../tensor-data';
import { MmkitError } from '../errors';
import { typedArrayFor, type DType, type TensorArray } from '../onnx';
import { suggestion } from './names';

/** A model input or output as the runtime sees it; symbolic dims are strings, unknown ones null. */
export interface TensorInfo {
  name: string;
  dtype?: DType;
  dims?: (number | string | null)[];
}

export function tensorInfo(meta: ort.InferenceSession.ValueMetadata): TensorInfo {
  if (!meta.isTensor) return { name: meta.name };
  return { name: meta.name, dtype: meta.type as DType, dims: meta.shape.map((d) => (typeof d === 'number' && d < 0 ? null : d)) };
}

const shape = (dims: readonly (number | string | null)[]): string => `[${dims.map((d) => d ?? '?').join(', ')}]`;

/**
 * Checks feeds against the model's declared inputs before onnxruntime sees them, so a mistake is
 * reported with the input's name and both shapes instead of ort's index-based message.
 */
export function checkFeeds(feeds: Record<string, TensorData>, inputs: readonly TensorInfo[], model: string): void {
  const names = inputs.map((i) => i.name);
  for (const name of Object.keys(feeds)) {
    if (!names.includes(name)) {
      throw new MmkitError('UNKNOWN_INPUT', `${model} has no input '${name}'.`, { tensor: name, hint: suggestion(name, names) });
    }
  }
  for (const input of inputs) {
    const t = feeds[input.name];
    if (!t) {
      throw new MmkitError('UNKNOWN_INPUT', `${model} needs input '${input.name}', which the feeds do not have (got ${Object.keys(feeds).map((n) => `'${n}'`).join(', ') || 'none'}).`, {
        tensor: input.name,
        hint: `Feed every input: ${names.map((n) => `'${n}'`).join(', ')}.`,
      });
    }
    if (input.dtype && t.dtype !== input.dtype) {
      throw new MmkitError('DTYPE_MISMATCH', `Input '${input.name}' of ${model} is ${input.dtype}, but the feed is ${t.dtype}.`, {
        tensor: input.name,
        hint: `Convert the data to ${input.dtype} (for example in dataset.map()).`,
      });
    }
    const storage = typedArrayFor(t.dtype);
    if (!(t.data instanceof storage)) {
      throw new MmkitError('DTYPE_MISMATCH', `Feed '${input.name}' says ${t.dtype} but holds a ${t.data.constructor.name}.`, {
        tensor: input.name,
        hint: `${t.dtype} data goes in a ${storage.name}.`,
      });
    }
    const declared = input.dims;
    const fits = !declared || (declared.length === t.dims.length && declared.every((d, i) => typeof d !== 'number' || d === t.dims[i]));
    if (!fits) {
      throw new MmkitError('SHAPE_MISMATCH', `Input '${input.name}' of ${model} expects shape ${shape(declared!)}, got ${shape(t.dims)}.`, {
        tensor: input.name,
        hint: 'Reshape or resize the data to the model\'s input shape (for example in dataset.map()).',
      });
    }
    if (elementCount(t.dims) !== t.data.length) {
      throw new MmkitError('SHAPE_MISMATCH', `Feed '${input.name}' claims shape ${shape(t.dims)} (${elementCount(t.dims)} values) but holds ${t.data.length} values.`, {
        tensor: input.name,
        hint: 'Make dims match the length of the data array.',
      });
    }
  }
}

/** onnxruntime-node's tensor class, as `run(…, { as: 'ort' })` returns it. */
export type OrtTensor = ort.Tensor;

export function toOrt(t: TensorData): ort.Tensor {
  // ort.Tensor wraps the typed array as is: no copy.
  return new ort.Tensor(t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
}

export function fromOrt(name: string, t: ort.Tensor): TensorData {
  if (t.type === 'string') {
    throw new MmkitError('UNSUPPORTED', `Output '${name}' is a string tensor; mmkit handles numeric tensors only.`, { tensor: name, hint: 'Fetch only numeric outputs.' });
  }
  return { data: t.data as TensorArray, dims: [...t.dims], dtype: t.type as DType };
}
