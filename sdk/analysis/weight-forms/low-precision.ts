import { attrInt, dtypeOf, tensorDims, type GraphView, type NodeProto, type OnnxModel, type TensorProto } from '../../onnx';
import { transposeWeight } from '../../passes/quantize/weights';
import type { EffectiveWeight } from './types';
import { floatValues } from '../tensor-values';
import { constant, withBias } from './graph';

const FLOAT_FORMATS = new Set(['float16', 'bfloat16']);

/** A float16/bfloat16 constant, read directly or through a Cast to float32 (a block-listed float32 node). */
function lowPrecisionSource(view: GraphView, name: string): TensorProto | undefined {
  const direct = constant(view, name);
  if (direct) return FLOAT_FORMATS.has(dtypeOf(direct.dataType)) ? direct : undefined;
  const cast = view.producer(name);
  const source = cast?.opType === 'Cast' && cast.domain === '' ? constant(view, cast.input[0]) : undefined;
  return source && FLOAT_FORMATS.has(dtypeOf(source.dataType)) ? source : undefined;
}

/** A MatMul, Gemm or Conv whose weight, or a Gather whose table, is stored float16 or bfloat16 (toFloat16). */
export function lowPrecisionFloat(view: GraphView, model: OnnxModel, n: NodeProto): EffectiveWeight | undefined {
  const table = n.opType === 'Gather';
  if (table && attrInt(n, 'axis', 0) !== 0) return undefined;
  const t = lowPrecisionSource(view, n.input[table ? 0 : 1]);
  const dims = t && tensorDims(t);
  if (!t || !dims || (n.opType === 'MatMul' || n.opType === 'Gemm' ? dims.length !== 2 : dims.length < 2)) return undefined;
  const transB = n.opType === 'Gemm' && attrInt(n, 'transB', 0) === 1;
  const stored = floatValues(t, model);
  return {
    node: n.name,
    form: n.opType,
    outputs: n.opType === 'MatMul' || n.opType === 'Gemm' ? withBias(view, n.output[0]) : [n.output[0]],
    stored: t.name,
    dtype: dtypeOf(t.dataType),
    bits: 16,
    granularity: 'float',
    values: transB ? transposeWeight(stored, dims[0], dims[1]) : stored,
    dims: transB ? [dims[1], dims[0]] : dims,
    channelAxis: n.opType === 'MatMul' || n.opType === 'Gemm' ? 1 : 0,
    groups: null,
  };
}
