import { MmkitError } from '../errors';
import { findConvs, findLinears, GraphView, tensorDims, type OnnxModel } from '../onnx';
import { findEmbeddings } from '../passes/quantize/gather';
import { transposeWeight } from '../passes/quantize/weights';
import { suggestion } from '../runtime/names';
import { floatValues } from './tensor-values';

/** A float layer of the reference model with its weight, in the layout effective weights use. */
export interface ReferenceLayer {
  /** The MatMul, Gemm or Conv node, or an embedding table's (first) Gather. */
  node: string;
  op: string;
  weight: string;
  /** The activation the layer reads (what an activation quantizer sees) and the value it produces (after the bias). */
  input: string;
  output: string;
  /**
   * Every value that identifies the layer in a quantized copy: the output, and the MatMul's own
   * output before the bias Add (static QDQ quantizes that one before the Add reads it).
   */
  outputs: string[];
  /** Float weight, [in, out] for linears (Gemm's [out, in] transposed), as stored for Conv and embeddings. */
  values: Float32Array;
  dims: number[];
  /** Axis of `dims` that indexes output channels (an embedding's rows). */
  channelAxis: number;
}

/** The linear and conv layers of a float model in graph order, then its embedding tables. */
export function referenceLayers(model: OnnxModel): ReferenceLayer[] {
  const view = GraphView.of(model.proto);
  const layers: ReferenceLayer[] = findLinears(view).map((l) => {
    const stored = floatValues(view.initializer(l.weight)!, model);
    return {
      node: l.matmul.name,
      op: l.matmul.opType,
      weight: l.weight,
      input: l.input,
      output: l.output,
      outputs: [...new Set([l.output, l.matmul.output[0]])],
      values: l.layout === 'out_in' ? transposeWeight(stored, l.outDim, l.inDim) : stored,
      dims: [l.inDim, l.outDim],
      channelAxis: 1,
    };
  });
  for (const c of findConvs(view)) {
    const w = view.initializer(c.weight)!;
    layers.push({ node: c.conv.name, op: 'Conv', weight: c.weight, input: c.input, output: c.output, outputs: [c.output], values: floatValues(w, model), dims: tensorDims(w), channelAxis: 0 });
  }
  for (const e of findEmbeddings(view)) {
    const [g] = e.gathers;
    layers.push({ node: g.name, op: 'Gather', weight: e.table, input: g.input[1], output: g.output[0], outputs: e.gathers.map((x) => x.output[0]), values: floatValues(view.initializer(e.table)!, model), dims: e.dims, channelAxis: 0 });
  }
  return layers;
}

/** Looks a layer up by its node name, weight name or output. */
export function findReferenceLayer(model: OnnxModel, name: string): ReferenceLayer {
  const layers = referenceLayers(model);
  const layer = layers.find((l) => l.node === name || l.weight === name || l.output === name);
  if (!layer) {
    const names = layers.flatMap((l) => [l.node, l.weight]);
    throw new MmkitError('UNKNOWN_TENSOR', `${model.path ?? 'The model'} has no linear, conv or embedding layer named '${name}' (by node, weight or output).`, {
      tensor: name,
      hint: suggestion(name, names),
    });
  }
  return layer;
}
