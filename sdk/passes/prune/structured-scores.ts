/**
 * Importance of each unit of a prune group: weight norms (L1 / L2 over every weight the unit
 * owns in its producers and consumer) or a data-driven score from activations over calibration data.
 */
import { batchSize, type Dataset } from '../../data';
import { MmkitError } from '../../errors';
import { tensorArray, type GraphView, type OnnxModel } from '../../onnx';
import { createSession, feedsFor } from '../../runtime';
import { throwIfAborted } from '../../runtime/batched';
import type { RunContext } from '../../step';
import type { PruneGroup } from './structured-groups';
import { consumerRows, producerColumns, weightAt } from './structured-slices';

export type PruneScore = 'l1' | 'l2' | 'activation';

export function weightOf(view: GraphView, model: OnnxModel, name: string): Float32Array {
  return tensorArray(view.initializer(name)!, model) as Float32Array;
}

/** L1 (sum |w|) or L2 (√Σw²) of all weights a unit owns: its producer columns (q, k, v) and consumer rows. */
export function weightScores(view: GraphView, model: OnnxModel, g: PruneGroup, norm: 'l1' | 'l2'): Float64Array {
  const scores = new Float64Array(g.units);
  const add = (u: number, x: number) => (scores[u] += norm === 'l1' ? Math.abs(x) : x * x);
  const producers = g.producers.map((m) => ({ m, w: weightOf(view, model, m.weight) }));
  const consumer = weightOf(view, model, g.consumer.weight);
  for (let u = 0; u < g.units; u++) {
    for (const { m, w } of producers) for (const o of producerColumns(g, [u])) for (let i = 0; i < m.inDim; i++) add(u, weightAt(w, m, i, o));
    for (const i of consumerRows(g, [u])) for (let o = 0; o < g.consumer.outDim; o++) add(u, weightAt(consumer, g.consumer, i, o));
  }
  if (norm === 'l2') for (let u = 0; u < g.units; u++) scores[u] = Math.sqrt(scores[u]);
  return scores;
}

/**
 * Data-driven scores from one pass of the model over `calibration`, tapping the value the consumer
 * reads: the mean |activation| of each MLP hidden unit (each channel of a 1×1 Conv chain), or the
 * mean L2 norm of each head's output (its headDim slice of the merged context), over every token
 * (position) of every item.
 */
export async function activationScores(model: OnnxModel, groups: readonly PruneGroup[], calibration: Dataset, ctx: RunContext = {}): Promise<Float64Array[]> {
  const taps = [...new Set(groups.map((g) => g.unitValue))];
  const session = await createSession(model, { taps, reuse: false });
  const sums = groups.map((g) => new Float64Array(g.units));
  const rows = groups.map(() => 0);
  let items = 0;
  try {
    for await (const batch of calibration) {
      throwIfAborted(ctx.signal, 'prune.structured (scoring units on calibration data)');
      const out = await session.run(feedsFor(session, batch), { fetch: taps });
      groups.forEach((g, k) => {
        const t = out[g.unitValue];
        const data = t.data as Float32Array;
        const width = g.units * g.unitWidth;
        const axis = g.channelsFirst ? 1 : t.dims.length - 1;
        if (t.dims[axis] !== width) {
          throw new MmkitError('BAD_MODEL', `prune.structured: '${g.unitValue}' in layer '${g.name}' has dimension ${t.dims[axis]} on axis ${axis}, expected ${width}.`, {
            tensor: g.unitValue,
            hint: 'The block does not have the layout the pattern matcher assumed; exclude it with exclude.layers.',
          });
        }
        if (g.channelsFirst) {
          // [N, C, spatial…]: each channel's |x| over every item and position (units of width 1).
          const inner = data.length / (t.dims[0] * width);
          for (let i = 0; i < data.length; i++) sums[k][Math.floor(i / inner) % width] += Math.abs(data[i]);
        } else {
          for (let r = 0; r < data.length; r += width) {
            for (let u = 0; u < g.units; u++) {
              let s = 0;
              for (let j = u * g.unitWidth; j < (u + 1) * g.unitWidth; j++) s += g.unitWidth === 1 ? Math.abs(data[r + j]) : data[r + j] * data[r + j];
              sums[k][u] += g.unitWidth === 1 ? s : Math.sqrt(s);
            }
          }
        }
        rows[k] += data.length / width;
      });
      items += batchSize(batch);
      ctx.onProgress?.(items, calibration.size, 'prune.structured: scoring');
    }
  } finally {
    await session.dispose();
  }
  if (items === 0) throw new MmkitError('BAD_DATASET', 'prune.structured: the calibration dataset is empty.', { hint: 'Pass a Dataset with at least one batch, e.g. mm.datasets.mnist({ split: "train" }).take(128).' });
  return sums.map((s, k) => s.map((x) => x / rows[k]));
}
