/**
 * Index arithmetic of structured pruning: which weight columns/rows a unit owns, and slicing a
 * linear's 2-D weight along its output or input axis in either layout ([in, out] or torch's [out, in]).
 */
import type { LinearMatch } from '../../onnx';
import type { PruneGroup } from './structured-groups';

/** Producer output columns of the given units (per section of a packed q|k|v linear), ascending. */
export function producerColumns(g: PruneGroup, units: readonly number[]): number[] {
  const hidden = g.units * g.unitWidth;
  const cols: number[] = [];
  for (let s = 0; s < g.sections; s++) {
    for (const u of units) for (let j = 0; j < g.unitWidth; j++) cols.push(s * hidden + u * g.unitWidth + j);
  }
  return cols;
}

/** Consumer input rows of the given units, ascending. */
export function consumerRows(g: PruneGroup, units: readonly number[]): number[] {
  return producerColumns({ ...g, sections: 1 }, units);
}

/** Weight element (input i, output o) of a linear, whatever its layout. */
export function weightAt(w: Float32Array, m: LinearMatch, i: number, o: number): number {
  return m.layout === 'in_out' ? w[i * m.outDim + o] : w[o * m.inDim + i];
}

/** The weight with only the listed outputs kept, in the linear's own layout. */
export function keepOutputs(w: Float32Array, m: LinearMatch, outputs: readonly number[]): { data: Float32Array; dims: number[] } {
  const n = outputs.length;
  const data = new Float32Array(m.inDim * n);
  if (m.layout === 'in_out') {
    for (let i = 0; i < m.inDim; i++) outputs.forEach((o, j) => (data[i * n + j] = w[i * m.outDim + o]));
    return { data, dims: [m.inDim, n] };
  }
  outputs.forEach((o, j) => data.set(w.subarray(o * m.inDim, (o + 1) * m.inDim), j * m.inDim));
  return { data, dims: [n, m.inDim] };
}

/** The weight with only the listed inputs kept, in the linear's own layout. */
export function keepInputs(w: Float32Array, m: LinearMatch, inputs: readonly number[]): { data: Float32Array; dims: number[] } {
  const k = inputs.length;
  const data = new Float32Array(k * m.outDim);
  if (m.layout === 'in_out') {
    inputs.forEach((i, j) => data.set(w.subarray(i * m.outDim, (i + 1) * m.outDim), j * m.outDim));
    return { data, dims: [k, m.outDim] };
  }
  for (let o = 0; o < m.outDim; o++) inputs.forEach((i, j) => (data[o * k + j] = w[o * m.inDim + i]));
  return { data, dims: [m.outDim, k] };
}

/** Entries of a vector (a bias) at the listed positions. */
export function keepEntries(v: Float32Array, keep: readonly number[]): Float32Array {
  return Float32Array.from(keep, (i) => v[i]);
}
