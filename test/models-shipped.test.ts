import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mnist } from '../sdk/data';
import { evaluateModel } from '../sdk/eval';
import { CLIP_TINY_SHAPES, VIT_TINY_MNIST, weightsFromOnnx } from '../sdk/models';
import { readModel } from '../sdk/onnx';
import { evaluateClip } from '../sdk/train/clip-eval';

const MODELS = path.join(__dirname, '..', 'datasets', 'models');
// One item of the test split: onnxruntime on another CPU may round a borderline item the other way.
const VIT_TOLERANCE = 1 / 1996;
const CLIP_TOLERANCE = 1 / 500;

function card(name: string): { markdown: string; metrics: Record<string, number> } {
  return {
    markdown: fs.readFileSync(path.join(MODELS, `${name}.md`), 'utf8'),
    metrics: JSON.parse(fs.readFileSync(path.join(MODELS, `${name}.metrics.json`), 'utf8')) as Record<string, number>,
  };
}

describe('shipped vit-tiny-mnist', () => {
  it('reaches the card top-1 (≥ 97%) on the held-out MNIST split, measured by evaluateModel', async () => {
    const { markdown, metrics } = card('vit-tiny-mnist');
    const model = await readModel(path.join(MODELS, 'vit-tiny-mnist.onnx'));
    weightsFromOnnx(VIT_TINY_MNIST, model); // the file holds exactly the preset's parameters
    const report = await evaluateModel(model, mnist({ split: 'test', batchSize: 100 }));
    expect(report.items).toBe(metrics.testItems);
    expect(Math.abs(report.model.accuracy!.top1 - metrics.top1)).toBeLessThanOrEqual(VIT_TOLERANCE);
    expect(metrics.top1).toBeGreaterThanOrEqual(0.97);
    expect(markdown).toContain(metrics.top1.toFixed(4));
    expect(report.model.size.fileBytes).toBeLessThan(2_000_000);
  });
});

describe('shipped clip-tiny-shapes', () => {
  it('reproduces the card zero-shot accuracy and recall@k on the shapes test split, measured by evaluateClip', async () => {
    const { markdown, metrics } = card('clip-tiny-shapes');
    const model = await readModel(path.join(MODELS, 'clip-tiny-shapes.onnx'));
    weightsFromOnnx(CLIP_TINY_SHAPES, model);
    const m = await evaluateClip(model);
    expect(Math.abs(m.zeroShotTop1 - metrics.zeroShotTop1)).toBeLessThanOrEqual(CLIP_TOLERANCE);
    expect(Math.abs(m.imageToText.r1 - metrics.imageToTextR1)).toBeLessThanOrEqual(CLIP_TOLERANCE);
    expect(Math.abs(m.imageToText.r5 - metrics.imageToTextR5)).toBeLessThanOrEqual(CLIP_TOLERANCE);
    expect(Math.abs(m.textToImage.r1 - metrics.textToImageR1)).toBeLessThanOrEqual(CLIP_TOLERANCE);
    expect(Math.abs(m.textToImage.r5 - metrics.textToImageR5)).toBeLessThanOrEqual(CLIP_TOLERANCE);
    // Far above chance (1/16 zero-shot, 1/500 retrieval): the model reads colour, shape and relation.
    expect(m.zeroShotTop1).toBeGreaterThan(0.5);
    expect(m.imageToText.r5).toBeGreaterThan(0.2);
    expect(markdown).toContain(metrics.zeroShotTop1.toFixed(4));
    expect(model.fileBytes!).toBeLessThan(3_000_000);
  });
});
