import { describe, expect, it } from 'vitest';
import { Dataset, mnist, mulberry32 } from '../sdk/data';
import { isMmkitError } from '../sdk/errors';
import { evaluateModel, layerErrors, layerTensors } from '../sdk/eval';
import { findLinears, GraphView, makeTensor, mapInitializers, readModel, tensorArray, type OnnxModel, type TensorProto } from '../sdk/onnx';
import { createSession } from '../sdk/runtime';
import { mlpClassifier, seededInputs } from './helpers/runtime-models';

/** A copy whose initializers matching `which` get multiplicative noise of ±scale. */
function perturbed(model: OnnxModel, which: (t: TensorProto) => boolean, scale: number, seed = 5): OnnxModel {
  const rand = mulberry32(seed);
  return {
    proto: mapInitializers(model.proto, (t) => {
      if (!which(t)) return t;
      const w = Float32Array.from(tensorArray(t, model) as Float32Array, (v) => v * (1 + scale * (rand() * 2 - 1)));
      return makeTensor(t.name, 'float32', t.dims.map(Number), w);
    }),
  };
}

describe('layerErrors', () => {
  const base = mlpClassifier();
  const data = Dataset.fromTensors(seededInputs(40, 13), undefined, { batchSize: 16 });

  it('finds the layers of a model in graph order', () => {
    expect(layerTensors(base).map((l) => [l.tensor, l.kind, l.op, l.node])).toEqual([
      ['fc1.out', 'linear', 'Add', 'fc1.add'],
      ['logits', 'linear', 'Add', 'fc2.add'],
    ]);
  });

  it('puts the error where the weights changed, matching a hand computation', async () => {
    const model = perturbed(base, (t) => t.name === 'fc2.weight', 0.2);
    const r = await layerErrors(model, base, data);
    expect(r.items).toBe(40);
    expect(r.skipped).toEqual([]);
    const [fc1, head] = r.layers;
    expect(fc1).toMatchObject({ tensor: 'fc1.out', mse: 0, maxAbs: 0, snrDb: null, cosine: 1, relativeError: 0, elements: 40 * 16 });
    expect(head.tensor).toBe('logits');
    expect(head.mse).toBeGreaterThan(0);

    // The same numbers from two plain runs over all items at once.
    const [a, b] = await Promise.all([base, model].map(async (m) => {
      const s = await createSession(m);
      const out = (await s.run({ x: seededInputs(40, 13) })).logits.data as Float32Array;
      await s.dispose();
      return out;
    }));
    let d2 = 0;
    let b2 = 0;
    for (let i = 0; i < a.length; i++) {
      d2 += (b[i] - a[i]) ** 2;
      b2 += a[i] ** 2;
    }
    expect(head.elements).toBe(a.length);
    expect(head.mse).toBeCloseTo(d2 / a.length, 9);
    expect(head.relativeError).toBeCloseTo(Math.sqrt(d2 / b2), 9);
    expect(head.snrDb!).toBeCloseTo(10 * Math.log10(b2 / d2), 6);
  });

  it('compares named tensors, skips those the model lacks, rejects unknown ones', async () => {
    const renamed = mlpClassifier();
    const g = renamed.proto.graph!;
    g.node[2].output[0] = 'act';
    g.node[3].input[0] = 'act';
    const r = await layerErrors(renamed, base, data, { tensors: ['hidden', 'fc1.mm'] });
    expect(r.layers.map((l) => [l.tensor, l.kind, l.op, l.mse])).toEqual([['fc1.mm', 'tensor', 'MatMul', 0]]);
    expect(r.skipped).toEqual([{ tensor: 'hidden', reason: 'the model has no tensor of that name' }]);
    await expect(layerErrors(renamed, base, data, { tensors: ['hiddn'] })).rejects.toSatisfy((e) => isMmkitError(e, 'UNKNOWN_TENSOR') && /Did you mean 'hidden'/.test((e as Error).message));
  });

  it('shows which block of a real ViT a change hurts, through evaluate', async () => {
    const vit = await readModel('datasets/fixtures/torch-vit-tiny.onnx');
    // Only the second encoder block's MLP changes (torch names its weights onnx::MatMul_*): everything before it must match exactly.
    const mlpWeights = new Set(findLinears(GraphView.of(vit.proto)).filter((l) => l.output.includes('encoder_layer_1/mlp')).map((l) => l.weight));
    expect(mlpWeights.size).toBe(2);
    const model = perturbed(vit, (t) => mlpWeights.has(t.name), 0.3);
    const report = await evaluateModel(model, mnist({ split: 'test', batchSize: 16 }).take(32), { baseline: vit, layers: { items: 16 } });
    const layers = report.layers!.layers;
    expect(report.layers!.items).toBe(16);
    expect(layers.length).toBeGreaterThanOrEqual(6);
    const firstHurt = layers.findIndex((l) => l.mse > 0);
    expect(layers[firstHurt].tensor).toMatch(/encoder_layer_1\/mlp/);
    expect(layers.slice(0, firstHurt).every((l) => l.snrDb === null)).toBe(true);
    expect(layers.at(-1)!.kind).toBe('linear');
    expect(layers.at(-1)!.snrDb).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(report.layers))).toEqual(report.layers);
  });

  it('needs a baseline inside evaluate', async () => {
    await expect(evaluateModel(base, data, { layers: true })).rejects.toSatisfy((e) => isMmkitError(e, 'BAD_OPTION'));
  });
});
