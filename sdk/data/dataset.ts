import { MmkitError } from '../errors';
import { batchSize, concatBatches, sliceBatch, type Batch } from './batch';
import { mulberry32, permutation } from '../random';
import type { TensorData } from '../tensor-data';
import type { DatasetSpec } from './spec';

type BatchSource = () => AsyncIterator<Batch>;

export interface DatasetInfo {
  /** A short human name, shown in reports ("mnist:test"). */
  name?: string;
  /** Number of items, when known without iterating. */
  size?: number;
  /** Class names by label index, when the labels have names. */
  classes?: readonly string[];
  /** How to rebuild this dataset (built-in sources only); recipes record it. */
  spec?: DatasetSpec;
}

/**
 * A lazy, re-iterable, immutable stream of batches. Every method returns a new Dataset;
 * iterating twice yields the same items in the same order (shuffles are seeded).
 */
export class Dataset implements AsyncIterable<Batch> {
  private constructor(
    private readonly source: BatchSource,
    readonly info: DatasetInfo,
  ) {}

  /** Wraps anything that yields batches; `restart` is called once per iteration. */
  static from(restart: () => AsyncIterable<Batch> | Iterable<Batch>, info: DatasetInfo = {}): Dataset {
    return new Dataset(() => {
      const it = restart();
      return Symbol.asyncIterator in it ? it[Symbol.asyncIterator]() : toAsync(it[Symbol.iterator]());
    }, info);
  }

  /** An in-memory dataset: tensors whose first axis indexes items, optional labels. */
  static fromTensors(inputs: TensorData | Record<string, TensorData>, label?: Int32Array, opts: DatasetInfo & { batchSize?: number } = {}): Dataset {
    const whole: Batch = { inputs, label };
    const n = batchSize(whole);
    const per = opts.batchSize ?? 32;
    return Dataset.from(function* () {
      for (let s = 0; s < n; s += per) yield sliceBatch(whole, s, Math.min(n, s + per));
    }, { ...opts, size: n });
  }

  get size(): number | undefined {
    return this.info.size;
  }

  get name(): string | undefined {
    return this.info.name;
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return this.source();
  }

  /** The first n items. */
  take(n: number): Dataset {
    checkCount('take', n);
    const self = this;
    return Dataset.from(async function* () {
      let left = n;
      for await (const b of self) {
        if (left <= 0) break;
        const k = batchSize(b);
        yield k <= left ? b : sliceBatch(b, 0, left);
        left -= k;
      }
    }, { ...this.info, size: this.size === undefined ? undefined : Math.min(n, this.size), spec: withOp(this.info.spec, 'take', n) });
  }

  /** Everything after the first n items. */
  skip(n: number): Dataset {
    checkCount('skip', n);
    const self = this;
    return Dataset.from(async function* () {
      let left = n;
      for await (const b of self) {
        const k = batchSize(b);
        if (left >= k) {
          left -= k;
          continue;
        }
        yield left > 0 ? sliceBatch(b, left, k) : b;
        left = 0;
      }
    }, { ...this.info, size: this.size === undefined ? undefined : Math.max(0, this.size - n), spec: withOp(this.info.spec, 'skip', n) });
  }

  /** Regroups items into batches of n (the last one may be smaller). */
  batch(n: number): Dataset {
    checkCount('batch', n, 1);
    const self = this;
    return Dataset.from(async function* () {
      let pending: Batch[] = [];
      let count = 0;
      for await (const b of self) {
        let start = 0;
        const k = batchSize(b);
        while (start < k) {
          const piece = Math.min(n - count, k - start);
          pending.push(piece === k ? b : sliceBatch(b, start, start + piece));
          count += piece;
          start += piece;
          if (count === n) {
            yield concatBatches(pending);
            pending = [];
            count = 0;
          }
        }
      }
      if (count > 0) yield concatBatches(pending);
    }, { ...this.info, spec: withOp(this.info.spec, 'batch', n) });
  }

  /**
   * Items in a seeded random order. Holds all items in memory (views on the batches), which is
   * what exact, reproducible shuffling of a finite dataset needs.
   */
  shuffle(seed: number): Dataset {
    const self = this;
    return Dataset.from(async function* () {
      const items: Batch[] = [];
      let per = 0;
      for await (const b of self) {
        const k = batchSize(b);
        per = Math.max(per, k);
        for (let i = 0; i < k; i++) items.push(sliceBatch(b, i, i + 1));
      }
      const order = Array.from(permutation(items.length, mulberry32(seed)), (i) => items[i]);
      for (let s = 0; s < order.length; s += per) yield concatBatches(order.slice(s, s + per));
    }, { ...this.info, spec: withOp(this.info.spec, 'shuffle', seed) });
  }

  /** Transforms every batch (preprocessing, augmentation, renaming inputs). */
  map(fn: (b: Batch, index: number) => Batch | Promise<Batch>): Dataset {
    const self = this;
    return Dataset.from(async function* () {
      let i = 0;
      for await (const b of self) yield await fn(b, i++);
    }, { ...this.info, spec: undefined }); // a function cannot be recorded
  }

  /** All items as one batch (small datasets and calibration sets). */
  async collect(): Promise<Batch> {
    const parts: Batch[] = [];
    for await (const b of this) {
      batchSize(b); // validates the batch
      parts.push(b);
    }
    if (parts.length === 0) throw new MmkitError('BAD_DATASET', `Dataset ${this.name ?? ''} is empty.`.replace('  ', ' '), { hint: 'Check take()/skip() counts and the data source.' });
    return concatBatches(parts);
  }
}

function withOp(spec: DatasetSpec | undefined, op: DatasetSpec['ops'][number][0], arg: number): DatasetSpec | undefined {
  return spec && { ...spec, ops: [...spec.ops, [op, arg]] };
}

function checkCount(op: string, n: number, min = 0): void {
  if (!Number.isInteger(n) || n < min) {
    throw new MmkitError('BAD_OPTION', `dataset.${op}(${n}): expected an integer ≥ ${min}.`, { hint: `Pass a whole number of items to ${op}().` });
  }
}

async function* toAsync<T>(it: Iterator<T>): AsyncGenerator<T> {
  for (let r = it.next(); !r.done; r = it.next()) yield r.value;
}
