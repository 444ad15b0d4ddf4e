import { MmkitError } from '../errors';

/**
 * Classification metrics over row-major logits [N, C] (N items, C classes). Pure functions;
 * sums are in float64 so large evaluations do not drift.
 */

/** Rows of a logits array, checking that it holds whole rows. */
export function rowCount(logits: Float32Array, classes: number): number {
  if (!(Number.isInteger(classes) && classes > 0) || logits.length % classes !== 0) {
    throw new MmkitError('SHAPE_MISMATCH', `Logits of length ${logits.length} do not hold whole rows of ${classes} classes.`, { hint: 'Pass the number of classes (the last axis of the model output).' });
  }
  return logits.length / classes;
}

/**
 * The rank of class `c` in row `r`: how many classes beat it. Ties go to the lower class index,
 * as argmax does, so a constant row ranks class 0 first and does not count every label as a hit.
 */
function rank(logits: Float32Array, classes: number, r: number, c: number): number {
  const base = r * classes;
  const v = logits[base + c];
  let above = 0;
  for (let j = 0; j < classes; j++) {
    const x = logits[base + j];
    if (x > v || (x === v && j < c)) above++;
  }
  return above;
}

/** Index of the largest logit of row `r` (first one on ties). */
export function argmaxRow(logits: Float32Array, classes: number, r: number): number {
  const base = r * classes;
  let best = 0;
  for (let j = 1; j < classes; j++) if (logits[base + j] > logits[base + best]) best = j;
  return best;
}

/** How many rows have their label among the top k logits. */
export function topKHits(logits: Float32Array, classes: number, labels: Int32Array, k: number): number {
  const n = rowCount(logits, classes);
  if (labels.length !== n) throw new MmkitError('SHAPE_MISMATCH', `${labels.length} labels for ${n} rows of logits.`, { hint: 'Give one label per item.' });
  let hits = 0;
  for (let r = 0; r < n; r++) {
    const label = labels[r];
    if (!(label >= 0 && label < classes)) {
      throw new MmkitError('BAD_DATASET', `Label ${label} of item ${r} is outside the model's ${classes} classes (0..${classes - 1}).`, {
        hint: 'The labels do not belong to this model\'s output: check the dataset, or the output chosen with outputName.',
      });
    }
    if (rank(logits, classes, r, label) < k) hits++;
  }
  return hits;
}

export interface Accuracy {
  top1: number;
  top5: number;
}

/** Top-1 and top-5 accuracy in [0, 1]. With fewer than 5 classes, top-5 is 1. */
export function accuracy(logits: Float32Array, classes: number, labels: Int32Array): Accuracy {
  const n = nonEmpty(rowCount(logits, classes));
  return { top1: topKHits(logits, classes, labels, 1) / n, top5: topKHits(logits, classes, labels, 5) / n };
}

/** How many rows have the same argmax in both. */
export function top1Matches(baseline: Float32Array, candidate: Float32Array, classes: number): number {
  const n = sameRows(baseline, candidate, classes);
  let same = 0;
  for (let r = 0; r < n; r++) if (argmaxRow(baseline, classes, r) === argmaxRow(candidate, classes, r)) same++;
  return same;
}

/** log-softmax of one row, shifted by its max so exp never overflows. */
function logSoftmax(logits: Float32Array, start: number, classes: number, out: Float64Array): void {
  let max = -Infinity;
  for (let j = 0; j < classes; j++) max = Math.max(max, logits[start + j]);
  let sum = 0;
  for (let j = 0; j < classes; j++) sum += Math.exp(logits[start + j] - max);
  const logSum = Math.log(sum) + max;
  for (let j = 0; j < classes; j++) out[j] = logits[start + j] - logSum;
}

/** Per row: KL(softmax(baseline) ‖ softmax(candidate)) in nats. */
export function klDivergences(baseline: Float32Array, candidate: Float32Array, classes: number): Float64Array {
  const n = sameRows(baseline, candidate, classes);
  const lp = new Float64Array(classes);
  const lq = new Float64Array(classes);
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    logSoftmax(baseline, r * classes, classes, lp);
    logSoftmax(candidate, r * classes, classes, lq);
    let kl = 0;
    for (let j = 0; j < classes; j++) {
      const p = Math.exp(lp[j]);
      if (p > 0) kl += p * (lp[j] - lq[j]);
    }
    // Rounding can leave a tiny negative for equal rows; KL is never below 0.
    out[r] = Math.max(0, kl);
  }
  return out;
}

/** Per row: cosine similarity of the raw output vectors. Two zero rows count as 1, one zero row as 0. */
export function cosineSimilarities(a: Float32Array, b: Float32Array, classes: number): Float64Array {
  const n = sameRows(a, b, classes);
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let j = r * classes; j < (r + 1) * classes; j++) {
      dot += a[j] * b[j];
      na += a[j] * a[j];
      nb += b[j] * b[j];
    }
    out[r] = na === 0 && nb === 0 ? 1 : na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
  }
  return out;
}

export interface Agreement {
  /** Share of items where both models pick the same class. */
  top1: number;
  /** Mean KL(baseline ‖ candidate) of the softmax outputs, in nats. */
  klMean: number;
  /** Mean cosine similarity of the output vectors. */
  cosineMean: number;
}

/** How closely a candidate model's outputs follow a baseline's on the same items. */
export function agreement(baseline: Float32Array, candidate: Float32Array, classes: number): Agreement {
  const n = nonEmpty(sameRows(baseline, candidate, classes));
  return {
    top1: top1Matches(baseline, candidate, classes) / n,
    klMean: sum(klDivergences(baseline, candidate, classes)) / n,
    cosineMean: sum(cosineSimilarities(baseline, candidate, classes)) / n,
  };
}

export function sum(values: Float64Array): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

function sameRows(a: Float32Array, b: Float32Array, classes: number): number {
  const n = rowCount(a, classes);
  if (b.length !== a.length) {
    throw new MmkitError('SHAPE_MISMATCH', `The two models' outputs differ in size: ${a.length} vs ${b.length} values.`, { hint: 'Compare models with the same output shape.' });
  }
  return n;
}

function nonEmpty(n: number): number {
  if (n === 0) throw new MmkitError('BAD_DATASET', 'No items to score: the logits are empty.', { hint: 'Evaluate on at least one item.' });
  return n;
}
