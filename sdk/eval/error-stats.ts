import { MmkitError } from '../errors';

/** How far a candidate tensor (quantized, dequantized) is from its float reference. */
export interface ErrorStats {
  elements: number;
  /** Signal-to-quantization-noise ratio in dB, 10·log10(Σ ref² / Σ (cand − ref)²); null when the tensors are identical. */
  sqnrDb: number | null;
  /** Cosine similarity of the two tensors as flat vectors (1 for two zero tensors, 0 when only one is zero). */
  cosine: number;
  /** Mean squared error. */
  mse: number;
  /** Largest |cand − ref|. */
  maxAbs: number;
}

/**
 * Running sums over pairs of values, so a tensor can be fed in pieces (batches of activations).
 * Accumulated in float64: a million float32 squares summed in float32 would drift.
 */
export class ErrorAccumulator {
  private elements = 0;
  private noise = 0;
  private signal = 0;
  private candidate = 0;
  private dot = 0;
  private maxAbs = 0;

  add(reference: ArrayLike<number>, candidate: ArrayLike<number>, what = 'tensor'): void {
    if (reference.length !== candidate.length) {
      throw new MmkitError('SHAPE_MISMATCH', `Cannot compare ${what}: the reference has ${reference.length} values, the candidate ${candidate.length}.`, {
        tensor: what,
        hint: 'Compare tensors of the same shape (the same layer of the two models).',
      });
    }
    for (let i = 0; i < reference.length; i++) {
      const r = reference[i];
      const c = candidate[i];
      const d = c - r;
      this.noise += d * d;
      this.signal += r * r;
      this.candidate += c * c;
      this.dot += r * c;
      const a = Math.abs(d);
      if (a > this.maxAbs) this.maxAbs = a;
    }
    this.elements += reference.length;
  }

  result(): ErrorStats {
    const bothZero = this.signal === 0 && this.candidate === 0;
    return {
      elements: this.elements,
      sqnrDb: this.noise === 0 ? null : 10 * Math.log10(this.signal / this.noise),
      cosine: bothZero ? 1 : this.signal === 0 || this.candidate === 0 ? 0 : this.dot / Math.sqrt(this.signal * this.candidate),
      mse: this.elements === 0 ? 0 : this.noise / this.elements,
      maxAbs: this.maxAbs,
    };
  }
}

/** SQNR, cosine, MSE and max abs error of a candidate tensor against its reference. */
export function errorStats(reference: ArrayLike<number>, candidate: ArrayLike<number>, what?: string): ErrorStats {
  const acc = new ErrorAccumulator();
  acc.add(reference, candidate, what);
  return acc.result();
}
