import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { toBinary, type UnknownField } from '@bufbuild/protobuf';
import {
  ModelProtoSchema,
  isExternal,
  externalRef,
  parseModel,
  readModel,
  serializeModel,
  tensorArray,
  writeModel,
  type ModelProto,
} from '../sdk/onnx';
import { canKeepOffsets, decideExternalData, packOffsets } from '../sdk/onnx/layout';
import { buildMlp, maxAbsDiff, runOnce, seeded, torchReference, TORCH_VIT } from './helpers/onnx-models';
import { expectMmkitError } from './helpers/errors';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-onnx-io-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const at = (...p: string[]) => path.join(tmp, ...p);
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
const mlpInput = seeded(2 * 16 * 32, 9, 1);

describe('round trip without edits is byte-identical', () => {
  test('built model: our encoder matches bufbuild, parse → serialize → same bytes', async () => {
    const { model } = buildMlp();
    const bytes = serializeModel(model);
    expect(same(bytes, toBinary(ModelProtoSchema, model))).toBe(true);
    expect(same(serializeModel(parseModel(bytes)), bytes)).toBe(true);
    const { bytes: written, files } = await writeModel(model, at('mlp.onnx'));
    expect(files).toEqual([at('mlp.onnx')]);
    expect(written).toBe(bytes.byteLength);
    expect(same(fs.readFileSync(at('mlp.onnx')), bytes)).toBe(true);
  });

  test('PyTorch export: load → save gives the same file, and onnxruntime agrees with torch', async () => {
    const original = fs.readFileSync(TORCH_VIT);
    const model = await readModel(TORCH_VIT);
    expect(model.fileBytes).toBe(original.byteLength);
    await writeModel(model, at('vit.onnx'));
    expect(same(fs.readFileSync(at('vit.onnx')), original)).toBe(true);

    const { input, logits } = torchReference();
    const x = Float32Array.from(input.data);
    const fromOriginal = await runOnce(TORCH_VIT, 'pixel_values', x, input.dims);
    const fromSaved = await runOnce(at('vit.onnx'), 'pixel_values', x, input.dims);
    expect(maxAbsDiff(fromOriginal, fromSaved)).toBe(0);
    // onnxruntime vs torch on CPU: float32 rounding differences only.
    expect(maxAbsDiff(fromSaved, logits.data)).toBeLessThan(1e-4);
  });

  test('unknown fields (at model, graph, node and tensor level) survive load → save', async () => {
    const field = (no: number, value: number): UnknownField => ({ no, wireType: 0, data: new Uint8Array([value]) });
    const model = parseModel(serializeModel(buildMlp().model)).proto;
    model.$unknown = [field(1000, 7)];
    model.graph!.$unknown = [field(900, 1), field(901, 2)];
    model.graph!.node[0].$unknown = [field(800, 3)];
    model.graph!.initializer[0].$unknown = [field(700, 4)];
    const bytes = serializeModel(model);
    expect(same(bytes, toBinary(ModelProtoSchema, model))).toBe(true);

    await writeModel(model, at('unknown.onnx'));
    const loaded = await readModel(at('unknown.onnx'));
    expect(loaded.proto.graph!.initializer[0].$unknown?.map((u) => u.no)).toEqual([700]);
    expect(loaded.proto.$unknown?.map((u) => u.no)).toEqual([1000]);
    await writeModel(loaded, at('unknown2.onnx'));
    expect(same(fs.readFileSync(at('unknown2.onnx')), bytes)).toBe(true);
    // onnxruntime ignores unknown fields: same outputs as the clean model.
    const clean = await runOnce(serializeModel(buildMlp().model), 'x', mlpInput, [2, 16, 32]);
    expect(maxAbsDiff(await runOnce(at('unknown2.onnx'), 'x', mlpInput, [2, 16, 32]), clean)).toBe(0);
  });
});

