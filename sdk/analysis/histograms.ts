/**
 * Histograms of a layer's float weights or activations with the candidate's quantization grid and
 * clipping range drawn over them, and the per-channel ranges of a weight: the pictures that say
 * why a layer quantizes badly (outliers stretching the range, levels wasted on empty tails).
 */
import type { Batch } from '../data/batch';
import type { Dataset } from '../data/dataset';
import { MmkitError } from '../errors';
import { floatData } from '../eval/logits';
import type { RunContext } from '../step';
import { runBatched } from '../runtime/batched';
import type { Device } from '../runtime/device';
import { createSession } from '../runtime/session';
import { Chart, type VegaLiteSpec } from '../report/chart';
import { binCounts } from '../report/charts';
import { modelOf, type ModelInput } from './model-input';
import { effectiveWeightOf } from './effective-weights';
import { activationGrid, weightGrid, type GridOrNote, type QuantGrid } from './quant-grid';
import { findReferenceLayer, referenceLayers, type ReferenceLayer } from './reference-layers';

/** Up to this many levels are drawn as one rule each; beyond, their density per bin is drawn instead. */
export const MAX_LEVEL_RULES = 64;
const DEFAULT_BINS = 60;
const CLIP_COLOR = '#d62728';
const GRID_COLOR = '#555';

export interface HistogramOptions extends RunContext {
  /** The quantized model whose grid and clipping range are drawn over the float values. */
  quantized?: ModelInput;
  bins?: number;
  title?: string;
}

/** How many values saturate: more than half a step beyond the end levels (closer ones just round to them). */
function countClipped(values: Float32Array, grid: QuantGrid): number {
  const lo = grid.clip[0] - grid.step / 2;
  const hi = grid.clip[1] + grid.step / 2;
  let n = 0;
  for (const v of values) if (v < lo || v > hi) n++;
  return n;
}

/** The layered spec: value bars, grid rules (or level density), clipping range. */
function histogramSpec(values: Float32Array, grid: GridOrNote | undefined, title: string, field: string, bins: number): VegaLiteSpec {
  const rows = binCounts(values, bins);
  if (rows.length === 0) throw new MmkitError('BAD_OPTION', `Cannot draw a histogram of ${field}: it has no finite values.`, { tensor: field });
  const x = { field: 'start', type: 'quantitative', title: field };
  const layers: object[] = [
    {
      data: { values: rows },
      mark: { type: 'bar', tooltip: true, color: '#4c78a8' },
      encoding: { x: { ...x, bin: { binned: true } }, x2: { field: 'end' }, y: { field: 'count', type: 'quantitative', title: 'values' } },
    },
  ];
  const subtitle: string[] = [];
  if (grid && 'levels' in grid) {
    layers.push(grid.levels.length <= MAX_LEVEL_RULES ? levelRules(grid) : levelDensity(grid, rows));
    layers.push({
      data: { values: [{ x: grid.clip[0], edge: 'clip min' }, { x: grid.clip[1], edge: 'clip max' }] },
      mark: { type: 'rule', color: CLIP_COLOR, strokeWidth: 2, strokeDash: [6, 3] },
      encoding: { x: { field: 'x', type: 'quantitative' }, tooltip: [{ field: 'edge' }, { field: 'x', type: 'quantitative', format: '.4g' }] },
    });
    const outside = countClipped(values, grid);
    subtitle.push(
      `${grid.label}: ${grid.levels.length} levels, clipping range [${grid.clip[0].toPrecision(3)}, ${grid.clip[1].toPrecision(3)}]`,
      `${outside} of ${values.length} values (${((100 * outside) / values.length).toFixed(2)}%) clipped`,
    );
  } else if (grid) subtitle.push(`No grid: ${grid.note}.`);
  // The level density has its own axis: a count of levels, not of values.
  const density = grid && 'levels' in grid && grid.levels.length > MAX_LEVEL_RULES;
  return { title: { text: title, subtitle }, width: 420, height: 220, layer: layers, ...(density ? { resolve: { scale: { y: 'independent' } } } : {}) } as VegaLiteSpec;
}

