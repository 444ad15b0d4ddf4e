/**
 * The candidate's bytes against the reference's, and why a compressed model may not be smaller:
 * float weights kept next to their quantized copies, embedding tables left in float, weights
 * under the size limit, or a tiny model whose bytes are mostly graph structure.
 */
import { modelSize, type ModelSize } from '../eval/size';
import { dtypeOf, GraphView, tensorByteSize, tensorElementCount, type DType, type OnnxModel, type TensorProto } from '../onnx';

export interface SizeCheck {
  referenceBytes: number;
  candidateBytes: number;
  /** candidate ÷ reference bytes: above 1 the candidate is larger. */
  ratio: number;
  /** Parameter bytes by element type in each model. */
  byDtype: { dtype: DType; referenceBytes: number; candidateBytes: number }[];
  /** Bytes that are not parameters (graph structure, names, shapes) in each model. */
  referenceOtherBytes: number;
  candidateOtherBytes: number;
}

const FLOAT: readonly DType[] = ['float32', 'float64'];
const WEIGHT_OPS = new Set(['MatMul', 'Gemm', 'Conv', 'ConvTranspose']);

function paramBytes(s: ModelSize): number {
  return Object.values(s.bytesByDtype).reduce((a, b) => a + (b ?? 0), 0);
}

/**
 * Sizes from the serialized protos (plus external data): a pass's output may still carry the
 * fileBytes of the file its input was read from.
 */
function serializedSize(m: OnnxModel): ModelSize {
  return modelSize({ proto: m.proto, baseDir: m.baseDir });
}

export function compareSize(reference: OnnxModel, candidate: OnnxModel): SizeCheck {
  const ref = serializedSize(reference);
  const cand = serializedSize(candidate);
  const dtypes = [...new Set([...Object.keys(ref.bytesByDtype), ...Object.keys(cand.bytesByDtype)])] as DType[];
  return {
    referenceBytes: ref.fileBytes,
    candidateBytes: cand.fileBytes,
    ratio: cand.fileBytes / ref.fileBytes,
    byDtype: dtypes.map((dtype) => ({ dtype, referenceBytes: ref.bytesByDtype[dtype] ?? 0, candidateBytes: cand.bytesByDtype[dtype] ?? 0 })),
    referenceOtherBytes: Math.max(0, ref.fileBytes - paramBytes(ref)),
    candidateOtherBytes: Math.max(0, cand.fileBytes - paramBytes(cand)),
  };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

function isFloat(t: TensorProto): boolean {
  return FLOAT.includes(dtypeOf(t.dataType));
}

function listed(tensors: readonly TensorProto[]): string {
  const names = tensors.slice(0, 3).map((t) => `'${t.name}'`).join(', ');
  return `${names}${tensors.length > 3 ? `, … (${tensors.length} in all)` : ''}, ${kb(tensors.reduce((n, t) => n + tensorByteSize(t), 0))}`;
}

/** Likely causes, biggest first; empty when the graph shows none. */
/** Why the candidate did not shrink; `minElements` is the step's own threshold for weights left float. */
export function sizeCauses(reference: OnnxModel, candidate: OnnxModel, size: SizeCheck, minElements: number): string[] {
  const refView = GraphView.of(reference.proto);
  const view = GraphView.of(candidate.proto);
  const causes: string[] = [];
  const floats = view.initializers.filter(isFloat);
  const stillRead = (t: TensorProto) => view.consumers(t.name).length > 0;
  const present = new Set(view.nodes.map((n) => n.name));

  // A float weight of the reference that lost a consumer to the pass (rewritten, so its name is
  // gone) while a node the pass left alone still reads it: the float copy stays beside the new one.
  // (A bias the rewritten node now reads itself is not a copy: its new reader is a new node.)
  const referenceNodes = new Set(refView.nodes.map((n) => n.name));
  const keptBeside = floats.filter(
    (t) => refView.isInitializer(t.name) && refView.consumers(t.name).some((n) => n.name && !present.has(n.name)) && view.consumers(t.name).some((n) => referenceNodes.has(n.name)),
  );
  if (keptBeside.length > 0) {
    causes.push(`float weights kept next to their quantized copies: ${listed(keptBeside)} — a node the pass left alone still reads the float tensor (e.g. '${view.consumers(keptBeside[0].name).find((n) => referenceNodes.has(n.name))!.name}'), so both are stored; quantize or exclude every user of a shared weight alike`);
  }
  const embeddings = floats.filter((t) => tensorElementCount(t) >= minElements && stillRead(t) && view.consumers(t.name).every((n) => n.opType === 'Gather'));
  if (embeddings.length > 0) causes.push(`embeddings left in float: ${listed(embeddings)} read by Gather — quantize embedding tables too (quantize.dynamic embeddings: true)`);
  const layerWeights = floats.filter((t) => !keptBeside.includes(t) && stillRead(t) && view.consumers(t.name).some((n) => WEIGHT_OPS.has(n.opType) && n.input[1] === t.name));
  const small = layerWeights.filter((t) => tensorElementCount(t) < minElements);
  const large = layerWeights.filter((t) => tensorElementCount(t) >= minElements);
  if (large.length > 0) causes.push(`layer weights left in float (excluded, or of a type the pass skips): ${listed(large)}`);
  if (small.length > 0) causes.push(`weights under minElements (${minElements}) stay float: ${listed(small)}`);
  if (size.candidateOtherBytes > size.candidateBytes / 2) {
    causes.push(`a tiny model dominated by non-weight bytes: ${size.candidateOtherBytes} of its ${size.candidateBytes} bytes are graph structure (nodes, names, shapes), which quantization cannot shrink${size.candidateOtherBytes > size.referenceOtherBytes ? ` and the pass added ${size.candidateOtherBytes - size.referenceOtherBytes} of them` : ''}`);
  }
  return causes;
}
