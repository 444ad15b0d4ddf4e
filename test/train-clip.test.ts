import { beforeAll, describe, expect, it } from 'vitest';
import { shapesTokenizer } from '../sdk/data/shapes';
import { buildOnnx, CLIP_TINY_SHAPES, type ClipSpec } from '../sdk/models';
import { evaluateClip, recallAtK, trainClip, useTrainingBackend, type ClipMetrics } from '../sdk/train';

// The shipped towers, shrunk to one layer each so a short run fits in a test.
const spec: ClipSpec = {
  ...CLIP_TINY_SHAPES,
  vision: { ...CLIP_TINY_SHAPES.vision, width: 32, layers: 1, heads: 2, mlpDim: 64 },
  text: { ...CLIP_TINY_SHAPES.text, width: 32, layers: 1, heads: 2, mlpDim: 64 },
  embedDim: 32,
};

beforeAll(async () => {
  await useTrainingBackend();
});

describe('trainClip', () => {
  it('learns to match shapes to captions: loss falls, zero-shot well above chance in tfjs and in the ONNX export', async () => {
    const seen: ClipMetrics[] = [];
    const result = await trainClip({ spec, validationSize: 200, trainItems: 2560, epochs: 3, batchSize: 64, lr: 3e-3, onValidation: (m) => seen.push(m) });
    expect(result.history).toHaveLength(3);
    expect(result.history[2].loss).toBeLessThan(result.history[0].loss);
    const best = seen[result.bestEpoch - 1];
    expect(best.zeroShotTop1).toBeGreaterThan(0.2); // chance: 1/16
    // The exported model, run by onnxruntime on the test split, is also well above chance.
    const onnx = await evaluateClip({ proto: buildOnnx(spec, result.weights) });
    expect(onnx.zeroShotTop1).toBeGreaterThan(0.2);
    expect(onnx.zeroShotItems).toBe(500);
    expect(onnx.retrievalItems).toBe(500);
  });

  it('rejects a spec whose text tower does not fit the shapes vocabulary', async () => {
    await expect(trainClip({ spec: { ...spec, text: { ...spec.text, vocabSize: 99 } }, epochs: 1 })).rejects.toThrow(`${shapesTokenizer().size} tokens`);
  });
});

describe('recallAtK', () => {
  it('counts a hit for any candidate with the true caption', () => {
    // 2-D unit vectors: query 0 is closest to candidate 1, which shares its caption.
    const q = Float32Array.of(1, 0, 0, 1, 0.6, 0.8);
    const c = Float32Array.of(0, 1, 0.9, 0.1, 0.6, 0.8);
    const r = recallAtK(q, c, ['a', 'a', 'b'], 2);
    // Query 0 → candidate 1 ('a'): hit. Query 1 → candidate 0 ('a'): hit. Query 2 → candidate 2: hit.
    expect(r).toEqual({ r1: 1, r5: 1 });
    const miss = recallAtK(q, c, ['a', 'b', 'c'], 2);
    expect(miss.r1).toBeCloseTo(1 / 3, 10);
  });
});
