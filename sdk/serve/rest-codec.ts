/**
 * The REST inference body in both directions: JSON tensors, and Triton's binary tensor data
 * extension, where the JSON header (its length in `Inference-Header-Content-Length`) is followed
 * by the raw bytes of each tensor that declares `binary_data_size`, in order.
 */
import type { TensorData } from '../tensor-data';
import { elementCount } from '../tensor-data';
import { MmkitError, messageOf } from '../errors';
import { datatypeByteSize, datatypeOf, dtypeOfDatatype, fromBytes, fromJsonValues, isDatatype, toBytes, toJsonValues, DATATYPES } from './datatypes';
import type { InferenceRequest } from './served-model';

type Params = Record<string, unknown>;

export interface RestInferRequest extends InferenceRequest {
  id?: string;
  /** Outputs to send as binary data. */
  binaryOutputs: Set<string>;
  /** Whether outputs not named in the request go as binary (`binary_data_output`). */
  binaryByDefault: boolean;
}

const bad = (message: string, hint: string, tensor?: string): MmkitError => new MmkitError('BAD_REQUEST', message, { hint, tensor });

const isObject = (x: unknown): x is Params => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Parses an infer request body; `headerLength` is the Inference-Header-Content-Length, if sent. */
export function parseInferRequest(body: Buffer, headerLength: number | undefined, model: string): RestInferRequest {
  if (headerLength !== undefined && (!Number.isInteger(headerLength) || headerLength < 0 || headerLength > body.length)) {
    throw bad(`Inference-Header-Content-Length is ${headerLength}, but the body has ${body.length} bytes.`, 'It must give the length of the JSON header at the start of the body.');
  }
  const jsonEnd = headerLength ?? body.length;
  let header: unknown;
  try {
    header = JSON.parse(body.subarray(0, jsonEnd).toString('utf8'));
  } catch (e) {
    throw bad(`The request body is not valid JSON: ${messageOf(e)}.`, headerLength === undefined ? 'Send a JSON object, or set Inference-Header-Content-Length when binary data follows the JSON.' : 'Check Inference-Header-Content-Length: it must be the byte length of the JSON part.');
  }
  if (!isObject(header)) throw bad('The request body must be a JSON object.', 'Send {"inputs": [...]}.');
  if (!Array.isArray(header.inputs) || header.inputs.length === 0) throw bad(`A request to model '${model}' needs a non-empty "inputs" array.`, 'Send {"inputs": [{"name", "shape", "datatype", "data"}]}.');
  if (header.id !== undefined && typeof header.id !== 'string') throw bad('"id" must be a string.', 'Send the request id as a JSON string.');
  const params = optionalParams(header.parameters, 'parameters');

  const binary = body.subarray(jsonEnd);
  let offset = 0;
  const inputs: Record<string, TensorData> = {};
  for (const [i, raw] of header.inputs.entries()) {
    if (!isObject(raw) || typeof raw.name !== 'string') throw bad(`inputs[${i}] must be an object with a "name".`, 'Each input is {"name", "shape", "datatype", "data"}.');
    const name = raw.name;
    if (name in inputs) throw bad(`Input '${name}' appears twice.`, 'Send each input once.', name);
    const { datatype, dims } = tensorHeader(raw, `input '${name}'`);
    const p = optionalParams(raw.parameters, `input '${name}' parameters`);
    const expected = byteLength(datatype, dims);
    if (p.binary_data_size !== undefined) {
      const size = p.binary_data_size;
      if (!Number.isInteger(size) || (size as number) < 0) throw bad(`Input '${name}': binary_data_size must be a whole number of bytes.`, 'Give the byte length of its raw data.', name);
      if (size !== expected) {
        throw bad(`Input '${name}': binary_data_size is ${size} bytes, but shape [${dims}] of ${datatype} takes ${expected}.`, 'Send the raw little-endian bytes of exactly the declared shape.', name);
      }
      if (offset + expected > binary.length) {
        throw bad(`Input '${name}': its ${expected} bytes of binary data run past the end of the body (${binary.length - offset} left).`, 'The binary part must hold every binary_data_size, in the order of the inputs.', name);
      }
      inputs[name] = { data: fromBytes(datatype, binary.subarray(offset, offset + expected)), dims, dtype: dtypeOfDatatype(datatype) };
      offset += expected;
    } else {
      if (raw.data === undefined) throw bad(`Input '${name}' has neither "data" nor a binary_data_size parameter.`, 'Send its values in "data", or as binary data.', name);
      const values = flatten(raw.data, name);
      if (values.length !== elementCount(dims)) throw bad(`Input '${name}': shape [${dims}] holds ${elementCount(dims)} values, but "data" has ${values.length}.`, 'Send exactly as many values as the shape holds.', name);
      let data;
      try {
        data = fromJsonValues(datatype, values);
      } catch (e) {
        throw bad(`Input '${name}' (${datatype}): ${messageOf(e)}.`, `Send ${datatype} values.`, name);
      }
      inputs[name] = { data, dims, dtype: dtypeOfDatatype(datatype) };
    }
  }
  if (offset !== binary.length) {
    throw bad(`The body carries ${binary.length} bytes of binary data, but the inputs' binary_data_size add up to ${offset}.`, 'Inference-Header-Content-Length and every binary_data_size must add up to the body length.');
  }

  const binaryByDefault = params.binary_data_output === true;
  const binaryOutputs = new Set<string>();
  let outputs: string[] | undefined;
  if (header.outputs !== undefined) {
    if (!Array.isArray(header.outputs)) throw bad('"outputs" must be an array.', 'Send [{"name": …}] or leave it out for every output.');
    outputs = header.outputs.map((o: unknown, i) => {
      if (!isObject(o) || typeof o.name !== 'string') throw bad(`outputs[${i}] must be an object with a "name".`, 'Each requested output is {"name", "parameters"?}.');
      const p = optionalParams(o.parameters, `output '${o.name}' parameters`);
      if (p.classification !== undefined) throw bad(`Output '${o.name}': the classification extension is not supported.`, 'Request the raw output and take its top classes on the client.', o.name);
      if (p.binary_data === true || (p.binary_data === undefined && binaryByDefault)) binaryOutputs.add(o.name);
      return o.name;
    });
  }
  return { id: header.id, inputs, outputs, binaryOutputs, binaryByDefault };
}

