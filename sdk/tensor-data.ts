import { isDType, type DType, type TensorArray } from './onnx';
import { MmkitError } from './errors';

/** A dense tensor in plain JS memory, independent of any runtime. Row-major. */
export interface TensorData {
  data: TensorArray;
  dims: number[];
  dtype: DType;
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** Rows [start, end) along the first axis, as a view on the same memory. */
export function sliceRows(t: TensorData, start: number, end: number): TensorData {
  const rowSize = elementCount(t.dims.slice(1));
  return { data: t.data.subarray(start * rowSize, end * rowSize) as TensorArray, dims: [end - start, ...t.dims.slice(1)], dtype: t.dtype };
}

/** Stacks tensors that agree on every axis but the first. */
export function concatRows(parts: readonly TensorData[], what = 'tensor'): TensorData {
  if (parts.length === 1) return parts[0];
  const [first] = parts;
  const tail = first.dims.slice(1).join(',');
  let rows = 0;
  for (const p of parts) {
    if (p.dtype !== first.dtype || p.dims.slice(1).join(',') !== tail) {
      throw new MmkitError('SHAPE_MISMATCH', `Cannot batch ${what}: items have shapes [${first.dims}] (${first.dtype}) and [${p.dims}] (${p.dtype}).`, {
        tensor: what,
        hint: 'Every item of a dataset must have the same shape and dtype; resize or pad them in dataset.map().',
      });
    }
    rows += p.dims[0];
  }
  const Ctor = first.data.constructor as new (n: number) => TensorArray;
  const out = new Ctor(first.data.length / Math.max(first.dims[0], 1) * rows);
  let offset = 0;
  for (const p of parts) {
    (out as unknown as { set(a: ArrayLike<number | bigint>, o: number): void }).set(p.data as ArrayLike<number | bigint>, offset);
    offset += p.data.length;
  }
  return { data: out, dims: [rows, ...first.dims.slice(1)], dtype: first.dtype };
}

export function isTensorData(x: unknown): x is TensorData {
  return typeof x === 'object' && x !== null && 'data' in x && 'dims' in x && 'dtype' in x && ArrayBuffer.isView((x as TensorData).data);
}

/** onnxruntime's own tensor as a user may hold one (`new ort.Tensor(...)`): its element type is `type`, not `dtype`. */
export interface OrtTensorLike {
  type: string;
  data: unknown;
  dims: readonly number[];
}

/** A tensor in either form: mmkit's, or onnxruntime's. */
export type TensorInput = TensorData | OrtTensorLike;

export function isOrtTensorLike(x: unknown): x is OrtTensorLike {
  return typeof x === 'object' && x !== null && !('dtype' in x) && typeof (x as OrtTensorLike).type === 'string' && 'dims' in x && 'data' in x;
}

/** mmkit's form of a tensor given in either form, on the same memory. */
export function asTensorData(x: TensorInput, name: string): TensorData {
  if (!isOrtTensorLike(x)) return x;
  if (!isDType(x.type) || x.type === 'string') {
    throw new MmkitError('UNSUPPORTED', `Tensor '${name}' is an onnxruntime tensor of type '${x.type}', which mmkit does not handle.`, { tensor: name, hint: 'Give a numeric tensor.' });
  }
  return { data: x.data as TensorArray, dims: [...x.dims], dtype: x.type };
}
