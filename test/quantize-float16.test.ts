import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mm, isMmkitError } from '../sdk';
import { mnist, renderShapes, shapeIndices, shapesTokenizer } from '../sdk/data';
import { agreement, cosineSimilarities, evaluateModel } from '../sdk/eval';
import { evaluateClip } from '../sdk/train/clip-eval';
import { DataType, GraphView, ModelBuilder, allInitializers, editModel, makeValueInfo, readModel, readValueType, serializeModel, dtypeOf, type OnnxModel } from '../sdk/onnx';
import { createSession } from '../sdk/runtime';
import { toFloat16, normalizeFloat16Options, QUANTIZE_FP16_OP, type Float16Options } from '../sdk/passes/quantize/fp16';
import { toHalf } from '../sdk/passes/quantize/fp16-values';
import { halfBits, halfToFloat } from '../sdk/onnx';
import { quantizeDynamic, normalizeDynamicQuantOptions } from '../sdk/passes/quantize/dynamic';
import { TORCH_VIT, buildMlp, maxAbsDiff, runOnce, seeded, torchReference } from './helpers/onnx-models';
import { buildConstantNet, buildIfNet, constantNetCosine, corpusModel, ifNetCosine, run } from './helpers/weight-models';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';
const CLIP = 'datasets/models/clip-tiny-shapes.onnx';
type Ort = typeof import('onnxruntime-node');

const ops = (m: OnnxModel, op: string) => GraphView.of(m.proto).nodes.filter((n) => n.opType === op);
const float16Initializers = (m: OnnxModel) => GraphView.of(m.proto).initializers.filter((t) => dtypeOf(t.dataType) === 'float16');

/** No float Cast reads the output of another float Cast: no float32 ⇄ float16 back-and-forth pairs (torch's int64 shape Casts aside). */
function expectNoCastPairs(m: OnnxModel): void {
  const view = GraphView.of(m.proto);
  const floatCast = (n: { opType: string; attribute: { name: string; i: bigint }[] } | undefined) =>
    n?.opType === 'Cast' && [DataType.FLOAT, DataType.FLOAT16].includes(Number(n.attribute.find((a) => a.name === 'to')!.i));
  for (const c of ops(m, 'Cast').filter(floatCast)) expect(floatCast(view.producer(c.input[0])), `Cast '${c.name}' casts a Cast`).toBe(false);
}

