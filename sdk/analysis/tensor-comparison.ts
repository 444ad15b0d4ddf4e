import { inspect } from 'node:util';
import type { DataFrame } from 'danfojs-node';
import { Chart, type VegaLiteSpec } from '../report/chart';
import { toDataFrame } from '../report/dataframe';
import { JUPYTER_DISPLAY, type Displayable, type MimeBundle } from '../report/mime';
import { Panel, Warning } from '../report/panel';
import { Table, type Row } from '../report/table';
import type { ErrorStats } from '../eval/error-stats';

export type TensorKind = 'weight' | 'activation';

/** One compared tensor: where it sits in the reference and how far the candidate's copy is from it. */
export interface TensorErrorRow extends ErrorStats {
  kind: TensorKind;
  /** The reference layer (MatMul, Gemm, Conv node), or the node producing an activation that is no layer output. */
  layer: string;
  op: string;
  /** The reference weight initializer, or the activation's name. */
  tensor: string;
  /** Weight dims ([in, out] for linears), or an activation's shape for one item. */
  dims: number[];
  /** How the candidate stores a weight ("int8 per-channel (DynamicQuantizeMatMul)"); null for activations. */
  quantization: string | null;
}

/**
 * A row whose SQNR sits this far below the median of its kind stands out: each bit of precision
 * is ~6 dB, so the layer is stored about a bit worse than its peers (per-tensor among per-channel
 * layers, an outlier channel stretching the range, a block size too wide).
 */
export const OUTLIER_MARGIN_DB = 6;

/** How many of the worst rows a chart highlights by default. */
const HIGHLIGHTED = 3;
const WORST_COLOR = '#d62728';
const BAR_COLOR = '#4c78a8';

/** SQNR for ordering: identical tensors (null) rank as the best. */
const sqnrKey = (r: TensorErrorRow) => r.sqnrDb ?? Infinity;

/** The rows of a tensor comparison, with table, DataFrame and chart views; shows itself as table + chart. */
export class TensorComparison implements Displayable {
  constructor(
    /** Weights first then activations, each in graph order. */
    readonly rows: readonly TensorErrorRow[],
    /** Tensors that could not be compared, and why (unquantized layers, unmatched names, shape changes). */
    readonly skipped: readonly { tensor: string; reason: string }[] = [],
    /** Items the activations were compared on (0 when only weights were). */
    readonly items = 0,
  ) {}

  /** Only the rows of one kind. */
  only(kind: TensorKind): TensorComparison {
    return new TensorComparison(
      this.rows.filter((r) => r.kind === kind),
      [],
      kind === 'activation' ? this.items : 0,
    );
  }

  /** The n rows with the lowest SQNR, worst first (of one kind when given). */
  worst(n = 5, kind?: TensorKind): TensorComparison {
    const rows = this.rows.filter((r) => !kind || r.kind === kind);
    return new TensorComparison([...rows].sort((a, b) => sqnrKey(a) - sqnrKey(b)).slice(0, n), [], this.items);
  }

