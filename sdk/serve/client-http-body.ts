/**
 * REST inference bodies as the Open Inference Protocol and Triton's binary tensor extension lay
 * them out: a JSON object, then (binary) each tensor's little-endian bytes in the order of the
 * JSON's tensors, the JSON's byte length in the Inference-Header-Content-Length header.
 */
import { elementCount, type TensorData } from '../tensor-data';
import { datatypeOf, dtypeOfDatatype, fromBytes, fromJsonValues, isDatatype, toBytes, toJsonValues } from './datatypes';
import { badAnswer } from './client-errors';
import type { InferOptions, InferResult } from './client-types';

export const HEADER_LENGTH_HEADER = 'Inference-Header-Content-Length';

export interface EncodedRequest {
  body: Buffer;
  /** The JSON's byte length when binary data follows it; undefined for a pure JSON body. */
  headerLength?: number;
}

export function encodeInferRequest(inputs: Record<string, TensorData>, opts: InferOptions = {}): EncodedRequest {
  const binary = opts.binary ?? true;
  const request: Record<string, unknown> = {};
  if (opts.id !== undefined) request.id = opts.id;
  const raw: Uint8Array[] = [];
  request.inputs = Object.entries(inputs).map(([name, t]) => {
    const datatype = datatypeOf(t.dtype, name);
    const tensor: Record<string, unknown> = { name, shape: t.dims, datatype };
    if (binary) {
      const bytes = toBytes(t.data);
      raw.push(bytes);
      tensor.parameters = { binary_data_size: bytes.byteLength };
    } else {
      tensor.data = toJsonValues(datatype, t.data);
    }
    return tensor;
  });
  // As tritonclient: named outputs say binary_data each; with none named, binary_data_output asks for all.
  if (opts.outputs?.length) request.outputs = opts.outputs.map((name) => ({ name, parameters: { binary_data: binary } }));
  else if (binary) request.parameters = { binary_data_output: true };
  const json = Buffer.from(JSON.stringify(request));
  if (raw.length === 0) return { body: json };
  return { body: Buffer.concat([json, ...raw]), headerLength: json.byteLength };
}

interface OutputJson {
  name?: unknown;
  datatype?: unknown;
  shape?: unknown;
  parameters?: { binary_data_size?: unknown };
  data?: unknown;
}

interface ResponseJson {
  model_name?: unknown;
  model_version?: unknown;
  id?: unknown;
  outputs?: unknown;
}

/** Decodes an infer answer; `where` names the server in errors about a malformed one. */
export function decodeInferResponse(body: Uint8Array, headerLength: number | undefined, where: string): InferResult {
  const jsonEnd = headerLength ?? body.byteLength;
  if (!Number.isInteger(jsonEnd) || jsonEnd < 0 || jsonEnd > body.byteLength) {
    throw badAnswer(where, `${HEADER_LENGTH_HEADER} is ${headerLength} for a body of ${body.byteLength} bytes`);
  }
  let json: ResponseJson;
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, jsonEnd).toString('utf8')) as ResponseJson;
  } catch (e) {
    throw badAnswer(where, `the JSON header does not parse (${(e as Error).message})`);
  }
  if (!Array.isArray(json?.outputs)) throw badAnswer(where, 'no outputs array');
  const outputs: Record<string, TensorData> = {};
  let offset = jsonEnd;
  for (const o of json.outputs as OutputJson[]) {
    const name = String(o?.name);
    if (!isDatatype(o?.datatype)) throw badAnswer(where, `output '${name}' has datatype ${JSON.stringify(o?.datatype)}, which mmkit does not read`);
    if (!Array.isArray(o.shape) || !o.shape.every((d) => Number.isInteger(d) && d >= 0)) throw badAnswer(where, `output '${name}' has shape ${JSON.stringify(o.shape)}`);
    const size = o.parameters?.binary_data_size;
    let data;
    if (size !== undefined) {
      if (!Number.isInteger(size) || (size as number) < 0 || offset + (size as number) > body.byteLength) {
        throw badAnswer(where, `output '${name}' claims ${size} binary bytes, ${body.byteLength - offset} remain`);
      }
      data = fromBytes(o.datatype, body.subarray(offset, offset + (size as number)));
      offset += size as number;
    } else if (Array.isArray(o.data)) {
      // The spec allows nested arrays as well as a flat one.
      data = fromJsonValues(o.datatype, o.data.flat(Infinity));
    } else {
      throw badAnswer(where, `output '${name}' has neither data nor binary_data_size`);
    }
    if (data.length !== elementCount(o.shape as number[])) throw badAnswer(where, `output '${name}' has ${data.length} values for shape [${o.shape}]`);
    outputs[name] = { data, dims: o.shape as number[], dtype: dtypeOfDatatype(o.datatype) };
  }
  if (offset !== body.byteLength) throw badAnswer(where, `${body.byteLength - offset} bytes after the last output`);
  return {
    modelName: String(json.model_name ?? ''),
    modelVersion: String(json.model_version ?? ''),
    ...(typeof json.id === 'string' && json.id !== '' ? { id: json.id } : {}),
    outputs,
  };
}