describe('tensors', () => {
  test('parsing keeps bytes fields as views into the input buffer', () => {
    const bytes = fs.readFileSync(TORCH_VIT);
    const model = parseModel(bytes);
    for (const t of model.proto.graph!.initializer) expect(t.rawData.buffer).toBe(bytes.buffer);
  });

  test('tensorArray views raw_data without a copy when aligned, copies when not', async () => {
    const vit = await readModel(TORCH_VIT);
    const inits = vit.proto.graph!.initializer;
    const aligned = inits.find((t) => t.rawData.byteOffset % 4 === 0)!;
    const misaligned = inits.find((t) => t.rawData.byteOffset % 4 !== 0)!;
    const a = tensorArray(aligned);
    expect(a.buffer).toBe(aligned.rawData.buffer);
    const m = tensorArray(misaligned) as Float32Array;
    expect(m.buffer).not.toBe(misaligned.rawData.buffer);
    expect(tensorArray(misaligned)).toBe(m); // the copy is made once
    expect(Buffer.from(m.buffer, m.byteOffset, m.byteLength).equals(Buffer.from(misaligned.rawData))).toBe(true);
  });
});

describe('external data', () => {
  let reference: Float32Array;
  let model: ModelProto;

  test('save with external data: layout, reload, same outputs from onnxruntime', async () => {
    model = buildMlp().model;
    reference = await runOnce(serializeModel(model), 'x', mlpInput, [2, 16, 32]);
    fs.mkdirSync(at('ext'));
    const result = await writeModel(model, at('ext', 'mlp.onnx'), { externalData: true });
    expect(result.files).toEqual([at('ext', 'mlp.onnx'), at('ext', 'mlp.onnx.data')]);
    expect(fs.readdirSync(at('ext')).sort()).toEqual(['mlp.onnx', 'mlp.onnx.data']);

    const loaded = await readModel(at('ext', 'mlp.onnx'));
    const inits = loaded.proto.graph!.initializer;
    // 1024-byte threshold: the two weight matrices (8 KiB each) go out, biases and scalars stay.
    expect(inits.filter(isExternal).map((t) => t.name)).toEqual(['fc1.weight', 'fc2.weight']);
    expect(externalRef(inits.find((t) => t.name === 'fc2.weight')!)).toEqual({ location: 'mlp.onnx.data', offset: 32 * 64 * 4, length: 64 * 32 * 4 });
    const original = model.graph!.initializer.find((t) => t.name === 'fc1.weight')!;
    expect(tensorArray(inits.find((t) => t.name === 'fc1.weight')!, loaded)).toEqual(tensorArray(original));
    expect(maxAbsDiff(await runOnce(at('ext', 'mlp.onnx'), 'x', mlpInput, [2, 16, 32]), reference)).toBe(0);
  });

  test('a model loaded with external data keeps its layout byte for byte; inlining restores the original', async () => {
    const loaded = await readModel(at('ext', 'mlp.onnx'));
    fs.mkdirSync(at('ext-copy'));
    const result = await writeModel(loaded, at('ext-copy', 'mlp.onnx'));
    expect(result.files.map((f) => path.basename(f))).toEqual(['mlp.onnx', 'mlp.onnx.data']);
    expect(same(fs.readFileSync(at('ext-copy', 'mlp.onnx')), fs.readFileSync(at('ext', 'mlp.onnx')))).toBe(true);
    expect(same(fs.readFileSync(at('ext-copy', 'mlp.onnx.data')), fs.readFileSync(at('ext', 'mlp.onnx.data')))).toBe(true);

    // Under another name in the same folder, the data file follows the new name.
    const renamed = await writeModel(loaded, at('ext', 'other.onnx'));
    expect(path.basename(renamed.files[1])).toBe('other.onnx.data');
    expect(maxAbsDiff(await runOnce(at('ext', 'other.onnx'), 'x', mlpInput, [2, 16, 32]), reference)).toBe(0);

    await writeModel(loaded, at('inlined.onnx'), { externalData: false });
    expect(same(fs.readFileSync(at('inlined.onnx')), serializeModel(model))).toBe(true);
  });

  test('large tensors are aligned to 4096 bytes, small ones packed', async () => {
    const { ModelBuilder } = await import('../sdk/onnx');
    const b = new ModelBuilder();
    const x = b.input('x', 'float32', [1, 4]);
    const small = b.initializer('small', 'float32', [4, 300], seeded(1200, 1)); // 4800 B
    const big = b.initializer('big', 'float32', [300, 1000], seeded(300_000, 2)); // 1.2 MB
    const y = b.op('MatMul', [b.op('MatMul', [x, small]), big]);
    b.output(y, 'float32', [1, 1000]);
    const r = await writeModel(b.build(), at('aligned.onnx'), { externalData: { threshold: 1024 } });
    const loaded = await readModel(at('aligned.onnx'));
    const refs = loaded.proto.graph!.initializer.map(externalRef);
    expect(refs).toEqual([
      { location: 'aligned.onnx.data', offset: 0, length: 4800 },
      { location: 'aligned.onnx.data', offset: 8192, length: 1_200_000 },
    ]);
    expect(fs.statSync(r.files[1]).size).toBe(8192 + 1_200_000);
  });

  test('over the inline limit, saving switches to external data and says so', async () => {
    const { model } = buildMlp();
    const r = await writeModel(model, at('switch', 'mlp.onnx'), { maxInlineBytes: 4096 });
    expect(r.files.map((f) => path.basename(f))).toEqual(['mlp.onnx', 'mlp.onnx.data']);
    expect(r.notices.join(' ')).toMatch(/external data/);
    expect(maxAbsDiff(await runOnce(at('switch', 'mlp.onnx'), 'x', mlpInput, [2, 16, 32]), reference)).toBe(0);
    // Under the limit nothing changes.
    const inline = await writeModel(model, at('switch', 'small.onnx'), { maxInlineBytes: 1 << 20 });
    expect(inline.files).toHaveLength(1);
    expect(inline.notices).toEqual([]);
  });
});

