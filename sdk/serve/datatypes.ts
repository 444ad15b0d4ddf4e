/**
 * The protocol's tensor datatypes ('FP32', 'INT64', …) and their bytes: the mapping to mmkit's
 * dtypes, little-endian raw bytes in both directions (the binary extension, gRPC raw contents),
 * and JSON numbers in both directions (FP16 travels as numbers in JSON, as bits in bytes).
 */
import { MmkitError } from '../errors';
import { bytesPerElement, halfBits, halfToFloat, typedArrayFor, type DType, type TensorArray } from '../onnx';

export type Datatype = 'BOOL' | 'UINT8' | 'UINT16' | 'UINT32' | 'UINT64' | 'INT8' | 'INT16' | 'INT32' | 'INT64' | 'FP16' | 'FP32' | 'FP64';

const TO_DTYPE: Record<Datatype, DType> = {
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT8: 'int8',
  INT16: 'int16',
  INT32: 'int32',
  INT64: 'int64',
  FP16: 'float16',
  FP32: 'float32',
  FP64: 'float64',
};

const TO_DATATYPE = new Map<DType, Datatype>(Object.entries(TO_DTYPE).map(([k, v]) => [v, k as Datatype]));

export const DATATYPES = Object.keys(TO_DTYPE) as Datatype[];

export function isDatatype(x: unknown): x is Datatype {
  return typeof x === 'string' && Object.prototype.hasOwnProperty.call(TO_DTYPE, x);
}

export function dtypeOfDatatype(d: Datatype): DType {
  return TO_DTYPE[d];
}

/** The protocol's name for an mmkit dtype; throws UNSUPPORTED for types the protocol cannot carry (bfloat16 is BF16 only in Triton, string is BYTES). */
export function datatypeOf(d: DType, tensor?: string): Datatype {
  const dt = TO_DATATYPE.get(d);
  if (!dt) {
    throw new MmkitError('UNSUPPORTED', `Tensor${tensor ? ` '${tensor}'` : ''} is ${d}, which mmkit does not serve.`, {
      tensor,
      hint: `Served tensors are numeric: ${DATATYPES.join(', ')}.`,
    });
  }
  return dt;
}

export function datatypeByteSize(d: Datatype): number {
  return bytesPerElement(TO_DTYPE[d]);
}

/** Tensor data from little-endian row-major bytes (copied: the typed array must be aligned and own its memory). */
export function fromBytes(d: Datatype, bytes: Uint8Array): TensorArray {
  const Ctor = typedArrayFor(TO_DTYPE[d]);
  const out = new Ctor(bytes.byteLength / Ctor.BYTES_PER_ELEMENT);
  new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(bytes);
  return out;
}

/** The little-endian bytes of tensor data, as a view on the same memory (no copy). */
export function toBytes(data: TensorArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Tensor data from JSON values (flat; the caller flattens nested arrays). Throws a message for
 * the first value that does not fit the datatype, so the server can name the input.
 */
export function fromJsonValues(d: Datatype, values: readonly unknown[]): TensorArray {
  const Ctor = typedArrayFor(TO_DTYPE[d]);
  const out = new Ctor(values.length);
  const big = d === 'INT64' || d === 'UINT64';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (d === 'BOOL') {
      if (typeof v !== 'boolean' && v !== 0 && v !== 1) throw new TypeError(`value ${i} is ${JSON.stringify(v)}, not true or false`);
      out[i] = v ? 1 : 0;
    } else if (typeof v !== 'number' || (!Number.isFinite(v) && !d.startsWith('FP'))) {
      throw new TypeError(`value ${i} is ${JSON.stringify(v)}, not a number`);
    } else if (big) {
      if (!Number.isInteger(v)) throw new TypeError(`value ${i} is ${v}, not an integer`);
      (out as BigInt64Array)[i] = BigInt(v);
    } else if (d === 'FP16') {
      out[i] = halfBits(v);
    } else {
      if (!d.startsWith('FP') && !Number.isInteger(v)) throw new TypeError(`value ${i} is ${v}, not an integer`);
      out[i] = v;
    }
  }
  return out;
}

/** JSON values of tensor data: numbers (int64 beyond 2^53 loses precision, as in every JSON client), booleans for BOOL. */
export function toJsonValues(d: Datatype, data: TensorArray): (number | boolean)[] {
  const out = new Array<number | boolean>(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    out[i] = d === 'BOOL' ? v !== 0 : d === 'FP16' ? halfToFloat(v as number) : Number(v);
  }
  return out;
}
