import { describe, expect, it } from 'vitest';
import { Dataset, mnist, batchSize, type Batch, type TensorData } from '../sdk/data';
import { isMmkitError } from '../sdk/errors';

function numbers(n: number, batch: number): Dataset {
  const data = Float32Array.from({ length: n * 2 }, (_, i) => i);
  return Dataset.fromTensors({ data, dims: [n, 2], dtype: 'float32' }, Int32Array.from({ length: n }, (_, i) => i), { batchSize: batch });
}

async function labels(ds: Dataset): Promise<number[]> {
  const out: number[] = [];
  for await (const b of ds) out.push(...b.label!);
  return out;
}

describe('Dataset', () => {
  it('take/skip/batch keep item order and rows aligned with labels', async () => {
    const ds = numbers(10, 3);
    expect(await labels(ds.take(4))).toEqual([0, 1, 2, 3]);
    expect(await labels(ds.skip(8))).toEqual([8, 9]);
    const sizes: number[] = [];
    for await (const b of ds.batch(4)) {
      sizes.push(batchSize(b));
      const x = (b.inputs as TensorData).data;
      b.label!.forEach((l, i) => expect(x[i * 2]).toBe(l * 2));
    }
    expect(sizes).toEqual([4, 4, 2]);
    expect(ds.take(4).size).toBe(4);
    expect(ds.skip(8).size).toBe(2);
  });

  it('shuffle is a seeded permutation, the same on every iteration', async () => {
    const ds = numbers(50, 7).shuffle(3);
    const a = await labels(ds);
    expect(a).toEqual(await labels(ds));
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(await labels(numbers(50, 7).shuffle(4))).not.toEqual(a);
  });

  it('map transforms batches lazily and in order', async () => {
    const ds = numbers(6, 4).map((b: Batch) => ({ ...b, label: b.label!.map((l) => l * 10) }));
    expect(await labels(ds)).toEqual([0, 10, 20, 30, 40, 50]);
  });

  it('rejects bad counts and inconsistent batches with typed errors', async () => {
    expect(() => numbers(4, 2).take(-1)).toThrowError(/integer/);
    const bad = Dataset.from(() => [{ inputs: { data: new Float32Array(4), dims: [2, 2], dtype: 'float32' as const }, label: new Int32Array(3) }]);
    await expect(bad.collect()).rejects.toSatisfy((e: unknown) => isMmkitError(e, 'BAD_DATASET'));
  });
});

describe('mnist', () => {
  it('splits the 10,000 digits 8,004/1,996, stratified and deterministic', async () => {
    const train = mnist({ split: 'train' });
    const test = mnist({ split: 'test', batchSize: 500 });
    expect(train.size).toBe(8004);
    expect(test.size).toBe(1996);
    const all = await test.collect();
    const x = all.inputs as TensorData;
    expect(x.dims).toEqual([1996, 1, 28, 28]);
    const counts = new Array(10).fill(0);
    all.label!.forEach((l) => counts[l]++);
    counts.forEach((c) => expect(c).toBeGreaterThan(150));
    let mean = 0;
    for (const v of x.data as Float32Array) mean += v;
    expect(Math.abs(mean / x.data.length)).toBeLessThan(0.15); // normalised around 0
    const again = await mnist({ split: 'test', batchSize: 500 }).collect();
    expect(again.label).toEqual(all.label);
  });

  it('rejects an unknown split', () => {
    expect(() => mnist({ split: 'validation' as 'test' })).toThrowError(/split must be/);
  });
});
