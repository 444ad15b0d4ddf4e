/**
 * The pieces of a QDQ graph added by an edit: Q → DQ pairs on activations, and int8 weights, int32
 * biases and quantized constants behind a DequantizeLinear. Each returns the name of the float
 * value its readers take instead of the original.
 */
import { makeTensor, node, tensorArray, tensorDims, type GraphEditor, type OnnxModel } from '../../onnx';
import { activationParams, quantizeAlongAxis, quantizeBias, type ActivationParams } from './qdq-params';

/** Names of a tensor's scale and zero-point initializers. */
export interface QuantNames {
  scale: string;
  zeroPoint: string;
}

function addParams(e: GraphEditor, base: string, dims: number[], scales: Float32Array, zeroPoints: Uint8Array | Int8Array): QuantNames {
  const names = { scale: e.uniqueName(`${base}_scale`), zeroPoint: e.uniqueName(`${base}_zero_point`) };
  e.addInitializer(makeTensor(names.scale, 'float32', dims, scales));
  e.addInitializer(makeTensor(names.zeroPoint, zeroPoints instanceof Uint8Array ? 'uint8' : 'int8', dims, zeroPoints));
  return names;
}

/** Scalar scale and zero point of an activation (or of a constant quantized like one). */
export function addActivationParams(e: GraphEditor, base: string, p: ActivationParams): QuantNames {
  return addParams(e, base, [], Float32Array.of(p.scale), p.dtype === 'uint8' ? Uint8Array.of(p.zeroPoint) : Int8Array.of(p.zeroPoint));
}

function dequantize(e: GraphEditor, base: string, inputs: string[], axis?: number): string {
  const output = e.uniqueName(`${base}_DequantizeLinear_Output`);
  e.addNode(node('DequantizeLinear', inputs, [output], axis === undefined ? {} : { axis }, { name: e.uniqueName(`${base}_DequantizeLinear`) }));
  return output;
}

/** QuantizeLinear → DequantizeLinear on activation `t`; every node that read `t` reads the dequantized copy. */
export function addActivationQdq(e: GraphEditor, t: string, names: QuantNames): string {
  const dq = e.uniqueName(`${t}_DequantizeLinear_Output`);
  e.replaceUses(t, dq); // before the Q node exists, which must keep reading t
  const q = e.uniqueName(`${t}_QuantizeLinear_Output`);
  e.addNode(node('QuantizeLinear', [t, names.scale, names.zeroPoint], [q], {}, { name: e.uniqueName(`${t}_QuantizeLinear`) }));
  e.addNode(node('DequantizeLinear', [q, names.scale, names.zeroPoint], [dq], {}, { name: e.uniqueName(`${t}_DequantizeLinear`) }));
  return dq;
}

/** A float weight as symmetric int8 (scales along `axis` when per-channel) and its DequantizeLinear. */
export function addInt8Weight(e: GraphEditor, model: OnnxModel, name: string, axis: number, perChannel: boolean, qmax: number): { output: string; scales: Float32Array } {
  const t = e.view.constantTensor(name)!;
  const dims = tensorDims(t);
  const q = quantizeAlongAxis(tensorArray(t, model) as Float32Array, dims, axis, perChannel, qmax);
  const values = e.uniqueName(`${name}_quantized`);
  e.addInitializer(makeTensor(values, 'int8', dims, q.values));
  const names = addParams(e, values, perChannel ? [dims[axis]] : [], q.scales, new Int8Array(q.scales.length));
  return { output: dequantize(e, name, [values, names.scale, names.zeroPoint], perChannel ? axis : undefined), scales: q.scales };
}

/**
 * A 1-D float bias as int32 at scale s_x·s_w (zero point 0) and its DequantizeLinear: one scale per
 * channel, or one scalar with per-tensor weights (what opsets 10–12 take).
 */
export function addInt32Bias(e: GraphEditor, model: OnnxModel, name: string, inputScale: number, weightScales: Float32Array): string {
  const b = quantizeBias(tensorArray(e.view.constantTensor(name)!, model) as Float32Array, inputScale, weightScales);
  const values = e.uniqueName(`${name}_quantized`);
  e.addInitializer(makeTensor(values, 'int32', [b.values.length], b.values));
  const scale = e.uniqueName(`${name}_scale`);
  const perTensor = weightScales.length === 1;
  e.addInitializer(perTensor ? makeTensor(scale, 'float32', [], Float32Array.of(b.scales[0])) : makeTensor(scale, 'float32', [b.scales.length], b.scales));
  return dequantize(e, name, [values, scale], perTensor ? undefined : 0);
}

function rangeOf(values: Float32Array): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/**
 * A constant input of Add/Mul quantized like an activation over its own range (QLinearAdd and
 * QLinearMul take both inputs in one type), and its DequantizeLinear.
 */
export function addQuantizedConstant(e: GraphEditor, model: OnnxModel, name: string, symmetric: boolean, reduceRange: boolean): string {
  const t = e.view.constantTensor(name)!;
  const values = tensorArray(t, model) as Float32Array;
  const p = activationParams(rangeOf(values), symmetric, reduceRange);
  const [lo, hi] = p.dtype === 'uint8' ? [0, 255] : [-128, 127];
  const codes = p.dtype === 'uint8' ? new Uint8Array(values.length) : new Int8Array(values.length);
  for (let i = 0; i < values.length; i++) codes[i] = Math.min(hi, Math.max(lo, Math.round(values[i] / p.scale) + p.zeroPoint));
  const stored = e.uniqueName(`${name}_quantized`);
  e.addInitializer(makeTensor(stored, p.dtype, tensorDims(t), codes));
  const names = addActivationParams(e, stored, p);
  return dequantize(e, name, [stored, names.scale, names.zeroPoint]);
}