function levelRules(grid: QuantGrid): object {
  return {
    data: { values: grid.levels.map((level) => ({ level })) },
    mark: { type: 'rule', color: GRID_COLOR, opacity: 0.6 },
    encoding: { x: { field: 'level', type: 'quantitative' } },
  };
}

/** Levels per histogram bin, as a step line on a second axis (one pass: levels and bins are both sorted). */
function levelDensity(grid: QuantGrid, bins: { start: number; end: number }[]): object {
  const counts = bins.map((b) => ({ start: b.start, levels: 0 }));
  let i = 0;
  while (i < grid.levels.length && grid.levels[i] < bins[0].start) i++;
  for (let b = 0; b < bins.length; b++) {
    const last = b === bins.length - 1;
    for (; i < grid.levels.length && (grid.levels[i] < bins[b].end || (last && grid.levels[i] <= bins[b].end)); i++) counts[b].levels++;
  }
  return {
    data: { values: counts },
    mark: { type: 'line', interpolate: 'step-after', color: GRID_COLOR, strokeWidth: 1.5 },
    encoding: { x: { field: 'start', type: 'quantitative' }, y: { field: 'levels', type: 'quantitative', title: 'grid levels per bin', axis: { orient: 'right' } } },
  };
}

/** The candidate's dequantized weight for a reference layer (matched by the value the layer produces). */
async function quantizedWeightOf(layer: ReferenceLayer, quantized: ModelInput, ctx: RunContext) {
  const w = effectiveWeightOf(await modelOf(quantized, ctx), layer.outputs);
  if (!w) {
    throw new MmkitError('BAD_OPTION', `The quantized model does not quantize the weight of layer '${layer.node}' ('${layer.weight}').`, {
      node: layer.node,
      hint: 'Pick a layer that compareTensors() lists as a weight row, or leave out `quantized` to see the float values alone.',
    });
  }
  return w;
}

/** The float values of one output channel of a layer's weight (all values without a channel). */
function channelValues(layer: ReferenceLayer, channel: number | undefined): Float32Array {
  if (channel === undefined) return layer.values;
  const count = layer.dims[layer.channelAxis];
  if (!(Number.isInteger(channel) && channel >= 0 && channel < count)) {
    throw new MmkitError('BAD_OPTION', `channel ${channel} is out of range: layer '${layer.node}' has ${count} output channels.`, { node: layer.node, hint: `Use 0 … ${count - 1}.` });
  }
  const stride = layer.dims.slice(layer.channelAxis + 1).reduce((a, b) => a * b, 1);
  return layer.values.filter((_, i) => Math.floor(i / stride) % count === channel);
}

/**
 * Histogram of a layer's float weight (by node, weight or output name), with the quantized
 * model's grid for that weight and its clipping range drawn over it. `channel` restricts both to
 * one output channel, where per-channel and block schemes have their own grid.
 */
export async function weightHistogram(model: ModelInput, layer: string, opts: HistogramOptions & { channel?: number } = {}): Promise<Chart> {
  const ref = findReferenceLayer(await modelOf(model, opts), layer);
  const values = channelValues(ref, opts.channel);
  const grid = opts.quantized ? weightGrid(await quantizedWeightOf(ref, opts.quantized, opts), opts.channel) : undefined;
  const what = opts.channel === undefined ? ref.weight : `${ref.weight}, channel ${opts.channel}`;
  return new Chart(histogramSpec(values, grid, opts.title ?? `Weights of ${ref.node}`, what, opts.bins ?? DEFAULT_BINS));
}

/**
 * Histogram of an activation over `data` in the float model, with the quantized model's grid and
 * clipping range for it. `tensor` names the activation, or a layer (node or weight name), which
 * means the activation the layer reads: what an activation quantizer sees.
 */
