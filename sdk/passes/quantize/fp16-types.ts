/**
 * Element types of every value of a graph, for the float16 pass: declared value infos, graph
 * inputs, initializers and constants first (GraphView.valueInfo), then per-op rules for the values
 * nothing declares. A value whose type cannot be told stays unknown, and the pass leaves the nodes
 * that touch it in float32 rather than guess.
 */
import { attrInt, attrTensor, dtypeOf, type DType, type GraphView, type NodeProto } from '../../onnx';

// Ops whose outputs all have the element type of their first input.
const SAME_AS_FIRST = new Set([
  'Abs', 'Add', 'AveragePool', 'BatchNormalization', 'Ceil', 'Clip', 'Concat', 'Conv', 'Cos', 'CumSum', 'Div', 'Einsum', 'Elu', 'Erf', 'Exp', 'Expand',
  'Flatten', 'Floor', 'Gather', 'GatherElements', 'Gelu', 'Gemm', 'GlobalAveragePool', 'GlobalMaxPool', 'HardSigmoid', 'Identity', 'InstanceNormalization',
  'LeakyRelu', 'Log', 'LogSoftmax', 'MatMul', 'Max', 'MaxPool', 'Mean', 'Min', 'Mod', 'Mul', 'Neg', 'Pad', 'Pow', 'Range', 'Reciprocal', 'ReduceL1', 'ReduceL2',
  'ReduceLogSumExp', 'ReduceMax', 'ReduceMean', 'ReduceMin', 'ReduceProd', 'ReduceSum', 'ReduceSumSquare', 'Relu', 'Reshape', 'Resize', 'Round', 'Selu',
  'Sigmoid', 'Sign', 'Sin', 'Slice', 'Softmax', 'Softplus', 'Split', 'Sqrt', 'Squeeze', 'Sub', 'Sum', 'Tanh', 'Tile', 'Transpose', 'Unsqueeze',
]);
const INT64_OUT = new Set(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero']);
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
  if (n.opType === 'DynamicQuantizeLinear') return ['uint8', 'float32', 'uint8'];
  if (BOOL_OUT.has(n.opType)) return all('bool');
  if (n.opType === 'Where') return all(typeOf(n.input[1]));
  if (n.opType === 'LayerNormalization') {
    // Mean and InvStdDev are in stash_type (float32 unless set otherwise).
    const stash = attrInt(n, 'stash_type') ?? 1;
    return n.output.map((_, i) => (i === 0 ? typeOf(n.input[0]) : dtypeOf(stash)));
  }
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