describe('choosing the save layout', () => {
  const GiB = 2 ** 30;
  test('inline below the limit, external above it (with a notice), explicit choices win', () => {
    expect(decideExternalData(undefined, GiB, false)).toEqual({ mode: { kind: 'inline' } });
    const switched = decideExternalData(undefined, 3 * GiB, false);
    expect(switched.mode).toEqual({ kind: 'external', threshold: 1024, align: 4096 });
    expect(switched.notice).toMatch(/3\.00 GiB.*2\.00 GiB limit/);
    // Even an explicit false cannot fit 3 GiB in one protobuf message.
    expect(decideExternalData(false, 3 * GiB, false).notice).toBeDefined();
    expect(decideExternalData(false, 100, true)).toEqual({ mode: { kind: 'inline' } });
    expect(decideExternalData(undefined, 100, true)).toEqual({ mode: { kind: 'keep' } });
    expect(decideExternalData({ location: 'w.bin', threshold: 0 }, 100, false).mode).toEqual({ kind: 'external', threshold: 0, align: 4096, location: 'w.bin' });
    // A small limit behaves like the real one.
    expect(decideExternalData(undefined, 5000, false, 4096).mode.kind).toBe('external');
  });

  test('packing aligns only large tensors; source offsets are kept unless they overlap or leave big holes', () => {
    expect(packOffsets([100, 2 * 2 ** 20, 10], 4096)).toEqual([
      { offset: 0, length: 100 },
      { offset: 4096, length: 2 * 2 ** 20 },
      { offset: 4096 + 2 * 2 ** 20, length: 10 },
    ]);
    expect(packOffsets([100, 2 * 2 ** 20], 0)[1].offset).toBe(100);
    expect(canKeepOffsets([{ offset: 0, length: 100 }, { offset: 4096, length: 2 ** 20 }])).toBe(true);
    expect(canKeepOffsets([{ offset: 0, length: 100 }, { offset: 50, length: 100 }])).toBe(false);
    expect(canKeepOffsets([{ offset: 0, length: 2 ** 20 }, { offset: 50 * 2 ** 20, length: 2 ** 20 }])).toBe(false);
  });
});

