import { describe, expect, it } from 'vitest';
import { Dataset } from '../sdk/data';
import { isMmkitError } from '../sdk/errors';
import { createSession, runBatched } from '../sdk/runtime';
import { CLASSES, mlpClassifier, reshapeModel, seededInputs } from './helpers/runtime-models';

describe('runBatched', () => {
  const all = seededInputs(50, 9);

  it('equals one big run, for dataset batches and for named feeds', async () => {
    const s = await createSession(mlpClassifier(), { taps: ['hidden'] });
    const whole = await s.run({ x: all });
    const viaDataset = await runBatched(s, Dataset.fromTensors(all, undefined, { batchSize: 8 }));
    expect(viaDataset.logits.dims).toEqual([50, CLASSES]);
    const feeds = [0, 20, 35].map((start, i, starts) => {
      const end = starts[i + 1] ?? 50;
      return { x: { data: all.data.subarray(start * 6, end * 6) as Float32Array, dims: [end - start, 6], dtype: 'float32' as const } };
    });
    const progress: number[] = [];
    const viaFeeds = await runBatched(s, feeds, { fetch: ['logits'], onProgress: (n) => progress.push(n) });
    expect(progress).toEqual([20, 35, 50]);
    expect(Object.keys(viaFeeds)).toEqual(['logits']);
    for (const got of [viaDataset.logits, viaFeeds.logits, viaDataset.hidden]) {
      const want = got === viaDataset.hidden ? whole.hidden : whole.logits;
      expect(got.dims).toEqual(want.dims);
      const a = got.data as Float32Array;
      const b = want.data as Float32Array;
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-6);
    }
    await s.dispose();
  });

  it('stops with CANCELLED when the signal fires', async () => {
    const s = await createSession(mlpClassifier());
    const stop = new AbortController();
    const run = runBatched(s, Dataset.fromTensors(all, undefined, { batchSize: 10 }), { signal: stop.signal, onProgress: (n) => n >= 20 && stop.abort() });
    await expect(run).rejects.toSatisfy((e) => isMmkitError(e, 'CANCELLED'));
    await s.dispose();
  });

  it('refuses an empty source and a bare tensor for a multi-input model', async () => {
    const s = await createSession(mlpClassifier());
    await expect(runBatched(s, [])).rejects.toSatisfy((e) => isMmkitError(e, 'BAD_DATASET'));
    const two = await createSession(reshapeModel());
    await expect(runBatched(two, [{ inputs: all }])).rejects.toThrow(/2 inputs \('x', 'shape'\).*record keyed by input name/);
    await Promise.all([s.dispose(), two.dispose()]);
  });
});
