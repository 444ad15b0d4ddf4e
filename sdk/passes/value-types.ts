/**
 * Element types of every value of a graph, for passes that must know which tensors are float:
 * declared value infos, graph inputs, initializers and constants first (GraphView.valueInfo), then
 * per-op rules for the values nothing declares (tf2onnx and paddle2onnx write no value_info). A
 * value whose type cannot be told stays unknown, and passes leave the nodes that touch it alone
 * rather than guess.
 */
import { attrInt, attrTensor, dtypeOf, type DType, type GraphView, type NodeProto } from '../onnx';

// Ops whose outputs all have the element type of their first input.
const SAME_AS_FIRST = new Set([
  'Abs', 'Acos', 'Acosh', 'Add', 'Asin', 'Asinh', 'Atan', 'Atanh', 'AveragePool', 'BatchNormalization', 'Ceil', 'Celu', 'Clip', 'Compress', 'Concat', 'Conv',
  'ConvTranspose', 'Cos', 'Cosh', 'CumSum', 'DepthToSpace', 'Div', 'Einsum', 'Elu', 'Erf', 'Exp', 'Expand', 'Flatten', 'Floor', 'Gather', 'GatherElements',
  'GatherND', 'Gelu', 'Gemm', 'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'GroupNormalization', 'HardSigmoid', 'HardSwish', 'Hardmax', 'Identity',
  'InstanceNormalization', 'LeakyRelu', 'Log', 'LogSoftmax', 'LpNormalization', 'LpPool', 'LRN', 'MatMul', 'Max', 'Mean', 'MeanVarianceNormalization', 'Min',
  'Mish', 'Mod', 'Mul', 'Neg', 'Pad', 'Pow', 'PRelu', 'Range', 'Reciprocal', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceMax', 'ReduceMean',
  'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare', 'Relu', 'Reshape', 'Resize', 'ReverseSequence', 'Round', 'ScatterElements', 'ScatterND', 'Selu',
  'Shrink', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Slice', 'Softmax', 'Softplus', 'Softsign', 'SpaceToDepth', 'Split', 'Sqrt', 'Squeeze', 'Sub', 'Sum', 'Tan',
  'Tanh', 'ThresholdedRelu', 'Tile', 'Transpose', 'Trilu', 'Unsqueeze', 'Upsample',
]);
// Ops whose first output follows the first input and whose second is an index or mask.
const SECOND_OUTPUT = new Map<string, DType>([
  ['MaxPool', 'int64'],
  ['TopK', 'int64'],
  ['Dropout', 'bool'],
]);
const INT64_OUT = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero', 'NonMaxSuppression']);
const INT32_OUT = new Set(['MatMulInteger', 'ConvInteger']);
// onnxruntime contrib ops (com.microsoft) whose output has the type of their float input A, as
// the quantize passes and onnxruntime's fusions write them.
const MS_SAME_AS_FIRST = new Set(['DynamicQuantizeMatMul', 'MatMulNBits', 'Gelu', 'FastGelu', 'BiasGelu', 'QuickGelu', 'FusedMatMul', 'SkipLayerNormalization']);
const BOOL_OUT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'And', 'Or', 'Xor', 'Not', 'IsNaN', 'IsInf']);

function outputTypes(n: NodeProto, typeOf: (name: string) => DType | undefined): (DType | undefined)[] {
  const all = (d: DType | undefined) => n.output.map(() => d);
  if (n.domain === 'com.microsoft' && MS_SAME_AS_FIRST.has(n.opType)) return n.output.map((_, i) => (i === 0 ? typeOf(n.input[0]) : undefined));
  if (n.domain !== '') return all(undefined);
  if (n.opType === 'Cast') {
    const to = attrInt(n, 'to');
    return all(to === undefined ? undefined : dtypeOf(to));
  }
  if (n.opType === 'Constant') {
    const t = attrTensor(n, 'value');
    if (t) return all(dtypeOf(t.dataType));
    const isFloat = n.attribute.some((a) => a.name === 'value_float' || a.name === 'value_floats');
    return all(isFloat ? 'float32' : n.attribute.some((a) => a.name === 'value_int' || a.name === 'value_ints') ? 'int64' : undefined);
  }
  if (n.opType === 'ConstantOfShape') {
    const t = attrTensor(n, 'value');
    return all(t ? dtypeOf(t.dataType) : 'float32');
  }
  if (INT64_OUT.has(n.opType)) return all('int64');
  if (INT32_OUT.has(n.opType)) return all('int32');
  if (n.opType === 'DequantizeLinear') return all(typeOf(n.input[1]));
  if (n.opType === 'QuantizeLinear') return all(n.input[2] ? typeOf(n.input[2]) : 'uint8');
  if (n.opType === 'DynamicQuantizeLinear') return ['uint8', 'float32', 'uint8'];
  if (BOOL_OUT.has(n.opType)) return all('bool');
  if (n.opType === 'Where') return all(typeOf(n.input[1]));
  if (n.opType === 'LayerNormalization') {
    // Mean and InvStdDev are in stash_type (float32 unless set otherwise).
    const stash = attrInt(n, 'stash_type') ?? 1;
    return n.output.map((_, i) => (i === 0 ? typeOf(n.input[0]) : dtypeOf(stash)));
  }
  const second = SECOND_OUTPUT.get(n.opType);
  if (second) return n.output.map((_, i) => (i === 0 ? typeOf(n.input[0]) : second));
  if (SAME_AS_FIRST.has(n.opType)) return all(typeOf(n.input[0]));
  return all(undefined);
}

/** dtype of each value name the graph's main nodes read or write (undefined where not known). */
export function valueTypes(view: GraphView): Map<string, DType | undefined> {
  const types = new Map<string, DType | undefined>();
  const typeOf = (name: string): DType | undefined => {
    if (!types.has(name)) types.set(name, view.valueInfo(name).dtype);
    return types.get(name);
  };
  for (const n of view.nodes) {
    n.input.forEach((x) => x && typeOf(x));
    const inferred = outputTypes(n, typeOf);
    n.output.forEach((o, i) => {
      if (!o) return;
      // A declared type wins over the rule.
      types.set(o, view.valueInfo(o).dtype ?? inferred[i]);
    });
  }
  return types;
}
