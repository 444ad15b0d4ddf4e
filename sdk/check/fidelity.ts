/**
 * How closely a candidate's outputs follow the reference's on the check data: top-1 agreement,
 * cosine and the largest absolute difference, per output.
 */
import type { Batch } from '../data/batch';
import { floatData } from '../eval/logits';
import { cosineSimilarities, sum, top1Matches } from '../eval/metrics';
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
}

export interface Fidelity {
  items: number;
  /** The lowest over the class-score outputs (null when there are none). */
  agreement: number | null;
  cosine: number;
  maxAbsDiff: number;
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
  constructor(readonly output: string) {}

  classScores = true;

  add(ref: Float32Array, cand: Float32Array, items: number, rank: number): void {
    const perItem = ref.length / items;
    // Only [N, C] outputs are class scores; the argmax of a feature map or token grid means nothing.
    this.classScores &&= rank === 2 && perItem > 1;
    if (this.classScores) this.same += top1Matches(ref, cand, perItem);
    this.cosine += sum(cosineSimilarities(ref, cand, perItem));
    for (let i = 0; i < ref.length; i++) this.maxAbs = Math.max(this.maxAbs, Math.abs(ref[i] - cand[i]));
    this.items += items;
  }

  result(): OutputFidelity {
    return { output: this.output, agreement: this.classScores ? this.same / this.items : null, cosine: this.cosine / this.items, maxAbsDiff: this.maxAbs };
  }
}

const FLOATS = new Set(['float32', 'float16', 'float64']);

/** Compares the outputs both sessions share on every batch. */
export async function compareOutputs(reference: Session, candidate: Session, batches: readonly Batch[], signal?: AbortSignal, onBatch?: (done: number) => void): Promise<Fidelity> {
  const shared = reference.outputNames.filter((n) => candidate.outputNames.includes(n));
  const skipped = reference.outputNames.filter((n) => !candidate.outputNames.includes(n));
  const sums = new Map(shared.map((n) => [n, new OutputSums(n)]));
  let items = 0;
  for (const [i, batch] of batches.entries()) {
    throwIfAborted(signal, 'The compression check');
    const ref = await reference.run(feedsFor(reference, batch), { fetch: shared });
    const cand = await candidate.run(feedsFor(candidate, batch), { fetch: shared });
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
    onBatch?.(i + 1);
  }
  const outputs = [...sums.values()].map((s) => s.result());
  const agreements = outputs.map((o) => o.agreement).filter((a): a is number => a !== null);
  return {
    items,
    agreement: agreements.length ? Math.min(...agreements) : null,
    cosine: outputs.length ? Math.min(...outputs.map((o) => o.cosine)) : 1,
    maxAbsDiff: outputs.length ? Math.max(...outputs.map((o) => o.maxAbsDiff)) : 0,
    outputs,
    skipped,
    worstLayers: [],
  };
}

