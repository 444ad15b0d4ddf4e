/**
 * ONNX sparse initializers (GraphProto.sparse_initializer, SparseTensorProto): a tensor stored as
 * its non-zero values plus int64 indices. Used to save pruned weights smaller, and densified again
 * when a model is read, so that every pass sees ordinary initializers.
 *
 * Form written: values [NNZ] + linearized int64 indices [NNZ] (the ONNX spec's format (b); the
 * spec requires INT64 indices). That costs 8 + element bytes per non-zero against element bytes
 * per element dense, so a float32 tensor only gets smaller beyond 2/3 zeros (float16: 4/5).
 * The [NNZ, rank] coordinate form would cost rank × 8 bytes per value. onnxruntime 1.30 (node, and
 * web's wasm backend) densifies sparse initializers at load time; it also accepts int32/int16
 * indices (tried), but those break the spec, so mmkit does not write them. test/onnx-sparse.test.ts
 * checks that onnxruntime runs such files with the same outputs. Only the main graph is handled
 * (subgraph initializers of If/Loop bodies stay as they are).
 */
import { create } from '@bufbuild/protobuf';
import { MmkitError } from '../errors';
import { bytesPerElement, dtypeOf, type DType } from './dtype';
import { encodeTree } from './encode';
import {
  DataType,
  SparseTensorProtoSchema,
  TensorProtoSchema,
  type GraphProto,
  type ModelProto,
  type SparseTensorProto,
  type TensorProto,
} from './proto';
import type { OnnxModel } from './read';
import { tensorArray, tensorDims, tensorElementCount } from './tensor';
import { shallowCopy } from './walk';

/** onnx IR version 6 (onnx 1.6) introduced sparse_initializer. */
export const SPARSE_MIN_IR_VERSION = 6;
const INDEX_BYTES = 8;

/** One initializer moved to sparse_initializer, with its encoded sizes. */
export interface SparseTensorSaving {
  name: string;
  elements: number;
  nonZeros: number;
  denseBytes: number;
  sparseBytes: number;
}

export interface SparseConversion {
  proto: ModelProto;
  tensors: SparseTensorSaving[];
  /** Encoded bytes saved in the model file, all tensors together. */
  bytesSaved: number;
  /** Why nothing could be converted (an old IR version), when that is the case. */
  notice?: string;
}

type WordArray = Uint8Array | Uint16Array | Uint32Array | BigUint64Array;

/**
 * The tensor's elements as unsigned words of the element size, so that "zero" means all bits zero
 * (a float -0 is kept as a value: the densified tensor is bit-identical to the original).
 */
function words(t: TensorProto, model?: OnnxModel): WordArray | undefined {
  const dtype = dtypeOf(t.dataType);
  const size = bytesPerElement(dtype);
  if (dtype === 'string' || ![1, 2, 4, 8].includes(size)) return undefined;
  const a = tensorArray(t, model);
  const n = a.byteLength / size;
  if (size === 1) return new Uint8Array(a.buffer, a.byteOffset, n);
  if (size === 2) return new Uint16Array(a.buffer, a.byteOffset, n);
  if (size === 4) return new Uint32Array(a.buffer, a.byteOffset, n);
  return new BigUint64Array(a.buffer, a.byteOffset, n);
}

function countNonZeros(w: WordArray): number {
  let nnz = 0;
  // 0n == 0 is true, so one loop serves bigint words too.
  for (let i = 0; i < w.length; i++) if (w[i] != 0) nnz++;
  return nnz;
}

/** Encoded size of a message as one entry of a repeated message field (tag + length + body). */
function entryBytes(body: number): number {
  let lengthBytes = 1;
  for (let v = body; v >= 128; v = Math.floor(v / 128)) lengthBytes++;
  return 1 + lengthBytes + body;
}

/** The sparse form of a dense tensor (values [NNZ], linearized int64 indices [NNZ]); the input is not changed. */
export function sparseFromDense(t: TensorProto, model?: OnnxModel): SparseTensorProto {
  const w = words(t, model);
  if (!w) {
    throw new MmkitError('UNSUPPORTED', `Tensor '${t.name}' (${dtypeOf(t.dataType)}) has no sparse form in mmkit.`, {
      tensor: t.name,
      hint: 'Only tensors of 1, 2, 4 or 8 bytes per element (floats and integers) can be stored sparse.',
    });
  }
  return sparseFromWords(t, w, countNonZeros(w));
}

/** sparseFromDense on a tensor's element words already read, with their non-zero count. */
function sparseFromWords(t: TensorProto, w: WordArray, nnz: number): SparseTensorProto {
  const values = new (w.constructor as new (n: number) => WordArray)(nnz);
  const indices = new BigInt64Array(nnz);
  // Written as little-endian 32-bit halves: a BigInt per value would cost more than the whole copy.
  const halves = new Uint32Array(indices.buffer);
  for (let i = 0, j = 0; i < w.length; i++) {
    if (w[i] != 0) {
      values[j] = w[i];
      halves[2 * j] = i >>> 0;
      halves[2 * j + 1] = Math.floor(i / 2 ** 32);
      j++;
    }
  }
  return create(SparseTensorProtoSchema, {
    values: create(TensorProtoSchema, { name: t.name, dataType: t.dataType, dims: [BigInt(nnz)], rawData: new Uint8Array(values.buffer as ArrayBuffer) }),
    indices: create(TensorProtoSchema, { dataType: DataType.INT64, dims: [BigInt(nnz)], rawData: new Uint8Array(indices.buffer) }),
    dims: [...t.dims],
  });
}

