/**
 * The client's side of tensors in gRPC messages: its inputs as raw_input_contents (what
 * tritonclient sends) or typed InferTensorContents. Outputs decode with grpc-tensors.ts's
 * decodeTensor, which the server uses for inputs.
 */
import type { TensorData } from '../tensor-data';
import { datatypeOf, toBytes, toJsonValues } from './datatypes';
import { CONTENTS_FIELD, type TensorMessage } from './grpc-tensors';

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
