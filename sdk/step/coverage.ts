import type { StepCoverage } from './contract';

/** A step's coverage from what it rewrote and why it left the rest (one reason per layer left). */
export function stepCoverage(unit: string, changed: number, skippedReasons: readonly string[]): StepCoverage {
  const skipped: Record<string, number> = {};
  for (const reason of skippedReasons) skipped[reason] = (skipped[reason] ?? 0) + 1;
  return { unit, targeted: changed + skippedReasons.length, changed, skipped };
}
