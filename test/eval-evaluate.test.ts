import { describe, expect, it } from 'vitest';
import { Dataset, type Batch } from '../sdk/data';
import { isMmkitError } from '../sdk/errors';
import { evaluateModel } from '../sdk/eval';
import { ModelBuilder, serializeModel, type OnnxModel } from '../sdk/onnx';
import { createSession } from '../sdk/runtime';
import { CLASSES, FEATURES, HIDDEN, mlpClassifier, seededInputs } from './helpers/runtime-models';

const ITEMS = 60;
const x = seededInputs(ITEMS, 21);

/** The model's own predictions, computed with a plain session: the labels of a perfect classifier. */
async function predictions(model: OnnxModel): Promise<Int32Array> {
  const s = await createSession(model);
  const logits = (await s.run({ x })).logits.data as Float32Array;
  await s.dispose();
  return Int32Array.from({ length: ITEMS }, (_, r) => {
    let best = 0;
    for (let c = 1; c < CLASSES; c++) if (logits[r * CLASSES + c] > logits[r * CLASSES + best]) best = c;
    return best;
  });
}

const errorCode = (e: unknown) => (isMmkitError(e) ? e.code : String(e));

describe('evaluateModel', () => {
  const model = mlpClassifier();

  it('scores accuracy from labels: 1 on its own predictions, 0 top-1 on shifted ones', async () => {
    const own = await predictions(model);
    const right = await evaluateModel(model, Dataset.fromTensors(x, own, { batchSize: 16 }));
    expect(right.model.accuracy).toEqual({ top1: 1, top5: 1 });
    expect([right.items, right.batches, right.classes, right.outputName, right.device]).toEqual([ITEMS, 4, CLASSES, 'logits', 'cpu']);
    const wrong = await evaluateModel(model, Dataset.fromTensors(x, own.map((c) => (c + 1) % CLASSES), { batchSize: 16 }));
    // Four classes: every label is still inside the top 5.
    expect(wrong.model.accuracy).toEqual({ top1: 0, top5: 1 });
    expect(right.agreement).toBeUndefined();
  });

  it('against itself: agreement 1, KL 0, cosine 1; and a JSON-able report', async () => {
    const r = await evaluateModel(model, Dataset.fromTensors(x, undefined, { batchSize: 10 }), { baseline: mlpClassifier(), intraOpThreads: 1 });
    expect(r.model.accuracy).toBeUndefined();
    expect(r.agreement!.top1).toBe(1);
    expect(r.agreement!.klMean).toBeLessThan(1e-12);
    expect(r.agreement!.cosineMean).toBeCloseTo(1, 9);
    expect(r.comparison!.sizeRatio).toBe(1);
    expect(r.comparison!.speedup).toBeGreaterThan(0);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('against a perturbed copy: plausible, imperfect agreement', async () => {
    const own = await predictions(model);
    const r = await evaluateModel(mlpClassifier({ noise: 0.15 }), Dataset.fromTensors(x, own, { batchSize: 20 }), { baseline: model });
    const { top1, klMean, cosineMean } = r.agreement!;
    expect(top1).toBeGreaterThan(0.5);
    expect(top1).toBeLessThan(1);
    expect(klMean).toBeGreaterThan(1e-4);
    expect(klMean).toBeLessThan(1);
    expect(cosineMean).toBeGreaterThan(0.8);
    expect(cosineMean).toBeLessThan(1);
    // The baseline is scored on the same labels: its own predictions.
    expect(r.baseline!.accuracy!.top1).toBe(1);
    expect(r.model.accuracy!.top1).toBeCloseTo(top1, 12);
    expect(r.comparison!.top1DeltaPoints).toBeCloseTo(100 * (top1 - 1), 9);
    expect(r.comparison!.warnings).toContainEqual(expect.stringMatching(/Top-1 accuracy dropped by/));
  });

  it('reads float16 outputs: a half-precision head agrees with the float32 one up to rounding', async () => {
    const r = await evaluateModel(mlpClassifier({ halfOutput: true }), Dataset.fromTensors(x, undefined, { batchSize: 20 }), { baseline: model });
    expect(r.agreement!.top1).toBeGreaterThan(0.95);
    expect(r.agreement!.klMean).toBeLessThan(1e-5);
    expect(r.agreement!.klMean).toBeGreaterThan(0);
    expect(r.agreement!.cosineMean).toBeGreaterThan(0.99999);
  });

  it('reports size from initializers and Constant nodes, and latency without warm-up', async () => {
    const r = await evaluateModel(model, Dataset.fromTensors(x, undefined, { batchSize: 10 }), { warmup: 1 });
    const params = FEATURES * HIDDEN + HIDDEN + HIDDEN * CLASSES + CLASSES;
    expect(r.model.size).toEqual({ fileBytes: serializeModel(model).length, params, paramsByDtype: { float32: params }, bytesByDtype: { float32: 4 * params } });
    const lat = r.model.latency;
    expect([lat.warmupBatches, lat.timedBatches, lat.timedItems]).toEqual([1, 5, 50]);
    expect(lat.perBatchMs.p50).toBeGreaterThan(0);
    expect(lat.perItemMs.p50).toBeCloseTo(lat.perBatchMs.p50 / 10, 9);
    expect(lat.perBatchMs.p99).toBeGreaterThanOrEqual(lat.perBatchMs.p50);
    expect(lat.itemsPerSecond).toBeGreaterThan(0);

    const b = new ModelBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 3]);
    const w = b.constant('float16', [3, 3], new Uint16Array(9));
    const k = b.initializer('k', 'int8', [5], new Int8Array(5));
    const y = b.op('MatMul', ['x', b.op('Cast', [w], { to: 1 })]);
    b.node('Identity', [y], {}, { outputs: ['out'] });
    b.node('Identity', [k], {}, { outputs: ['k_out'] });
    b.output('out', 'float32', ['N', 3]);
    b.output('k_out', 'int8', [5]);
    const mixed: OnnxModel = { proto: b.build() };
    const size = (await evaluateModel(mixed, [{ inputs: { data: new Float32Array(6), dims: [2, 3], dtype: 'float32' } }] as unknown as AsyncIterable<Batch>)).model.size;
    expect(size).toMatchObject({ params: 14, paramsByDtype: { float16: 9, int8: 5 }, bytesByDtype: { float16: 18, int8: 5 } });
  });

  it('regroups batches, reports progress, and reads any AsyncIterable of batches', async () => {
    async function* source(): AsyncGenerator<Batch> {
      for (let s = 0; s < ITEMS; s += 7) {
        const e = Math.min(ITEMS, s + 7);
        yield { inputs: { x: { data: x.data.subarray(s * FEATURES, e * FEATURES) as Float32Array, dims: [e - s, FEATURES], dtype: 'float32' } } };
      }
    }
    const seen: [number, number | undefined][] = [];
    const r = await evaluateModel(model, { [Symbol.asyncIterator]: source }, { batchSize: 25, onProgress: (d, t) => seen.push([d, t]) });
    expect(r.batches).toBe(3);
    expect(seen).toEqual([[25, undefined], [50, undefined], [60, undefined]]);
    const sized: [number, number | undefined][] = [];
    await evaluateModel(model, Dataset.fromTensors(x, undefined, { batchSize: 30 }), { onProgress: (d, t) => sized.push([d, t]) });
    expect(sized).toEqual([[30, 60], [60, 60]]);
  });

  it('fails clearly: cancelled, wrong input shape, unknown output, empty dataset, bad options', async () => {
    const stop = new AbortController();
    const cancelled = evaluateModel(model, Dataset.fromTensors(x, undefined, { batchSize: 10 }), { signal: stop.signal, onProgress: () => stop.abort() });
    await expect(cancelled).rejects.toSatisfy((e) => errorCode(e) === 'CANCELLED');

    const wide = Dataset.fromTensors({ data: new Float32Array(4 * 5), dims: [4, 5], dtype: 'float32' });
    await expect(evaluateModel(model, wide)).rejects.toThrow(/Input 'x' of the model expects shape \[N, 6\], got \[4, 5\]/);
    await expect(evaluateModel(model, wide)).rejects.toSatisfy((e) => errorCode(e) === 'SHAPE_MISMATCH');

    await expect(evaluateModel(model, Dataset.fromTensors(x), { outputName: 'probs' })).rejects.toSatisfy((e) => errorCode(e) === 'UNKNOWN_TENSOR');
    await expect(evaluateModel(model, Dataset.fromTensors(x).take(0))).rejects.toSatisfy((e) => errorCode(e) === 'BAD_DATASET');
    await expect(evaluateModel(model, Dataset.fromTensors(x), { batchSize: 0 })).rejects.toSatisfy((e) => errorCode(e) === 'BAD_OPTION');
    await expect(evaluateModel(model, Dataset.fromTensors(x), { device: 'gpu' as never })).rejects.toSatisfy((e) => errorCode(e) === 'UNKNOWN_DEVICE');
    await expect(evaluateModel(model, Dataset.fromTensors(x), { intraOpThreads: -1 })).rejects.toSatisfy((e) => errorCode(e) === 'BAD_OPTION');
    const tenClasses = Dataset.fromTensors(x, Int32Array.from({ length: ITEMS }, (_, i) => i % 10));
    await expect(evaluateModel(model, tenClasses)).rejects.toThrow(/Label 4 of item 4 is outside the model's 4 classes/);
  });
});