export async function activationHistogram(
  model: ModelInput,
  tensor: string,
  data: Dataset | AsyncIterable<Batch>,
  opts: HistogramOptions & { device?: Device } = {},
): Promise<Chart> {
  const float = await modelOf(model, opts);
  const layer = referenceLayers(float).find((l) => l.node === tensor || l.weight === tensor);
  const name = layer ? layer.input : tensor;
  const session = await createSession(float, { device: opts.device, taps: [name] });
  let values: Float32Array;
  try {
    const out = await runBatched(session, data, { fetch: [name], signal: opts.signal, onProgress: (done) => opts.onProgress?.(done, undefined, name) });
    values = floatData(out[name], name);
  } finally {
    await session.dispose();
  }
  const grid = opts.quantized ? activationGrid(await modelOf(opts.quantized, opts), name, values) : undefined;
  const title = opts.title ?? (layer ? `Activation into ${layer.node}` : `Activation ${name}`);
  return new Chart(histogramSpec(values, grid, title, name, opts.bins ?? DEFAULT_BINS));
}

/**
 * Min and max of each output channel of a float weight, with the whole tensor's range across
 * them: a per-tensor scale must cover the widest channel, so narrow channels use few of its
 * levels; per-channel scales give every channel the full grid.
 */
export async function channelRanges(model: ModelInput, layer: string, opts: { title?: string; bits?: number } & RunContext = {}): Promise<Chart> {
  const ref = findReferenceLayer(await modelOf(model, opts), layer);
  const count = ref.dims[ref.channelAxis];
  const stride = ref.dims.slice(ref.channelAxis + 1).reduce((a, b) => a * b, 1);
  const min = new Float64Array(count).fill(Infinity);
  const max = new Float64Array(count).fill(-Infinity);
  ref.values.forEach((v, i) => {
    const c = Math.floor(i / stride) % count;
    if (v < min[c]) min[c] = v;
    if (v > max[c]) max[c] = v;
  });
  const tensorMin = Math.min(...min);
  const tensorMax = Math.max(...max);
  const tensorAbs = Math.max(-tensorMin, tensorMax);
  // Symmetric per-tensor quantization: the positive levels a channel reaches under the tensor's scale.
  const qmax = 2 ** ((opts.bits ?? 8) - 1) - 1;
  const rows = Array.from({ length: count }, (_, c) => ({
    channel: c,
    min: min[c],
    max: max[c],
    levelsUsed: tensorAbs > 0 ? Math.round((qmax * Math.max(-min[c], max[c])) / tensorAbs) : qmax,
  }));
  const used = rows.map((r) => r.levelsUsed).sort((a, b) => a - b);
  const median = used[Math.floor(used.length / 2)];
  const y = { type: 'quantitative', title: 'weight value' };
  return new Chart({
    title: {
      text: opts.title ?? `Per-channel ranges of ${ref.weight}`,
      subtitle: [
        `${count} output channels; dashed: the per-tensor range [${tensorMin.toPrecision(3)}, ${tensorMax.toPrecision(3)}]`,
        `int${opts.bits ?? 8} per-tensor: the median channel reaches ${median} of ${qmax} levels each side; per-channel: all ${qmax}`,
      ],
    },
    width: 420,
    height: 220,
    layer: [
      {
        data: { values: rows },
        mark: { type: 'rule', strokeWidth: 3, tooltip: true },
        encoding: {
          x: { field: 'channel', type: 'quantitative', title: 'output channel' },
          y: { field: 'min', ...y },
          y2: { field: 'max' },
          color: { field: 'levelsUsed', type: 'quantitative', title: 'levels used (per-tensor)', scale: { scheme: 'viridis' } },
        },
      },
      {
        data: { values: [{ y: tensorMin, edge: 'per-tensor min' }, { y: tensorMax, edge: 'per-tensor max' }] },
        mark: { type: 'rule', color: CLIP_COLOR, strokeDash: [6, 3], strokeWidth: 2 },
        encoding: { y: { field: 'y', type: 'quantitative' }, tooltip: [{ field: 'edge' }, { field: 'y', type: 'quantitative', format: '.4g' }] },
      },
    ],
  } as VegaLiteSpec);
}
