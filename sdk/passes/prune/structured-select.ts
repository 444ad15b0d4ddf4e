/** Which units each group keeps, from their scores: per layer or by one global ranking. */
import type { PruneGroup } from './structured-groups';

export interface SelectionSettings {
  sparsity: number;
  scope: 'layer' | 'global';
  /** Kept widths (units × unitWidth) are rounded up to a multiple of this. */
  multipleOf: number;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** The smallest count ≥ want (and ≥ 1) whose width is a multiple of multipleOf, at most all units. */
export function roundKept(g: PruneGroup, want: number, multipleOf: number): number {
  const step = multipleOf / gcd(multipleOf, g.unitWidth);
  return Math.min(g.units, Math.max(step, Math.ceil(Math.max(1, want) / step) * step));
}

/** The `count` best-scoring units, ascending by index (ties keep the earlier unit). */
function topUnits(scores: Float64Array, count: number): number[] {
  const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, count).sort((a, b) => a - b);
}

/** Removed-unit counts per group when one global ranking decides; every group keeps at least one unit. */
function globalRemovals(groups: readonly PruneGroup[], scores: readonly Float64Array[], sparsity: number): number[] {
  const total = groups.reduce((n, g) => n + g.units, 0);
  const ranked = groups.flatMap((g, k) => Array.from(scores[k], (score, u) => ({ k, u, score })));
  ranked.sort((a, b) => a.score - b.score || a.k - b.k || a.u - b.u);
  const removed = groups.map(() => 0);
  let left = Math.floor(sparsity * total + 1e-9);
  for (const { k } of ranked) {
    if (left === 0) break;
    if (groups[k].units - removed[k] > 1) {
      removed[k]++;
      left--;
    }
  }
  return removed;
}

/** Kept unit indices per group (ascending). */
export function selectUnits(groups: readonly PruneGroup[], scores: readonly Float64Array[], s: SelectionSettings): number[][] {
  const removed = s.scope === 'global' ? globalRemovals(groups, scores, s.sparsity) : groups.map((g) => Math.floor(s.sparsity * g.units + 1e-9));
  return groups.map((g, k) => topUnits(scores[k], roundKept(g, g.units - removed[k], s.multipleOf)));
}
