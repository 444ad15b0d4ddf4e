/**
 * How the SDK's result objects look: an evaluation report and a model summary as panels of
 * tables, charts and warnings. Pipeline and evaluation objects display through these.
 */
import type { EvaluationReport, ModelEvaluation } from '../eval';
import type { ModelSummary } from './summary';
import { Panel, Table, Warning, layerBars, type PanelPart, type Row } from '../report';

export interface EvaluationViewOptions {
  /** Names of the evaluated model and of its baseline in tables and charts. */
  name?: string;
  baselineName?: string;
  /** Layers shown in the per-layer error chart and table, worst first. Default 12. */
  topLayers?: number;
}

const MB = 1e6;

function metricsRow(name: string, e: ModelEvaluation): Row {
  return {
    model: name,
    'top-1': e.accuracy?.top1,
    'top-5': e.accuracy?.top5,
    'ms/item p50': e.latency.perItemMs.p50,
    'items/s': e.latency.itemsPerSecond,
    'size MB': e.size.fileBytes / MB,
    params: e.size.params,
  };
}

export function evaluationView(report: EvaluationReport, options: EvaluationViewOptions = {}): Panel {
  const name = options.name ?? 'model';
  const baselineName = options.baselineName ?? 'baseline';
  const parts: PanelPart[] = [];
  for (const warning of report.comparison?.warnings ?? []) parts.push(new Warning(warning));
  const rows = [metricsRow(name, report.model), ...(report.baseline ? [metricsRow(baselineName, report.baseline)] : [])];
  parts.push(new Table(rows, { title: `${report.items} items in ${report.batches} batches on ${report.device}` }));
  if (report.comparison || report.agreement) {
    const c = report.comparison;
    const a = report.agreement;
    parts.push(
      new Table(
        [
          {
            speedup: c?.speedup,
            'size ratio': c?.sizeRatio,
            'Δ top-1 (points)': c?.top1DeltaPoints,
            'agreement top-1': a?.top1,
            'KL mean': a?.klMean,
            'cosine mean': a?.cosineMean,
          },
        ],
        { title: `${name} against ${baselineName}` },
      ),
    );
  }
  if (report.layers && report.layers.layers.length > 0) {
    const top = options.topLayers ?? 12;
    const worst = [...report.layers.layers].sort((x, y) => y.relativeError - x.relativeError).slice(0, top);
    parts.push(
      layerBars(
        worst.map((l) => ({ layer: l.node || l.tensor, value: l.relativeError })),
        { title: `Relative error per layer (worst ${worst.length})`, metric: 'relative error' },
      ),
      new Table(
        worst.map((l) => ({ layer: l.node, op: l.op, tensor: l.tensor, 'relative error': l.relativeError, cosine: l.cosine, 'SNR dB': l.snrDb })),
        { title: `Layers furthest from ${baselineName}` },
      ),
    );
    if (report.layers.skipped.length > 0) parts.push(`${report.layers.skipped.length} tensor(s) could not be compared.`);
  }
  return new Panel(`Evaluation of ${name}`, parts);
}

export function summaryView(summary: ModelSummary, options: { name?: string; topLayers?: number } = {}): Panel {
  const t = summary.totals;
  // Sparsity shows once weights were pruned; a dense model's few zero biases are not worth a column.
  const pruned = t.zeros > 0.01 * t.params;
  const totals = new Table([
    { nodes: t.nodes, params: t.params, ...(pruned ? { sparsity: t.zeros / t.params } : {}), 'weights MB': t.bytes / MB, GFLOPs: summary.probedBatch === undefined ? undefined : t.flops / 1e9 },
  ]);
  const byDtype = new Table(
    Object.entries(t.paramsByDtype).map(([dtype, params]) => ({
      dtype,
      params,
      'MB': (t.bytesByDtype[dtype as keyof typeof t.bytesByDtype] ?? 0) / MB,
    })),
    { title: 'Weights by element type' },
  );
  const ops = new Table(
    Object.entries(t.opCounts)
      .sort((a, b) => b[1] - a[1])
      .map(([op, count]) => ({ op, count })),
    { title: 'Operators' },
  );
  const heaviest = [...summary.rows].sort((a, b) => b.params - a.params).slice(0, options.topLayers ?? 12);
  const layers = new Table(
    heaviest.map((r) => ({ layer: r.name, op: r.op, params: r.params, ...(pruned ? { sparsity: r.params ? r.zeros / r.params : 0 } : {}), dtype: r.dtype, MB: r.bytes / MB, MFLOPs: r.flops / 1e6 })),
    { title: `Largest layers (${heaviest.length} of ${summary.rows.length})` },
  );
  const io = new Table(
    [
      ...summary.inputs.map((x) => ({ kind: 'input', name: x.name, dtype: x.dtype, shape: JSON.stringify(x.shape ?? null) })),
      ...summary.outputs.map((x) => ({ kind: 'output', name: x.name, dtype: x.dtype, shape: JSON.stringify(x.shape ?? null) })),
    ],
    { title: 'Inputs and outputs' },
  );
  return new Panel(`Summary of ${options.name ?? 'model'}`, [totals, ...summary.notices, io, byDtype, ops, layers]);
}
