import { attrInt, dtypeOf, tensorDims, type GraphView, type NodeProto, type OnnxModel } from '../../onnx';
import { channelGroups, type EffectiveWeight } from './types';
import { codeRange, floatValues, integerCodes } from '../tensor-values';
import { constant } from './graph';

/**
 * An int8 embedding table dequantized after its Gather: per row, Gather → Cast → Mul(Gather(row
 * scales, same ids)); per tensor, Gather → DequantizeLinear.
 */
export function gatheredTable(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | string | undefined {
  const table = constant(view, n.input[0]);
  if (!table || !['int8', 'uint8'].includes(dtypeOf(table.dataType)) || attrInt(n, 'axis', 0) !== 0) return undefined;
  const readers = view.consumers(n.output[0]);
  const only = readers.length === 1 ? readers[0] : undefined;
  let scales: Float32Array;
  let zeroPoints: Float64Array;
  let output: string;
  if (only?.opType === 'DequantizeLinear') {
    const scale = constant(view, only.input[1]);
    if (!scale) return `the scale of its table '${table.name}' is not a constant`;
    scales = floatValues(scale, model);
    const zp = constant(view, only.input[2]);
    zeroPoints = zp ? integerCodes(zp, model) : new Float64Array(1);
    output = only.output[0];
  } else if (only?.opType === 'Cast') {
    const mul = view.consumers(only.output[0]).find((c) => c.opType === 'Mul');
    const scaleGather = mul && view.producer(mul.input[0] === only.output[0] ? mul.input[1] : mul.input[0]);
    const rowScales = scaleGather?.opType === 'Gather' && scaleGather.input[1] === n.input[1] ? constant(view, scaleGather.input[0]) : undefined;
    if (!mul || !rowScales) return `the row scales of its table '${table.name}' are not a Gather of a constant with the same ids`;
    scales = floatValues(rowScales, model);
    zeroPoints = new Float64Array(scales.length);
    output = mul.output[0];
  } else return undefined;
  const dims = tensorDims(table);
  const rows = dims[0];
  const cols = dims.slice(1).reduce((a, b) => a * b, 1);
  if (scales.length !== 1 && scales.length !== rows) return `its table '${table.name}' has ${scales.length} scales for ${rows} rows`;
  const perRow = scales.length === rows && rows > 1;
  const codes = integerCodes(table, model);
  const values = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const g = perRow ? Math.floor(i / cols) : 0;
    values[i] = (codes[i] - zeroPoints[zeroPoints.length > 1 ? g : 0]) * scales[g];
  }
  const dtype = dtypeOf(table.dataType);
  const [codeMin, codeMax] = codeRange(dtype);
  return {
    node: n.name,
    form: `Gather→${only.opType === 'Cast' ? 'Mul' : 'DequantizeLinear'}`,
    outputs: [output],
    stored: table.name,
    dtype,
    bits: 8,
    granularity: perRow ? 'per-channel' : 'per-tensor',
    values,
    dims,
    channelAxis: 0,
    groups: { codeMin, codeMax, ...channelGroups(scales, zeroPoints, perRow) },
  };
}
