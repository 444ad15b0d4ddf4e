import { GraphView, dtypeOf, storedTensors, tensorArray, tensorDims, tensorByteSize, type DType, type OnnxModel, type NodeProto, type TensorProto } from '../onnx';
import { elementCount } from '../data';
import { isMmkitError, messageOf } from '../errors';
import { declaredInputs } from '../runtime/input-shapes';
import { probeModel, type ShapeProbe } from '../runtime/probe';
import type { Device } from '../runtime';

export interface SummaryOptions {
  /**
   * Learn every intermediate shape, which FLOP counts need, at fixed input shapes: onnxruntime's
   * shape inference, and one run of the model where that is not enough (see runtime/probe.ts).
   * Default true; false uses only the shapes declared in the file. A probe that fails or is over
   * its budget never throws: the summary says why in `notices`.
   */
  probe?: boolean;
  device?: Device;
  /**
   * Input shapes to probe at, batch axis included ({ x: [1, 3, 320, 320] }). Inputs not given get
   * the model's fixed sizes and, for free ones, sizes chosen by rule (batch 1, images 224 × 224,
   * audio 512 samples, else 1: see runtime/input-shapes.ts), which the notices list.
   */
  inputs?: Record<string, number[]>;
  /** Sizes of named symbolic dimensions ({ sequence: 16 }). */
  dims?: Record<string, number>;
  /** Most bytes of intermediate tensors a probe run may hold (default 1 GiB); over it, inference alone. */
  maxProbeBytes?: number;
}

export interface LayerRow {
  name: string;
  op: string;
  inputShapes: (number[] | undefined)[];
  outputShapes: (number[] | undefined)[];
  /** Elements in the node's weight (initializer) inputs. */
  params: number;
  /** dtype of the largest weight input, if any. */
  dtype?: DType;
  /** Bytes of the node's weight inputs as stored. */
  bytes: number;
  /** Float weight elements that are exactly zero (pruning leaves them); zeros / params is the layer's sparsity. */
  zeros: number;
  /** Multiply-adds × 2 for MatMul, Gemm and Conv at the probed batch size; 0 for other ops. */
  flops: number;
}

export interface ModelSummary {
  rows: LayerRow[];
  totals: {
    nodes: number;
    params: number;
    bytes: number;
    flops: number;
    /** Float weight elements that are exactly zero, each initializer counted once. */
    zeros: number;
    paramsByDtype: Partial<Record<DType, number>>;
    bytesByDtype: Partial<Record<DType, number>>;
    opCounts: Record<string, number>;
  };
  inputs: { name: string; dtype?: DType; shape?: (number | string)[] }[];
  outputs: { name: string; dtype?: DType; shape?: (number | string)[] }[];
  /** Batch size the FLOPs were counted at (undefined when shapes were not probed). */
  probedBatch?: number;
  /** The input shapes the shapes and FLOPs are for (undefined when shapes were not probed). */
  probedInputs?: Record<string, number[]>;
  /** What the probe chose, skipped or could not do, in words. */
  notices: string[];
}

/** FLOPs (2 × multiply-adds) of the ops that dominate a vision transformer or CNN. */
export function nodeFlops(node: NodeProto, inShapes: (number[] | undefined)[], outShapes: (number[] | undefined)[], view: GraphView): number {
  const out = outShapes[0];
  if (!out) return 0;
  switch (node.opType) {
    case 'MatMul':
    case 'MatMulInteger':
    case 'MatMulNBits': {
      const a = inShapes[0];
      if (!a) return 0;
      return 2 * elementCount(out) * a[a.length - 1];
    }
    case 'Gemm': {
      const a = inShapes[0];
      if (!a) return 0;
      const transA = view.attrInt(node, 'transA', 0);
      return 2 * elementCount(out) * (transA ? a[0] : a[1]);
    }
    case 'Conv':
    case 'ConvInteger': {
      const w = inShapes[1];
      if (!w) return 0;
      // Each output element sums over Cin/group × kernel positions.
      return 2 * elementCount(out) * elementCount(w.slice(1));
    }
    default:
      return 0;
  }
}

