import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { serializeModel } from '../sdk/onnx';
import { createSession } from '../sdk/runtime';
import { announceFallback, resetDeviceState, setNoticeHook } from '../sdk/runtime/device';
import { CLASSES, mlpClassifier, reshapeModel, seededInputs } from './helpers/runtime-models';
import { expectMmkitError } from './helpers/errors';
import { testTempDir } from './helpers/temp';

async function plainOrt(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run({ x: new ort.Tensor('float32', x, dims) });
  await s.release();
  return out.logits.data as Float32Array;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('createSession on cpu', () => {
  const model = mlpClassifier();
  const x = seededInputs(5, 1);

  it('runs a model exactly like plain onnxruntime, with the declared metadata', async () => {
    const s = await createSession(model, { intraOpThreads: 1 });
    expect(s.device).toBe('cpu');
    expect(s.inputNames).toEqual(['x']);
    expect(s.outputNames).toEqual(['logits']);
    expect(s.inputs[0]).toEqual({ name: 'x', dtype: 'float32', dims: ['N', 6] });
    const out = await s.run({ x });
    expect(out.logits.dims).toEqual([5, CLASSES]);
    expect(out.logits.dtype).toBe('float32');
    expect(Array.from(out.logits.data as Float32Array)).toEqual(Array.from(await plainOrt(serializeModel(model), x.data as Float32Array, x.dims)));
    await s.dispose();
  });

  it("takes onnxruntime's own tensors as feeds (session.run and pipeline.run), gives them as outputs on request, and says so for one it cannot", async () => {
    const s = await createSession(model, { intraOpThreads: 1 });
    const viaOrt = await s.run({ x: new ort.Tensor('float32', x.data as Float32Array, x.dims) });
    expect(Array.from(viaOrt.logits.data as Float32Array)).toEqual(Array.from((await s.run({ x })).logits.data as Float32Array));
    await expectMmkitError(s.run({ x: new ort.Tensor('string', ['a'], [1]) }), 'UNSUPPORTED', /'x' is an onnxruntime tensor of type 'string'/);
    await s.dispose();
    const { Pipeline } = await import('../sdk/pipeline');
    const { writeModel } = await import('../sdk/onnx');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'mmkit-ort-feed-'));
    try {
      await writeModel(model, join(dir, 'm.onnx'));
      const p = Pipeline.load(join(dir, 'm.onnx'));
      const out = await p.run(new ort.Tensor('float32', x.data as Float32Array, x.dims));
      expect(Array.from(out.logits.data as Float32Array)).toEqual(Array.from(viaOrt.logits.data as Float32Array));
      // Outputs as onnxruntime's own tensors, which feed straight into another ort session.
      const asOrt = await p.run(x, { as: 'ort' });
      expect(asOrt.logits).toBeInstanceOf(ort.Tensor);
      expect(asOrt.logits.type).toBe('float32');
      expect(Array.from(asOrt.logits.data as Float32Array)).toEqual(Array.from(out.logits.data as Float32Array));
      await expectMmkitError(p.run(x, { as: 'numpy' as 'ort' }), 'BAD_OPTION', /as must be 'mmkit' or 'ort'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads from bytes and from a file path too', async () => {
    const bytes = serializeModel(model);
    const want = await plainOrt(bytes, x.data as Float32Array, x.dims);
    const fromBytes = await createSession(bytes);
    expect(Array.from((await fromBytes.run({ x })).logits.data as Float32Array)).toEqual(Array.from(want));
    await fromBytes.dispose();
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const file = join(testTempDir('rt'), 'mlp.onnx');
    writeFileSync(file, bytes);
    const fromFile = await createSession(file);
    expect(Array.from((await fromFile.run({ x })).logits.data as Float32Array)).toEqual(Array.from(want));
    await fromFile.dispose();
  });

  it('shares one onnxruntime session between equal requests until the last handle is disposed', async () => {
    const create = vi.spyOn(ort.InferenceSession, 'create');
    const m = mlpClassifier({ seed: 11 });
    const a = await createSession(m);
    const b = await createSession(m);
    expect(create).toHaveBeenCalledTimes(1);
    const other = await createSession(m, { intraOpThreads: 1 });
    expect(create).toHaveBeenCalledTimes(2);
    await a.dispose();
    expect((await b.run({ x })).logits.dims).toEqual([5, CLASSES]);
    await expectMmkitError(a.run({ x }), 'RUNTIME', /disposed/);
    await b.dispose();
    const c = await createSession(m);
    expect(create).toHaveBeenCalledTimes(3);
    await Promise.all([c.dispose(), other.dispose()]);
  });
});

describe('devices', () => {
  afterEach(() => resetDeviceState());

  it('falls back from an unavailable device to cpu with one notice, giving plain ort results', async () => {
    resetDeviceState();
    const notices: string[] = [];
    const previous = setNoticeHook((m) => notices.push(m));
    try {
      const model = mlpClassifier();
      const x = seededInputs(3, 2);
      const s = await createSession(model, { device: 'cuda', reuse: false });
      expect(s.device).toBe('cpu');
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(/^mmkit: device 'cuda' is not available here \(cuda: .+\); running on cpu\.$/);
      expect(notices[0]).not.toContain('\n');
      expect(Array.from((await s.run({ x })).logits.data as Float32Array)).toEqual(Array.from(await plainOrt(serializeModel(model), x.data as Float32Array, x.dims)));
      // Once per device per process: the second request is quiet and does not retry cuda.
      const create = vi.spyOn(ort.InferenceSession, 'create');
      const again = await createSession(model, { device: 'cuda', reuse: false });
      expect(again.device).toBe('cpu');
      expect(create).toHaveBeenCalledTimes(1);
      expect(notices).toHaveLength(1);
      await Promise.all([s.dispose(), again.dispose()]);
    } finally {
      setNoticeHook(previous);
    }
  });

  it("'auto' and 'webgpu' land on cpu here and say so once", async () => {
    resetDeviceState();
    const notices: string[] = [];
    const previous = setNoticeHook((m) => notices.push(m));
    try {
      const auto = await createSession(mlpClassifier(), { device: 'auto', reuse: false });
      const webgpu = await createSession(mlpClassifier(), { device: 'webgpu', reuse: false });
      expect([auto.device, webgpu.device]).toEqual(['cpu', 'cpu']);
      expect(notices).toHaveLength(2);
      expect(notices[0]).toMatch(/device 'auto' found no accelerator \(cuda: .+; webgpu: .+\); running on cpu/);
      expect(notices[1]).toMatch(/device 'webgpu' is not available here/);
      await Promise.all([auto.dispose(), webgpu.dispose()]);
    } finally {
      setNoticeHook(previous);
    }
  });

  it("stays quiet when 'auto' finds an accelerator", () => {
    resetDeviceState();
    const notices: string[] = [];
    const previous = setNoticeHook((m) => notices.push(m));
    announceFallback('auto', 'cuda');
    announceFallback('auto', 'webgpu');
    announceFallback('cuda', 'cuda');
    setNoticeHook(previous);
    expect(notices).toEqual([]);
  });

  it('rejects unknown devices and bad thread counts', async () => {
    await expectMmkitError(createSession(mlpClassifier(), { device: 'tpu' as never }), 'UNKNOWN_DEVICE', "'tpu'", "'cpu', 'cuda', 'webgpu', 'auto'");
    await expectMmkitError(createSession(mlpClassifier(), { intraOpThreads: -1 }), 'BAD_OPTION', 'intraOpThreads');
  });
});

describe('input checks before onnxruntime', () => {
  const model = mlpClassifier();

  it('names unknown and missing inputs', async () => {
    const s = await createSession(model);
    const x = seededInputs(2, 3);
    const unknown = await expectMmkitError(s.run({ x, y: x }), 'UNKNOWN_INPUT', "no input 'y'");
    expect(unknown.tensor).toBe('y');
    await expectMmkitError(s.run({ X: x }), 'UNKNOWN_INPUT', "no input 'X'", "Did you mean 'x'");
    await expectMmkitError(s.run({}), 'UNKNOWN_INPUT', "needs input 'x'");
    await s.dispose();
  });

  it('reports wrong shapes with the input name and both shapes, and wrong dtypes', async () => {
    const s = await createSession(model);
    const e = await expectMmkitError(s.run({ x: { data: new Float32Array(10), dims: [2, 5], dtype: 'float32' } }), 'SHAPE_MISMATCH', "'x'", '[N, 6]', '[2, 5]');
    expect(e.tensor).toBe('x');
    await expectMmkitError(s.run({ x: { data: new Float32Array(12), dims: [2, 6, 1], dtype: 'float32' } }), 'SHAPE_MISMATCH', '[2, 6, 1]');
    await expectMmkitError(s.run({ x: { data: new Float32Array(11), dims: [2, 6], dtype: 'float32' } }), 'SHAPE_MISMATCH', 'holds 11 values');
    await expectMmkitError(s.run({ x: { data: new Int32Array(12), dims: [2, 6], dtype: 'int32' } }), 'DTYPE_MISMATCH', "'x'", 'float32', 'int32');
    await expectMmkitError(s.run({ x: { data: new Float64Array(12), dims: [2, 6], dtype: 'float32' } }), 'DTYPE_MISMATCH', "'x' says float32 but holds a Float64Array");
    await s.dispose();
  });

  it('wraps errors raised inside onnxruntime with the failing node', async () => {
    const s = await createSession(reshapeModel());
    const ok = await s.run({ x: seededInputs(2, 4), shape: { data: new BigInt64Array([3n, 4n]), dims: [2], dtype: 'int64' } });
    expect(ok.y.dims).toEqual([3, 4]);
    const e = await expectMmkitError(s.run({ x: seededInputs(2, 4), shape: { data: new BigInt64Array([5n, 5n]), dims: [2], dtype: 'int64' } }), 'RUNTIME', "node 'reshape'");
    expect(e.node).toBe('reshape');
    await s.dispose();
  });

  it('refuses a model onnxruntime cannot load', async () => {
    const broken = mlpClassifier();
    broken.proto.graph!.node[2].opType = 'NoSuchOp';
    await expectMmkitError(createSession(broken), 'BAD_MODEL', 'onnxruntime cannot load', 'NoSuchOp');
  });
});
