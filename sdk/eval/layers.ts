import { batchSize, type Batch } from '../data/batch';
import { MmkitError } from '../errors';
import { findConvs, findLinears, GraphView, type OnnxModel } from '../onnx';
import { feedsFor, throwIfAborted } from '../runtime/batched';
import type { Device } from '../runtime/device';
import { suggestion } from '../runtime/names';
import { createSession, type Session } from '../runtime/session';
import { tensorNames } from '../runtime/taps';
import { floatData } from './logits';
import { ErrorAccumulator } from './error-stats';

/** What a compared tensor is in the baseline: a linear or conv layer's output, a graph output, or a tensor the caller named. */
export type LayerKind = 'linear' | 'conv' | 'output' | 'tensor';

/** How far one intermediate tensor of a model drifts from the same tensor of its baseline, over all items. */
export interface LayerError {
  tensor: string;
  /** The baseline node that produces it, and its op type. */
  node: string;
  op: string;
  kind: LayerKind;
  /** Values compared (all items together). */
  elements: number;
  mse: number;
  /** Root of Σ(model − baseline)² / Σ baseline²: the error relative to the signal. */
  relativeError: number;
  /** Cosine similarity of the whole tensors. */
  cosine: number;
  maxAbs: number;
  /** Signal-to-noise ratio in dB, 10·log10(Σ baseline² / Σ(model − baseline)²); null when the tensors are identical. */
  snrDb: number | null;
}

export interface LayerErrorReport {
  /** In graph order. */
  layers: LayerError[];
  /** Baseline tensors that could not be compared, and why. */
  skipped: { tensor: string; reason: string }[];
  items: number;
}

export interface LayerErrorOptions {
  /** Tensors to compare; default the outputs of every linear and conv layer and the graph outputs. */
  tensors?: string[];
  device?: Device;
  signal?: AbortSignal;
  onProgress?: (doneItems: number) => void;
}

interface Candidate {
  tensor: string;
  node: string;
  op: string;
  kind: LayerKind;
}

/** The tensors worth comparing in a model: layer outputs and graph outputs, in graph order. */
export function layerTensors(model: OnnxModel): Candidate[] {
  const view = GraphView.of(model.proto);
  const kinds = new Map<string, LayerKind>();
  for (const o of view.outputs) kinds.set(o.name, 'output');
  // A layer that is also a graph output (a classifier head) is named for the layer.
  for (const l of findLinears(view)) kinds.set(l.output, 'linear');
  for (const c of findConvs(view)) kinds.set(c.output, 'conv');
  const out: Candidate[] = [];
  for (const n of view.nodes) {
    for (const o of n.output) {
      const kind = kinds.get(o);
      if (kind) out.push({ tensor: o, node: n.name, op: n.opType, kind });
    }
  }
  return out;
}

/** A layer's row from the running error sums of its tensor. */
function layerError(c: Candidate, acc: ErrorAccumulator): LayerError {
  const e = acc.result();
  return {
    ...c,
    elements: e.elements,
    mse: e.mse,
    // ‖model − base‖ / ‖base‖ is 10^(−SQNR/20): 0 when equal, ∞ when only the base is all zeros.
    relativeError: e.sqnrDb === null ? 0 : Math.pow(10, -e.sqnrDb / 20),
    cosine: e.cosine,
    maxAbs: e.maxAbs,
    snrDb: e.sqnrDb,
  };
}

/**
 * Compares a model with its baseline layer by layer on the same batches, through taps on the
 * tensors both graphs produce under the same name: shows which layer a compression step hurts.
 */
export async function layerErrors(model: OnnxModel, baseline: OnnxModel, dataset: AsyncIterable<Batch>, opts: LayerErrorOptions = {}): Promise<LayerErrorReport> {
  const baseView = GraphView.of(baseline.proto);
  const modelView = GraphView.of(model.proto);
  const known = opts.tensors ? tensorNames(baseline.proto) : [];
  const wanted = opts.tensors ? opts.tensors.map((t) => namedTensor(baseView, t, known)) : layerTensors(baseline);
  const skipped: LayerErrorReport['skipped'] = [];
  const present = (name: string) => modelView.producer(name) !== undefined || modelView.isGraphOutput(name);
  const compared: Candidate[] = [];
  for (const c of wanted) {
    if (present(c.tensor)) compared.push(c);
    else skipped.push({ tensor: c.tensor, reason: 'the model has no tensor of that name' });
  }
  if (compared.length === 0) return { layers: [], skipped, items: 0 };

  const taps = compared.map((c) => c.tensor);
  const sessions: Session[] = [];
  try {
    const base = await createSession(baseline, { device: opts.device, taps });
    sessions.push(base);
    const cand = await createSession(model, { device: opts.device, taps });
    sessions.push(cand);
    const sums = new Map(compared.map((c) => [c.tensor, new ErrorAccumulator()]));
    let items = 0;
    for await (const batch of dataset) {
      throwIfAborted(opts.signal, 'Layer comparison');
      const n = batchSize(batch);
      const b = await base.run(feedsFor(base, batch), { fetch: taps });
      const m = await cand.run(feedsFor(cand, batch), { fetch: taps });
      for (const [tensor, s] of sums) {
        if (b[tensor].dims.join(',') !== m[tensor].dims.join(',')) {
          sums.delete(tensor);
          skipped.push({ tensor, reason: `shapes differ: [${m[tensor].dims}] in the model, [${b[tensor].dims}] in the baseline` });
          continue;
        }
        s.add(floatData(b[tensor], tensor), floatData(m[tensor], tensor));
      }
      items += n;
      opts.onProgress?.(items);
    }
    if (items === 0) throw new MmkitError('BAD_DATASET', 'The dataset for the layer comparison has no items.', { hint: 'Check take()/skip() counts and the data source.' });
    const layers = compared.filter((c) => sums.has(c.tensor)).map((c) => layerError(c, sums.get(c.tensor)!));
    return { layers, skipped, items };
  } finally {
    await Promise.all(sessions.map((s) => s.dispose()));
  }
}

function namedTensor(view: GraphView, tensor: string, known: readonly string[]): Candidate {
  if (!known.includes(tensor)) {
    throw new MmkitError('UNKNOWN_TENSOR', `The baseline has no tensor '${tensor}' to compare.`, { tensor, hint: suggestion(tensor, known) });
  }
  const producer = view.producer(tensor);
  return { tensor, node: producer?.name ?? '', op: producer?.opType ?? (view.isInitializer(tensor) ? 'initializer' : 'input'), kind: view.isGraphOutput(tensor) ? 'output' : 'tensor' };
}
