import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../sdk/random';
import { buildOnnx, clipForward, initWeights, toVariables, vitLogits, weightsFromOnnx, type ClipSpec, type Weights, type VitSpec } from '../sdk/models';
import { parseModel, serializeModel } from '../sdk/onnx';
import { createSession } from '../sdk/runtime';
import { useTrainingBackend } from '../sdk/train/backend';

// Outputs of the two runtimes for the same weights differ only by float32 rounding in different op orders.
const TOLERANCE = 2e-4;

const vit: VitSpec = {
  kind: 'vit',
  vision: { imageSize: 28, patchSize: 7, channels: 1, width: 32, layers: 2, heads: 4, mlpDim: 64, layerNormEps: 1e-5 },
  numClasses: 10,
};

const clip: ClipSpec = {
  kind: 'clip',
  vision: { imageSize: 16, patchSize: 4, channels: 3, width: 32, layers: 1, heads: 2, mlpDim: 64, layerNormEps: 1e-5 },
  text: { vocabSize: 20, maxLength: 8, width: 24, layers: 2, heads: 3, mlpDim: 48, layerNormEps: 1e-5 },
  embedDim: 16,
  initLogitScale: Math.log(1 / 0.07),
};

/** Seeded weights far from the small init, so every path through the graph moves the outputs. */
function loudWeights(spec: VitSpec | ClipSpec, seed: number): Weights {
  const rand = mulberry32(seed);
  const w = initWeights(spec, seed);
  for (const [name, t] of Object.entries(w)) {
    if (name === 'logit_scale') continue;
    for (let i = 0; i < t.data.length; i++) t.data[i] = (rand() - 0.5) * (name.endsWith('ln1.weight') || name.endsWith('ln2.weight') ? 2 : 0.6);
  }
  return w;
}

function randomFloats(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => rand() * 2 - 1);
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

beforeAll(async () => {
  await useTrainingBackend();
});

afterAll(() => tf.disposeVariables());

describe('ViT: onnxruntime and tfjs agree for the same weights', () => {
  it('gives the same logits within 2e-4', async () => {
    const weights = loudWeights(vit, 1);
    const proto = buildOnnx(vit, weights);
    const pixels = randomFloats(3 * 28 * 28, 2);
    const session = await createSession(proto);
    const ort = (await session.run({ pixel_values: { data: pixels, dims: [3, 1, 28, 28], dtype: 'float32' } })).logits;
    await session.dispose();
    expect(ort.dims).toEqual([3, 10]);

    const vars = toVariables(weights);
    const tfLogits = tf.tidy(() => vitLogits(vars, vit, tf.tensor4d(pixels, [3, 1, 28, 28])));
    const diff = maxAbsDiff(ort.data as Float32Array, await tfLogits.data());
    tfLogits.dispose();
    expect(diff).toBeLessThan(TOLERANCE);
    // The logits are not trivially equal (the weights make the model do something).
    expect(Math.max(...(ort.data as Float32Array)) - Math.min(...(ort.data as Float32Array))).toBeGreaterThan(0.5);
  });

  it('round-trips weights through the ONNX file (tfjs → ONNX → tfjs)', () => {
    const weights = loudWeights(vit, 3);
    const back = weightsFromOnnx(vit, parseModel(serializeModel(buildOnnx(vit, weights))));
    for (const [name, w] of Object.entries(weights)) {
      expect(back[name].dims).toEqual(w.dims);
      expect(maxAbsDiff(back[name].data, w.data)).toBe(0);
    }
  });
});

describe('CLIP: onnxruntime and tfjs agree for the same weights', () => {
  it('gives the same embeddings and logits, padding masked', async () => {
    const weights = loudWeights(clip, 4);
    const session = await createSession(buildOnnx(clip, weights));
    expect([...session.outputNames].sort()).toEqual(['image_embeds', 'logits_per_image', 'logits_per_text', 'text_embeds']);
    const pixels = randomFloats(2 * 3 * 16 * 16, 5);
    // Three captions of lengths 6, 4 and 2 padded to 6; padding ids are arbitrary and must not matter.
    const ids = [1, 5, 7, 9, 3, 2, 1, 6, 8, 2, 11, 13, 1, 2, 17, 4, 4, 4];
    const mask = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0];
    const feeds = {
      pixel_values: { data: pixels, dims: [2, 3, 16, 16], dtype: 'float32' as const },
      input_ids: { data: BigInt64Array.from(ids, BigInt), dims: [3, 6], dtype: 'int64' as const },
      attention_mask: { data: BigInt64Array.from(mask, BigInt), dims: [3, 6], dtype: 'int64' as const },
    };
    const ort = await session.run(feeds);
    // Other ids in the padded slots give the same outputs.
    const repadded = await session.run({ ...feeds, input_ids: { ...feeds.input_ids, data: BigInt64Array.from(ids.map((v, i) => (mask[i] ? v : 0)), BigInt) } });
    await session.dispose();
    expect(maxAbsDiff(repadded.text_embeds.data as Float32Array, ort.text_embeds.data as Float32Array)).toBeLessThan(1e-6);
    expect(ort.logits_per_image.dims).toEqual([2, 3]);

    const vars = toVariables(weights);
    const out = tf.tidy(() => clipForward(vars, clip, tf.tensor4d(pixels, [2, 3, 16, 16]), tf.tensor2d(ids, [3, 6], 'int32'), tf.tensor2d(mask, [3, 6], 'int32')));
    expect(maxAbsDiff(ort.image_embeds.data as Float32Array, await out.imageEmbeds.data())).toBeLessThan(TOLERANCE);
    expect(maxAbsDiff(ort.text_embeds.data as Float32Array, await out.textEmbeds.data())).toBeLessThan(TOLERANCE);
    // Logits are scaled by exp(ln(1/0.07)) ≈ 14.3, so their tolerance scales too.
    expect(maxAbsDiff(ort.logits_per_image.data as Float32Array, await out.logitsPerImage.data())).toBeLessThan(TOLERANCE * 15);
    const perText = ort.logits_per_text.data as Float32Array;
    const perImage = ort.logits_per_image.data as Float32Array;
    for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) expect(perText[j * 2 + i]).toBe(perImage[i * 3 + j]);
  });
});