export async function summarize(model: OnnxModel, opts: SummaryOptions = {}): Promise<ModelSummary> {
  const view = GraphView.of(model.proto);
  const { probe: probed, notices } = await probeFor(model, opts);
  const shapeOf = (name: string): number[] | undefined => {
    if (!name) return undefined;
    const init = view.initializer(name);
    if (init) return tensorDims(init);
    const p = probed?.shapes.get(name);
    if (p) return p;
    const declared = view.valueInfo(name).shape;
    return declared && declared.every((d): d is number => typeof d === 'number') ? declared : undefined;
  };
  const zerosOf = floatZeros(model);
  const rows: LayerRow[] = [];
  const totals: ModelSummary['totals'] = { nodes: 0, params: 0, bytes: 0, flops: 0, zeros: 0, paramsByDtype: {}, bytesByDtype: {}, opCounts: {} };
  for (const node of view.nodes) {
    const inputShapes = node.input.map(shapeOf);
    const outputShapes = node.output.map(shapeOf);
    let params = 0;
    let bytes = 0;
    let zeros = 0;
    let largest = -1;
    let dtype: DType | undefined;
    for (const name of node.input) {
      const init = view.constantTensor(name);
      if (!init) continue;
      const n = elementCount(tensorDims(init));
      params += n;
      bytes += tensorByteSize(init);
      zeros += zerosOf(init);
      if (n > largest) {
        largest = n;
        dtype = dtypeOf(init.dataType);
      }
    }
    const flops = nodeFlops(node, inputShapes, outputShapes, view);
    rows.push({ name: node.name || `${node.opType}_${rows.length}`, op: node.domain ? `${node.domain}.${node.opType}` : node.opType, inputShapes, outputShapes, params, dtype, bytes, zeros, flops });
    totals.nodes++;
    totals.flops += flops;
    totals.opCounts[node.opType] = (totals.opCounts[node.opType] ?? 0) + 1;
  }
  // Totals count each stored tensor once, even when several nodes share it: initializers and Constant-node values, subgraphs included.
  for (const init of storedTensors(model.proto.graph!)) {
    const d = dtypeOf(init.dataType);
    const n = elementCount(tensorDims(init));
    const b = tensorByteSize(init);
    totals.params += n;
    totals.bytes += b;
    totals.zeros += zerosOf(init);
    totals.paramsByDtype[d] = (totals.paramsByDtype[d] ?? 0) + n;
    totals.bytesByDtype[d] = (totals.bytesByDtype[d] ?? 0) + b;
  }
  const io = (v: { name: string }) => ({ name: v.name, ...view.valueInfo(v.name) });
  const probedBatch = probed ? Object.values(probed.inputs).find((d) => d.length > 0)?.[0] : undefined;
  return { rows, totals, inputs: view.inputs.map(io), outputs: view.outputs.map(io), probedBatch, probedInputs: probed?.inputs, notices };
}

const shapeText = (shapes: Record<string, number[]>) => Object.entries(shapes).map(([n, d]) => `${n} [${d.join(', ')}]`).join(', ');

/** Mistakes in the caller's inputs or dims: errors, not probe failures. */
const OPTION_ERRORS = new Set(['BAD_OPTION', 'SHAPE_MISMATCH', 'UNKNOWN_INPUT']);

/** How to give the probe shapes, written with this model's inputs and their declared dims. */
function howToGiveShapes(model: OnnxModel): string {
  const inputs = declaredInputs(model).map((i) => `${JSON.stringify(i.name)}: [${(i.dims ?? ['…']).map((d) => (typeof d === 'number' ? d : d || '?')).join(', ')}]`);
  return `summary({ inputs: { ${inputs.join(', ')} } }) with sizes for the free dimensions, or dims: { name: size }`;
}

/** The probe, or why there is none: a model that will not run at the shapes chosen gives the summary of the file alone. */
async function probeFor(model: OnnxModel, opts: SummaryOptions): Promise<{ probe?: ShapeProbe; notices: string[] }> {
  if (!(opts.probe ?? true)) return { notices: [] };
  let probe: ShapeProbe;
  try {
    probe = await probeModel(model, { inputs: opts.inputs, dims: opts.dims, device: opts.device, maxBytes: opts.maxProbeBytes });
  } catch (e) {
    if (isMmkitError(e) && OPTION_ERRORS.has(e.code)) throw e;
    return { notices: [`No shape probe: ${messageOf(e).split('\n')[0].slice(0, 400)} So shapes are those declared in the file and FLOPs are not counted. If the model needs other input shapes, give them: ${howToGiveShapes(model)}.`] };
  }
  const notices: string[] = [];
  if (probe.chosen.length) notices.push(`Shapes and FLOPs are at ${shapeText(probe.inputs)}, with sizes the model leaves free chosen: ${probe.chosen.join(', ')}. For other sizes: ${howToGiveShapes(model)}.`);
  if (probe.skipped) notices.push(`The probe run was skipped: ${probe.skipped}. Shapes are onnxruntime's static inference (${probe.unknown} tensors unknown) and FLOPs count only layers with known shapes; give smaller inputs or raise maxProbeBytes.`);
  return { probe, notices };
}

/** Counts exactly-zero elements of float initializers, once per tensor (float16 zeros are ±0 bits). */
function floatZeros(model: OnnxModel): (t: TensorProto) => number {
  const counted = new Map<TensorProto, number>();
  return (t) => {
    let n = counted.get(t);
    if (n === undefined) {
      const d = dtypeOf(t.dataType);
      n = 0;
      if (d === 'float32' || d === 'float64') for (const v of tensorArray(t, model) as Float32Array | Float64Array) n += v === 0 ? 1 : 0;
      else if (d === 'float16' || d === 'bfloat16') for (const v of tensorArray(t, model) as Uint16Array) n += (v & 0x7fff) === 0 ? 1 : 0;
      counted.set(t, n);
    }
    return n;
  };
}
