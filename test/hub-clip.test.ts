import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TensorData } from '../sdk/tensor-data';
import { resolveHubModel } from '../sdk/hub';
import { ModelBuilder, serializeModel } from '../sdk/onnx';
import { ImageProcessor, TextTokenizer } from '../sdk/preprocess';
import { createSession } from '../sdk/runtime';
import { LocalHub } from './helpers/hub-server';
import { BOS, CLIP_TOKENIZER_CONFIG, clipTokenizerJson, EOS } from './helpers/clip-tokenizer';

/** pixel_values [N, 3, 8, 8] → per-channel mean: image_embeds [N, 3]. */
function visionModel(): Uint8Array {
  const b = new ModelBuilder({ opset: 17 });
  b.input('pixel_values', 'float32', ['batch', 3, 8, 8]);
  b.node('Flatten', [b.op('GlobalAveragePool', ['pixel_values'])], {}, { outputs: ['image_embeds'] });
  b.output('image_embeds', 'float32', ['batch', 3]);
  return serializeModel(b.build());
}

/** input_ids, attention_mask [N, L] → the count of real tokens and the sum of their ids: text_embeds [N, 2]. */
function textModel(): Uint8Array {
  const b = new ModelBuilder({ opset: 17 });
  b.input('input_ids', 'int64', ['batch', 'seq']);
  b.input('attention_mask', 'int64', ['batch', 'seq']);
  const ids = b.op('Cast', ['input_ids'], { to: 1 });
  const mask = b.op('Cast', ['attention_mask'], { to: 1 });
  const axes = b.initializer('axes', 'int64', [1], BigInt64Array.from([1n]));
  const count = b.op('ReduceSum', [mask, axes], { keepdims: 1 });
  const sum = b.op('ReduceSum', [b.op('Mul', [ids, mask]), axes], { keepdims: 1 });
  b.node('Concat', [count, sum], { axis: 1 }, { outputs: ['text_embeds'] });
  b.output('text_embeds', 'float32', ['batch', 2]);
  return serializeModel(b.build());
}

const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));
const CLIP_PREPROCESSOR = {
  feature_extractor_type: 'CLIPFeatureExtractor',
  do_resize: true,
  size: 8,
  resample: 3,
  do_center_crop: true,
  crop_size: 8,
  do_normalize: true,
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_std: [0.26862954, 0.26130258, 0.27577711],
};

const hub = new LocalHub();
let endpoint = '';
let cacheDir = '';
beforeAll(async () => {
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-clip-'));
  hub.addRepo('org/clip', {
    commit: 'd'.repeat(40),
    files: {
      'onnx/vision_model.onnx': visionModel(),
      'onnx/text_model.onnx': textModel(),
      'config.json': json({ model_type: 'clip' }),
      'preprocessor_config.json': json(CLIP_PREPROCESSOR),
      'tokenizer.json': json(clipTokenizerJson()),
      'tokenizer_config.json': json(CLIP_TOKENIZER_CONFIG),
    },
  });
  endpoint = await hub.start();
});
afterAll(async () => {
  await hub.stop();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

it('a CLIP repo: vision and text variants, their processor and tokenizer, run in onnxruntime', async () => {
  const opts = { endpoint, cacheDir, offline: false, token: undefined };
  const vision = await resolveHubModel('hf:org/clip:vision_model', opts);
  const text = await resolveHubModel('hf:org/clip:text_model', opts);
  expect(vision.file).toBe('onnx/vision_model.onnx');
  expect(text.file).toBe('onnx/text_model.onnx');
  expect(text.tokenizerPath).toBe(vision.tokenizerPath);
  expect(vision.id2label).toBeUndefined();
  // Shared files are downloaded once for both variants.
  for (const file of ['tokenizer.json', 'preprocessor_config.json']) {
    expect(hub.requests(`/${file}`).filter((q) => q.method === 'GET')).toHaveLength(1);
  }

  const processor = ImageProcessor.fromConfig(vision.preprocessorConfig!, vision.preprocessorPath);
  const pixels = await processor.process([path.join(__dirname, 'assets', 'images', 'pattern.png'), path.join(__dirname, 'assets', 'images', 'gray.png')]);
  expect(pixels.dims).toEqual([2, 3, 8, 8]);
  const visionSession = await createSession(vision.modelPath);
  const { image_embeds } = await visionSession.run({ pixel_values: pixels });
  await visionSession.dispose();
  const means = (t: TensorData): number[] => Array.from({ length: 6 }, (_, k) => (t.data as Float32Array).subarray(k * 64, (k + 1) * 64).reduce((a, v) => a + v, 0) / 64);
  means(pixels).forEach((m, k) => expect(Math.abs((image_embeds.data as Float32Array)[k] - m)).toBeLessThan(1e-5));

  const tokenizer = await TextTokenizer.fromFiles(text.tokenizerPath!, text.tokenizerConfigPath);
  const textSession = await createSession(text.modelPath);
  const { text_embeds } = await textSession.run({ ...tokenizer.encode(['a photo of a cat', 'a photo of a dog']) });
  await textSession.dispose();
  // cat: BOS a photo of a cat EOS = 29+11+26+22+11+21+30; dog swaps cat</w> (21) for dog</w> (28).
  expect(Array.from(text_embeds.data as Float32Array)).toEqual([7, BOS + 11 + 26 + 22 + 11 + 21 + EOS, 7, BOS + 11 + 26 + 22 + 11 + 28 + EOS]);
});
