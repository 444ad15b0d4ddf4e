/**
 * The charts mmkit draws: variant comparisons, the size–accuracy Pareto front, per-layer
 * bars and histograms. Each returns a Chart (vega-lite spec + SVG).
 */
import { MmkitError } from '../errors';
import { Chart, type VegaLiteSpec } from './chart';

export interface VariantPoint {
  /** The variant's name, e.g. "fp32", "int8 dynamic". */
  name: string;
  sizeBytes?: number;
  latencyMs?: number;
  /** In [0, 1]. */
  accuracy?: number;
}

const METRICS = [
  { key: 'sizeBytes', field: 'sizeMB', title: 'Size (MB)', scale: 1 / 1e6 },
  { key: 'latencyMs', field: 'latencyMs', title: 'Latency (ms)', scale: 1 },
  { key: 'accuracy', field: 'accuracy', title: 'Accuracy', scale: 1 },
] as const;

function spec(value: object): VegaLiteSpec {
  return value as VegaLiteSpec;
}

function requireRows(rows: readonly unknown[], what: string): void {
  if (rows.length === 0) throw new MmkitError('BAD_OPTION', `Cannot chart ${what}: no rows were given.`);
}

/** Side-by-side bars of size, latency and accuracy (those the variants carry) per variant. */
export function compareVariants(variants: readonly VariantPoint[], options: { title?: string } = {}): Chart {
  requireRows(variants, 'a variant comparison');
  const metrics = METRICS.filter((m) => variants.some((v) => v[m.key] !== undefined));
  if (metrics.length === 0) {
    throw new MmkitError('BAD_OPTION', 'Cannot compare variants: none has sizeBytes, latencyMs or accuracy.');
  }
  const values = variants.map((v) => ({
    variant: v.name,
    ...Object.fromEntries(metrics.map((m) => [m.field, v[m.key] === undefined ? null : v[m.key]! * m.scale])),
  }));
  return new Chart(
    spec({
      title: options.title ?? 'Variants compared',
      data: { values },
      hconcat: metrics.map((m) => ({
        width: 180,
        mark: { type: 'bar', tooltip: true },
        encoding: {
          y: { field: 'variant', type: 'nominal', sort: null, title: null },
          x: { field: m.field, type: 'quantitative', title: m.title },
          color: { field: 'variant', type: 'nominal', legend: null },
        },
      })),
    }),
  );
}

/** The variants no other variant beats on both size (smaller) and accuracy (higher). */
export function paretoFront<T extends { sizeBytes: number; accuracy: number }>(points: readonly T[]): T[] {
  const bySize = [...points].sort((a, b) => a.sizeBytes - b.sizeBytes || b.accuracy - a.accuracy);
  const front: T[] = [];
  for (const p of bySize) {
    if (front.length === 0 || p.accuracy > front[front.length - 1].accuracy) front.push(p);
  }
  return front;
}

/** Size against accuracy, one labelled point per variant, the Pareto front drawn as a line. */
export function paretoChart(
  variants: readonly { name: string; sizeBytes: number; accuracy: number }[],
  options: { title?: string } = {},
): Chart {
  requireRows(variants, 'a Pareto front');
  const front = new Set(paretoFront(variants).map((v) => v.name));
  const values = variants.map((v) => ({
    variant: v.name,
    sizeMB: v.sizeBytes / 1e6,
    accuracy: v.accuracy,
    pareto: front.has(v.name),
  }));
  const x = { field: 'sizeMB', type: 'quantitative', title: 'Size (MB)' };
  const y = { field: 'accuracy', type: 'quantitative', title: 'Accuracy', scale: { zero: false } };
  return new Chart(
    spec({
      title: options.title ?? 'Size vs accuracy',
      data: { values },
      width: 360,
      height: 240,
      layer: [
        {
          transform: [{ filter: 'datum.pareto' }],
          mark: { type: 'line', strokeDash: [4, 3], color: '#888' },
          encoding: { x: { ...x, sort: 'ascending' }, y },
        },
        {
          mark: { type: 'point', filled: true, size: 80, tooltip: true },
          encoding: { x, y, color: { field: 'pareto', type: 'nominal', title: 'Pareto front' } },
        },
        { mark: { type: 'text', dy: -10 }, encoding: { x, y, text: { field: 'variant' } } },
      ],
    }),
  );
}

/** One bar per layer (e.g. its quantization error), largest first. */
export function layerBars(
  layers: readonly { layer: string; value: number }[],
  options: { title?: string; metric?: string; top?: number } = {},
): Chart {
  requireRows(layers, 'per-layer bars');
  const metric = options.metric ?? 'value';
  const sorted = [...layers].sort((a, b) => b.value - a.value).slice(0, options.top ?? layers.length);
  return new Chart(
    spec({
      title: options.title ?? `${metric} per layer`,
      data: { values: sorted.map((l) => ({ layer: l.layer, [metric]: l.value })) },
      width: 360,
      mark: { type: 'bar', tooltip: true },
      encoding: {
        y: { field: 'layer', type: 'nominal', sort: '-x', title: null },
        x: { field: metric, type: 'quantitative' },
      },
    }),
  );
}

/**
 * Counts of values in equal-width bins over [min, max]; non-finite values are left out.
 * Binning happens here rather than in vega-lite so the spec stays small for millions of weights.
 */
export function binCounts(values: ArrayLike<number>, bins: number): { start: number; end: number; count: number }[] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (min > max) return [];
  const width = max > min ? (max - min) / bins : 1;
  const counts = new Array<number>(bins).fill(0);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isFinite(v)) counts[Math.min(bins - 1, Math.floor((v - min) / width))]++;
  }
  return counts.map((count, i) => ({ start: min + i * width, end: min + (i + 1) * width, count }));
}

/** Histogram of values (weights, activations, errors). */
export function histogram(values: ArrayLike<number>, options: { title?: string; field?: string; bins?: number } = {}): Chart {
  const field = options.field ?? 'value';
  const rows = binCounts(values, options.bins ?? 40);
  if (rows.length === 0) throw new MmkitError('BAD_OPTION', `Cannot draw a histogram of ${field}: there are no finite values.`);
  return new Chart(
    spec({
      title: options.title ?? `Distribution of ${field}`,
      data: { values: rows },
      width: 360,
      height: 200,
      mark: { type: 'bar', tooltip: true },
      encoding: {
        x: { field: 'start', type: 'quantitative', bin: { binned: true }, title: field },
        x2: { field: 'end' },
        y: { field: 'count', type: 'quantitative', title: 'count' },
      },
    }),
  );
}
