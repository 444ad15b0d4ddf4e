/**
 * Float vs quantized, tensor by tensor: the effective weight of every quantized layer against the
 * float weight, and the activations of both models on the same data. Shows which layer a
 * quantization hurts before the accuracy number does.
 */
import type { Batch } from '../data/batch';
import type { Dataset } from '../data/dataset';
import { layerErrors, type LayerError } from '../eval/layers';
import type { OnnxModel } from '../onnx';
import { probeShapes } from '../runtime/probe';
import type { RunContext } from '../step';
import { throwIfAborted } from '../runtime/batched';
import type { Device } from '../runtime/device';
import { effectiveWeights, schemeOf } from './effective-weights';
import { errorStats, type ErrorStats } from '../eval/error-stats';
import { modelOf, type ModelInput } from './model-input';
import { referenceLayers, type ReferenceLayer } from './reference-layers';
import { TensorComparison, type TensorErrorRow } from './tensor-comparison';

export interface CompareTensorsOptions extends RunContext {
  /**
   * Data both models run on for the activation comparison (a few hundred items are plenty).
   * Without it only weights are compared.
   */
  data?: Dataset | AsyncIterable<Batch>;
  /** Reference activations to compare; default the output of every linear and conv layer and the graph outputs. */
  activations?: string[];
  /** Compare the quantized weights (default true). */
  weights?: boolean;
  device?: Device;
}

/**
 * Compares a quantized (or otherwise compressed) candidate with its float reference. Weights:
 * every quantized layer of the candidate is dequantized from its graph form and compared with the
 * reference layer that produces the same output. Activations: both models are tapped at the same
 * tensor names over `data`. Each row carries SQNR (dB), cosine, MSE and max abs error.
 */
export async function compareTensors(reference: ModelInput, candidate: ModelInput, opts: CompareTensorsOptions = {}): Promise<TensorComparison> {
  const [ref, cand] = await Promise.all([modelOf(reference, opts), modelOf(candidate, opts)]);
  const layers = referenceLayers(ref);
  const rows: TensorErrorRow[] = [];
  const skipped: { tensor: string; reason: string }[] = [];
  if (opts.weights ?? true) {
    const found = compareWeights(layers, cand);
    rows.push(...found.rows);
    skipped.push(...found.skipped);
  }
  let items = 0;
  if (opts.data) {
    throwIfAborted(opts.signal, 'The tensor comparison');
    const report = await layerErrors(cand, ref, opts.data, {
      tensors: opts.activations,
      device: opts.device,
      signal: opts.signal,
      onProgress: (done) => opts.onProgress?.(done, 'size' in opts.data! ? opts.data.size : undefined, 'activations'),
    });
    const shapes = await probeShapes(ref, { device: opts.device });
    const byOutput = new Map(layers.map((l) => [l.output, l]));
    for (const e of report.layers) {
      // A layer's output is named for the layer (its MatMul, not the bias Add), as its weight row is.
      const layer = byOutput.get(e.tensor);
      rows.push({
        kind: 'activation',
        layer: layer?.node ?? e.node,
        op: layer?.op ?? e.op,
        tensor: e.tensor,
        dims: shapes.get(e.tensor) ?? [],
        quantization: null,
        ...stats(e),
      });
    }
    skipped.push(...report.skipped);
    items = report.items;
  }
  return new TensorComparison(rows, skipped, items);
}

function stats(e: LayerError): ErrorStats {
  return { elements: e.elements, sqnrDb: e.snrDb, cosine: e.cosine, mse: e.mse, maxAbs: e.maxAbs };
}

/** Rows for the quantized weights of `candidate`, matched to reference layers by the value they produce. */
function compareWeights(layers: ReferenceLayer[], candidate: OnnxModel): { rows: TensorErrorRow[]; skipped: { tensor: string; reason: string }[] } {
  const byOutput = new Map<string, ReferenceLayer>();
  for (const l of layers) for (const o of l.outputs) byOutput.set(o, l);
  const { weights, unrecovered } = effectiveWeights(candidate);
  const skipped = unrecovered.map((u) => ({ tensor: u.node, reason: `its quantized weight cannot be dequantized: ${u.reason}` }));
  const rows: TensorErrorRow[] = [];
  const compared = new Set<ReferenceLayer>();
  for (const w of weights) {
    const layer = w.outputs.map((o) => byOutput.get(o)).find((l) => l !== undefined);
    if (!layer) {
      skipped.push({ tensor: w.stored, reason: `no reference layer produces ${w.outputs.map((o) => `'${o}'`).join(' or ')}` });
      continue;
    }
    if (layer.values.length !== w.values.length) {
      skipped.push({ tensor: layer.weight, reason: `shapes differ: [${w.dims}] dequantized, [${layer.dims}] in the reference` });
      continue;
    }
    compared.add(layer);
    rows.push({
      kind: 'weight',
      layer: layer.node,
      op: layer.op,
      tensor: layer.weight,
      dims: layer.dims,
      quantization: `${schemeOf(w)} (${w.form})`,
      ...errorStats(layer.values, w.values, layer.weight),
    });
  }
  for (const l of layers) if (!compared.has(l)) skipped.push({ tensor: l.weight, reason: `layer '${l.node}' is not quantized in the candidate` });
  // Graph order of the reference, so tables read top to bottom like the model.
  const order = new Map(layers.map((l, i) => [l.node, i]));
  rows.sort((a, b) => order.get(a.layer)! - order.get(b.layer)!);
  return { rows, skipped };
}
