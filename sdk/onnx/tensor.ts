import { create } from '@bufbuild/protobuf';
import { MmkitError } from '../errors';
import { typedArrayFor, byteSizeOf, dataTypeOf, dtypeOf, type DType, type TensorArray, type TensorArrayConstructor } from './dtype';
import { isExternal, readExternalBytes } from './external';
import { TensorProtoSchema, type TensorProto } from './proto';
import type { OnnxModel } from './read';

export type { TensorArray } from './dtype';

export function tensorDims(t: TensorProto): number[] {
  return t.dims.map((d) => Number(d));
}

export function tensorElementCount(t: TensorProto): number {
  return t.dims.reduce((n, d) => n * Number(d), 1);
}

/** Bytes of the tensor's data as stored in raw form (what raw_data or an external file holds). */
export function tensorByteSize(t: TensorProto): number {
  return byteSizeOf(dtypeOf(t.dataType), tensorElementCount(t));
}

// Arrays that could not be plain views (external data, misaligned raw_data, typed fields) are
// made once and kept while the TensorProto lives.
const made = new WeakMap<TensorProto, TensorArray>();

/**
 * The tensor's elements as a typed array. For raw_data (inline or external) this is a view
 * over the stored bytes with no copy, unless the bytes sit at an offset the typed array cannot
 * start at (then one aligned copy). Mutating the result mutates the tensor: treat it as read-only.
 */
export function tensorArray(t: TensorProto, model?: OnnxModel): TensorArray {
  const dtype = dtypeOf(t.dataType);
  const ctor = typedArrayFor(dtype);
  const count = tensorElementCount(t);
  const cached = made.get(t);
  if (cached) return cached;
  let array: TensorArray;
  if (isExternal(t)) array = viewBytes(t, dtype, ctor, count, readExternalBytes(t, model?.baseDir, byteSizeOf(dtype, count)));
  else if (t.rawData.byteLength > 0 || count === 0) array = viewBytes(t, dtype, ctor, count, t.rawData);
  else array = fromTypedFields(t, dtype, ctor, count);
  if (isExternal(t) || array.buffer !== t.rawData.buffer) made.set(t, array);
  return array;
}

function viewBytes(t: TensorProto, dtype: DType, ctor: TensorArrayConstructor, count: number, bytes: Uint8Array): TensorArray {
  const expected = byteSizeOf(dtype, count);
  if (bytes.byteLength !== expected) {
    throw new MmkitError('BAD_MODEL', `Tensor '${t.name}' has ${bytes.byteLength} data bytes; ${dtype} with dims [${tensorDims(t).join(', ')}] needs ${expected}.`, {
      tensor: t.name,
      hint: 'The model is damaged or was written by a faulty tool; re-export it.',
    });
  }
  const length = expected / ctor.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % ctor.BYTES_PER_ELEMENT === 0) return new ctor(bytes.buffer as ArrayBuffer, bytes.byteOffset, length);
  // Misaligned inside the file buffer: copy into a fresh (aligned) buffer.
  return new ctor(new Uint8Array(bytes).buffer, 0, length);
}

/** Tensors that store elements in the typed repeated fields instead of raw_data (ONNX's storage rules). */
function fromTypedFields(t: TensorProto, dtype: DType, ctor: TensorArrayConstructor, count: number): TensorArray {
  const fail = (field: string, have: number): never => {
    throw new MmkitError('BAD_MODEL', `Tensor '${t.name}' (${dtype}, ${count} elements) has ${have} values in ${field}.`, {
      tensor: t.name,
      hint: 'The model is damaged; re-export it.',
    });
  };
  switch (dtype) {
    case 'float32':
      if (t.floatData.length !== count) fail('float_data', t.floatData.length);
      return Float32Array.from(t.floatData);
    case 'float64':
      if (t.doubleData.length !== count) fail('double_data', t.doubleData.length);
      return Float64Array.from(t.doubleData);
    case 'int64':
      if (t.int64Data.length !== count) fail('int64_data', t.int64Data.length);
      return BigInt64Array.from(t.int64Data, (v) => BigInt(v));
    case 'uint64':
      if (t.uint64Data.length !== count) fail('uint64_data', t.uint64Data.length);
      return BigUint64Array.from(t.uint64Data, (v) => BigInt(v));
    case 'uint32':
      if (t.uint64Data.length !== count) fail('uint64_data', t.uint64Data.length);
      return Uint32Array.from(t.uint64Data, (v) => Number(v));
    case 'int4':
    case 'uint4': {
      // int32_data holds one packed byte (two nibbles) per entry.
      const packed = Math.ceil(count / 2);
      if (t.int32Data.length !== packed) fail('int32_data', t.int32Data.length);
      return Uint8Array.from(t.int32Data);
    }
    case 'string':
      return fail('a typed field', 0);
    default:
      // float16/bfloat16 bits, small ints and bool all live in int32_data.
      if (t.int32Data.length !== count) fail('int32_data', t.int32Data.length);
      return (ctor as Int32ArrayConstructor).from(t.int32Data) as TensorArray;
  }
}

/**
 * A new TensorProto with the data in raw_data (little-endian). raw_data is a view over `data`'s
 * memory, not a copy, so do not change `data` afterwards.
 */
export function makeTensor(name: string, dtype: DType, dims: readonly number[], data: TensorArray): TensorProto {
  const ctor = typedArrayFor(dtype);
  const count = dims.reduce((n, d) => n * d, 1);
  if (!(data instanceof ctor)) {
    throw new MmkitError('DTYPE_MISMATCH', `Tensor '${name}': ${dtype} data must be a ${ctor.name}, got ${data.constructor.name}.`, {
      tensor: name,
      hint: 'float16/bfloat16 travel as Uint16Array bits, bool and 4-bit types as Uint8Array, int64 as BigInt64Array.',
    });
  }
  const bytes = byteSizeOf(dtype, count);
  if (data.byteLength !== bytes) {
    throw new MmkitError('SHAPE_MISMATCH', `Tensor '${name}': dims [${dims.join(', ')}] of ${dtype} need ${bytes} bytes, data has ${data.byteLength}.`, {
      tensor: name,
      hint: 'Pass as many elements as the dims multiply to.',
    });
  }
  return create(TensorProtoSchema, {
    name,
    dataType: dataTypeOf(dtype),
    dims: dims.map((d) => BigInt(d)),
    rawData: new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength),
  });
}
