import { MmkitError } from '../errors';
import { DataType } from './proto';

/** Element types mmkit reads and writes, named like onnxruntime-node's tensor types. */
export type DType =
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string'
  | 'int4'
  | 'uint4';

/** Typed arrays that hold tensor data (float16/bfloat16 as raw Uint16 bits, int4 packed in Uint8/Int8 bytes). */
export type TensorArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

export type TensorArrayConstructor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

interface DTypeInfo {
  dataType: DataType;
  bytes: number;
  /** Undefined for 'string', which has no typed-array form. */
  array?: TensorArrayConstructor;
}

const INFO: Record<DType, DTypeInfo> = {
  float32: { dataType: DataType.FLOAT, bytes: 4, array: Float32Array },
  float16: { dataType: DataType.FLOAT16, bytes: 2, array: Uint16Array },
  bfloat16: { dataType: DataType.BFLOAT16, bytes: 2, array: Uint16Array },
  float64: { dataType: DataType.DOUBLE, bytes: 8, array: Float64Array },
  int8: { dataType: DataType.INT8, bytes: 1, array: Int8Array },
  uint8: { dataType: DataType.UINT8, bytes: 1, array: Uint8Array },
  int16: { dataType: DataType.INT16, bytes: 2, array: Int16Array },
  uint16: { dataType: DataType.UINT16, bytes: 2, array: Uint16Array },
  int32: { dataType: DataType.INT32, bytes: 4, array: Int32Array },
  uint32: { dataType: DataType.UINT32, bytes: 4, array: Uint32Array },
  int64: { dataType: DataType.INT64, bytes: 8, array: BigInt64Array },
  uint64: { dataType: DataType.UINT64, bytes: 8, array: BigUint64Array },
  bool: { dataType: DataType.BOOL, bytes: 1, array: Uint8Array },
  string: { dataType: DataType.STRING, bytes: 0 },
  // Two 4-bit values per byte, low nibble first (ONNX's packing).
  int4: { dataType: DataType.INT4, bytes: 0.5, array: Uint8Array },
  uint4: { dataType: DataType.UINT4, bytes: 0.5, array: Uint8Array },
};

const BY_DATA_TYPE = new Map<number, DType>(
  (Object.keys(INFO) as DType[]).map((d) => [INFO[d].dataType as number, d]),
);

export const DTYPES: readonly DType[] = Object.keys(INFO) as DType[];

const FLOATING: ReadonlySet<DType> = new Set<DType>(['float32', 'float16', 'bfloat16', 'float64']);

/** A floating-point element type (the types weights are stored in before quantization). */
export function isFloatDType(d: DType): boolean {
  return FLOATING.has(d);
}

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(INFO, value);
}

/** The DType of an ONNX TensorProto.DataType number; throws UNSUPPORTED for types mmkit does not handle (complex, float8...). */
export function dtypeOf(dataType: number): DType {
  const d = BY_DATA_TYPE.get(dataType);
  if (d === undefined) {
    const name = DataType[dataType] ?? String(dataType);
    throw new MmkitError('UNSUPPORTED', `ONNX data type ${name} (${dataType}) is not supported by mmkit.`, {
      hint: `Supported types: ${DTYPES.join(', ')}.`,
    });
  }
  return d;
}

export function dataTypeOf(d: DType): number {
  return INFO[d].dataType;
}

/** Bytes per element; 0.5 for the packed 4-bit types, 0 for 'string' (variable length). */
export function bytesPerElement(d: DType): number {
  return INFO[d].bytes;
}

/** The typed array constructor that stores elements of `d`; throws UNSUPPORTED for 'string'. */
export function typedArrayFor(d: DType): TensorArrayConstructor {
  const ctor = INFO[d].array;
  if (ctor === undefined) {
    throw new MmkitError('UNSUPPORTED', `Tensors of type '${d}' have no typed-array form.`, {
      hint: 'Read string tensors through TensorProto.stringData.',
    });
  }
  return ctor;
}

/** Bytes taken by `count` elements of `d` (4-bit types round up to whole bytes). */
export function byteSizeOf(d: DType, count: number): number {
  return Math.ceil(count * INFO[d].bytes);
}

/** float16 bits → number (IEEE 754 half precision). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bits nearest to a float32 value (ties to even; out-of-range values become ±Infinity). */
export function halfBits(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  // Normal halves keep 10 of the 23 mantissa bits; subnormal ones shift the implicit 1 in as well.
  const shift = e > 0 ? 13 : 14 - e;
  if (shift > 24) return sign;
  const full = e > 0 ? mant : mant | 0x800000;
  let half = (e > 0 ? e << 10 : 0) | (full >>> shift);
  const rest = full & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  if (rest > halfway || (rest === halfway && (half & 1) === 1)) half++;
  return sign | half;
}
