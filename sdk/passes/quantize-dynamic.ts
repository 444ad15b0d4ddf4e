/**
 * Dynamic int8 quantization of linear layers (MatMul with a constant weight, + bias Add; Gemm):
 * weights are stored int8 with float scales, activations are quantized by onnxruntime at run
 * time. Graph inputs and outputs stay float32.
 *
 * Two graph forms:
 * - 'com.microsoft' (default): one DynamicQuantizeMatMul node per linear (A float, B int8,
 *   b_scale, bias), onnxruntime's fused CPU kernel.
 * - 'qdq-integer': standard ONNX only, DynamicQuantizeLinear → MatMulInteger → Cast → Mul (→ Add),
 *   for runtimes without the contrib ops.
 */
import { MmkitError } from '../errors';
import { editModel, findLinears, GraphView, makeTensor, node, tensorArray, dtypeOf, type GraphEditor, type LinearMatch, type OnnxModel } from '../onnx';
import type { Json } from '../pipeline/recipe';
import { registerStep } from '../pipeline/steps';
import { throwIfAborted } from '../runtime/batched';
import { quantizeWeight, transposeWeight, type QuantizedWeight } from './quant-weights';

export type DynamicQuantFormat = 'com.microsoft' | 'qdq-integer';

export interface DynamicQuantOptions {
  /** One scale per output channel (default true); false: one scale per weight tensor. */
  perChannel?: boolean;
  format?: DynamicQuantFormat;
  /** Linears to leave in float: by MatMul/Gemm/Add node name, or by op type ('MatMul', 'Gemm'). */
  exclude?: { nodes?: string[]; ops?: string[] };
  /**
   * Weights with fewer elements stay float (default DEFAULT_MIN_ELEMENTS): for a small layer
   * such as a 64×10 classifier head, the run-time quantization of its input costs more than the
   * int8 matmul saves, and the head's error goes straight into the logits.
   */
  minElements?: number;
}

/** 64×64, the smallest projection of a tiny ViT: its attention and MLP weights are quantized, its head is not. */
export const DEFAULT_MIN_ELEMENTS = 4096;

export const QUANTIZE_DYNAMIC_OP = 'quantize.dynamic';

const FORMATS: readonly DynamicQuantFormat[] = ['com.microsoft', 'qdq-integer'];
const LINEAR_OPS = ['MatMul', 'Gemm'];

function stringList(value: unknown, what: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new MmkitError('BAD_OPTION', `quantize.dynamic: ${what} must be a list of strings.`, { hint: `Got ${JSON.stringify(value)}.` });
  }
  return [...(value as string[])];
}

/** The full JSON options the recipe records, with defaults filled in and values checked. */
export function normalizeDynamicQuantOptions(o: DynamicQuantOptions = {}): { [k: string]: Json } {
  const perChannel = o.perChannel ?? true;
  if (typeof perChannel !== 'boolean') throw new MmkitError('BAD_OPTION', `quantize.dynamic: perChannel must be true or false, got ${JSON.stringify(perChannel)}.`);
  const format = o.format ?? 'com.microsoft';
  if (!FORMATS.includes(format)) {
    throw new MmkitError('BAD_OPTION', `quantize.dynamic: unknown format ${JSON.stringify(format)}.`, { hint: `Use one of ${FORMATS.map((f) => `'${f}'`).join(', ')}.` });
  }
  const minElements = o.minElements ?? DEFAULT_MIN_ELEMENTS;
  if (!(Number.isInteger(minElements) && minElements >= 0)) {
    throw new MmkitError('BAD_OPTION', `quantize.dynamic: minElements must be a whole number ≥ 0, got ${minElements}.`);
  }
  const ops = stringList(o.exclude?.ops, 'exclude.ops');
  const unknownOp = ops.find((op) => !LINEAR_OPS.includes(op));
  if (unknownOp) {
    throw new MmkitError('BAD_OPTION', `quantize.dynamic: exclude.ops lists '${unknownOp}', which this pass never quantizes.`, { hint: `Only ${LINEAR_OPS.join(' and ')} layers are quantized.` });
  }
  return { perChannel, format, minElements, exclude: { nodes: stringList(o.exclude?.nodes, 'exclude.nodes'), ops } };
}

interface Resolved {
  perChannel: boolean;
  format: DynamicQuantFormat;
  minElements: number;
  excludeNodes: Set<string>;
  excludeOps: Set<string>;
}

function resolve(options: { [k: string]: Json }): Resolved {
  const exclude = options.exclude as { nodes: string[]; ops: string[] };
  return {
    perChannel: options.perChannel as boolean,
    format: options.format as DynamicQuantFormat,
    minElements: options.minElements as number,
    excludeNodes: new Set(exclude.nodes),
    excludeOps: new Set(exclude.ops),
  };
}

