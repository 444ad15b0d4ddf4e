import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mnist, mulberry32 } from '../sdk/data';
import { evaluateModel } from '../sdk/eval';
import { dtypeOf, editModel, makeTensor, mapInitializers, readModel, tensorArray, type OnnxModel } from '../sdk/onnx';
import { createSession } from '../sdk/runtime';

// A seeded torchvision ViT exported by PyTorch (datasets/fixtures/export_torch_vit.py), with torch's own outputs.
const FIXTURE = 'datasets/fixtures/torch-vit-tiny.onnx';
const fixtureJson = (which: string) => JSON.parse(readFileSync(`datasets/fixtures/torch-vit-tiny.${which}.json`, 'utf8'));
const ATTENTION = '/encoder/layers/encoder_layer_0/self_attention/Softmax_output_0';
const GELU_ERF = '/encoder/layers/encoder_layer_1/mlp/mlp.1/Erf_output_0';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('a real PyTorch ViT', () => {
  const { pixel_values } = fixtureJson('inputs');
  const pixels = { data: Float32Array.from(pixel_values.data as number[]), dims: pixel_values.dims as number[], dtype: 'float32' as const };

  it('runs from its file like torch computed it (1e-4)', async () => {
    const s = await createSession(FIXTURE);
    expect(s.inputs[0]).toEqual({ name: 'pixel_values', dtype: 'float32', dims: ['batch', 1, 28, 28] });
    const out = await s.run({ pixel_values: pixels });
    expect(out.logits.dims).toEqual([3, 10]);
    expect(maxAbsDiff(out.logits.data as Float32Array, fixtureJson('outputs').logits.data)).toBeLessThan(1e-4);
    await s.dispose();
  });

  it('taps attention and GELU tensors exactly as a model exporting them as outputs', async () => {
    const model = await readModel(FIXTURE);
    const tapped = await createSession(model, { taps: [ATTENTION, GELU_ERF] });
    const exported: OnnxModel = { proto: editModel(model.proto, (e) => [ATTENTION, GELU_ERF].forEach((n) => e.addOutput(n, 'float32'))) };
    const declared = await createSession(exported);
    const plain = await createSession(model);
    const got = await tapped.run({ pixel_values: pixels });
    const want = await declared.run({ pixel_values: pixels });
    expect(got[ATTENTION].dims).toEqual(want[ATTENTION].dims);
    for (const name of [ATTENTION, GELU_ERF, 'logits']) expect(maxAbsDiff(got[name].data as Float32Array, want[name].data as Float32Array)).toBe(0);
    // Softmax rows of attention probabilities sum to 1.
    const probs = got[ATTENTION].data as Float32Array;
    const row = got[ATTENTION].dims.at(-1)!;
    expect(probs.slice(0, row).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    // A tap keeps onnxruntime from fusing across it (here: the GELU), which may move the logits by rounding only.
    expect(maxAbsDiff(got.logits.data as Float32Array, (await plain.run({ pixel_values: pixels })).logits.data as Float32Array)).toBeLessThan(1e-5);
    await Promise.all([tapped.dispose(), declared.dispose(), plain.dispose()]);
  });

  it('evaluates on MNIST against itself and against a copy with noisy weights', async () => {
    const model = await readModel(FIXTURE);
    const rand = mulberry32(3);
    const noisy: OnnxModel = {
      proto: mapInitializers(model.proto, (t) => {
        if (dtypeOf(t.dataType) !== 'float32' || t.dims.length < 2) return t;
        const w = Float32Array.from(tensorArray(t, model) as Float32Array, (v) => v * (1 + 0.3 * (rand() * 2 - 1)));
        return makeTensor(t.name, 'float32', t.dims.map(Number), w);
      }),
    };
    const digits = mnist({ split: 'test', batchSize: 32 }).take(96);
    const self = await evaluateModel(model, digits, { baseline: model });
    expect(self.items).toBe(96);
    expect(self.agreement!.top1).toBe(1);
    expect(self.agreement!.klMean).toBeLessThan(1e-12);
    expect(self.model.size.fileBytes).toBe(readFileSync(FIXTURE).length);
    expect(self.model.size.params).toBeGreaterThan(50_000);

    const r = await evaluateModel(noisy, digits, { baseline: model });
    expect(r.agreement!.top1).toBeGreaterThan(0.3);
    expect(r.agreement!.top1).toBeLessThan(1);
    expect(r.agreement!.klMean).toBeGreaterThan(0);
    expect(r.agreement!.cosineMean).toBeGreaterThan(0.5);
    expect(r.agreement!.cosineMean).toBeLessThan(1);
    expect(r.baseline!.accuracy).toEqual(self.model.accuracy);
  });
});
