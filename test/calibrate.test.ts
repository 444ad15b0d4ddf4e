import { describe, expect, it } from 'vitest';
import { isMmkitError } from '../sdk';
import { ActivationHistogram, calibrate, chooseRange, RangeTracker, type CalibrateOptions } from '../sdk/calibrate';
import { Dataset, mnist, mulberry32 } from '../sdk/data';
import { readModel } from '../sdk/onnx';
import { createSession, runBatched } from '../sdk/runtime';
import { mlpClassifier, seededInputs } from './helpers/runtime-models';

const VIT_MNIST = 'datasets/models/vit-tiny-mnist.onnx';

/** Seeded standard normal samples (Box–Muller). */
function gaussian(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand()));
    const a = 2 * Math.PI * rand();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

/** The statistics calibrate() builds, for values given directly (its two passes over one array). */
function histogramOf(values: Float32Array, bins = 2048): ActivationHistogram {
  const r = new RangeTracker();
  r.add(values);
  const h = new ActivationHistogram({ min: r.min, max: r.max }, bins);
  h.add(values);
  return h;
}

const range = (h: ActivationHistogram, method: 'minmax' | 'percentile' | 'entropy' | 'mse', percentile = 99.999, symmetric = false) => chooseRange(h, { method, percentile, symmetric });

describe('calibration methods on known distributions', () => {
  it('minmax is the exact observed range', () => {
    const v = Float32Array.from([0.5, -3.25, 7.125, 0, 2]);
    expect(range(histogramOf(v), 'minmax')).toEqual({ min: -3.25, max: 7.125 });
  });

  it('percentile: the quantiles of a uniform grid and of a normal distribution', () => {
    // 100,001 evenly spaced values on [-1, 1]: every quantile is known exactly.
    const uniform = Float32Array.from({ length: 100_001 }, (_, i) => -1 + i / 50_000);
    const h = histogramOf(uniform);
    // Asymmetric 98: 1% off each end → [-0.98, 0.98]; symmetric 98: the 98th percentile of |x| → ±0.98.
    const a = range(h, 'percentile', 98);
    expect(a.min).toBeCloseTo(-0.98, 3);
    expect(a.max).toBeCloseTo(0.98, 3);
    const s = range(h, 'percentile', 98, true);
    expect(s.max).toBeCloseTo(0.98, 3);
    expect(s.min).toBeCloseTo(-0.98, 3);
    // |N(0, 1)| has its 99.9th percentile at 3.2905 (two-sided 0.1% tail); 400k samples hit it within ~0.03.
    const g = histogramOf(gaussian(400_000, 7));
    const t = range(g, 'percentile', 99.9, true).max;
    console.log(`percentile 99.9 of |N(0,1)|: ${t.toFixed(4)} (exact 3.2905)`);
    expect(Math.abs(t - 3.2905)).toBeLessThan(0.05);
  });

  it('entropy (KL) clips a heavy tail of rare outliers to a few sigma', () => {
    const v = gaussian(200_000, 11);
    for (let i = 0; i < 20; i++) v[i * 9_973] = i % 2 ? 40 : -40; // 0.01% of values at ±40σ
    const h = histogramOf(v);
    expect(range(h, 'minmax')).toEqual({ min: -40, max: 40 });
    const e = range(h, 'entropy');
    console.log(`entropy threshold on N(0,1) + 0.01% at ±40: [${e.min.toFixed(3)}, ${e.max.toFixed(3)}]`);
    // The smallest candidate is 128 of 2048 bins (2.5σ); the bulk ends near 4.5σ.
    expect(e.max).toBeGreaterThanOrEqual(2.5 - 1e-6);
    expect(e.max).toBeLessThan(8);
    expect(e.min).toBeCloseTo(-e.max, 9);
  });

  it('mse: the clipping threshold that balances clipped error against rounding noise, as computed by hand', () => {
    // N = 1e6 values uniform on [0, 1] plus k values at 100 (uint8 grid over [0, t], 255 steps).
    // Expected squared error f(t) = k·(100 − t)² + N·(t/255)²/12 for t ≥ 1, minimal at
    // t* = 100·k / (k + N/(255²·12)): 43.83 for k = 1, 99.87 for k = 1000.
    const expected = (k: number) => (100 * k) / (k + 1e6 / (255 * 255 * 12));
    for (const k of [1, 1000]) {
      const v = new Float32Array(1_000_001 + k);
      for (let i = 0; i <= 1_000_000; i++) v[i] = i / 1_000_000;
      v.fill(100, 1_000_001);
      const m = range(histogramOf(v), 'mse');
      console.log(`mse threshold on U(0,1) + ${k} at 100: ${m.max.toFixed(3)} (hand-computed ${expected(k).toFixed(3)})`);
      expect(m.min).toBe(0);
      // Within one bin (100/2048) of the optimum.
      expect(Math.abs(m.max - expected(k))).toBeLessThan(0.05);
    }
  });
});

