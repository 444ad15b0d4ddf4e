import { describe, expect, it } from 'vitest';
import { isMmkitError } from '../sdk/errors';
import { timeModel } from '../sdk/eval';
import { ModelBuilder } from '../sdk/onnx';
import { createSession, syntheticFeeds } from '../sdk/runtime';
import { mlpClassifier } from './helpers/runtime-models';

function sequenceModel() {
  const b = new ModelBuilder({ opset: 17 });
  b.input('x', 'float32', ['batch', 'seq']);
  b.input('ids', 'int64', ['batch', 'seq']);
  b.node('Relu', ['x'], {}, { outputs: ['y'] });
  b.node('Identity', ['ids'], {}, { outputs: ['ids_out'] });
  b.output('y', 'float32', ['batch', 'seq']);
  b.output('ids_out', 'int64', ['batch', 'seq']);
  return { proto: b.build() };
}

describe('timeModel', () => {
  it('times warm runs on made-up inputs of the declared shapes', async () => {
    const r = await timeModel(mlpClassifier(), { batchSize: 8, runs: 5, warmup: 3, intraOpThreads: 1 });
    expect(r.inputs).toEqual({ x: [8, 6] });
    expect(r.device).toBe('cpu');
    expect([r.latency.warmupBatches, r.latency.timedBatches, r.latency.timedItems]).toEqual([3, 5, 40]);
    expect(r.latency.perItemMs.mean).toBeCloseTo(r.latency.perBatchMs.mean / 8, 9);
  });

  it('runs a real ViT from its file', async () => {
    const r = await timeModel('datasets/fixtures/torch-vit-tiny.onnx', { batchSize: 4, runs: 2 });
    expect(r.inputs).toEqual({ pixel_values: [4, 1, 28, 28] });
    expect(r.latency.itemsPerSecond).toBeGreaterThan(0);
  });

  it('asks for the size of free dimensions, and checks its options', async () => {
    await expect(timeModel(sequenceModel())).rejects.toSatisfy((e) => isMmkitError(e, 'BAD_OPTION') && /free dimension 'seq'.*dims: \{ 'seq'/.test((e as Error).message));
    const r = await timeModel(sequenceModel(), { dims: { seq: 5 }, batchSize: 2, runs: 1 });
    expect(r.inputs).toEqual({ x: [2, 5], ids: [2, 5] });
    await expect(timeModel(mlpClassifier(), { runs: 0 })).rejects.toSatisfy((e) => isMmkitError(e, 'BAD_OPTION'));
  });
});

describe('syntheticFeeds', () => {
  it('fills floats with seeded values in [-1, 1) and integers with zeros', async () => {
    const s = await createSession(sequenceModel());
    const a = syntheticFeeds(s.inputs, { dims: { seq: 4 }, seed: 3 });
    const b = syntheticFeeds(s.inputs, { dims: { seq: 4 }, seed: 3 });
    expect(a.x.dims).toEqual([1, 4]);
    expect(Array.from(a.x.data as Float32Array)).toEqual(Array.from(b.x.data as Float32Array));
    expect((a.x.data as Float32Array).every((v) => v >= -1 && v < 1)).toBe(true);
    expect(new Set(a.x.data as Float32Array).size).toBe(4);
    expect(a.ids).toEqual({ data: new BigInt64Array(4), dims: [1, 4], dtype: 'int64' });
    const out = await s.run(a);
    expect(out.ids_out.dtype).toBe('int64');
    await s.dispose();
  });
});
