import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { allInitializers, externalRef, bytesPerElement, byteSizeOf, dtypeOf, isExternal, serializeModel, storedTensors, tensorByteSize, tensorElementCount, type DType, type OnnxModel } from '../onnx';

export interface ModelSize {
  /** Size on disk: the file with its external data, or the serialized model when it has no file. */
  fileBytes: number;
  /** Stored parameters: elements of initializers and of the weights Constant nodes hold, If/Loop/Scan bodies included. */
  params: number;
  paramsByDtype: Partial<Record<DType, number>>;
  /** Bytes of parameter data by element type (4-bit types packed two per byte). */
  bytesByDtype: Partial<Record<DType, number>>;
}

/** What a model stores: parameter counts and bytes by element type, and its size on disk. */
export function modelSize(model: OnnxModel): ModelSize {
  const paramsByDtype: Partial<Record<DType, number>> = {};
  const bytesByDtype: Partial<Record<DType, number>> = {};
  let params = 0;
  for (const t of model.proto.graph ? storedTensors(model.proto.graph) : []) {
    const dtype = dtypeOf(t.dataType);
    const elements = tensorElementCount(t);
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
