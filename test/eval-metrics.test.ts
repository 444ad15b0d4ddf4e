import { describe, expect, it } from 'vitest';
import { isMmkitError } from '../sdk/errors';
import { accuracy, agreement, cosineSimilarities, klDivergences, top1Matches, topKHits } from '../sdk/eval/metrics';
import { latencyStats, quantile } from '../sdk/eval/latency';
import { floatData } from '../sdk/eval/logits';

const f32 = (...v: number[]) => new Float32Array(v);

describe('accuracy', () => {
  it('counts top-1 and top-k hits by hand-checked ranks', () => {
    const logits = f32(1, 2, 3, /**/ 3, 1, 2);
    const labels = new Int32Array([2, 1]);
    expect(accuracy(logits, 3, labels)).toEqual({ top1: 0.5, top5: 1 });
    // Row 1's label (logit 1) is third: inside top-3, outside top-2.
    expect(topKHits(logits, 3, labels, 2)).toBe(1);
    expect(topKHits(logits, 3, labels, 3)).toBe(2);
  });

  it('breaks ties like argmax, so a constant output is not counted right for every label', () => {
    const flat = f32(0, 0, 0, 0, 0, 0);
    expect(topKHits(flat, 3, new Int32Array([0, 2]), 1)).toBe(1);
  });

  it('rejects labels outside the classes', () => {
    expect(() => topKHits(f32(1, 2, 3), 3, new Int32Array([3]), 1)).toThrow(/Label 3 of item 0 is outside the model's 3 classes/);
  });

  it('rejects logits that do not hold whole rows, and label counts that differ', () => {
    expect(() => accuracy(f32(1, 2, 3), 2, new Int32Array([0]))).toThrow(/whole rows/);
    try {
      accuracy(f32(1, 2), 2, new Int32Array([0, 1]));
      expect.unreachable();
    } catch (e) {
      expect(isMmkitError(e, 'SHAPE_MISMATCH')).toBe(true);
    }
  });
});

describe('agreement', () => {
  it('KL(p‖q) of softmax outputs matches the closed form', () => {
    // p = softmax([0, 0]) = [1/2, 1/2]; q = softmax([0, ln 3]) = [1/4, 3/4].
    const kl = klDivergences(f32(0, 0), f32(0, Math.log(3)), 2);
    expect(kl[0]).toBeCloseTo(0.5 * Math.log(4 / 3), 6);
  });

  it('stays finite for huge logits (log-softmax is shifted by the row max)', () => {
    expect(klDivergences(f32(1000, 0), f32(1000, 0), 2)[0]).toBe(0);
    // p puts all mass on class 0, where log q = -1000.
    expect(klDivergences(f32(1000, 0), f32(0, 1000), 2)[0]).toBeCloseTo(1000, 3);
  });

  it('cosine similarity of output vectors, with the zero-vector conventions', () => {
    const cos = cosineSimilarities(f32(1, 0, /**/ 0, 0, /**/ 0, 0, /**/ 2, 2), f32(1, 1, /**/ 0, 0, /**/ 1, 0, /**/ -1, -1), 2);
    expect(cos[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect([cos[1], cos[2], cos[3]]).toEqual([1, 0, -1]);
  });

  it('a model agrees fully with itself and partly with a different one', () => {
    const a = f32(1, 2, 3, /**/ 3, 1, 2, /**/ 0, 5, 1);
    expect(agreement(a, a, 3)).toEqual({ top1: 1, klMean: 0, cosineMean: expect.closeTo(1, 6) });
    const b = f32(1, 2, 3, /**/ 1, 3, 2, /**/ 0, 5, 1);
    expect(top1Matches(a, b, 3)).toBe(2);
    const ag = agreement(a, b, 3);
    expect(ag.top1).toBeCloseTo(2 / 3, 12);
    expect(ag.klMean).toBeCloseTo(klDivergences(a, b, 3)[1] / 3, 12);
    expect(ag.klMean).toBeGreaterThan(0);
    expect(ag.cosineMean).toBeLessThan(1);
  });
});

describe('latency', () => {
  it('interpolates quantiles between ranks', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4], 0.9)).toBeCloseTo(3.7, 12);
    expect(quantile([7], 0.99)).toBe(7);
  });

  it('drops warm-up batches and derives per-item times and throughput', () => {
    const s = latencyStats([100, 50, 10, 20, 30].map((ms) => ({ ms, items: 10 })));
    expect(s.warmupBatches).toBe(2);
    expect(s.timedBatches).toBe(3);
    expect(s.perBatchMs).toEqual({ p50: 20, p90: 28, p99: expect.closeTo(29.8, 9), mean: 20 });
    expect(s.perItemMs.p50).toBe(2);
    expect(s.itemsPerSecond).toBeCloseTo(500, 9);
  });

  it('always keeps at least one timed batch', () => {
    const s = latencyStats([{ ms: 8, items: 4 }], 2);
    expect([s.warmupBatches, s.timedBatches, s.perItemMs.mean]).toEqual([0, 1, 2]);
  });
});

describe('floatData', () => {
  it('decodes float16 bits, subnormals and specials included', () => {
    const half = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0xfc00, 0x3555]);
    const v = Array.from(floatData({ data: half, dims: [8], dtype: 'float16' }, 'h'));
    expect(v.slice(0, 7)).toEqual([1, -2, 65504, 2 ** -24, -0, Infinity, -Infinity]);
    expect(v[7]).toBeCloseTo(1 / 3, 3);
    expect(floatData({ data: new Uint16Array([0x7e00]), dims: [1], dtype: 'float16' }, 'h')[0]).toBeNaN();
  });

  it('refuses integer tensors by name', () => {
    expect(() => floatData({ data: new Int32Array(2), dims: [2], dtype: 'int32' }, 'ids')).toThrow(/'ids' is int32/);
  });
});