/** The dense tensor a SparseTensorProto stands for (both index formats of the spec; any integer index type). */
export function denseFromSparse(s: SparseTensorProto, model?: OnnxModel): TensorProto {
  const name = s.values?.name ?? '';
  const bad = (why: string) =>
    new MmkitError('BAD_MODEL', `Sparse initializer '${name}' is invalid: ${why}.`, { tensor: name, hint: 'The model is damaged or was written by a faulty tool; re-export it.' });
  if (!s.values || !s.indices) throw bad('it lacks values or indices');
  const dims = s.dims.map((d) => Number(d));
  const count = dims.reduce((n, d) => n * d, 1);
  const src = words(s.values, model);
  if (!src) throw bad(`its values have type ${dtypeOf(s.values.dataType)}, which mmkit cannot densify`);
  const nnz = src.length;
  const index = tensorArray(s.indices, model);
  const indexDims = tensorDims(s.indices);
  const rank = dims.length;
  const linear = indexDims.length === 1;
  if (!(linear ? indexDims[0] === nnz : indexDims.length === 2 && indexDims[0] === nnz && indexDims[1] === rank)) {
    throw bad(`indices have dims [${indexDims.join(', ')}] for ${nnz} values of a rank-${rank} tensor (want [${nnz}] or [${nnz}, ${rank}])`);
  }
  const strides = dims.map((_, k) => dims.slice(k + 1).reduce((n, d) => n * d, 1));
  const dense = new (src.constructor as new (n: number) => WordArray)(count);
  for (let j = 0; j < nnz; j++) {
    let at = 0;
    if (linear) at = Number(index[j]);
    else for (let k = 0; k < rank; k++) at += Number(index[j * rank + k]) * strides[k];
    if (!(at >= 0 && at < count)) throw bad(`index ${at} of value ${j} is outside its ${count} elements`);
    dense[at] = src[j];
  }
  return create(TensorProtoSchema, { name, dataType: s.values.dataType, dims: [...s.dims], rawData: new Uint8Array(dense.buffer as ArrayBuffer) });
}

/**
 * Moves each initializer of the main graph whose sparse form encodes smaller than its dense form
 * into sparse_initializer. Initializers that are also graph inputs (overridable at run time) stay
 * dense. The input model is not changed.
 */
export function toSparseInitializers(model: OnnxModel): SparseConversion {
  const graph = model.proto.graph;
  if (!graph) return { proto: model.proto, tensors: [], bytesSaved: 0 };
  if (model.proto.irVersion < BigInt(SPARSE_MIN_IR_VERSION)) {
    return {
      proto: model.proto,
      tensors: [],
      bytesSaved: 0,
      notice: `The model's IR version ${model.proto.irVersion} predates sparse initializers (IR ${SPARSE_MIN_IR_VERSION}); it was saved dense.`,
    };
  }
  const inputs = new Set(graph.input.map((v) => v.name));
  const tensors: SparseTensorSaving[] = [];
  const moved: SparseTensorProto[] = [];
  const kept: TensorProto[] = [];
  for (const t of graph.initializer) {
    const sparse = inputs.has(t.name) ? undefined : smallerSparse(t, model);
    if (!sparse) {
      kept.push(t);
      continue;
    }
    moved.push(sparse.proto);
    tensors.push(sparse.saving);
  }
  if (moved.length === 0) return { proto: model.proto, tensors, bytesSaved: 0 };
  const newGraph = shallowCopy(graph, { initializer: kept, sparseInitializer: [...graph.sparseInitializer, ...moved] });
  return { proto: shallowCopy(model.proto, { graph: newGraph }), tensors, bytesSaved: tensors.reduce((n, x) => n + x.denseBytes - x.sparseBytes, 0) };
}

function smallerSparse(t: TensorProto, model: OnnxModel): { proto: SparseTensorProto; saving: SparseTensorSaving } | undefined {
  let dtype: DType;
  try {
    dtype = dtypeOf(t.dataType);
  } catch {
    return undefined; // a type mmkit does not handle stays as it is
  }
  const w = words(t, model);
  if (!w) return undefined;
  const nnz = countNonZeros(w);
  const size = bytesPerElement(dtype);
  // Data bytes alone decide most tensors; the exact encoded sizes below settle the close calls.
  if (nnz * (size + INDEX_BYTES) >= w.length * size) return undefined;
  const proto = sparseFromWords(t, w, nnz);
  const denseBytes = entryBytes(encodeTree(TensorProtoSchema, t).size);
  const sparseBytes = entryBytes(encodeTree(SparseTensorProtoSchema, proto).size);
  if (sparseBytes >= denseBytes) return undefined;
  return { proto, saving: { name: t.name, elements: tensorElementCount(t), nonZeros: nnz, denseBytes, sparseBytes } };
}

/**
 * The model with every sparse initializer of its main graph turned back into a dense initializer
 * (same name, same bits), so GraphView, the passes and the writer see ordinary tensors. A model
 * without sparse initializers comes back as it is.
 */
export function densifySparseInitializers(model: OnnxModel): OnnxModel {
  const graph: GraphProto | undefined = model.proto.graph;
  if (!graph || graph.sparseInitializer.length === 0) return model;
  const dense = graph.sparseInitializer.map((s) => denseFromSparse(s, model));
  const newGraph = shallowCopy(graph, { initializer: [...graph.initializer, ...dense], sparseInitializer: [] });
  return { ...model, proto: shallowCopy(model.proto, { graph: newGraph }) };
}
