import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { allInitializers, externalRef, bytesPerElement, byteSizeOf, dtypeOf, isExternal, serializeModel, tensorByteSize, tensorElementCount, type DType, type NodeProto, type OnnxModel, type TensorProto } from '../onnx';

export interface ModelSize {
  /** Size on disk: the file with its external data, or the serialized model when it has no file. */
  fileBytes: number;
  /** Stored parameters: elements of initializers and Constant nodes in the main graph. */
  params: number;
  paramsByDtype: Partial<Record<DType, number>>;
  /** Bytes of parameter data by element type (4-bit types packed two per byte). */
  bytesByDtype: Partial<Record<DType, number>>;
}

interface Counted {
  dtype: DType;
  elements: number;
}

function fromTensor(t: TensorProto): Counted {
  return { dtype: dtypeOf(t.dataType), elements: tensorElementCount(t) };
}

/** The parameters a Constant node holds, whichever of its value attributes it uses. */
function fromConstant(node: NodeProto): Counted | undefined {
  const a = node.attribute[0];
  if (!a) return undefined;
  switch (a.name) {
    case 'value':
      return a.t ? fromTensor(a.t) : undefined;
    case 'value_float':
      return { dtype: 'float32', elements: 1 };
    case 'value_floats':
      return { dtype: 'float32', elements: a.floats.length };
    case 'value_int':
      return { dtype: 'int64', elements: 1 };
    case 'value_ints':
      return { dtype: 'int64', elements: a.ints.length };
    default:
      return undefined;
  }
}

/** What a model stores: parameter counts and bytes by element type, and its size on disk. */
export function modelSize(model: OnnxModel): ModelSize {
  const graph = model.proto.graph;
  const counted: Counted[] = [];
  for (const t of graph?.initializer ?? []) counted.push(fromTensor(t));
  for (const n of graph?.node ?? []) {
    if (n.opType !== 'Constant' || (n.domain !== '' && n.domain !== 'ai.onnx')) continue;
    const c = fromConstant(n);
    if (c) counted.push(c);
  }
  const paramsByDtype: Partial<Record<DType, number>> = {};
  const bytesByDtype: Partial<Record<DType, number>> = {};
  let params = 0;
  for (const { dtype, elements } of counted) {
    params += elements;
    paramsByDtype[dtype] = (paramsByDtype[dtype] ?? 0) + elements;
    // Strings have no fixed width; they are counted as parameters but not as bytes.
    if (bytesPerElement(dtype) > 0) bytesByDtype[dtype] = (bytesByDtype[dtype] ?? 0) + byteSizeOf(dtype, elements);
  }
  const fileBytes = (model.fileBytes ?? serializeModel(model.proto).length) + externalDataBytes(model);
  return { fileBytes, params, paramsByDtype, bytesByDtype };
}

/**
 * Bytes of the external data files the model points at: their sizes on disk (alignment padding
 * included) when the files can be found, else the sum of the external tensors' sizes.
 */
function externalDataBytes(model: OnnxModel): number {
  const external = model.proto.graph ? [...allInitializers(model.proto.graph)].filter(isExternal) : [];
  const tensorBytes = external.reduce((n, t) => n + tensorByteSize(t), 0);
  if (!model.baseDir || external.length === 0) return tensorBytes;
  try {
    const files = new Set(external.map((t) => resolve(model.baseDir!, externalRef(t).location)));
    return [...files].reduce((n, f) => n + statSync(f).size, 0);
  } catch {
    return tensorBytes;
  }
}