export interface EncodedResponse {
  body: Buffer;
  /** Set when binary data follows the JSON header. */
  headerLength?: number;
}

/** Encodes an infer response: outputs chosen as binary go after the JSON header, the rest inline. */
export function encodeInferResponse(
  model: { name: string; version: string },
  request: Pick<RestInferRequest, 'id' | 'binaryOutputs' | 'binaryByDefault' | 'outputs'>,
  outputs: Record<string, TensorData>,
): EncodedResponse {
  const chunks: Uint8Array[] = [];
  const entries = Object.entries(outputs).map(([name, t]) => {
    const datatype = datatypeOf(t.dtype, name);
    const asBinary = request.binaryOutputs.has(name) || (request.binaryByDefault && !request.outputs?.includes(name));
    if (asBinary) {
      const bytes = toBytes(t.data);
      chunks.push(bytes);
      return { name, datatype, shape: t.dims, parameters: { binary_data_size: bytes.byteLength } };
    }
    return { name, datatype, shape: t.dims, data: toJsonValues(datatype, t.data) };
  });
  const json = Buffer.from(JSON.stringify({ model_name: model.name, model_version: model.version, ...(request.id !== undefined ? { id: request.id } : {}), outputs: entries }));
  if (chunks.length === 0) return { body: json };
  return { body: Buffer.concat([json, ...chunks]), headerLength: json.length };
}

function tensorHeader(raw: Params, what: string): { datatype: ReturnType<typeof asDatatype>; dims: number[] } {
  const datatype = asDatatype(raw.datatype, what);
  if (!Array.isArray(raw.shape) || !raw.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw bad(`${capital(what)}: "shape" must be an array of whole numbers ≥ 0, got ${JSON.stringify(raw.shape)}.`, 'Give the tensor\'s dimensions, e.g. [1, 3, 224, 224].', String(raw.name));
  }
  return { datatype, dims: raw.shape as number[] };
}

function asDatatype(x: unknown, what: string) {
  if (!isDatatype(x)) throw bad(`${capital(what)}: datatype ${JSON.stringify(x)} is not one mmkit serves.`, `Use one of ${DATATYPES.join(', ')}.`);
  return x;
}

function byteLength(datatype: ReturnType<typeof asDatatype>, dims: number[]): number {
  return elementCount(dims) * datatypeByteSize(datatype);
}

function optionalParams(x: unknown, what: string): Params {
  if (x === undefined) return {};
  if (!isObject(x)) throw bad(`"${what}" must be a JSON object.`, 'Parameters are {"name": value}.');
  return x;
}

/** Row-major values of a flat or nested JSON array. */
function flatten(data: unknown, name: string): unknown[] {
  if (!Array.isArray(data)) throw bad(`Input '${name}': "data" must be an array.`, 'Send the values as a flat (row-major) or nested array.', name);
  return data.some(Array.isArray) ? (data as unknown[]).flat(Infinity) : data;
}

const capital = (s: string): string => s[0].toUpperCase() + s.slice(1);
