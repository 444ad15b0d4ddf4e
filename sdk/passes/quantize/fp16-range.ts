/**
 * Values float16 cannot hold: float32 constants (initializers, Constant nodes) with a finite
 * |x| > 65504, and what data-movement ops make of them. The float16 pass keeps the ops that read
 * them in float32, as onnxruntime's float16 converter does for its blocked nodes: clamping such a
 * value changes the model (PP-OCRv4 det: a BatchNormalization variance of 9.8e7 clamped to 65504
 * took the output's cosine to float32 down to 0.018).
 */
import { attrTensor, makeTensor, tensorArray, type GraphView, type NodeProto, type OnnxModel, type TensorProto } from '../../onnx';
import { FLOAT16_MAX, finiteMaxAbs } from './fp16-values';

/** The constant an out-of-range value comes from, and its largest finite |x|. */
export interface WideValue {
  tensor: string;
  maxAbs: number;
}

/** A Constant node's value as a tensor (value, value_float or value_floats); undefined for other kinds. */
export function constantValue(n: NodeProto): TensorProto | undefined {
  const t = attrTensor(n, 'value');
  if (t) return t;
  const a = n.attribute.find((x) => x.name === 'value_float' || x.name === 'value_floats');
  if (!a) return undefined;
  return a.name === 'value_float' ? makeTensor(n.output[0], 'float32', [], Float32Array.of(a.f)) : makeTensor(n.output[0], 'float32', [a.floats.length], Float32Array.from(a.floats));
}

/** Every float32 value of the main graph beyond float16's range, by name. */
export function outOfRangeValues(view: GraphView, model: OnnxModel, isFloat: (v: string) => boolean, movement: ReadonlySet<string>): Map<string, WideValue> {
  const wide = new Map<string, WideValue>();
  const check = (name: string, t: TensorProto | undefined) => {
    if (!t || !isFloat(name)) return;
    const maxAbs = finiteMaxAbs(tensorArray(t, model) as Float32Array);
    if (maxAbs > FLOAT16_MAX) wide.set(name, { tensor: name, maxAbs });
  };
  for (const t of view.initializers) check(t.name, t);
  for (const n of view.nodes) {
    if (n.opType === 'Constant') check(n.output[0], constantValue(n));
    const from = n.input.find((x) => wide.has(x));
    if (from && n.domain === '' && movement.has(n.opType)) for (const o of n.output) if (isFloat(o)) wide.set(o, wide.get(from)!);
  }
  return wide;
}
