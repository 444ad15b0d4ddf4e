import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isMmkitError } from '../sdk/errors';
import { modelSize } from '../sdk/eval';
import { isExternal, readModel, writeModel } from '../sdk/onnx';
import { createSession } from '../sdk/runtime';
import { mlpClassifier, seededInputs } from './helpers/runtime-models';

describe('models with external data', async () => {
  // Saved outside the working directory, so onnxruntime must be told where the data file is.
  const dir = mkdtempSync(join(tmpdir(), 'mmkit-ext-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mlp.onnx');
  const written = await writeModel(mlpClassifier(), file, { externalData: { threshold: 64 } });
  const x = seededInputs(4, 8);

  it('run from the loaded model, with taps, and from the path, like the inline model', async () => {
    const loaded = await readModel(file);
    expect(loaded.proto.graph!.initializer.filter(isExternal).length).toBeGreaterThan(0);
    const inline = await createSession(mlpClassifier());
    const want = Array.from((await inline.run({ x })).logits.data as Float32Array);
    for (const s of [await createSession(loaded), await createSession(loaded, { taps: ['hidden'] }), await createSession(file)]) {
      expect(Array.from((await s.run({ x })).logits.data as Float32Array)).toEqual(want);
      await s.dispose();
    }
    await inline.dispose();
  });

  it('count the data file in the model size', async () => {
    const loaded = await readModel(file);
    expect(written.files).toHaveLength(2);
    expect(modelSize(loaded).fileBytes).toBe(written.files.reduce((n, f) => n + statSync(f).size, 0));
  });

  it('refuse a bare proto whose data file cannot be located', async () => {
    const { proto } = await readModel(file);
    try {
      await createSession({ proto });
      expect.unreachable();
    } catch (e) {
      expect(isMmkitError(e, 'EXTERNAL_DATA')).toBe(true);
      expect((e as Error).message).toMatch(/readModel\(path\)/);
    }
  });
});
