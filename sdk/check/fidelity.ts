/**
 * How closely a candidate's outputs follow the reference's on the check data, per output: top-1
 * agreement of class scores, the cosine of each item's values, the largest absolute difference,
 * and for single-value outputs (a score [N] or [N, 1]), where an item's cosine only compares
 * signs, the difference relative to the output's scale and the agreement of decisions at 0.5.
 */
import type { Batch } from '../data/batch';
import { floatData } from '../eval/logits';
import { cosineSimilarities, sum, top1Matches } from '../eval/metrics';
import type { TensorData } from '../tensor-data';
import { feedsFor, throwIfAborted } from '../runtime/batched';
import type { Session } from '../runtime/session';
import type { WorstLayer } from './layer-drift';

export interface OutputFidelity {
  output: string;
  /** Share of items whose top-1 (argmax of the row) is the same; null unless the output is class scores [N, C > 1]. */
  agreement: number | null;
  /** Mean over items of the cosine similarity of the output rows. */
  cosine: number;
  maxAbsDiff: number;
  /**
   * Single-value outputs only (else null): max |Δ| ÷ the output's scale, which is 1 for values in
   * [0, 1] (a probability moves on its own scale) and the reference's largest |value| otherwise.
   */
  scoreDrift: number | null;
  /** Single-value outputs in [0, 1] only (else null): share of items on the same side of 0.5. */
  decisions: number | null;
}

export interface Fidelity {
  items: number;
  /** Batches compared (the time budget may stop before the data's last). */
  batches: number;
  /** The lowest over the class-score outputs (null when there are none). */
  agreement: number | null;
  cosine: number;
  maxAbsDiff: number;
  /** The highest over the single-value outputs (null when there are none). */
  scoreDrift: number | null;
  /** The lowest over the single-value outputs in [0, 1] (null when there are none). */
  decisions: number | null;
  outputs: OutputFidelity[];
  /** Outputs left out: not float, or missing from the candidate. */
  skipped: string[];
  /** Filled in when the fidelity falls short: the layers furthest from the reference, worst first. */
  worstLayers: WorstLayer[];
}

class OutputSums {
  items = 0;
  same = 0;
  cosine = 0;
  maxAbs = 0;
  sameDecision = 0;
  refMin = Infinity;
  refMax = -Infinity;
  classScores = true;
  single = true;
  constructor(readonly output: string) {}

  add(ref: Float32Array, cand: Float32Array, items: number, rank: number): void {
    const perItem = ref.length / items;
    // Only [N, C] outputs are class scores; the argmax of a feature map or token grid means nothing.
    this.classScores &&= rank === 2 && perItem > 1;
    this.single &&= perItem === 1;
    if (this.classScores) this.same += top1Matches(ref, cand, perItem);
    this.cosine += sum(cosineSimilarities(ref, cand, perItem));
    for (let i = 0; i < ref.length; i++) {
      this.maxAbs = Math.max(this.maxAbs, Math.abs(ref[i] - cand[i]));
      this.refMin = Math.min(this.refMin, ref[i]);
      this.refMax = Math.max(this.refMax, ref[i]);
      if (ref[i] >= 0.5 === cand[i] >= 0.5) this.sameDecision++;
    }
    this.items += items;
  }

  result(): OutputFidelity {
    const probability = this.refMin >= 0 && this.refMax <= 1;
    const scale = probability ? 1 : Math.max(Math.abs(this.refMin), Math.abs(this.refMax));
    const scoreDrift = !this.single ? null : scale > 0 ? this.maxAbs / scale : this.maxAbs > 0 ? Infinity : 0;
    return {
      output: this.output,
      agreement: this.classScores ? this.same / this.items : null,
      cosine: this.cosine / this.items,
      maxAbsDiff: this.maxAbs,
      scoreDrift,
      decisions: this.single && probability ? this.sameDecision / this.items : null,
    };
  }
}

const FLOATS = new Set(['float32', 'float16', 'float64']);

export interface CompareOptions {
  /** Milliseconds both models together may run: no batch is started that would take the total past it, by the mean so far (one batch always runs). */
  budgetMs: number;
  /** The reference's outputs on batch 0, when it already ran on it. */
  firstReference?: Record<string, TensorData>;
  signal?: AbortSignal;
  onBatch?: (done: number) => void;
}

const lowest = (values: (number | null)[]) => (values.some((v) => v !== null) ? Math.min(...values.filter((v): v is number => v !== null)) : null);
const highest = (values: (number | null)[]) => (values.some((v) => v !== null) ? Math.max(...values.filter((v): v is number => v !== null)) : null);

/** Compares the outputs both sessions share, batch by batch, within the time budget; `ms`: what the runs took. */
export async function compareOutputs(reference: Session, candidate: Session, data: { count: number; batch(i: number): Batch }, opts: CompareOptions): Promise<{ fidelity: Fidelity; ms: number }> {
  const shared = reference.outputNames.filter((n) => candidate.outputNames.includes(n));
  const skipped = reference.outputNames.filter((n) => !candidate.outputNames.includes(n));
  const sums = new Map(shared.map((n) => [n, new OutputSums(n)]));
  let items = 0;
  let batches = 0;
  let spent = 0;
  while (batches < data.count && (batches === 0 || spent + spent / batches <= opts.budgetMs)) {
    throwIfAborted(opts.signal, 'The compression check');
    const batch = data.batch(batches);
    const start = performance.now();
    const ref = batches === 0 && opts.firstReference ? opts.firstReference : await reference.run(feedsFor(reference, batch), { fetch: shared });
    const cand = await candidate.run(feedsFor(candidate, batch), { fetch: shared });
    spent += performance.now() - start;
    const n = ref[shared[0]]?.dims[0] ?? 0;
    for (const [name, s] of sums) {
      const a = ref[name];
      const b = cand[name];
      if (!FLOATS.has(a.dtype) || !FLOATS.has(b.dtype) || a.data.length !== b.data.length || a.dims[0] !== n) {
        sums.delete(name);
        skipped.push(name);
        continue;
      }
      s.add(floatData(a, name), floatData(b, name), n, a.dims.length);
    }
    items += n;
    opts.onBatch?.(++batches);
  }
  const outputs = [...sums.values()].map((s) => s.result());
  const fidelity: Fidelity = {
    items,
    batches,
    agreement: lowest(outputs.map((o) => o.agreement)),
    cosine: outputs.length ? Math.min(...outputs.map((o) => o.cosine)) : 1,
    maxAbsDiff: outputs.length ? Math.max(...outputs.map((o) => o.maxAbsDiff)) : 0,
    scoreDrift: highest(outputs.map((o) => o.scoreDrift)),
    decisions: lowest(outputs.map((o) => o.decisions)),
    outputs,
    skipped,
    worstLayers: [],
  };
  return { fidelity, ms: spent };
}
