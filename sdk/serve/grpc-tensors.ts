/**
 * Tensors in gRPC inference messages, for the server and the client alike: raw little-endian
 * bytes (raw_input_contents / raw_output_contents), or the typed InferTensorContents fields.
 * Messages are the plain objects @grpc/proto-loader builds with `keepCase` and `longs: String`.
 */
import { elementCount, type TensorData } from '../tensor-data';
import type { TensorArray } from '../onnx';
import { datatypeByteSize, dtypeOfDatatype, fromBytes, fromJsonValues, isDatatype, DATATYPES, type Datatype } from './datatypes';

/** InferTensorContents, as proto-loader reads it: int64/uint64 values arrive as decimal strings. */
export interface TensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: (string | number)[];
  uint_contents?: number[];
  uint64_contents?: (string | number)[];
  fp32_contents?: number[];
  fp64_contents?: number[];
}

export interface TensorMessage {
  name: string;
  datatype: string;
  shape: (string | number)[];
  contents?: TensorContents | null;
}

/** The typed field a datatype travels in; FP16 has none (it travels only as raw bytes). */
export const CONTENTS_FIELD: Record<Exclude<Datatype, 'FP16'>, keyof TensorContents> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
};

/**
 * A tensor from its message and, when raw contents were sent, its bytes. `fail` makes the error
 * for a problem ("has 3 values for shape [2, 2]"), so each side reports it in its own terms.
 */
export function decodeTensor(msg: TensorMessage, raw: Uint8Array | undefined, fail: (problem: string) => Error): TensorData {
  if (!isDatatype(msg.datatype)) throw fail(`has datatype ${JSON.stringify(msg.datatype)}; use one of ${DATATYPES.join(', ')}`);
  const dims = msg.shape.map(Number);
  if (!dims.every((d) => Number.isInteger(d) && d >= 0)) throw fail(`has shape [${msg.shape}]; dimensions are whole numbers ≥ 0`);
  const count = elementCount(dims);
  let data: TensorArray;
  if (raw) {
    const expected = count * datatypeByteSize(msg.datatype);
    if (raw.byteLength !== expected) throw fail(`has ${raw.byteLength} raw bytes, but shape [${dims}] of ${msg.datatype} takes ${expected}`);
    data = fromBytes(msg.datatype, raw);
  } else if (msg.datatype === 'FP16') {
    throw fail('is FP16, which has no typed contents field and must travel as raw contents');
  } else {
    const values = (msg.contents?.[CONTENTS_FIELD[msg.datatype]] ?? []) as unknown[];
    if (values.length !== count) throw fail(`has ${values.length} values for shape [${dims}] (${count})`);
    if (msg.datatype === 'INT64' || msg.datatype === 'UINT64') {
      try {
        const big = values.map((v) => BigInt(v as string));
        data = msg.datatype === 'INT64' ? BigInt64Array.from(big) : BigUint64Array.from(big);
      } catch {
        throw fail(`has ${msg.datatype} contents that are not integers`);
      }
    } else {
      try {
        data = fromJsonValues(msg.datatype, values);
      } catch (e) {
        throw fail(`has ${msg.datatype} contents that do not fit: ${(e as Error).message}`);
      }
    }
  }
  return { data, dims, dtype: dtypeOfDatatype(msg.datatype) };
}
