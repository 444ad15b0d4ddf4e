/**
 * Float16 tensors of the candidate that hold ±65504 where the reference's float32 tensor of the
 * same name went beyond it: values the float16 conversion clamped. A clamped BatchNorm variance
 * (PP-OCRv4 det: 9.8e7 → 65504) wrecks the output while no layer's weights look badly quantized,
 * so this is what the check names first when the outputs drift.
 */
import { dataTypeOf, GraphView, tensorArray, type OnnxModel, type TensorProto } from '../onnx';
import { FLOAT16_MAX } from '../passes/quantize/fp16-values';

export interface ClampedTensor {
  tensor: string;
  elements: number;
  /** Reference values beyond ±65504. */
  clamped: number;
  /** The reference's largest |value|. */
  maxAbs: number;
  /** Nodes that read it in the reference: what the float16 pass's block.nodes takes. */
  readers: string[];
}

const FLOAT16 = dataTypeOf('float16');
const FLOAT32 = dataTypeOf('float32');
/** 65504 as float16 bits, sign masked off. */
const HALF_MAX_BITS = 0x7bff;

function candidateHalves(view: GraphView): Map<string, TensorProto> {
  const halves = new Map<string, TensorProto>();
  for (const t of view.initializers) if (t.dataType === FLOAT16) halves.set(t.name, t);
  for (const n of view.nodes) {
    const t = n.opType === 'Constant' ? view.constantTensor(n.output[0]) : undefined;
    if (t?.dataType === FLOAT16) halves.set(n.output[0], t);
  }
  return halves;
}

export function clampedTensors(reference: OnnxModel, candidate: OnnxModel): ClampedTensor[] {
  const refView = GraphView.of(reference.proto);
  const found: ClampedTensor[] = [];
  for (const [name, half] of candidateHalves(GraphView.of(candidate.proto))) {
    if (!(tensorArray(half, candidate) as Uint16Array).some((bits) => (bits & 0x7fff) === HALF_MAX_BITS)) continue;
    const ref = refView.constantTensor(name);
    if (ref?.dataType !== FLOAT32) continue;
    const values = tensorArray(ref, reference) as Float32Array;
    let clamped = 0;
    let maxAbs = 0;
    for (const v of values) {
      if (Math.abs(v) > FLOAT16_MAX) clamped++;
      maxAbs = Math.max(maxAbs, Math.abs(v));
    }
    if (clamped > 0) found.push({ tensor: name, elements: values.length, clamped, maxAbs, readers: refView.consumers(name).map((n) => n.name).filter(Boolean) });
  }
  return found;
}

/** The clamped tensors as a likely cause, with the fix. */
export function clampCause(clamped: readonly ClampedTensor[]): string {
  const listed = clamped.slice(0, 3).map((c) => `'${c.tensor}' (${c.clamped} of ${c.elements} values beyond ±${FLOAT16_MAX}, max |x| ${c.maxAbs.toExponential(2)})`);
  const readers = [...new Set(clamped.flatMap((c) => c.readers))];
  return (
    `float16 clamped ${listed.join(', ')}${clamped.length > 3 ? `, … (${clamped.length} tensors)` : ''} to ±${FLOAT16_MAX}` +
    (readers.length ? ` — keep ${readers.length === 1 ? 'its reader' : 'their readers'} in float32: quantize({ mode: 'fp16', block: { nodes: [${readers.slice(0, 5).map((r) => `'${r}'`).join(', ')}] } })` : ' — keep it in float32')
  );
}
