/**
 * The numbers of a QDQ graph: activation scale/zero point from a calibrated range, int8 weights
 * along any channel axis, int32 biases at scale s_x·s_w, and whether the CPU wants reduce_range.
 */
import { readFileSync } from 'node:fs';
import type { TensorRange } from '../../calibrate/histogram';
import { quantizeWeight, transposeWeight, type QuantizedWeight } from './weights';

export interface ActivationParams {
  dtype: 'uint8' | 'int8';
  scale: number;
  zeroPoint: number;
}

/**
 * Asymmetric: uint8 over [min(lo, 0), max(hi, 0)] (0 stays exact, as zero padding needs).
 * Symmetric: int8 over [−m, m], zero point 0. reduceRange halves the code range (7 bits), which
 * keeps u8×s8 products from saturating on x86 CPUs without VNNI.
 */
export function activationParams(range: TensorRange, symmetric: boolean, reduceRange: boolean): ActivationParams {
  if (symmetric) {
    const qmax = reduceRange ? 64 : 127;
    const m = Math.max(Math.abs(range.min), Math.abs(range.max));
    return { dtype: 'int8', scale: m > 0 ? Math.fround(m / qmax) : 1, zeroPoint: 0 };
  }
  const qmax = reduceRange ? 127 : 255;
  const lo = Math.min(range.min, 0);
  const hi = Math.max(range.max, 0);
  const scale = hi > lo ? Math.fround((hi - lo) / qmax) : 1;
  return { dtype: 'uint8', scale, zeroPoint: Math.min(qmax, Math.max(0, Math.round(-lo / scale))) };
}

/** Symmetric int8 codes of weights (reduce_range: 7 bits, like onnxruntime). */
export const weightQmax = (reduceRange: boolean): number => (reduceRange ? 64 : 127);

/**
 * Symmetric int8 for a weight whose channels lie along `axis` of `dims`; one scale per channel
 * (per-channel) or one in all. Values keep the weight's layout.
 */
export function quantizeAlongAxis(w: Float32Array, dims: readonly number[], axis: number, perChannel: boolean, qmax: number): QuantizedWeight {
  const channels = dims[axis];
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  if (outer === 1) {
    // [channels, inner]: each channel is a row; quantize the transpose column by column.
    const q = quantizeWeight(transposeWeight(w, channels, inner), inner, channels, perChannel, qmax);
    const values = new Int8Array(w.length);
    for (let c = 0; c < channels; c++) for (let i = 0; i < inner; i++) values[c * inner + i] = q.values[i * channels + c];
    return { values, scales: q.scales };
  }
  if (inner === 1) return quantizeWeight(w, outer, channels, perChannel, qmax); // [outer, channels]: columns
  throw new Error(`mmkit internal error: weight axis ${axis} of [${dims.join(', ')}] is neither first nor last`);
}

/** An int32 bias at scale s_x·s_w[c] (zero point 0): the accumulator's own scale, so it adds exactly. */
export function quantizeBias(bias: Float32Array, inputScale: number, weightScales: Float32Array): { values: Int32Array; scales: Float32Array } {
  const scales = new Float32Array(bias.length);
  const values = new Int32Array(bias.length);
  for (let c = 0; c < bias.length; c++) {
    const s = Math.fround(inputScale * weightScales[weightScales.length === 1 ? 0 : c]);
    scales[c] = s > 0 ? s : 1;
    values[c] = Math.max(-2147483647, Math.min(2147483647, Math.round(bias[c] / scales[c])));
  }
  return { values, scales };
}

/** CPU flags from /proc/cpuinfo (Linux); undefined where it cannot be read. */
function cpuFlags(): Set<string> | undefined {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => /^(flags|Features)\s*:/.test(l));
    return line ? new Set(line.split(':')[1].trim().split(/\s+/)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * reduce_range 'auto': true only on an x86 CPU without VNNI (its u8×s8 dot product saturates at
 * 16 bits). With avx512_vnni, avx_vnni or AMX, or on ARM, or when the flags are unreadable: false.
 */
export function cpuNeedsReduceRange(): { reduceRange: boolean; why: string } {
  const flags = cpuFlags();
  if (!flags) return { reduceRange: false, why: 'CPU flags unreadable' };
  const fast = ['avx512_vnni', 'avx_vnni', 'amx_int8'].find((f) => flags.has(f));
  if (fast) return { reduceRange: false, why: `CPU has ${fast}` };
  if (!flags.has('avx2') && !flags.has('sse4_1')) return { reduceRange: false, why: 'not an x86 CPU' };
  return { reduceRange: true, why: 'x86 CPU without VNNI' };
}
