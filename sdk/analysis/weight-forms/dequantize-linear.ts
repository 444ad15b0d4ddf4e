import { attrInt, dtypeOf, tensorDims, type GraphView, type NodeProto, type OnnxModel } from '../../onnx';
import { transposeWeight } from '../../passes/quantize/weights';
import type { EffectiveWeight } from './types';
import { codeRange, floatValues, integerCodes } from '../tensor-values';
import { constant, WEIGHT_CONSUMERS, withBias } from './graph';

/**
 * DequantizeLinear of a constant: y = (x − zero_point) · scale, per tensor, per axis or in blocks
 * along an axis (opset 21 block_size). Only weights count: the result must feed a MatMul, Gemm or
 * Conv as its second input; activation Q/DQ pairs are left alone.
 */
export function dequantizeLinear(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string | undefined {
  const x = constant(view, n.input[0]);
  const consumer = view.consumers(n.output[0]).find((c) => c.domain === '' && c.opType in WEIGHT_CONSUMERS && c.input[1] === n.output[0]);
  if (!x || !consumer) return undefined;
  const scale = constant(view, n.input[1]);
  if (!scale) return `the scale of its weight '${x.name}' is not a constant`;
  const dims = tensorDims(x);
  const rank = dims.length;
  const axis = ((attrInt(n, 'axis', 1) % rank) + rank) % rank;
  const blockSize = attrInt(n, 'block_size', 0);
  const scales = floatValues(scale, model);
  const scaleDims = tensorDims(scale);
  const zp = constant(view, n.input[2]);
  const zeroPoints = zp ? integerCodes(zp, model) : new Float64Array(scales.length);
  const codes = integerCodes(x, model);
  // Where each element's scale sits: one for all, one per index along `axis`, or one per block of it.
  const strides = dims.map((_, d) => dims.slice(d + 1).reduce((a, b) => a * b, 1));
  const scaleStrides = scaleDims.map((_, d) => scaleDims.slice(d + 1).reduce((a, b) => a * b, 1));
  const groupOf = (i: number): number => {
    if (scales.length === 1) return 0;
    if (blockSize === 0) return Math.floor(i / strides[axis]) % dims[axis];
    let g = 0;
    for (let d = 0; d < rank; d++) {
      const coord = Math.floor(i / strides[d]) % dims[d];
      g += (d === axis ? Math.floor(coord / blockSize) : coord) * scaleStrides[d];
    }
    return g;
  };
  let values: Float32Array = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const g = groupOf(i);
    values[i] = (codes[i] - zeroPoints[g]) * scales[g];
  }
  // The output channel of each group, along the axis the consumer reads as channels.
  let outAxis = WEIGHT_CONSUMERS[consumer.opType];
  const transB = consumer.opType === 'Gemm' && attrInt(consumer, 'transB', 0) === 1;
  if (consumer.opType === 'Gemm' && !transB) outAxis = 1;
  const channels = Int32Array.from({ length: scales.length }, (_, g) => {
    if (scales.length === 1) return -1;
    if (blockSize === 0) return axis === outAxis ? g : -1;
    return axis === outAxis ? -1 : Math.floor(g / scaleStrides[outAxis]) % scaleDims[outAxis];
  });
  let layoutDims = dims;
  let channelAxis = outAxis;
  if (transB && rank === 2) {
    // Gemm's [out, in] weight, compared as MatMul's [in, out].
    values = transposeWeight(values, dims[0], dims[1]);
    layoutDims = [dims[1], dims[0]];
    channelAxis = 1;
  }
  const dtype = dtypeOf(x.dataType);
  const [codeMin, codeMax] = codeRange(dtype);
  const outputs = consumer.opType === 'Conv' ? [consumer.output[0]] : withBias(view, consumer.output[0]);
  return {
    node: consumer.name,
    form: `DequantizeLinear→${consumer.opType}`,
    outputs,
    stored: x.name,
    dtype,
    bits: Math.log2(codeMax - codeMin + 1),
    granularity: scales.length === 1 ? 'per-tensor' : blockSize > 0 ? 'block' : 'per-channel',
    ...(blockSize > 0 ? { blockSize } : {}),
    values,
    dims: layoutDims,
    channelAxis,
    groups: { codeMin, codeMax, scales: Float64Array.from(scales), zeroPoints, channels },
  };
}