describe('calibrate() over a model', () => {
  it('minmax equals the min/max of the tapped activations over the data, graph inputs included', async () => {
    const model = mlpClassifier({ exposeHidden: true });
    const x = seededInputs(100, 3);
    const data = Dataset.fromTensors(x, undefined, { batchSize: 16, name: 'seeded' });
    const table = await calibrate(model, data, { tensors: ['x', 'fc1.out', 'hidden'] });
    const session = await createSession(model, { taps: ['fc1.out'] });
    const out = await runBatched(session, data, { fetch: ['fc1.out', 'hidden'] });
    await session.dispose();
    const exact = (a: ArrayLike<number>) => ({ min: Math.min(...Array.from(a)), max: Math.max(...Array.from(a)) });
    expect(table.get('x')).toMatchObject(exact(x.data as Float32Array));
    expect(table.get('fc1.out')).toMatchObject(exact(out['fc1.out'].data as Float32Array));
    expect(table.get('hidden')).toMatchObject({ ...exact(out.hidden.data as Float32Array), observed: exact(out.hidden.data as Float32Array) });
    expect(table.get('hidden')!.min).toBe(0); // after Relu
  });

  it('streams ViT activations in two passes for histogram methods, reports progress, stops at maxItems', async () => {
    const model = await readModel(VIT_MNIST);
    const tensors = ['/vision/layers/0/ln1/LayerNormalization_output_0', '/vision/layers/0/mlp/Mul_1_output_0', '/vision/layers/3/attn/Softmax_output_0'];
    const calls: [number, number | undefined, string | undefined][] = [];
    const table = await calibrate(model, mnist({ split: 'train', batchSize: 32 }), { tensors, method: 'percentile', percentile: 99.99, maxItems: 96, onProgress: (d, t, l) => calls.push([d, t, l]) });
    expect(calls.at(-1)).toEqual([192, 192, 'calibrate']); // 96 items × 2 passes
    expect(calls).toHaveLength(6);
    for (const t of tensors) {
      const r = table.get(t)!;
      expect(r.min).toBeGreaterThanOrEqual(r.observed.min);
      expect(r.max).toBeLessThanOrEqual(r.observed.max);
      expect(r.max).toBeGreaterThan(r.min);
    }
    const softmax = table.get(tensors[2])!;
    expect(softmax.observed.min).toBeGreaterThanOrEqual(0);
    expect(softmax.observed.max).toBeLessThanOrEqual(1 + 1e-6);
  });

  it('cancels with CANCELLED and rejects bad options with BAD_OPTION', async () => {
    const model = mlpClassifier();
    const data = Dataset.fromTensors(seededInputs(64, 5), undefined, { batchSize: 16 });
    const controller = new AbortController();
    let batches = 0;
    const run = calibrate(model, data, {
      tensors: ['fc1.out'],
      signal: controller.signal,
      onProgress: () => {
        if (++batches === 2) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(batches).toBe(2);
    const code = async (o: Partial<CalibrateOptions>) => {
      try {
        await calibrate(model, data, { tensors: ['fc1.out'], ...o });
      } catch (e) {
        return isMmkitError(e) ? e.code : String(e);
      }
      return 'no error';
    };
    expect(await code({ method: 'kl' as never })).toBe('BAD_OPTION');
    expect(await code({ percentile: 30 })).toBe('BAD_OPTION');
    expect(await code({ maxItems: 0 })).toBe('BAD_OPTION');
    expect(await code({ tensors: ['nope'] })).toBe('UNKNOWN_TENSOR');
  });
});
