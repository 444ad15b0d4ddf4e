import { MmkitError } from '../errors';
import { batchSize, isTensorData, type Batch, type TensorData } from '../data';

/** A labelled image set held whole in memory, [n, C, H, W] float32. */
export interface ImageSet {
  pixels: Float32Array;
  labels: Int32Array;
  /** [C, H, W] of one image. */
  shape: [number, number, number];
  size: number;
}

/** Reads a labelled single-input image dataset whole into memory (training revisits it every epoch). */
export async function collectImages(dataset: AsyncIterable<Batch>, what = 'the training set'): Promise<ImageSet> {
  const parts: TensorData[] = [];
  const labels: Int32Array[] = [];
  for await (const b of dataset) {
    if (!isTensorData(b.inputs) || !b.label || b.inputs.dims.length !== 4 || b.inputs.dtype !== 'float32') {
      throw new MmkitError('BAD_DATASET', `${what} must yield float32 images [N, C, H, W] with labels.`, { hint: 'Use e.g. mm.datasets.mnist({ split: "train" }).' });
    }
    batchSize(b);
    parts.push(b.inputs);
    labels.push(b.label);
  }
  if (!parts.length) throw new MmkitError('BAD_DATASET', `${what} has no items.`);
  const shape = parts[0].dims.slice(1) as [number, number, number];
  const per = shape[0] * shape[1] * shape[2];
  const size = labels.reduce((n, l) => n + l.length, 0);
  const pixels = new Float32Array(size * per);
  const allLabels = new Int32Array(size);
  let at = 0;
  parts.forEach((p, i) => {
    pixels.set(p.data as Float32Array, at * per);
    allLabels.set(labels[i], at);
    at += labels[i].length;
  });
  return { pixels, labels: allLabels, shape, size };
}

/** Items [start, end) of an image set, as views. */
export function sliceImages(set: ImageSet, start: number, end: number): ImageSet {
  const per = set.shape[0] * set.shape[1] * set.shape[2];
  return { pixels: set.pixels.subarray(start * per, end * per), labels: set.labels.subarray(start, end), shape: set.shape, size: end - start };
}

/**
 * Copies the images at `indices` into one batch, each moved by a random whole-pixel shift of at
 * most `maxShift` in x and y; uncovered pixels get `fill` (the background value).
 */
export function shiftedBatch(set: ImageSet, indices: ArrayLike<number>, maxShift: number, fill: number, rand: () => number): Float32Array {
  const [c, h, w] = set.shape;
  const per = c * h * w;
  const out = new Float32Array(indices.length * per).fill(fill);
  for (let k = 0; k < indices.length; k++) {
    const dx = maxShift ? Math.floor(rand() * (2 * maxShift + 1)) - maxShift : 0;
    const dy = maxShift ? Math.floor(rand() * (2 * maxShift + 1)) - maxShift : 0;
    const src = indices[k] * per;
    for (let ch = 0; ch < c; ch++) {
      for (let y = Math.max(0, dy); y < Math.min(h, h + dy); y++) {
        const from = src + ch * h * w + (y - dy) * w;
        const to = k * per + ch * h * w + y * w;
        const x0 = Math.max(0, dx);
        const x1 = Math.min(w, w + dx);
        out.set(set.pixels.subarray(from + x0 - dx, from + x1 - dx), to + x0);
      }
    }
  }
  return out;
}
