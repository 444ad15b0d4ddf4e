/** The int8 matmul forms of dynamic quantization: com.microsoft DynamicQuantizeMatMul and MatMulInteger. */
import { dtypeOf, tensorDims, type GraphView, type NodeProto, type OnnxModel, type TensorProto } from '../../onnx';
import { channelGroups, type EffectiveWeight, type QuantGroups } from './types';
import { codeRange, floatValues, integerCodes } from '../tensor-values';
import { constant, withBias } from './graph';

/** Dequantizes an int [K, N] weight with per-tensor (one) or per-column (N) scales and zero points. */
function perColumn(codes: Float64Array, k: number, n: number, scales: Float32Array, zeroPoints: Float64Array): { values: Float32Array; groups: Omit<QuantGroups, 'codeMin' | 'codeMax'> } {
  const perChannel = scales.length === n && n > 1;
  const values = new Float32Array(k * n);
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < n; c++) {
      const g = perChannel ? c : 0;
      values[r * n + c] = (codes[r * n + c] - zeroPoints[zeroPoints.length > 1 ? g : 0]) * scales[g];
    }
  }
  return { values, groups: channelGroups(scales, zeroPoints, perChannel) };
}

/** Scales of B (scalar or one per column) and zero points (absent: 0) for the int8 matmul forms. */
function intMatMul(
  model: OnnxModel,
  n: NodeProto,
  b: TensorProto,
  scale: TensorProto,
  zeroPoint: TensorProto | undefined,
  form: string,
  outputs: string[],
): EffectiveWeight | string {
  const dims = tensorDims(b);
  if (dims.length !== 2) return `its weight '${b.name}' is not 2-D`;
  const [k, cols] = dims;
  const scales = floatValues(scale, model);
  if (scales.length !== 1 && scales.length !== cols) return `its scale '${scale.name}' has ${scales.length} values for ${cols} columns`;
  const dtype = dtypeOf(b.dataType);
  const [codeMin, codeMax] = codeRange(dtype);
  const zeroPoints = zeroPoint ? integerCodes(zeroPoint, model) : new Float64Array(1);
  const { values, groups } = perColumn(integerCodes(b, model), k, cols, scales, zeroPoints);
  return {
    node: n.name,
    form,
    outputs,
    stored: b.name,
    dtype,
    bits: dtype.includes('16') ? 16 : 8,
    granularity: groups.scales.length > 1 ? 'per-channel' : 'per-tensor',
    values,
    dims,
    channelAxis: 1,
    groups: { codeMin, codeMax, ...groups },
  };
}

export function dynamicQuantizeMatMul(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string {
  // Inputs: A, B, b_scale, b_zero_point, bias.
  const b = constant(view, n.input[1]);
  const scale = constant(view, n.input[2]);
  if (!b || !scale) return 'its weight or scale is not a constant';
  return intMatMul(model, n, b, scale, constant(view, n.input[3]), 'DynamicQuantizeMatMul', [n.output[0]]);
}

/**
 * MatMulInteger → Cast → Mul(·, a_scale · b_scale) (→ Add bias): B's scale is the constant factor
 * of the Mul that makes the combined scale, as the dynamic quantizers write it.
 */
export function matMulInteger(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string | undefined {
  const b = constant(view, n.input[1]);
  if (!b) return undefined; // an integer matmul of two activations: no weight to recover
  const only = (name: string, op: string) => {
    const c = view.consumers(name);
    return c.length === 1 && c[0].opType === op ? c[0] : undefined;
  };
  const cast = only(n.output[0], 'Cast');
  const mul = cast && only(cast.output[0], 'Mul');
  const combined = mul && view.producer(mul.input[0] === cast.output[0] ? mul.input[1] : mul.input[0]);
  const constants = combined?.opType === 'Mul' ? combined.input.filter((x) => constant(view, x)) : [];
  if (!mul || constants.length !== 1) return `the scale of its weight '${b.name}' is not a constant factor of the Mul after it`;
  return intMatMul(model, n, b, constant(view, constants[0])!, constant(view, n.input[3]), 'MatMulInteger', withBias(view, mul.output[0]));
}