describe('errors', () => {
  test('missing file → FILE_NOT_FOUND', async () => {
    await expectMmkitError(readModel(at('nope.onnx')), 'FILE_NOT_FOUND', 'nope.onnx');
  });

  test('text, PNG, empty and graph-less files → NOT_ONNX', async () => {
    fs.writeFileSync(at('text.onnx'), 'this is not a model\n');
    fs.writeFileSync(at('image.onnx'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]));
    fs.writeFileSync(at('empty.onnx'), '');
    fs.writeFileSync(at('nograph.onnx'), Buffer.from([0x08, 0x08])); // ir_version 8 and nothing else
    for (const f of ['text.onnx', 'image.onnx', 'empty.onnx', 'nograph.onnx']) await expectMmkitError(readModel(at(f)), 'NOT_ONNX', f);
  });

  test('a cut-off model → TRUNCATED, wherever it is cut', async () => {
    const bytes = fs.readFileSync(TORCH_VIT);
    for (const fraction of [0.05, 0.5, 0.999]) {
      const cut = bytes.subarray(0, Math.floor(bytes.byteLength * fraction));
      await expectMmkitError(() => parseModel(cut, { source: 'cut.onnx' }), 'TRUNCATED', 'cut.onnx');
    }
  });

  test('missing, short or escaping external data → EXTERNAL_DATA naming tensor and file', async () => {
    fs.mkdirSync(at('broken'));
    await writeModel(buildMlp().model, at('broken', 'm.onnx'), { externalData: true });
    const loaded = await readModel(at('broken', 'm.onnx'));
    const weight = loaded.proto.graph!.initializer.find((t) => t.name === 'fc2.weight')!;

    fs.truncateSync(at('broken', 'm.onnx.data'), 10_000);
    await expectMmkitError(() => tensorArray(weight, loaded), 'EXTERNAL_DATA', 'fc2.weight', 'm.onnx.data');
    fs.rmSync(at('broken', 'm.onnx.data'));
    await expectMmkitError(() => tensorArray(weight, loaded), 'EXTERNAL_DATA', 'fc2.weight', 'm.onnx.data');

    const escaping = parseModel(serializeModel(loaded), { baseDir: at('broken') }).proto.graph!.initializer.find((t) => t.name === 'fc2.weight')!;
    escaping.externalData[0].value = '../../etc/passwd';
    await expectMmkitError(() => tensorArray(escaping, { proto: loaded.proto, baseDir: at('broken') }), 'EXTERNAL_DATA', 'fc2.weight', 'outside');
  });

  test('a failed save leaves no file behind → WRITE_FAILED / the cause', async () => {
    // The weights' data file vanished after loading: saving inline must fail cleanly.
    fs.mkdirSync(at('fail'));
    await writeModel(buildMlp().model, at('fail', 'm.onnx'), { externalData: true });
    const loaded = await readModel(at('fail', 'm.onnx'));
    fs.rmSync(at('fail', 'm.onnx.data'));
    fs.mkdirSync(at('fail-out'));
    await expectMmkitError(writeModel(loaded, at('fail-out', 'm.onnx'), { externalData: true }), 'WRITE_FAILED', 'fc1.weight', 'm.onnx.data');
    expect(fs.readdirSync(at('fail-out'))).toEqual([]);
    await expectMmkitError(writeModel(loaded, at('fail-out', 'm.onnx'), { externalData: false }), 'WRITE_FAILED', 'm.onnx.data');
    expect(fs.readdirSync(at('fail-out'))).toEqual([]);

    // Saving over the model's own data file while the model still reads from it is refused.
    const intact = await readModel(at('ext', 'mlp.onnx'));
    await expectMmkitError(writeModel(intact, at('ext', 'mlp.onnx')), 'OVERWRITE_SOURCE', 'mlp.onnx.data');

    fs.writeFileSync(at('a-file'), 'x');
    await expectMmkitError(writeModel(buildMlp().model, at('a-file', 'm.onnx')), 'WRITE_FAILED', 'a-file');
  });
});
