import { describe, expect, it } from 'vitest';
import { compareEvaluations, latencyStats, type ModelEvaluation } from '../sdk/eval';

function evaluation(msPerBatch: number, fileBytes: number, top1?: number): ModelEvaluation {
  return {
    ...(top1 === undefined ? {} : { accuracy: { top1, top5: 1 } }),
    latency: latencyStats([msPerBatch, msPerBatch].map((ms) => ({ ms, items: 10 })), 0),
    size: { fileBytes, params: 0, paramsByDtype: {}, bytesByDtype: {} },
  };
}

describe('compareEvaluations', () => {
  it('a faster, smaller, equally accurate model has nothing to warn about', () => {
    const c = compareEvaluations(evaluation(5, 250, 0.97), evaluation(10, 1000, 0.975), { top1: 0.99, klMean: 0.01, cosineMean: 0.999 });
    expect(c).toEqual({ speedup: 2, sizeRatio: 0.25, top1DeltaPoints: expect.closeTo(-0.5, 9), warnings: [] });
  });

  it('says in words when a model is slower, larger, less accurate or disagrees', () => {
    const c = compareEvaluations(evaluation(13, 1200, 0.9), evaluation(10, 1000, 0.95), { top1: 0.9, klMean: 0.2, cosineMean: 0.9 });
    expect(c.speedup).toBeCloseTo(10 / 13, 12);
    expect(c.warnings).toEqual([
      'The model is slower than its baseline: 1.30× the p50 time per item (1.30 ms vs 1.00 ms).',
      "The model file is larger than its baseline's: 1200 vs 1000 bytes.",
      'Top-1 accuracy dropped by 5.0 points (95.0% → 90.0%).',
      'The model picks a different class than its baseline on 10.0% of items.',
    ]);
  });

  it('leaves accuracy out without labels, and tolerates timing noise under 10%', () => {
    const c = compareEvaluations(evaluation(10.5, 900), evaluation(10, 1000), { top1: 1, klMean: 0, cosineMean: 1 });
    expect(c.top1DeltaPoints).toBeUndefined();
    expect(c.warnings).toEqual([]);
  });
});
