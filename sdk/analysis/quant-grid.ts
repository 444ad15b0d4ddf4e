/**
 * The values a quantized tensor can take (its grid of levels) and the range beyond which values
 * are clipped, for weights (from their stored scales and zero points) and for activations (from
 * the QuantizeLinear or run-time quantizer that reads them).
 */
import { attrInt, dtypeOf, GraphView, type OnnxModel } from '../onnx';
import { schemeOf, type EffectiveWeight } from './effective-weights';
import { codeRange, floatValues, integerCodes } from './tensor-values';

export interface QuantGrid {
  /** Every representable value, ascending (the union over groups when a tensor has several scales). */
  levels: number[];
  /** The end levels: values beyond them saturate. */
  clip: [number, number];
  /** The largest distance between neighbouring levels of one group (its scale). */
  step: number;
  /** What the grid is: "int8 per-channel, channel 3", "dynamic uint8 over these values". */
  label: string;
}

/** A grid, or why there is none for this tensor. */
export type GridOrNote = QuantGrid | { note: string };

function levelsOf(codeMin: number, codeMax: number, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, groups: number[]): QuantGrid['levels'] {
  const perGroup = codeMax - codeMin + 1;
  const all = new Float64Array(groups.length * perGroup);
  groups.forEach((g, k) => {
    for (let q = codeMin; q <= codeMax; q++) all[k * perGroup + q - codeMin] = Math.fround((q - zeroPoints[g]) * scales[g]);
  });
  all.sort();
  // Groups share levels (0 in every symmetric one): keep each value once.
  return Array.from(all).filter((v, i) => i === 0 || v !== all[i - 1]);
}

function stepOf(scales: ArrayLike<number>, groups: number[]): number {
  return Math.max(...groups.map((g) => Math.abs(scales[g])));
}

function clipOf(codeMin: number, codeMax: number, scales: ArrayLike<number>, zeroPoints: ArrayLike<number>, groups: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const g of groups) {
    const a = Math.fround((codeMin - zeroPoints[g]) * scales[g]);
    const b = Math.fround((codeMax - zeroPoints[g]) * scales[g]);
    lo = Math.min(lo, a, b);
    hi = Math.max(hi, a, b);
  }
  return [lo, hi];
}

/** The grid of a quantized weight: all its groups, or those of one output channel. */
export function weightGrid(w: EffectiveWeight, channel?: number): GridOrNote {
  if (!w.groups) return { note: `${w.dtype} has no uniform grid (its spacing grows with |value|)` };
  const { codeMin, codeMax, scales, zeroPoints, channels } = w.groups;
  const groups = [...channels.keys()].filter((g) => channel === undefined || channels[g] === channel || channels[g] === -1);
  const scheme = schemeOf(w);
  return {
    levels: levelsOf(codeMin, codeMax, scales, zeroPoints, groups),
    clip: clipOf(codeMin, codeMax, scales, zeroPoints, groups),
    step: stepOf(scales, groups),
    label: channel === undefined ? `${scheme}, ${groups.length} scale${groups.length > 1 ? 's' : ''}` : `${scheme}, channel ${channel}`,
  };
}

/**
 * How `candidate` quantizes the activation `tensor`: a QuantizeLinear's fixed grid (static QDQ),
 * or the uint8 grid a run-time quantizer (DynamicQuantizeLinear, DynamicQuantizeMatMul) derives
 * from the values' own range [min(0, lo), max(0, hi)] — for these values taken together; each run
 * uses its own batch's range.
 */
export function activationGrid(candidate: OnnxModel, tensor: string, values: Float32Array): GridOrNote {
  const view = GraphView.of(candidate.proto);
  if (!view.producer(tensor) && !view.inputs.some((i) => i.name === tensor)) return { note: 'the candidate has no tensor of that name' };
  const readers = view.consumers(tensor);
  const q = readers.find((n) => n.domain === '' && n.opType === 'QuantizeLinear' && n.input[0] === tensor);
  if (q) {
    const scale = view.constantTensor(q.input[1]);
    const zp = q.input[2] ? view.constantTensor(q.input[2]) : undefined;
    if (!scale) return { note: `its QuantizeLinear '${q.name}' has no constant scale` };
    const scales = floatValues(scale, candidate);
    const dtype = zp ? dtypeOf(zp.dataType) : 'uint8';
    const zeroPoints = zp ? integerCodes(zp, candidate) : new Float64Array(scales.length);
    const [codeMin, codeMax] = codeRange(dtype);
    const groups = [...scales.keys()];
    const axis = scales.length > 1 ? `, per-axis ${attrInt(q, 'axis', 1)}` : '';
    return { levels: levelsOf(codeMin, codeMax, scales, zeroPoints, groups), clip: clipOf(codeMin, codeMax, scales, zeroPoints, groups), step: stepOf(scales, groups), label: `static ${dtype}${axis} (QuantizeLinear)` };
  }
  const dynamic = readers.find((n) => (n.opType === 'DynamicQuantizeLinear' || n.opType === 'DynamicQuantizeMatMul') && n.input[0] === tensor);
  if (dynamic) {
    let lo = 0;
    let hi = 0;
    for (const v of values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const scale = hi > lo ? (hi - lo) / 255 : 1;
    const zeroPoint = Math.min(255, Math.max(0, Math.round(-lo / scale)));
    return { levels: levelsOf(0, 255, [scale], [zeroPoint], [0]), clip: clipOf(0, 255, [scale], [zeroPoint], [0]), step: scale, label: `dynamic uint8 over these values' range (${dynamic.opType})` };
  }
  const nbits = readers.find((n) => n.opType === 'MatMulNBits' && n.input[0] === tensor);
  if (nbits) {
    return {
      note:
        attrInt(nbits, 'accuracy_level', 0) === 4
          ? `MatMulNBits '${nbits.name}' quantizes it to int8 per block at run time (accuracy_level 4): no fixed grid`
          : `it stays float: MatMulNBits '${nbits.name}' quantizes only the weight`,
    };
  }
  return { note: 'the candidate does not quantize it' };
}