async function runWeb(bytes: Uint8Array, name: string, data: Float32Array, dims: number[]): Promise<Float32Array> {
  const web = require('onnxruntime-web') as typeof import('onnxruntime-web');
  const session = await web.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const out = await session.run({ [name]: new web.Tensor('float32', data, dims) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

describe('quantize.fp16 on the MNIST ViT', () => {
  it('halves the file, keeps float32 inputs/outputs, runs in onnxruntime-node and -web, top-1 within 0.3 points', async () => {
    const base = await readModel(VIT);
    const before = serializeModel(base);
    const { model, report } = toFloat16(base);
    expect(serializeModel(base)).toEqual(before); // input untouched
    const bytes = serializeModel(model);
    const ratio = bytes.byteLength / before.byteLength;
    console.log(`vit-tiny-mnist fp16: ${before.byteLength} B → ${bytes.byteLength} B (${(100 * ratio).toFixed(1)}%); ${report.lines.join(' ')}`);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(0.55);
    const view = GraphView.of(model.proto);
    expect(view.inputs.map((i) => readValueType(i.type).dtype)).toEqual(['float32']);
    expect(view.outputs.map((o) => readValueType(o.type).dtype)).toEqual(['float32']);
    // Nothing blocked: one Cast in at the pixels and one out at the logits.
    expect(ops(model, 'Cast')).toHaveLength(2);
    expect(GraphView.of(model.proto).initializers.filter((t) => dtypeOf(t.dataType) === 'float32')).toHaveLength(0);
    expectNoCastPairs(model);
    // Converting again finds nothing float32 left: the very same model comes back.
    expect(toFloat16(model).model).toBe(model);

    const pixels = seeded(8 * 784, 5, 1);
    const want = await runOnce(before, 'pixel_values', pixels, [8, 1, 28, 28]);
    const fromNode = await runOnce(bytes, 'pixel_values', pixels, [8, 1, 28, 28]);
    const fromWeb = await runWeb(bytes, 'pixel_values', pixels, [8, 1, 28, 28]);
    console.log(`fp16 logits vs float32: node max |Δ| ${maxAbsDiff(fromNode, want).toExponential(2)}, web ${maxAbsDiff(fromWeb, want).toExponential(2)} (logits up to ${Math.max(...want.map(Math.abs)).toFixed(2)})`);
    expect(maxAbsDiff(fromNode, want)).toBeLessThan(1e-2);
    expect(maxAbsDiff(fromWeb, fromNode)).toBeLessThan(1e-3);

    const r = await evaluateModel(model, mnist({ split: 'test', batchSize: 500 }), { baseline: base });
    const drop = 100 * (r.baseline!.accuracy!.top1 - r.model.accuracy!.top1);
    console.log(`vit-tiny-mnist fp16 on ${r.items} digits: top-1 ${(100 * r.model.accuracy!.top1).toFixed(2)}% vs ${(100 * r.baseline!.accuracy!.top1).toFixed(2)}% (drop ${drop.toFixed(2)} pt), agreement ${(100 * r.agreement!.top1).toFixed(2)}%`);
    expect(r.items).toBe(1996);
    expect(drop).toBeLessThanOrEqual(0.3);
    expect(r.agreement!.top1).toBeGreaterThanOrEqual(0.995);
  });

  it('honours the block list by op type and by node name, with Casts only at region boundaries', async () => {
    const base = await readModel(VIT);
    const softmaxes = ops(base, 'Softmax');
    const ln = ops(base, 'LayerNormalization')[0];
    const { model, report } = toFloat16(base, { block: { ops: ['Softmax'], nodes: [ln.name] } });
    const view = GraphView.of(model.proto);
    const typeOf = (v: string) => {
      const p = view.producer(v);
      return p?.opType === 'Cast' ? dtypeOf(Number(p.attribute[0].i)) : undefined;
    };
    // A blocked node reads float32 through a Cast from the float16 region and its result is cast back.
    for (const s of [...softmaxes, ln]) {
      const kept = view.nodes.find((n) => n.name === s.name)!;
      expect(typeOf(kept.input[0]), `${s.name} input`).toBe('float32');
      expect(view.consumers(kept.output[0]).every((c) => c.opType === 'Cast'), `${s.name} output`).toBe(true);
    }
    // The blocked LayerNormalization keeps its float32 scale and bias.
    expect(dtypeOf(view.initializer(ln.input[1])!.dataType)).toBe('float32');
    expect(report.lines[0]).toContain('4× Softmax (blocked)');
    // The two IO Casts, and one in and one out around each blocked node.
    expect(ops(model, 'Cast')).toHaveLength(2 + 2 * (softmaxes.length + 1));
    expectNoCastPairs(model);
    const pixels = seeded(4 * 784, 8, 1);
    const want = await runOnce(serializeModel(base), 'pixel_values', pixels, [4, 1, 28, 28]);
    expect(maxAbsDiff(await runOnce(serializeModel(model), 'pixel_values', pixels, [4, 1, 28, 28]), want)).toBeLessThan(1e-2);
  });

  it('keepIoTypes: false declares float16 inputs and outputs', async () => {
    const { model } = toFloat16(await readModel(VIT), { keepIoTypes: false });
    const view = GraphView.of(model.proto);
    expect(readValueType(view.inputs[0].type).dtype).toBe('float16');
    expect(readValueType(view.outputs[0].type).dtype).toBe('float16');
    expect(ops(model, 'Cast')).toHaveLength(0);
    const ort = require('onnxruntime-node') as Ort;
    const pixels = seeded(2 * 784, 3, 1);
    const session = await ort.InferenceSession.create(serializeModel(model), { logSeverityLevel: 3 });
    try {
      const out = await session.run({ pixel_values: new ort.Tensor('float16', Uint16Array.from(pixels, halfBits), [2, 1, 28, 28]) });
      const logits = Float32Array.from(out.logits.data as Uint16Array, halfToFloat);
      const want = await runOnce(VIT, 'pixel_values', pixels, [2, 1, 28, 28]);
      expect(maxAbsDiff(logits, want)).toBeLessThan(2e-2);
    } finally {
      await session.release();
    }
  });

  it('runs as a pipeline step: full options in the recipe, the report among the pipeline reports', async () => {
    const p = mm.load(VIT).step(QUANTIZE_FP16_OP, { block: { ops: ['Softmax'] } });
    expect(p.steps.at(-1)).toEqual({ op: QUANTIZE_FP16_OP, options: { keepIoTypes: true, block: { nodes: [], ops: ['Softmax'] } } });
    const reports = await p.reports();
    const mine = reports.find((r) => r.op === QUANTIZE_FP16_OP)!;
    expect(mine.lines[0]).toMatch(/run in float16/);
    expect(mine.warnings).toEqual([]);
    const again = serializeModel(await mm.fromRecipe(JSON.stringify(p.recipe)).model());
    expect(Buffer.from(again).equals(Buffer.from(serializeModel(await p.model())))).toBe(true);
  });
});

describe('quantize.fp16 on CLIP-tiny and the PyTorch fixture', () => {
  it('CLIP-tiny: embeddings follow float32 (cosine > 0.999), zero-shot within 1 point, runs in onnxruntime-web', async () => {
    const base = await readModel(CLIP);
    const { model } = toFloat16(base);
    const ratio = serializeModel(model).byteLength / serializeModel(base).byteLength;
    const { pixels, scenes } = renderShapes('test', shapeIndices('test', 'retrieval').slice(0, 32));
    const text = shapesTokenizer().encode(scenes.map((s) => s.caption));
    const embeds = async (m: OnnxModel) => {
      const session = await createSession(m);
      try {
        const out = await session.run({ pixel_values: pixels, ...text }, { fetch: ['image_embeds', 'text_embeds'] });
        return { image: out.image_embeds.data as Float32Array, text: out.text_embeds.data as Float32Array };
      } finally {
        await session.dispose();
      }
    };
    const [f, h] = [await embeds(base), await embeds(model)];
    const cos = { image: Math.min(...cosineSimilarities(f.image, h.image, 64)), text: Math.min(...cosineSimilarities(f.text, h.text, 64)) };
    const [zf, zh] = [await evaluateClip(base), await evaluateClip(model)];
    console.log(`CLIP-tiny fp16: ${(100 * ratio).toFixed(1)}% of the file; min cosine image ${cos.image.toFixed(5)}, text ${cos.text.toFixed(5)}; zero-shot ${(100 * zh.zeroShotTop1).toFixed(1)}% vs ${(100 * zf.zeroShotTop1).toFixed(1)}%`);
    expect(ratio).toBeLessThan(0.55);
    expect(cos.image).toBeGreaterThan(0.999);
    expect(cos.text).toBeGreaterThan(0.999);
    expect(Math.abs(zh.zeroShotTop1 - zf.zeroShotTop1) * 100).toBeLessThanOrEqual(1);

    const web = require('onnxruntime-web') as typeof import('onnxruntime-web');
    const session = await web.InferenceSession.create(serializeModel(model), { executionProviders: ['wasm'] });
    try {
      const feeds = {
        pixel_values: new web.Tensor('float32', pixels.data as Float32Array, pixels.dims),
        input_ids: new web.Tensor('int64', text.input_ids.data as BigInt64Array, text.input_ids.dims),
        attention_mask: new web.Tensor('int64', text.attention_mask.data as BigInt64Array, text.attention_mask.dims),
      };
      const out = await session.run(feeds);
      expect(maxAbsDiff(out.image_embeds.data as Float32Array, h.image)).toBeLessThan(1e-3);
      expect(maxAbsDiff(out.text_embeds.data as Float32Array, h.text)).toBeLessThan(1e-3);
    } finally {
      await session.release();
    }
  });

  it('the torch export converts and runs with torch logits (cosine > 0.999, same top-1)', async () => {
    const ref = torchReference();
    const { model } = toFloat16(await readModel(TORCH_VIT));
    expectNoCastPairs(model);
    const logits = await runOnce(serializeModel(model), 'pixel_values', Float32Array.from(ref.input.data), ref.input.dims);
    const a = agreement(Float32Array.from(ref.logits.data), logits, 10);
    console.log(`torch fixture fp16: cosine to torch ${a.cosineMean.toFixed(6)}, top-1 agreement ${a.top1}`);
    expect(a.cosineMean).toBeGreaterThan(0.999);
    expect(a.top1).toBe(1);
  });

  it('after dynamic int8: the contrib ops stay float32 behind Casts, the rest goes float16 and runs', async () => {
    const ref = torchReference();
    const int8 = quantizeDynamic(await readModel(TORCH_VIT), normalizeDynamicQuantOptions({ minElements: 0 }));
    const { model, report } = toFloat16(int8);
    console.log(report.lines[0]);
    // Types flow through DynamicQuantizeMatMul, so nothing downstream is left float32 as unknown.
    expect(report.lines[0]).toContain('9× DynamicQuantizeMatMul (unsupported op)');
    expect(report.lines[0]).not.toContain('unknown types');
    expectNoCastPairs(model);
    const logits = await runOnce(serializeModel(model), 'pixel_values', Float32Array.from(ref.input.data), ref.input.dims);
    const a = agreement(Float32Array.from(ref.logits.data), logits, 10);
    console.log(`torch fixture int8 + fp16: cosine to torch ${a.cosineMean.toFixed(5)}, top-1 agreement ${a.top1}`);
    expect(a.cosineMean).toBeGreaterThan(0.99);
    expect(a.top1).toBe(1);
  });
});

describe('float16 values', () => {
  it("outOfRange 'clamp' clamps beyond ±65504 and flushes below 2^-24, and the report names the tensor and the counts", async () => {
    const b = new ModelBuilder({ opset: 17 });
    b.input('x', 'float32', [1, 4]);
    b.initializer('w', 'float32', [1, 4], Float32Array.from([1e6, 1e-9, -3e5, 0.5]));
    b.node('Mul', ['x', 'w'], {}, { outputs: ['y'], name: 'scale' });
    b.output('y', 'float32', [1, 4]);
    const { model, report } = toFloat16({ proto: b.build() }, { outOfRange: 'clamp' });
    console.log(report.warnings.join('\n'));
    expect(report.warnings).toHaveLength(1);
    expect(report.warnings[0]).toMatch(/^w: 2 of 4 values beyond ±65504 clamped .*; 1 of 4 nonzero values below 2\^-24 flushed to 0\.$/);
    expect(report.table!.rows).toEqual([['w', 4, 2, 1, 1e6]]);
    const y = await runOnce(serializeModel(model), 'x', Float32Array.from([1, 1, 1, 1]), [1, 4]);
    expect(Array.from(y)).toEqual([65504, 0, -65504, 0.5]);
  });

  it('keeps the op reading a constant beyond ±65504 in float32 (a BatchNormalization variance of 1e8): output within 2e-3 of float32, the report names both', async () => {
    const c = 8;
    const b = new ModelBuilder({ opset: 17 });
    b.input('x', 'float32', [1, 4, 8, 8]);
    const w = seeded(c * 4 * 9, 21, 0.5);
    w[5] = 3e-9; // below 2^-24: flushed to 0, a warning, not a reason to keep the Conv in float32
    b.initializer('conv.w', 'float32', [c, 4, 3, 3], w);
    const variance = Float32Array.from({ length: c }, (_, i) => (i === 0 ? 1e8 : 0.5 + i / 8));
    const bn = ['scale', 'bias', 'mean'].map((k, i) => b.initializer(`bn.${k}`, 'float32', [c], seeded(c, 30 + i, 1)));
    b.initializer('bn.var', 'float32', [c], variance);
    const h = b.op('Conv', ['x', 'conv.w'], { pads: [1, 1, 1, 1] });
    // Channel 0 of the Conv runs ~1e4 wide, as the PP-OCRv4 det layer whose variance is 9.8e7.
    const wide = b.op('Mul', [h, b.initializer('gain', 'float32', [c, 1, 1], Float32Array.from({ length: c }, (_, i) => (i === 0 ? 1e4 : 1)))]);
    b.node('BatchNormalization', [wide, ...bn, 'bn.var'], {}, { outputs: ['bn_out'], name: 'bn' });
    b.node('Relu', ['bn_out'], {}, { outputs: ['y'] });
    b.output('y', 'float32', [1, c, 8, 8]);
    const base: OnnxModel = { proto: b.build() };
    const { model, report } = toFloat16(base);
    console.log(report.lines.join('\n'), '\n', report.warnings.join('\n'));
    expect(report.lines[0]).toMatch(/float32 kept: 1× BatchNormalization \(reads a value beyond ±65504\)/);
    expect(report.lines).toContain("Kept float32 because float16 cannot hold a constant beyond ±65504: BatchNormalization 'bn' reads 'bn.var' (max |x| 1.00e+8).");
    expect(report.warnings).toEqual(['conv.w: 1 of 288 nonzero values below 2^-24 flushed to 0.']);
    const view = GraphView.of(model.proto);
    expect(dtypeOf(view.initializer('bn.var')!.dataType)).toBe('float32');
    expect(dtypeOf(view.initializer('conv.w')!.dataType)).toBe('float16'); // the Conv still runs in float16
    const norm = view.nodes.find((n) => n.name === 'bn')!;
    expect(view.producer(norm.input[0])!.opType).toBe('Cast'); // float16 → float32 in front of it
    const x = seeded(4 * 64, 22, 1);
    const [want, got] = [await runOnce(serializeModel(base), 'x', x, [1, 4, 8, 8]), await runOnce(serializeModel(model), 'x', x, [1, 4, 8, 8])];
    const clamped = await runOnce(serializeModel(toFloat16(base, { outOfRange: 'clamp' }).model), 'x', x, [1, 4, 8, 8]);
    const scale = Math.max(...Array.from(want, Math.abs));
    const cos = (a: Float32Array) => agreement(want, a, want.length).cosineMean;
    console.log(`BatchNorm variance 1e8: max |Δ| ${maxAbsDiff(want, got).toExponential(2)} (outputs up to ${scale.toFixed(2)}), cosine ${cos(got).toFixed(6)}; clamped: cosine ${cos(clamped).toFixed(4)}`);
    expect(maxAbsDiff(want, got)).toBeLessThan(2e-3 * scale);
    expect(cos(got)).toBeGreaterThan(0.99999);
    expect(cos(clamped)).toBeLessThan(0.99); // what clamping the variance to 65504 does
  });

  it('rounds to the nearest half, ties to even, subnormals included', () => {
    expect(halfBits(1)).toBe(0x3c00);
    expect(halfBits(65504)).toBe(0x7bff);
    expect(halfBits(65520)).toBe(0x7c00); // rounds up to Infinity: toHalf clamps before this
    expect(halfBits(2 ** -24)).toBe(0x0001);
    expect(halfBits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(halfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie → even (up)
    expect(halfBits(-0.1)).toBe(0xae66);
    for (const x of [0.1, -2.5, 1000.3, 6.1e-5, 3e-7]) expect(Math.abs(halfToFloat(halfBits(x)) - x)).toBeLessThanOrEqual(Math.max(Math.abs(x) * 2 ** -11, 2 ** -25));
    expect(toHalf(Float32Array.from([Infinity, -1e9, 1e-30, 0]))).toMatchObject({ clamped: 1, flushed: 1, maxAbs: 1e9 });
  });

  it('declared value_info types follow the values, so the converted model loads', async () => {
    const mlp = buildMlp();
    // Declare every intermediate as float32, as exporters that run shape inference do.
    const declared = editModel(mlp.model, (e) => {
      for (const n of e.view.nodes) for (const o of n.output) if (!e.view.isGraphOutput(o)) e.valueInfos.push(makeValueInfo(o, 'float32'));
    });
    const { model } = toFloat16({ proto: declared });
    const view = GraphView.of(model.proto);
    const types = model.proto.graph!.valueInfo.map((v) => readValueType(v.type).dtype);
    expect(types.length).toBeGreaterThan(5);
    expect(types.every((t) => t === 'float16')).toBe(true);
    expect(float16Initializers(model).length).toBe(view.initializers.length);
    const x = seeded(2 * 16 * 32, 4, 1);
    const want = await runOnce(serializeModel({ proto: mlp.model }), 'x', x, [2, 16, 32]);
    expect(maxAbsDiff(await runOnce(serializeModel(model), 'x', x, [2, 16, 32]), want)).toBeLessThan(1e-2);
  });

  it('rejects bad options and unknown block.nodes with BAD_OPTION', async () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return isMmkitError(e) ? e.code : String(e);
      }
      return 'no error';
    };
    const base = await readModel(VIT);
    expect(code(() => normalizeFloat16Options({ keepIoTypes: 'yes' } as unknown as Float16Options))).toBe('BAD_OPTION');
    expect(code(() => normalizeFloat16Options({ block: { ops: 'Softmax' } } as unknown as Float16Options))).toBe('BAD_OPTION');
    expect(code(() => normalizeFloat16Options({ outOfRange: 'inf' } as unknown as Float16Options))).toBe('BAD_OPTION');
    expect(code(() => toFloat16(base, { block: { nodes: ['/no/such/node'] } }))).toBe('BAD_OPTION');
  });
});

const DET = path.join(process.env.MMKIT_CORPUS_DIR ?? path.join(os.homedir(), '.cache', 'mmkit', 'corpus'), 'ppocr-v4-det.onnx');

describe.skipIf(!fs.existsSync(DET))('quantize.fp16 on PP-OCRv4 det (corpus)', () => {
  it('its BatchNormalization with variance 9.8e7 stays float32: output cosine to float32 > 0.999 (0.015 when clamped)', async () => {
    const base = await readModel(DET);
    const { model, report } = toFloat16(base);
    console.log(report.lines.join('\n'));
    expect(report.lines.join('\n')).toMatch(/Kept float32 because float16 cannot hold a constant beyond ±65504: BatchNormalization '[^']+' reads 'batch_norm_0\.w_2' \(max \|x\| 9\.79e\+7\)/);
    expect(report.warnings.every((w) => /below 2\^-24 flushed to 0\.$/.test(w))).toBe(true);
    const x = seeded(3 * 320 * 320, 99, 1);
    const dims = [1, 3, 320, 320];
    const want = await runOnce(serializeModel(base), 'x', x, dims);
    const got = await runOnce(serializeModel(model), 'x', x, dims);
    const cos = agreement(want, got, want.length).cosineMean;
    console.log(`ppocr-v4-det float16: cosine to float32 ${cos.toFixed(5)}, max |Δ| ${maxAbsDiff(want, got).toExponential(2)}`);
    expect(cos).toBeGreaterThan(0.999);
  });
});

describe('quantize.fp16 where other exporters keep weights', () => {
  const half = (proto: OnnxModel['proto']) => [...allInitializers(proto.graph!)].filter((t) => dtypeOf(t.dataType) === 'float16').map((t) => t.name).sort();

  it('stores weights kept in Constant nodes (one behind an Identity) as float16; outputs follow float', async () => {
    const { model } = buildConstantNet();
    const { model: out } = toFloat16({ proto: model });
    expect(half(out.proto)).toEqual(['conv.bias', 'conv.weight', 'fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
    expect(await constantNetCosine(model, out.proto)).toBeGreaterThan(0.999);
  });

  it('converts inside If branches, nested ones too, with float32 at each branch boundary, instead of keeping the If float32', async () => {
    const { model } = buildIfNet();
    const { model: out, report } = toFloat16({ proto: model });
    expect(half(out.proto)).toEqual(['W_deep', 'W_else', 'W_inner', 'W_outer', 'else_bias']);
    expect(out.proto.graph!.initializer).toEqual([]);
    expect(report.lines[0]).not.toContain('If');
    expect(report.lines[1]).toMatch(/^\d+ of the float16 nodes are inside If subgraphs \(4 graphs\)/);
    expect(await ifNetCosine(model, out.proto)).toBeGreaterThan(0.999);
  });

  const silero = corpusModel('silero-vad-v5');
  it.skipIf(!silero)('silero-vad-v5 (everything inside nested If branches): the branches run in float16 but their LSTMs, the file shrinks and the speech probability follows float', async () => {
    const base = await readModel(silero!);
    const { model: out, report } = toFloat16(base);
    expect(out).not.toBe(base);
    const feeds = {
      input: { type: 'float32' as const, data: seeded(512, 3, 0.5), dims: [1, 512] },
      state: { type: 'float32' as const, data: new Float32Array(256), dims: [2, 1, 128] },
      sr: { type: 'int64' as const, data: BigInt64Array.of(16000n), dims: [] },
    };
    const [y0, y1] = [await run(serializeModel(base.proto), feeds), await run(serializeModel(out.proto), feeds)];
    const [before, after] = [serializeModel(base.proto).byteLength, serializeModel(out.proto).byteLength];
    console.log(`silero-vad-v5 fp16: ${before} → ${after} B, output ${y0[0].toFixed(5)} → ${y1[0].toFixed(5)}; ${report.lines[0]}`);
    // The LSTM weights stay float32 (onnxruntime has no float16 LSTM kernel): about a quarter smaller, not half.
    expect(after).toBeLessThan(before * 0.8);
    expect(report.lines[0]).toContain('4× LSTM (unsupported op)');
    expect(Math.abs(y1[0] - y0[0])).toBeLessThan(0.01);
  });
  if (!silero) it.skip('silero-vad-v5: not in the corpus cache (node scripts/fetch-corpus.mjs fetches it)', () => {});
});
