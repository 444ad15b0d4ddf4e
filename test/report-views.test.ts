/**
 * Evaluation reports and model summaries as panels, from a real evaluation: the torch-exported
 * tiny ViT fixture against a copy with perturbed MLP weights, on MNIST test digits, run by
 * onnxruntime.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { inspect } from 'node:util';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mnist, mulberry32 } from '../sdk/data';
import { evaluateModel, type EvaluationReport } from '../sdk/eval';
import { makeTensor, mapInitializers, readModel, tensorArray, type OnnxModel } from '../sdk/onnx';
import { summarize } from '../sdk/pipeline';
import { Panel, REPORT_MIME, mimeBundleOf, modelFact } from '../sdk/report';
import { evaluationView, summaryView } from '../sdk/pipeline/views';

const FIXTURE = path.resolve(__dirname, '../datasets/fixtures/torch-vit-tiny.onnx');
let base: OnnxModel;
let report: EvaluationReport;

/** The fixture with ±30% multiplicative noise on every 2-D weight (the linear layers). */
function noisyCopy(model: OnnxModel): OnnxModel {
  const rand = mulberry32(3);
  return {
    proto: mapInitializers(model.proto, (t) => {
      if (t.dims.length !== 2) return t;
      const w = Float32Array.from(tensorArray(t, model) as Float32Array, (v) => v * (1 + 0.3 * (rand() * 2 - 1)));
      return makeTensor(t.name, 'float32', t.dims.map(Number), w);
    }),
  };
}

beforeAll(async () => {
  base = await readModel(FIXTURE);
  report = await evaluateModel(noisyCopy(base), mnist({ split: 'test', batchSize: 32 }).take(96), {
    baseline: base,
    layers: { items: 32 },
    intraOpThreads: 1,
  });
}, 120_000);

describe('evaluationView', () => {
  it('shows both models, the comparison and the worst layers as HTML with an inline SVG chart', async () => {
    const panel = evaluationView(report, { name: 'noisy <vit>', baselineName: 'vit' });
    expect(panel).toBeInstanceOf(Panel);
    const bundle = await mimeBundleOf(panel);
    expect(Object.keys(bundle).sort()).toEqual(['text/html', 'text/plain']);
    const html = bundle['text/html'] as string;
    expect(html).toContain('<h3>Evaluation of noisy &lt;vit&gt;</h3>');
    expect(html).toContain('96 items in 3 batches on cpu');
    // Metrics table: one row per model.
    const metrics = panel.tables[0];
    expect(metrics.column('model')).toEqual(['noisy <vit>', 'vit']);
    expect(metrics.column('top-1')).toEqual([report.model.accuracy!.top1, report.baseline!.accuracy!.top1]);
    // The per-layer chart is drawn, worst first, one bar per layer shown.
    const layersShown = Math.min(12, report.layers!.layers.length);
    expect(layersShown).toBeGreaterThan(0);
    expect(html.match(/aria-roledescription="bar"/g)).toHaveLength(layersShown);
    const errors = panel.tables[2].column('relative error') as number[];
    expect(errors).toEqual([...errors].sort((a, b) => b - a));
    expect(errors[0]).toBeGreaterThan(0);
    // Every warning of the comparison is on show, escaped.
    expect(panel.warnings).toEqual(report.comparison!.warnings);
    expect(html.match(/class="mmkit-warning"/g)?.length ?? 0).toBe(report.comparison!.warnings.length);
  });

  it('reads as text in a terminal', () => {
    const text = inspect(evaluationView(report));
    expect(text.startsWith('Evaluation of model\n===================')).toBe(true);
    expect(text).toContain('[chart: Relative error per layer');
    expect(text).toMatch(/model\s+top-1/);
  });
});

describe('summaryView', () => {
  it('tabulates totals, inputs/outputs, dtypes, operators and the largest layers', async () => {
    const summary = await summarize(base);
    const panel = summaryView(summary, { name: 'torch-vit-tiny' });
    const [totals, io, byDtype, ops, layers] = panel.tables;
    expect(totals.rows[0].params).toBe(summary.totals.params);
    expect(io.column('name')).toEqual(['pixel_values', 'logits']);
    expect(byDtype.column('dtype')).toContain('float32');
    expect((ops.column('count') as number[]).reduce((a, b) => a + b, 0)).toBe(summary.totals.nodes);
    const params = layers.column('params') as number[];
    expect(params).toEqual([...params].sort((a, b) => b - a));
    const bundle = await mimeBundleOf(panel);
    expect(bundle['text/html']).toContain('<h3>Summary of torch-vit-tiny</h3>');
  });
});

describe('report facts', () => {
  it('a panel carrying a recipe and a model hash hands them to the report under REPORT_MIME', async () => {
    const model = await modelFact(FIXTURE);
    expect(model.bytes).toBe(statSync(FIXTURE).size);
    expect(model.sha256).toBe(createHash('sha256').update(readFileSync(FIXTURE)).digest('hex'));
    const recipe = { source: 'torch-vit-tiny.onnx', steps: [{ op: 'quantize', options: { mode: 'dynamic' } }] };
    const bundle = await mimeBundleOf(new Panel('Saved', ['written'], { recipe, models: [model] }));
    expect(bundle[REPORT_MIME]).toEqual({ recipe, models: [{ ...model }] });
    expect(Object.keys(bundle).sort()).toEqual(['application/vnd.mmkit.report+json', 'text/html', 'text/plain']);
  });
});
