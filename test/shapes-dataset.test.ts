import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTensorData } from '../sdk/data';
import { renderShapes, shapeIndices, shapePrompts, shapeScene, shapes, shapesTokenizer, SHAPES_SPLIT_SIZES, SHAPE_RELATIONS } from '../sdk/data/shapes';
import { isMmkitError } from '../sdk/errors';
import { buildOnnx, initWeights, tokenizerFromModel, VIT_TINY_MNIST } from '../sdk/models';
import { readModel } from '../sdk/onnx';

describe('shapes image–caption set', () => {
  it('is deterministic: the same index gives the same image and caption', () => {
    const a = renderShapes('test', [0, 1, 7]);
    const b = renderShapes('test', [7, 0, 1]);
    expect(b.scenes[1].caption).toBe(a.scenes[0].caption);
    expect(Array.from(b.pixels.data.subarray(0, 3072))).toEqual(Array.from(a.pixels.data.subarray(2 * 3072, 3 * 3072)));
    expect(a.pixels.dims).toEqual([3, 3, 32, 32]);
  });

  it('keeps train and test apart and puts the relation where the caption says', () => {
    const train = new Set(Array.from({ length: 200 }, (_, i) => shapeScene('train', i).caption + JSON.stringify(shapeScene('train', i).shapes)));
    for (let i = 0; i < 200; i++) expect(train.has(shapeScene('test', i).caption + JSON.stringify(shapeScene('test', i).shapes))).toBe(false);
    const seen = new Set<string>();
    for (let i = 1; i < 400; i += 2) {
      const { shapes: [a, b], relation, caption } = shapeScene('test', i);
      seen.add(relation!);
      expect(caption).toBe(`a ${a.colour} ${a.kind} ${relation} a ${b.colour} ${b.kind}`);
      if (relation === 'left of') expect(a.x).toBeLessThan(b.x - 6);
      if (relation === 'right of') expect(a.x).toBeGreaterThan(b.x + 6);
      if (relation === 'above') expect(a.y).toBeLessThan(b.y - 6);
      if (relation === 'below') expect(a.y).toBeGreaterThan(b.y + 6);
      expect(a.colour !== b.colour || a.kind !== b.kind).toBe(true);
    }
    expect(seen.size).toBe(SHAPE_RELATIONS.length);
  });

  it('draws each shape in its colour at its place', () => {
    const { pixels, scenes } = renderShapes('train', [0]);
    const [s] = scenes[0].shapes;
    const at = (c: number, x: number, y: number): number => pixels.data[c * 1024 + Math.floor(y) * 32 + Math.floor(x)] as number;
    const centre = [0, 1, 2].map((c) => at(c, s.x, s.y));
    const rgb = { red: [1, -1, -1], green: [-1, 1, -1], blue: [-1, -1, 1], yellow: [1, 1, -1] }[s.colour];
    // The brightest channels at the centre are the colour's (values are in [-1, 1]); a corner is background.
    rgb.forEach((v, c) => (v > 0 ? expect(centre[c]).toBeGreaterThan(0.5) : expect(centre[c]).toBeLessThan(0)));
    const corner = [0, 1, 2].map((c) => at(c, s.x < 16 ? 31 : 0, s.y < 16 ? 31 : 0));
    for (const v of corner) expect(v).toBeLessThan(-0.6);
  });

  it('serves pairs, zero-shot and retrieval tasks as datasets', async () => {
    const pairs = shapes({ split: 'test', batchSize: 8 }).take(8);
    for await (const b of pairs) {
      expect(isTensorData(b.inputs)).toBe(false);
      const inputs = b.inputs as Record<string, { dims: number[] }>;
      expect(Object.keys(inputs).sort()).toEqual(['attention_mask', 'input_ids', 'pixel_values']);
      expect(inputs.pixel_values.dims).toEqual([8, 3, 32, 32]);
      expect(inputs.input_ids.dims[0]).toBe(8);
    }
    const zeroShot = shapes({ split: 'test', task: 'zero-shot' });
    expect(zeroShot.size).toBe(SHAPES_SPLIT_SIZES.test / 2);
    expect(zeroShot.info.classes).toHaveLength(16);
    for await (const b of zeroShot.take(32)) for (const l of b.label!) expect(l).toBeGreaterThanOrEqual(0);
    expect(shapeIndices('test', 'retrieval').every((i) => i % 2 === 1)).toBe(true);
    expect(() => shapes({ split: 'valid' as 'test' })).toThrow(/split must be 'train' or 'test'/);
  });
});

describe('word tokenizer', () => {
  const tok = shapesTokenizer();

  it('encodes [BOS] words [EOS] with padding and a mask, and decodes back', () => {
    const { input_ids, attention_mask } = tok.encode(['a red circle', 'a blue square left of a red circle']);
    expect(input_ids.dims).toEqual([2, 10]);
    const ids = Array.from(input_ids.data as BigInt64Array, Number);
    expect(ids[0]).toBe(1);
    expect(ids.slice(5, 10)).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(attention_mask.data as BigInt64Array, Number).slice(0, 10)).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    expect(tok.decode(ids.slice(10))).toBe('a blue square left of a red circle');
    expect(shapePrompts()).toHaveLength(16);
  });

  it('rejects unknown words and too long texts, naming them', () => {
    try {
      tok.encode(['a purple circle']);
      expect.unreachable();
    } catch (e) {
      expect(isMmkitError(e, 'BAD_OPTION')).toBe(true);
      expect((e as Error).message).toContain("'purple'");
    }
    expect(() => tok.encode(['a red circle left of a red circle left of a red square'])).toThrow(/at most 12/);
  });
});

describe('tokenizer in model metadata', () => {
  it('travels with the shipped CLIP model and matches shapesTokenizer()', async () => {
    const model = await readModel(path.join(__dirname, '..', 'datasets', 'models', 'clip-tiny-shapes.onnx'));
    const tok = tokenizerFromModel(model);
    expect(tok.vocabulary).toEqual(shapesTokenizer().vocabulary);
    expect(tok.maxLength).toBe(shapesTokenizer().maxLength);
    expect(() => tokenizerFromModel({ proto: buildOnnx(VIT_TINY_MNIST, initWeights(VIT_TINY_MNIST)) })).toThrow(/carries no 'mmkit.tokenizer' metadata/);
  });
});
