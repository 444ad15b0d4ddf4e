/**
 * Tensors in gRPC inference messages: raw little-endian bytes (raw_input_contents /
 * raw_output_contents, what tritonclient sends), or the typed InferTensorContents fields.
 * Messages are the plain objects @grpc/proto-loader builds with `keepCase` and `longs: String`.
 */
import { elementCount, type TensorData } from '../data/tensor-data';
import type { TensorArray } from '../onnx';
import { datatypeOf, dtypeOfDatatype, fromBytes, fromJsonValues, isDatatype, toBytes, toJsonValues, type Datatype } from './datatypes';
import { badAnswer } from './client-errors';

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
const CONTENTS_FIELD: Record<Exclude<Datatype, 'FP16'>, keyof TensorContents> = {
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
 * The input tensors' messages and raw_input_contents. The spec forbids mixing raw and typed
 * contents in one request, so one FP16 input (no typed field) sends every input raw.
 */
export function encodeInputs(inputs: Record<string, TensorData>, preferRaw: boolean): { tensors: TensorMessage[]; raw: Uint8Array[] } {
  const entries = Object.entries(inputs).map(([name, t]) => ({ name, t, datatype: datatypeOf(t.dtype, name) }));
  const raw = preferRaw || entries.some((e) => e.datatype === 'FP16');
  const tensors = entries.map(({ name, t, datatype }): TensorMessage => {
    const tensor: TensorMessage = { name, datatype, shape: t.dims };
    if (raw || datatype === 'FP16') return tensor;
    const values =
      datatype === 'INT64' || datatype === 'UINT64'
        ? Array.from(t.data as BigInt64Array | BigUint64Array, (v) => v.toString()) // exact beyond 2^53
        : toJsonValues(datatype, t.data);
    return { ...tensor, contents: { [CONTENTS_FIELD[datatype]]: values } };
  });
  return { tensors, raw: raw ? entries.map((e) => toBytes(e.t.data)) : [] };
}

/** An output tensor from its message and, when the server sent raw_output_contents, its bytes. */
export function decodeOutput(o: TensorMessage, raw: Uint8Array | undefined, where: string): TensorData {
  if (!isDatatype(o.datatype)) throw badAnswer(where, `output '${o.name}' has datatype ${JSON.stringify(o.datatype)}, which mmkit does not read`);
  const dims = o.shape.map(Number);
  let data: TensorArray;
  if (raw) {
    data = fromBytes(o.datatype, raw);
  } else if (o.datatype === 'FP16') {
    throw badAnswer(where, `FP16 output '${o.name}' came without raw_output_contents`);
  } else {
    const values = (o.contents?.[CONTENTS_FIELD[o.datatype]] ?? []) as unknown[];
    // int64 values arrive as decimal strings (exact); the JSON codec would take them through numbers.
    const toBig = (v: unknown) => BigInt(v as string);
    if (o.datatype === 'INT64') data = BigInt64Array.from(values, toBig);
    else if (o.datatype === 'UINT64') data = BigUint64Array.from(values, toBig);
    else data = fromJsonValues(o.datatype, values);
  }
  if (data.length !== elementCount(dims)) throw badAnswer(where, `output '${o.name}' has ${data.length} values for shape [${dims}]`);
  return { data, dims, dtype: dtypeOfDatatype(o.datatype) };
}
