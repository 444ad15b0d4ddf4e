/** What a served ONNX model takes and returns, read from its graph's declared inputs and outputs. */
import { allInitializers, externalRef, GraphView, isExternal, readModel, readValueType, type Dim, type DType, type OnnxModel, type ValueInfoProto } from '../../onnx';
import { resolveExternalPath } from '../../onnx/external';
import { RECIPE_METADATA_KEY } from '../../step';

export interface TensorSignature {
  name: string;
  /** Undefined when the model declares no element type, or one mmkit does not know. */
  dtype?: DType;
  /** Sizes, or symbolic names ('batch') for axes the model leaves open; undefined for unknown rank. */
  shape?: Dim[];
}

export interface ModelSignature {
  file: string;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  /** The mmkit recipe the model carries in its metadata (JSON), when mmkit saved it. */
  recipe?: string;
  /** Files holding the model's external data, absolute, each once. */
  externalDataFiles: string[];
}

/** An axis the model leaves open: a symbolic name, or a size it does not state. */
export function isOpenDim(d: Dim): boolean {
  return typeof d === 'string' || d <= 0;
}

/** Whether the model can run batches along its first axis: every input and output leaves that axis open. */
export function hasBatchAxis(sig: Pick<ModelSignature, 'inputs' | 'outputs'>): boolean {
  return sig.inputs.length > 0 && firstFixedAxis(sig) === undefined;
}

/** The first input or output whose first axis is fixed (or that has no axes), if any. */
export function firstFixedAxis(sig: Pick<ModelSignature, 'inputs' | 'outputs'>): TensorSignature | undefined {
  return [...sig.inputs, ...sig.outputs].find((t) => !t.shape?.length || !isOpenDim(t.shape[0]));
}

export function signatureOf(model: OnnxModel, file: string): ModelSignature {
  const view = GraphView.of(model.proto);
  const describe = (v: ValueInfoProto): TensorSignature => ({ name: v.name, ...readValueType(v.type) });
  return {
    file,
    inputs: view.inputs.map(describe),
    outputs: view.outputs.map(describe),
    recipe: model.proto.metadataProps.find((e) => e.key === RECIPE_METADATA_KEY)?.value,
    externalDataFiles: externalDataFilesOf(model),
  };
}

export async function readModelSignature(file: string): Promise<ModelSignature> {
  return signatureOf(await readModel(file), file);
}

function externalDataFilesOf(model: OnnxModel): string[] {
  if (!model.proto.graph) return [];
  const files = new Set<string>();
  for (const t of allInitializers(model.proto.graph)) {
    if (isExternal(t)) files.add(resolveExternalPath(model.baseDir ?? '.', externalRef(t).location, t.name));
  }
  return [...files];
}
