import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isMmkitError } from '../sdk/errors';
import { serializeModel, tensorArray, writeModel } from '../sdk/onnx';
import { createSession, withTaps } from '../sdk/runtime';
import { HIDDEN, mlpClassifier, seededInputs } from './helpers/runtime-models';
import { testTempDir } from './helpers/temp';

describe('taps on intermediate tensors', () => {
  const x = seededInputs(7, 5);

  it('return exactly what a model declaring them as outputs computes', async () => {
    const tapped = await createSession(mlpClassifier(), { taps: ['hidden', 'fc1.mm'] });
    const declared = await createSession(mlpClassifier({ exposeHidden: true }));
    expect(tapped.outputNames).toEqual(['logits', 'hidden', 'fc1.mm']);
    const got = await tapped.run({ x });
    const want = await declared.run({ x });
    expect(got.hidden.dims).toEqual([7, HIDDEN]);
    expect(got.hidden.dtype).toBe('float32');
    expect(Array.from(got.hidden.data as Float32Array)).toEqual(Array.from(want.hidden.data as Float32Array));
    expect(Array.from(got.logits.data as Float32Array)).toEqual(Array.from(want.logits.data as Float32Array));
    // fc1.mm is the MatMul before bias and Relu: Relu(fc1.mm + bias) must give hidden.
    const bias = mlpClassifier().proto.graph!.initializer.find((t) => t.name === 'fc1.bias')!;
    const b = tensorArray(bias) as Float32Array;
    const mm = got['fc1.mm'].data as Float32Array;
    for (let i = 0; i < mm.length; i++) expect((got.hidden.data as Float32Array)[i]).toBe(Math.max(0, Math.fround(mm[i] + b[i % HIDDEN])));
    await Promise.all([tapped.dispose(), declared.dispose()]);
  });

  it('can tap inputs and initializers, and fetch a subset', async () => {
    const s = await createSession(mlpClassifier(), { taps: ['x', 'fc2.bias'] });
    const out = await s.run({ x }, { fetch: ['fc2.bias', 'x'] });
    expect(Object.keys(out).sort()).toEqual(['fc2.bias', 'x']);
    expect(Array.from(out.x.data as Float32Array)).toEqual(Array.from(x.data as Float32Array));
    expect(out['fc2.bias'].dims).toEqual([4]);
    await s.dispose();
  });

  it('work on models loaded from a file path', async () => {
    const file = join(testTempDir('taps'), 'mlp.onnx');
    await writeModel(mlpClassifier(), file);
    const s = await createSession(file, { taps: ['hidden'] });
    const ref = await createSession(serializeModel(mlpClassifier({ exposeHidden: true })));
    expect(Array.from((await s.run({ x })).hidden.data as Float32Array)).toEqual(Array.from((await ref.run({ x })).hidden.data as Float32Array));
    await Promise.all([s.dispose(), ref.dispose()]);
  });

  it('leave the source model untouched', () => {
    const m = mlpClassifier();
    const before = serializeModel(m);
    const tapped = withTaps(m.proto, ['hidden']);
    expect(tapped.graph!.output.map((o) => o.name)).toEqual(['logits', 'hidden']);
    expect(serializeModel(m)).toEqual(before);
  });

  it('name an unknown tensor with close matches', async () => {
    try {
      await createSession(mlpClassifier(), { taps: ['hiden'] });
      expect.unreachable();
    } catch (e) {
      expect(isMmkitError(e, 'UNKNOWN_TENSOR')).toBe(true);
      expect((e as Error).message).toMatch(/no tensor 'hiden'.*Did you mean 'hidden'/);
    }
    const s = await createSession(mlpClassifier());
    try {
      await s.run({ x }, { fetch: ['hidden'] });
      expect.unreachable();
    } catch (e) {
      expect(isMmkitError(e, 'UNKNOWN_TENSOR')).toBe(true);
      expect((e as Error).message).toMatch(/taps/);
    }
    await s.dispose();
  });
});
