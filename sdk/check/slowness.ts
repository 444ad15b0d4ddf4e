/**
 * Why a compressed model may run slower than its reference, read from what its graph contains:
 * run-time activation quantization, QDQ pairs on activations, int8 without VNNI, float16 on
 * CPU, Cast churn.
 */
import { readFileSync } from 'node:fs';
import { attrInt, GraphView, tensorElementCount, type NodeProto, type OnnxModel } from '../onnx';

const INT8_COMPUTE = new Set(['MatMulInteger', 'ConvInteger', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'QLinearMatMul', 'QLinearConv', 'QGemm', 'QAttention']);

function weightElements(view: GraphView, n: NodeProto): number | undefined {
  const t = view.constantTensor(n.input[1] ?? '');
  return t ? tensorElementCount(t) : undefined;
}

/** Whether the CPU has int8 dot-product instructions (x86 VNNI); undefined where it cannot be told. */
export function cpuHasVnni(): boolean | undefined {
  if (process.arch !== 'x64' || process.platform !== 'linux') return undefined;
  try {
    return /\b(avx512_vnni|avx_vnni)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return undefined;
  }
}

function count(nodes: readonly NodeProto[], op: string): number {
  return nodes.filter((n) => n.opType === op).length;
}

/** Likely causes, most likely first; empty when the graph shows none. */
/** Why the candidate runs slower; weights under `minElements` (the step's own) gain less from int8 than quantizing their input costs. */
export function slownessCauses(reference: OnnxModel, candidate: OnnxModel, minElements: number): string[] {
  const view = GraphView.of(candidate.proto);
  const nodes = view.nodes;
  const causes: string[] = [];

  // Each of these quantizes its float input to int8 on every run.
  const quantizedAtRunTime = (n: NodeProto) =>
    n.opType === 'DynamicQuantizeMatMul' ||
    ((n.opType === 'MatMulInteger' || n.opType === 'ConvInteger') && view.producer(n.input[0])?.opType === 'DynamicQuantizeLinear') ||
    // accuracy_level 4: int8 activations, quantized per block on every run
    (n.opType === 'MatMulNBits' && attrInt(n, 'accuracy_level') === 4);
  const runtimeQuant = nodes.filter(quantizedAtRunTime);
  if (runtimeQuant.length > 0) {
    const small = runtimeQuant.filter((n) => n.opType !== 'MatMulNBits' && (weightElements(view, n) ?? Infinity) < minElements);
    causes.push(
      small.length > 0
        ? `run-time activation quantization overhead: ${runtimeQuant.length} layer(s) quantize their input on every run, ${small.length} of them with weights under ${minElements} elements (e.g. '${small[0].name}'), where quantizing the activation costs more than the int8 matmul saves — raise minElements or exclude those layers`
        : `run-time activation quantization: ${runtimeQuant.length} layer(s) quantize their input on every run, which pays off only when the matmuls are large next to their activations`,
    );
  }

  const activationQ = nodes.filter((n) => n.opType === 'QuantizeLinear' && !view.constantTensor(n.input[0]));
  if (activationQ.length > 0) {
    causes.push(`QDQ not fused: ${activationQ.length} QuantizeLinear node(s) on activations; onnxruntime fuses QuantizeLinear/DequantizeLinear pairs only around the ops it has int8 kernels for, the rest run as extra passes over the tensors`);
  }

  const int8 = nodes.filter((n) => INT8_COMPUTE.has(n.opType));
  if (int8.length > 0 && cpuHasVnni() === false) {
    causes.push(`no VNNI: this CPU lacks int8 dot-product instructions (avx512_vnni / avx_vnni), so ${int8.length} int8 kernel(s) run on slower paths; use reduce_range or keep float on this machine`);
  }

  const half = nodes.filter((n) => n.opType !== 'Cast' && n.opType !== 'Constant' && n.output.some((o) => view.valueInfo(o).dtype === 'float16'));
  if (half.length > 0) {
    causes.push(`float16 on CPU is emulated: ${half.length} op(s) compute in float16, and onnxruntime's CPU kernels for most of them convert to float32 and back; float16 pays off on GPUs`);
  }

  const casts = count(nodes, 'Cast') - count(GraphView.of(reference.proto).nodes, 'Cast');
  if (casts > 0) causes.push(`Cast churn: ${casts} more Cast node(s) than the reference, each a pass over its tensor`);
  return causes;
}