function selected(view: GraphView, l: LinearMatch, o: Resolved): boolean {
  if (o.excludeOps.has(l.matmul.opType)) return false;
  if (o.excludeNodes.has(l.matmul.name) || (l.add && o.excludeNodes.has(l.add.name))) return false;
  const w = view.initializer(l.weight)!;
  if (dtypeOf(w.dataType) !== 'float32') return false; // fp16/bf16 weights are another pass's business
  return l.inDim * l.outDim >= o.minElements;
}

/** Names of the int8 weight and its scales in the edited graph, made once per weight and layout. */
interface WeightNames {
  values: string;
  scales: string;
}

/** Quantizes a model's linear layers; the input model is not changed and untouched tensors are shared. */
export function quantizeDynamic(model: OnnxModel, options: { [k: string]: Json } = normalizeDynamicQuantOptions()): OnnxModel {
  const o = resolve(options);
  const view = GraphView.of(model.proto);
  const linears = findLinears(view).filter((l) => selected(view, l, o));
  if (o.format === 'qdq-integer' && (view.opset('') ?? 0) < 11) {
    throw new MmkitError('UNSUPPORTED', `quantize.dynamic: format 'qdq-integer' needs ONNX opset ≥ 11 (DynamicQuantizeLinear); ${model.path ?? 'the model'} imports opset ${view.opset('')}.`, {
      file: model.path,
      hint: "Use format 'com.microsoft', or convert the model to a newer opset first.",
    });
  }
  if (linears.length === 0) return model; // nothing to do: the same immutable model
  const proto = editModel(model.proto, (e) => {
    const made = new Map<string, WeightNames>();
    const weightFor = (l: LinearMatch): WeightNames => {
      const key = `${l.layout}:${l.weight}`;
      let names = made.get(key);
      if (!names) {
        const w = tensorArray(view.initializer(l.weight)!, model) as Float32Array;
        const inOut = l.layout === 'out_in' ? transposeWeight(w, l.outDim, l.inDim) : w;
        const q: QuantizedWeight = quantizeWeight(inOut, l.inDim, l.outDim, o.perChannel);
        names = { values: e.uniqueName(`${l.weight}_quantized`), scales: e.uniqueName(`${l.weight}_scale`) };
        e.addInitializer(makeTensor(names.values, 'int8', [l.inDim, l.outDim], q.values));
        e.addInitializer(makeTensor(names.scales, 'float32', o.perChannel ? [l.outDim] : [], q.scales));
        made.set(key, names);
      }
      return names;
    };
    for (const l of linears) {
      const w = weightFor(l);
      const base = l.matmul.name || l.output;
      const nodes = o.format === 'com.microsoft' ? fusedNodes(l, w, base, e) : integerNodes(l, w, base, e);
      e.replaceNode(l.matmul, ...nodes);
      if (l.add) e.removeNode(l.add);
    }
    if (o.format === 'com.microsoft' && view.opset('com.microsoft') === undefined) e.setOpset('com.microsoft', 1);
    // The float weights go once nothing reads them (a weight shared with an unquantized node stays).
    e.prune();
  });
  return { ...model, proto };
}

function fusedNodes(l: LinearMatch, w: WeightNames, base: string, e: GraphEditor) {
  // Inputs: A, B, b_scale, b_zero_point (omitted: symmetric, so 0), bias.
  return [node('DynamicQuantizeMatMul', [l.input, w.values, w.scales, '', l.bias ?? ''], [l.output], {}, { name: e.uniqueName(`${base}_quant`), domain: 'com.microsoft' })];
}

function integerNodes(l: LinearMatch, w: WeightNames, base: string, e: GraphEditor) {
  const name = (suffix: string) => e.uniqueName(`${base}_${suffix}`);
  const [xq, xScale, xZero] = [name('input_quantized'), name('input_scale'), name('input_zero_point')];
  const [acc, accFloat, scale] = [name('matmul_integer'), name('matmul_float'), name('output_scale')];
  const scaled = l.bias ? name('scaled') : l.output;
  const nodes = [
    node('DynamicQuantizeLinear', [l.input], [xq, xScale, xZero], {}, { name: name('DynamicQuantizeLinear') }),
    // B's zero point is 0 (symmetric), which is MatMulInteger's default.
    node('MatMulInteger', [xq, w.values, xZero], [acc], {}, { name: name('MatMulInteger') }),
    node('Cast', [acc], [accFloat], { to: { i: 1 } }, { name: name('Cast') }),
    node('Mul', [xScale, w.scales], [scale], {}, { name: name('ScaleMul') }),
    node('Mul', [accFloat, scale], [scaled], {}, { name: name('Mul') }),
  ];
  if (l.bias) nodes.push(node('Add', [scaled, l.bias], [l.output], {}, { name: name('BiasAdd') }));
  return nodes;
}

registerStep<DynamicQuantOptions>({
  op: QUANTIZE_DYNAMIC_OP,
  normalize: normalizeDynamicQuantOptions,
  async apply(model, options, ctx) {
    throwIfAborted(ctx.signal, 'Dynamic quantization');
    return quantizeDynamic(model, options);
  },
});
