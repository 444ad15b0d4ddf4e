import type { ModelEvaluation } from './evaluate';
import type { Agreement } from './metrics';

/** Warn when the model is slower than its baseline by more than this share (timings are noisy). */
export const SLOWER_TOLERANCE = 0.1;
/** Warn when top-1 accuracy drops by more than this many percentage points. */
export const ACCURACY_DROP_POINTS = 1;
/** Warn when the model's top-1 choice differs from the baseline's on more than this share of items. */
export const DISAGREEMENT_SHARE = 0.02;

/** The model against its baseline in a few numbers, and the problems worth a warning. */
export interface Comparison {
  /** Baseline p50 time per item ÷ the model's: above 1 the model is faster. */
  speedup: number;
  /** Model file size ÷ the baseline's: below 1 the model is smaller. */
  sizeRatio: number;
  /** Change of top-1 accuracy in percentage points, when the dataset has labels. */
  top1DeltaPoints?: number;
  /** One sentence per problem: slower, larger, less accurate, disagreeing. */
  warnings: string[];
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function compareEvaluations(model: ModelEvaluation, baseline: ModelEvaluation, agreement: Agreement): Comparison {
  const speedup = baseline.latency.perItemMs.p50 / model.latency.perItemMs.p50;
  const sizeRatio = model.size.fileBytes / baseline.size.fileBytes;
  const warnings: string[] = [];
  if (speedup < 1 - SLOWER_TOLERANCE) {
    warnings.push(`The model is slower than its baseline: ${(1 / speedup).toFixed(2)}× the p50 time per item (${model.latency.perItemMs.p50.toPrecision(3)} ms vs ${baseline.latency.perItemMs.p50.toPrecision(3)} ms).`);
  }
  if (sizeRatio > 1) {
    warnings.push(`The model file is larger than its baseline's: ${model.size.fileBytes} vs ${baseline.size.fileBytes} bytes.`);
  }
  let top1DeltaPoints: number | undefined;
  if (model.accuracy && baseline.accuracy) {
    top1DeltaPoints = 100 * (model.accuracy.top1 - baseline.accuracy.top1);
    if (-top1DeltaPoints > ACCURACY_DROP_POINTS) {
      warnings.push(`Top-1 accuracy dropped by ${(-top1DeltaPoints).toFixed(1)} points (${pct(baseline.accuracy.top1)} → ${pct(model.accuracy.top1)}).`);
    }
  }
  if (1 - agreement.top1 > DISAGREEMENT_SHARE) {
    warnings.push(`The model picks a different class than its baseline on ${pct(1 - agreement.top1)} of items.`);
  }
  return { speedup, sizeRatio, ...(top1DeltaPoints === undefined ? {} : { top1DeltaPoints }), warnings };
}