  /** Rows at least `marginDb` below the median SQNR of their kind (weights and activations apart), worst first. */
  outliers(marginDb = OUTLIER_MARGIN_DB): TensorErrorRow[] {
    const found: TensorErrorRow[] = [];
    for (const kind of ['weight', 'activation'] as const) {
      const rows = this.rows.filter((r) => r.kind === kind && r.sqnrDb !== null);
      if (rows.length < 3) continue; // no peers to stand out from
      const sorted = rows.map((r) => r.sqnrDb!).sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)];
      found.push(...rows.filter((r) => r.sqnrDb! <= median - marginDb));
    }
    return found.sort((a, b) => sqnrKey(a) - sqnrKey(b));
  }

  /** Rows as flat records, dims written "64×128" (not 'shape', which danfojs's DataFrame.shape would hide). */
  records(): Row[] {
    return this.rows.map((r) => ({
      kind: r.kind,
      layer: r.layer,
      op: r.op,
      tensor: r.tensor,
      dims: r.dims.join('×'),
      quantization: r.quantization,
      elements: r.elements,
      sqnrDb: r.sqnrDb,
      cosine: r.cosine,
      mse: r.mse,
      maxAbs: r.maxAbs,
    }));
  }

  table(options: { title?: string } = {}): Table {
    return new Table(this.records(), {
      title: options.title,
      columns: ['kind', 'layer', 'op', 'dims', 'quantization', 'sqnrDb', 'cosine', 'mse', 'maxAbs'],
    });
  }

  /** The rows as a danfojs DataFrame (loads danfojs on first use). */
  toDataFrame(): DataFrame {
    return toDataFrame(new Table(this.records()));
  }

  /**
   * SQNR per layer as bars, the `highlight` worst of each kind in red; one panel per kind present.
   * Identical tensors (no error) have no finite SQNR and are left out.
   */
  chart(options: { title?: string; highlight?: number } = {}): Chart {
    const kinds = (['weight', 'activation'] as const).filter((k) => this.rows.some((r) => r.kind === k && r.sqnrDb !== null));
    const panels = kinds.map((k) => this.bars(k, options.highlight ?? HIGHLIGHTED));
    const title = options.title ?? 'SQNR per layer (dB, higher is better)';
    if (panels.length === 1) return new Chart({ title, ...panels[0] } as VegaLiteSpec);
    return new Chart({ title, vconcat: panels } as VegaLiteSpec);
  }

  private bars(kind: TensorKind, highlight: number): object {
    const rows = this.rows.filter((r) => r.kind === kind && r.sqnrDb !== null);
    const worst = new Set([...rows].sort((a, b) => sqnrKey(a) - sqnrKey(b)).slice(0, highlight));
    return {
      title: kind === 'weight' ? 'Weights' : `Activations (${this.items} items)`,
      data: { values: rows.map((r) => ({ layer: r.layer, tensor: r.tensor, sqnrDb: r.sqnrDb, worst: worst.has(r), quantization: r.quantization ?? '' })) },
      width: 360,
      mark: { type: 'bar', tooltip: true },
      encoding: {
        // Graph order, so a drift that grows through the blocks is visible.
        y: { field: 'layer', type: 'nominal', sort: null, title: null, axis: { labelLimit: 320 } },
        x: { field: 'sqnrDb', type: 'quantitative', title: 'SQNR (dB)' },
        color: { condition: { test: 'datum.worst', value: WORST_COLOR }, value: BAR_COLOR },
      },
    };
  }

  private summary(): string {
    const parts = (['weight', 'activation'] as const).map((k) => {
      const rows = this.rows.filter((r) => r.kind === k);
      if (rows.length === 0) return undefined;
      const [w] = [...rows].sort((a, b) => sqnrKey(a) - sqnrKey(b));
      const db = w.sqnrDb === null ? 'identical' : `${w.sqnrDb.toFixed(1)} dB`;
      return `${rows.length} ${k}s, worst ${w.layer} (${db})`;
    });
    return parts.filter((p) => p !== undefined).join('; ') || 'Nothing was compared.';
  }

  async [JUPYTER_DISPLAY](): Promise<MimeBundle> {
    const outliers = this.outliers().map(
      (r) => new Warning(`${r.kind === 'weight' ? 'Weight' : 'Activation'} of ${r.layer} stands out: ${r.sqnrDb!.toFixed(1)} dB, ${OUTLIER_MARGIN_DB}+ dB below the median of the ${r.kind}s${r.quantization ? ` (${r.quantization})` : ''}. Look at weightHistogram() and channelRanges() for that layer, or keep it in higher precision.`),
    );
    const parts = this.rows.length > 0 ? [this.summary(), ...outliers, this.table(), this.chart()] : [this.summary()];
    if (this.skipped.length > 0) parts.push(`Not compared: ${this.skipped.length} tensors (see .skipped).`);
    return new Panel('Float vs quantized, per tensor', parts)[JUPYTER_DISPLAY]();
  }

  [inspect.custom](): string {
    return `TensorComparison: ${this.summary()}\n${this.table().toText()}`;
  }
}
