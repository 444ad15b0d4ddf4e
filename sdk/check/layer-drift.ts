/**
 * Where the error starts: the reference's layer outputs (linear and conv) compared with the
 * tensors of the same name in the candidate, channel by channel. A layer's score is the median
 * over its channels of the relative error: whole-tensor errors are ruled by the largest
 * channels, so a per-tensor scale that an outlier channel stretched (keeping that channel and
 * crushing the rest) would hide behind the one channel it kept.
 */
import type { Batch } from '../data/batch';
import type { TensorData } from '../tensor-data';
import { layerTensors } from '../eval/layers';
import { floatData } from '../eval/logits';
import { quantile } from '../eval/latency';
import { findConvs, findLinears, GraphView, type OnnxModel } from '../onnx';
import { feedsFor, throwIfAborted } from '../runtime/batched';
import type { Device } from '../runtime/device';
import { createSession, type Session } from '../runtime/session';

export interface WorstLayer {
  /** The layer's MatMul, Gemm or Conv node in the reference: the name exclude.nodes takes. */
  node: string;
  op: string;
  /** The layer's output (after its bias), compared by name. */
  tensor: string;
  /** Median over channels of ‖candidate − reference‖ / ‖reference‖. */
  channelError: number;
  /** How much this layer adds to the largest channel error of the layers before it (graph order). */
  added: number;
  /** ‖candidate − reference‖ / ‖reference‖ over the whole tensor. */
  relativeError: number;
}

/** Items the per-layer comparison looks at: enough to rank layers, a fraction of the check's time. */
export const LAYER_ITEMS = 32;

class ChannelSums {
  diff2: Float64Array = new Float64Array(0);
  ref2: Float64Array = new Float64Array(0);

  add(ref: TensorData, cand: TensorData, name: string): void {
    // NCHW conv outputs have channels on axis 1; token-major [N, T, C] and [N, C] on the last.
    const axis = ref.dims.length === 4 ? 1 : ref.dims.length - 1;
    const channels = ref.dims[axis] ?? 1;
    const inner = ref.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    if (this.diff2.length === 0) {
      this.diff2 = new Float64Array(channels);
      this.ref2 = new Float64Array(channels);
    }
    const r = floatData(ref, name);
    const c = floatData(cand, name);
    for (let i = 0; i < r.length; i++) {
      const ch = Math.floor(i / inner) % channels;
      const d = c[i] - r[i];
      this.diff2[ch] += d * d;
      this.ref2[ch] += r[i] * r[i];
    }
  }

  channelError(): number {
    const errors: number[] = [];
    for (let ch = 0; ch < this.ref2.length; ch++) if (this.ref2[ch] > 0) errors.push(Math.sqrt(this.diff2[ch] / this.ref2[ch]));
    return errors.length ? quantile(errors.sort((a, b) => a - b), 0.5) : 0;
  }

  relativeError(): number {
    const ref2 = this.ref2.reduce((a, b) => a + b, 0);
    return ref2 > 0 ? Math.sqrt(this.diff2.reduce((a, b) => a + b, 0) / ref2) : 0;
  }
}

/** The layers that add the most error over `batches` (the caller keeps them near LAYER_ITEMS items), worst first. */
export async function worstLayers(reference: OnnxModel, candidate: OnnxModel, batches: readonly Batch[], opts: { device?: Device; signal?: AbortSignal; top?: number }): Promise<WorstLayer[]> {
  const view = GraphView.of(candidate.proto);
  const refView = GraphView.of(reference.proto);
  const layerNode = new Map([...findLinears(refView).map((l) => [l.output, l.matmul] as const), ...findConvs(refView).map((c) => [c.output, c.conv] as const)]);
  const layers = layerTensors(reference).filter((l) => layerNode.has(l.tensor) && (view.producer(l.tensor) !== undefined || view.isGraphOutput(l.tensor)));
  if (layers.length === 0) return [];
  const taps = layers.map((l) => l.tensor);
  const sessions: Session[] = [];
  try {
    for (const m of [reference, candidate]) sessions.push(await createSession(m, { device: opts.device, taps }));
    const [ref, cand] = sessions;
    const sums = new Map(taps.map((t) => [t, new ChannelSums()]));
    for (const batch of batches) {
      throwIfAborted(opts.signal, 'The compression check');
      const a = await ref.run(feedsFor(ref, batch), { fetch: taps });
      const b = await cand.run(feedsFor(cand, batch), { fetch: taps });
      for (const [t, s] of sums) {
        if (a[t].dims.join() === b[t].dims.join()) s.add(a[t], b[t], t);
        else sums.delete(t);
      }
    }
    let before = 0;
    const ranked: WorstLayer[] = [];
    for (const l of layers) {
      const s = sums.get(l.tensor);
      if (!s) continue;
      const channelError = s.channelError();
      const node = layerNode.get(l.tensor)!;
      ranked.push({ node: node.name, op: node.opType, tensor: l.tensor, channelError, added: Math.max(0, channelError - before), relativeError: s.relativeError() });
      before = Math.max(before, channelError);
    }
    return ranked.sort((x, y) => y.added - x.added).slice(0, opts.top ?? 3);
  } finally {
    await Promise.all(sessions.map((s) => s.dispose()));
  }
}
