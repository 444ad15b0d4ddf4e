import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mm, isMmkitError } from '../sdk';
import { mnist, renderShapes, shapeIndices, shapesTokenizer } from '../sdk/data';
import { evaluateModel, agreement, cosineSimilarities } from '../sdk/eval';
import { GraphView, ModelBuilder, readModel, serializeModel, dtypeOf, type OnnxModel } from '../sdk/onnx';
import { createSession } from '../sdk/runtime';
import { evaluateClip } from '../sdk/train/clip-eval';
import { quantizeDynamic, normalizeDynamicQuantOptions, dynamicQuantReport, DEFAULT_MIN_ELEMENTS, QUANTIZE_DYNAMIC_OP, type DynamicQuantOptions } from '../sdk/passes/quantize/dynamic';
import { quantizeWeight } from '../sdk/passes/quantize/weights';
import { quantizeRows } from '../sdk/passes/quantize/gather';
import { TORCH_VIT, torchReference, runOnce, seeded, maxAbsDiff } from './helpers/onnx-models';
import { allOps, buildConstantNet, buildIfNet, constantNetCosine, corpusModel, cosine, ifNetCosine, mainInitializers, run } from './helpers/weight-models';

const VIT_MNIST = 'datasets/models/vit-tiny-mnist.onnx';
const CLIP = 'datasets/models/clip-tiny-shapes.onnx';
const quantize = (m: OnnxModel, o: DynamicQuantOptions = {}) => quantizeDynamic(m, normalizeDynamicQuantOptions(o));
const opCount = (m: OnnxModel, op: string) => GraphView.of(m.proto).nodes.filter((n) => n.opType === op).length;

describe('quantize.dynamic on the shipped MNIST ViT', () => {
  it('keeps accuracy within 0.3 points on 1,996 test digits, agrees with float, and shrinks the file', async () => {
    const base = await readModel(VIT_MNIST);
    const before = serializeModel(base);
    const q = quantize(base);
    // 4 blocks × (q, k, v, out, fc1, fc2) quantized; the 64×10 head is under minElements and stays float.
    expect(opCount(q, 'DynamicQuantizeMatMul')).toBe(24);
    expect(opCount(q, 'MatMul')).toBe(opCount(base, 'MatMul') - 24);
    const int8 = GraphView.of(q.proto).initializers.filter((t) => dtypeOf(t.dataType) === 'int8');
    expect(int8).toHaveLength(24);
    expect(serializeModel(base)).toEqual(before); // input not mutated
    const after = serializeModel(q);
    console.log(`vit-tiny-mnist: ${before.byteLength} B float → ${after.byteLength} B dynamic int8 (${((100 * after.byteLength) / before.byteLength).toFixed(1)}%)`);
    expect(after.byteLength).toBeLessThan(before.byteLength * 0.45);

    const r = await evaluateModel(q, mnist({ split: 'test', batchSize: 500 }), { baseline: base });
    const drop = 100 * (r.baseline!.accuracy!.top1 - r.model.accuracy!.top1);
    console.log(
      `vit-tiny-mnist on ${r.items} digits: float top-1 ${(100 * r.baseline!.accuracy!.top1).toFixed(2)}%, int8 ${(100 * r.model.accuracy!.top1).toFixed(2)}% ` +
        `(drop ${drop.toFixed(2)} pt); agreement top-1 ${(100 * r.agreement!.top1).toFixed(2)}%, cosine ${r.agreement!.cosineMean.toFixed(5)}`,
    );
    expect(r.items).toBe(1996);
    expect(drop).toBeLessThanOrEqual(0.3);
    expect(r.agreement!.cosineMean).toBeGreaterThan(0.99);
    expect(r.agreement!.top1).toBeGreaterThanOrEqual(0.98);
  });

  it.each([
    ['com.microsoft', true],
    ['com.microsoft', false],
    ['qdq-integer', true],
    ['qdq-integer', false],
  ] as const)('format %s, perChannel %s: runs and agrees with float on 500 digits', async (format, perChannel) => {
    const base = await readModel(VIT_MNIST);
    const q = quantize(base, { format, perChannel });
    if (format === 'qdq-integer') {
      expect(opCount(q, 'MatMulInteger')).toBe(24);
      expect(opCount(q, 'DynamicQuantizeLinear')).toBe(24);
      expect(q.proto.opsetImport.some((o) => o.domain === 'com.microsoft')).toBe(false);
    }
    const r = await evaluateModel(q, mnist({ split: 'test', batchSize: 250 }).take(500), { baseline: base });
    expect(r.items).toBe(500);
    const a = r.agreement!;
    console.log(`${format} perChannel=${perChannel}: agreement top-1 ${(100 * a.top1).toFixed(2)}%, cosine ${a.cosineMean.toFixed(5)}`);
    expect(a.cosineMean).toBeGreaterThan(0.99);
    expect(a.top1).toBeGreaterThanOrEqual(0.98);
  });
});

describe('quantize.dynamic on the PyTorch fixture', () => {
  const ref = torchReference();
  const input = Float32Array.from(ref.input.data);

  it.each(['com.microsoft', 'qdq-integer'] as const)('%s: Gemm (transB) and MatMul linears quantize, logits follow torch', async (format) => {
    const base = await readModel(TORCH_VIT);
    const q = quantize(base, { format });
    // Two blocks × (qkv MatMul, out-proj Gemm, two MLP MatMuls); the 64×10 head Gemm stays float.
    expect(opCount(q, 'Gemm')).toBe(1);
    const logits = await runOnce(serializeModel(q), 'pixel_values', input, ref.input.dims);
    const a = agreement(Float32Array.from(ref.logits.data), logits, 10);
    console.log(`torch fixture ${format}: cosine to torch ${a.cosineMean.toFixed(5)}, top-1 agreement ${a.top1}`);
    expect(a.cosineMean).toBeGreaterThan(0.99);
    expect(a.top1).toBe(1);
  });

  it('excludes linears by node name and by op type', async () => {
    const base = await readModel(TORCH_VIT);
    const all = quantize(base, { minElements: 0 });
    expect(opCount(all, 'DynamicQuantizeMatMul')).toBe(9);
    const noGemm = quantize(base, { minElements: 0, exclude: { ops: ['Gemm'] } });
    expect(opCount(noGemm, 'Gemm')).toBe(3);
    expect(opCount(noGemm, 'DynamicQuantizeMatMul')).toBe(6);
    const noHead = quantize(base, { minElements: 0, exclude: { nodes: ['/heads/head/Gemm', '/encoder/layers/encoder_layer_0/mlp/mlp.0/MatMul'] } });
    expect(opCount(noHead, 'DynamicQuantizeMatMul')).toBe(7);
    const names = GraphView.of(noHead.proto).nodes.map((n) => n.name);
    expect(names).toContain('/heads/head/Gemm');
    expect(names).toContain('/encoder/layers/encoder_layer_0/mlp/mlp.0/MatMul');
    const logits = await runOnce(serializeModel(noHead), 'pixel_values', input, ref.input.dims);
    expect(agreement(Float32Array.from(ref.logits.data), logits, 10).cosineMean).toBeGreaterThan(0.99);
    expect(() => quantize(base, { exclude: { nodes: ['/no/such/MatMul'] } })).toThrow(/exclude.nodes names '\/no\/such\/MatMul'/);
    // Nothing selected: the very same model comes back.
    expect(quantize(base, { exclude: { ops: ['MatMul', 'Gemm'] } })).toBe(base);
  });

  it('runs as a pipeline step and records its full options', async () => {
    const p = mm.load(TORCH_VIT).step('quantize.dynamic', { perChannel: false });
    expect(p.steps.at(-1)).toEqual({
      op: 'quantize.dynamic',
      options: { perChannel: false, format: 'com.microsoft', embeddings: true, conv: 'weight-only', minElements: DEFAULT_MIN_ELEMENTS, exclude: { nodes: [], ops: [] } },
    });
    const out = await p.run({ data: input, dims: ref.input.dims, dtype: 'float32' });
    const a = agreement(Float32Array.from(ref.logits.data), out[Object.keys(out)[0]].data as Float32Array, 10);
    expect(a.cosineMean).toBeGreaterThan(0.99);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mmkit-qdyn-'));
    try {
      const file = path.join(dir, 'vit-int8.onnx');
      await p.save(file);
      console.log(`torch fixture saved: ${statSync(TORCH_VIT).size} B float → ${statSync(file).size} B int8`);
      expect(statSync(file).size).toBeLessThan(statSync(TORCH_VIT).size * 0.5);
      const saved = await readModel(file);
      expect(opCount(saved, 'DynamicQuantizeMatMul')).toBe(8);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('weight quantization', () => {
  it('is symmetric int8 with per-column scales, error within half a step', () => {
    const w = Float32Array.from([0.5, -2, 0, 0.25, 1, 0]); // [3, 2]
    const q = quantizeWeight(w, 3, 2, true);
    expect(Array.from(q.scales)).toEqual([Math.fround(1 / 127), Math.fround(2 / 127)]);
    expect(Array.from(q.values)).toEqual([64, -127, 0, 16, 127, 0]);
    for (let i = 0; i < w.length; i++) expect(Math.abs(q.values[i] * q.scales[i % 2] - w[i])).toBeLessThanOrEqual(q.scales[i % 2] / 2 + 1e-7);
    const t = quantizeWeight(w, 3, 2, false);
    expect(t.scales).toHaveLength(1);
    expect(Array.from(t.values)).toEqual([32, -127, 0, 16, 64, 0]);
  });

  it('rejects bad options with BAD_OPTION', () => {
    const code = (o: unknown) => {
      try {
        normalizeDynamicQuantOptions(o as DynamicQuantOptions);
      } catch (e) {
        return isMmkitError(e) ? e.code : String(e);
      }
      return 'no error';
    };
    expect(code({ format: 'int4' })).toBe('BAD_OPTION');
    expect(code({ minElements: -1 })).toBe('BAD_OPTION');
    expect(code({ exclude: { ops: ['Softmax'] } })).toBe('BAD_OPTION');
    expect(code({ conv: 'int8' })).toBe('BAD_OPTION');
    expect(code({ embeddings: 'yes' })).toBe('BAD_OPTION');
    expect(code({ exclude: { nodes: 'fc1' } })).toBe('BAD_OPTION');
  });
});

/** CLIP's image and text embeddings for the first `n` test pairs of the shapes set (images and their captions). */
async function clipEmbeds(model: OnnxModel, n: number): Promise<{ image: Float32Array; text: Float32Array }> {
  const { pixels, scenes } = renderShapes('test', shapeIndices('test', 'retrieval').slice(0, n));
  const text = shapesTokenizer().encode(scenes.map((s) => s.caption));
  const session = await createSession(model);
  try {
    const out = await session.run({ pixel_values: pixels, ...text }, { fetch: ['image_embeds', 'text_embeds'] });
    return { image: out.image_embeds.data as Float32Array, text: out.text_embeds.data as Float32Array };
  } finally {
    await session.dispose();
  }
}

const minCosine = (a: Float32Array, b: Float32Array, dim: number) => Math.min(...cosineSimilarities(a, b, dim));

describe('quantize.dynamic: embeddings and Conv on CLIP-tiny', () => {
  it('default: the patch-embedding Conv goes int8 weight-only, the file is smaller than linears alone, zero-shot within 1 point', async () => {
    const base = await readModel(CLIP);
    const linearsOnly = quantize(base, { conv: 'float', embeddings: false });
    const q = quantize(base);
    // Conv weight int8 + DequantizeLinear; the 17×64 token table (1,088 elements) is under minElements.
    expect(opCount(q, 'Conv')).toBe(1);
    expect(opCount(q, 'DequantizeLinear')).toBe(1);
    expect(GraphView.of(q.proto).initializer('vision.patch_embed.weight')).toBeUndefined();
    expect(GraphView.of(q.proto).initializer('text.token_embed')).toBeDefined();
    const [floatBytes, linearBytes, bytes] = [base, linearsOnly, q].map((m) => serializeModel(m).byteLength);
    console.log(`CLIP-tiny: float ${floatBytes} B, linears int8 ${linearBytes} B, + Conv weight-only ${bytes} B`);
    expect(bytes).toBeLessThan(linearBytes - 3 * 64 * 3 * 8 * 8 * 0.95);

    const [f, m] = [await evaluateClip(base), await evaluateClip(q)];
    console.log(`CLIP-tiny zero-shot: float ${(100 * f.zeroShotTop1).toFixed(1)}%, dynamic ${(100 * m.zeroShotTop1).toFixed(1)}% on ${m.zeroShotItems} images`);
    expect(Math.abs(f.zeroShotTop1 - m.zeroShotTop1) * 100).toBeLessThanOrEqual(1);

    const [fe, qe] = [await clipEmbeds(base, 64), await clipEmbeds(q, 64)];
    const cos = { image: minCosine(fe.image, qe.image, 64), text: minCosine(fe.text, qe.text, 64) };
    console.log(`CLIP-tiny dynamic vs float, 64 pairs: min cosine image ${cos.image.toFixed(5)}, text ${cos.text.toFixed(5)}`);
    expect(cos.image).toBeGreaterThan(0.99);
    expect(cos.text).toBeGreaterThan(0.99);
  });

  it.each([true, false])('token embedding int8 (perChannel %s): a Gather of int8 rows, dequantized after, text embeddings follow float', async (perChannel) => {
    const base = await readModel(CLIP);
    const q = quantize(base, { minElements: 1000, perChannel });
    const view = GraphView.of(q.proto);
    const table = view.initializers.find((t) => t.name.startsWith('text.token_embed'))!;
    expect(table.name).toBe('text.token_embed_quantized');
    expect(dtypeOf(table.dataType)).toBe('int8');
    expect(view.initializer('text.token_embed')).toBeUndefined();
    const readers = view.consumers(table.name);
    expect(readers.map((n) => n.opType)).toEqual(['Gather']);
    // Per row: the picked rows' scales are gathered too and multiplied in; per tensor: one DequantizeLinear.
    expect(view.consumers(readers[0].output[0]).map((n) => n.opType)).toEqual([perChannel ? 'Cast' : 'DequantizeLinear']);
    const [fe, qe] = [await clipEmbeds(base, 64), await clipEmbeds(q, 64)];
    const cos = minCosine(fe.text, qe.text, 64);
    console.log(`CLIP-tiny int8 token embedding (per ${perChannel ? 'row' : 'tensor'}): min text cosine to float ${cos.toFixed(5)}`);
    expect(cos).toBeGreaterThan(0.99);
    expect(quantize(base, { minElements: 1000, exclude: { ops: ['Gather'] } }).proto.graph!.initializer.some((t) => t.name === 'text.token_embed')).toBe(true);
    expect(quantize(base, { minElements: 1000, embeddings: false }).proto.graph!.initializer.some((t) => t.name === 'text.token_embed')).toBe(true);
  });

  it("conv 'integer' becomes DynamicQuantizeLinear → ConvInteger and keeps zero-shot within 1 point", async () => {
    const base = await readModel(CLIP);
    const q = quantize(base, { conv: 'integer' });
    expect(opCount(q, 'Conv')).toBe(0);
    expect(opCount(q, 'ConvInteger')).toBe(1);
    const [f, m] = [await evaluateClip(base), await evaluateClip(q)];
    console.log(`CLIP-tiny conv integer: zero-shot ${(100 * m.zeroShotTop1).toFixed(1)}% vs float ${(100 * f.zeroShotTop1).toFixed(1)}%`);
    expect(Math.abs(f.zeroShotTop1 - m.zeroShotTop1) * 100).toBeLessThanOrEqual(1);
  });
});

describe('quantize.dynamic report', () => {
  it('says what was quantized, what stayed float and why, and warns where ConvInteger cannot run', async () => {
    const base = await readModel(CLIP);
    const r = dynamicQuantReport(base, normalizeDynamicQuantOptions({ conv: 'integer' }));
    console.log(r.lines.join('\n'));
    expect(r.lines[0]).toMatch(/^\d+ linears → DynamicQuantizeMatMul \(int8 weights, per-channel scales\)\.$/);
    expect(r.lines).toContain('1 Conv → DynamicQuantizeLinear + ConvInteger.');
    expect(r.lines.at(-1)).toContain('1 embedding under minElements');
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/^ConvInteger is a CPU kernel/);
    expect(r.table!.rows).toContainEqual(['text.token_embed', 'embedding', 17 * 64, 'float32 (under minElements)']);
    expect(r.table!.rows).toContainEqual(['/vision/patch_embed/Conv', 'conv', 64 * 3 * 8 * 8, 'int8 (ConvInteger)']);
  });

  it('comes with the pipeline step, whose recipe replays to a byte-identical model', async () => {
    const p = mm.load(CLIP).step(QUANTIZE_DYNAMIC_OP, { minElements: 1000 });
    const mine = (await p.reports()).find((r) => r.op === QUANTIZE_DYNAMIC_OP)!;
    expect(mine.lines).toContain('1 embedding table → int8 (one scale per row), dequantized after the Gather.');
    expect(mine.lines).toContain('1 Conv → int8 weight + DequantizeLinear, float Conv.');
    expect(mine.warnings).toEqual([]);
    const again = serializeModel(await mm.fromRecipe(JSON.stringify(p.recipe)).model());
    expect(Buffer.from(again).equals(Buffer.from(serializeModel(await p.model())))).toBe(true);
  });
});

describe('quantize.dynamic: Conv weight-only on the MNIST ViT', () => {
  // The 64×1×7×7 patch embedding (3,136 weights) is under the default minElements, so lower it; the 64×10 head stays float.
  const options: DynamicQuantOptions = { minElements: 3000 };

  it('keeps top-1 within 0.3 points on 1,996 digits', async () => {
    const base = await readModel(VIT_MNIST);
    const q = quantize(base, options);
    expect(opCount(q, 'DequantizeLinear')).toBe(1);
    expect(opCount(q, 'DynamicQuantizeMatMul')).toBe(24);
    const r = await evaluateModel(q, mnist({ split: 'test', batchSize: 500 }), { baseline: base });
    const drop = 100 * (r.baseline!.accuracy!.top1 - r.model.accuracy!.top1);
    console.log(`vit-tiny-mnist conv weight-only + linears: top-1 ${(100 * r.model.accuracy!.top1).toFixed(2)}% (drop ${drop.toFixed(2)} pt), cosine ${r.agreement!.cosineMean.toFixed(5)}`);
    expect(r.items).toBe(1996);
    expect(drop).toBeLessThanOrEqual(0.3);
  });

  it.each([
    ['weight-only', 'com.microsoft'],
    ['weight-only', 'qdq-integer'],
    ['integer', 'qdq-integer'],
  ] as const)("conv '%s', format %s: runs in onnxruntime-web (wasm) with onnxruntime-node's logits (within 1e-4 of the largest logit)", async (conv, format) => {
    const web = require('onnxruntime-web') as typeof import('onnxruntime-web');
    const bytes = serializeModel(quantize(await readModel(VIT_MNIST), { ...options, conv, format }));
    const pixels = seeded(4 * 784, 17, 1);
    const session = await web.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    try {
      const out = await session.run({ pixel_values: new web.Tensor('float32', pixels, [4, 1, 28, 28]) });
      const fromWeb = out[session.outputNames[0]].data as Float32Array;
      const fromNode = await runOnce(bytes, 'pixel_values', pixels, [4, 1, 28, 28]);
      const scale = Math.max(...fromNode.map(Math.abs));
      console.log(`conv ${conv} ${format}: web vs node max |Δ| ${maxAbsDiff(fromWeb, fromNode).toExponential(2)} (largest logit ${scale.toFixed(2)})`);
      expect(maxAbsDiff(fromWeb, fromNode)).toBeLessThan(1e-4 * scale);
    } finally {
      await session.release();
    }
  });
});

describe('embedding tables', () => {
  /** ids [2, 3] → Gather from a [20, 256] table ('table') → y [2, 3, 256]; optionally the table is also a MatMul weight. */
  function embeddingModel(tied = false): OnnxModel {
    const b = new ModelBuilder({ opset: 17 });
    b.input('ids', 'int64', [2, 3]);
    b.initializer('table', 'float32', [20, 256], seeded(20 * 256, 3, 0.8));
    b.node('Gather', ['table', 'ids'], { axis: 0 }, { outputs: ['y'], name: 'embed' });
    b.output('y', 'float32', [2, 3, 256]);
    if (tied) {
      b.input('h', 'float32', [1, 20]);
      b.node('MatMul', ['h', 'table'], {}, { outputs: ['z'], name: 'tied_head' });
      b.output('z', 'float32', [1, 256]);
    }
    return { proto: b.build() };
  }

  it('rows come back within half a quantization step, per row and per tensor', async () => {
    const base = embeddingModel();
    const ids = BigInt64Array.from([0n, 19n, 7n, 7n, 3n, 12n]);
    const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
    const run = async (m: OnnxModel) => {
      const s = await ort.InferenceSession.create(serializeModel(m), { logSeverityLevel: 3 });
      try {
        return (await s.run({ ids: new ort.Tensor('int64', ids, [2, 3]) })).y.data as Float32Array;
      } finally {
        await s.release();
      }
    };
    const want = await run(base);
    const table = seeded(20 * 256, 3, 0.8);
    for (const perChannel of [true, false]) {
      const got = await run(quantize(base, { perChannel }));
      const { scales } = quantizeRows(table, 20, 256, perChannel);
      for (let i = 0; i < 6; i++) {
        const step = scales[perChannel ? Number(ids[i]) : 0];
        expect(maxAbsDiff(got.subarray(i * 256, (i + 1) * 256), want.subarray(i * 256, (i + 1) * 256))).toBeLessThanOrEqual(step / 2 + 1e-6);
      }
    }
  });

  it('leaves a table that a MatMul also reads (tied weights), and small tables under minElements', () => {
    const tied = embeddingModel(true);
    const q = quantize(tied, { minElements: 0, exclude: { ops: ['MatMul'] } });
    expect(q).toBe(tied);
    const small = embeddingModel();
    expect(quantize(small, { minElements: 20 * 256 + 1 })).toBe(small);
    expect(quantize(small, { exclude: { nodes: ['embed'] } })).toBe(small);
  });

  it('quantizeRows: one scale per row, symmetric, within half a step', () => {
    const w = Float32Array.from([1, -0.5, 0.25, 0, 0, 0, -4, 2, 1]); // [3, 3]
    const q = quantizeRows(w, 3, 3, true);
    expect(Array.from(q.scales)).toEqual([Math.fround(1 / 127), 1, Math.fround(4 / 127)]);
    expect(Array.from(q.values)).toEqual([127, -64, 32, 0, 0, 0, -127, 64, 32]);
  });
});

describe('quantize.dynamic where other exporters keep weights', () => {
  it('quantizes weights kept in Constant nodes (behind an Identity too): Conv weight-only, MatMul and Gemm, outputs follow float', async () => {
    const { model } = buildConstantNet();
    const q = quantize({ proto: model }, { minElements: 0 });
    const ops = allOps(q.proto);
    expect(ops.filter((op) => op === 'DynamicQuantizeMatMul')).toHaveLength(2);
    expect(ops.filter((op) => op === 'DequantizeLinear')).toHaveLength(1);
    // No float weight is left: the Constant nodes became initializers and the quantized ones replaced them.
    const floats = GraphView.of(q.proto).initializers.filter((t) => dtypeOf(t.dataType) === 'float32' && t.dims.length > 1);
    expect(floats).toEqual([]);
    expect(ops).not.toContain('Identity');
    expect(await constantNetCosine(model, q.proto)).toBeGreaterThan(0.999);
  });

  it('gives back the very input model when nothing is quantized, though the weights had to be lifted to be seen', () => {
    const base: OnnxModel = { proto: buildConstantNet().model };
    expect(quantize(base, { minElements: 1 << 20 })).toBe(base);
  });

  it('quantizes inside If branches, nested ones included, whether the weight is the branch\'s own or read from the main graph', async () => {
    const { model } = buildIfNet();
    const q = quantize({ proto: model }, { minElements: 0 });
    expect(allOps(q.proto).filter((op) => op === 'DynamicQuantizeMatMul')).toHaveLength(4);
    expect(allOps(q.proto)).not.toContain('MatMul');
    // The main-graph weights were read only inside the branches: their float copies are gone.
    expect(mainInitializers(q.proto)).toEqual([]);
    expect(q.proto.opsetImport.some((o) => o.domain === 'com.microsoft')).toBe(true);
    expect(await ifNetCosine(model, q.proto)).toBeGreaterThan(0.999);
    const report = dynamicQuantReport({ proto: model }, normalizeDynamicQuantOptions({ minElements: 0 }));
    expect(report.lines).toContain('4 of the quantized layers are inside If subgraphs (4 graphs), rewritten like the main graph.');
  });

  const ppocr = corpusModel('ppocr-v2-cls');
  it.skipIf(!ppocr)('ppocr-v2-cls (opset 9, every weight a Constant): its Convs go int8 and the class scores follow float', async () => {
    const base = await readModel(ppocr!);
    const q = quantize(base);
    expect(q).not.toBe(base);
    const convs = allOps(q.proto).filter((op) => op === 'DequantizeLinear').length;
    const before = serializeModel(base).byteLength;
    const after = serializeModel(q).byteLength;
    const x = { x: { type: 'float32' as const, data: seeded(3 * 48 * 192, 5, 1), dims: [1, 3, 48, 192] } };
    const cos = cosine(await run(serializeModel(base.proto), x), await run(serializeModel(q.proto), x));
    console.log(`ppocr-v2-cls dynamic: ${convs} Conv weights int8, ${before} → ${after} B, output cosine ${cos.toFixed(5)}`);
    // The 11 Convs of at least DEFAULT_MIN_ELEMENTS weights; opset 9 has no DequantizeLinear, so onnxruntime's serves.
    expect(convs).toBe(11);
    expect(GraphView.of(q.proto).nodes.filter((n) => n.opType === 'DequantizeLinear').every((n) => n.domain === 'com.microsoft')).toBe(true);
    expect(after).toBeLessThan(before * 0.6);
    expect(cos).toBeGreaterThan(0.99);
  });
  if (!ppocr) it.skip('ppocr-v2-cls: not in the corpus cache (node scripts/fetch-corpus.mjs fetches it)', () => {});

  const silero = corpusModel('silero-vad-v5');
  it.skipIf(!silero)('silero-vad-v5 (everything inside nested If branches): its Convs go int8 and the speech probability follows float', async () => {
    const base = await readModel(silero!);
    const q = quantize(base);
    expect(q).not.toBe(base);
    const convs = allOps(q.proto).filter((op) => op === 'DequantizeLinear').length;
    const before = serializeModel(base).byteLength;
    const after = serializeModel(q).byteLength;
    const feeds = {
      input: { type: 'float32' as const, data: seeded(512, 3, 0.5), dims: [1, 512] },
      state: { type: 'float32' as const, data: new Float32Array(256), dims: [2, 1, 128] },
      sr: { type: 'int64' as const, data: BigInt64Array.of(16000n), dims: [] },
    };
    const [y0, y1] = [await run(serializeModel(base.proto), feeds), await run(serializeModel(q.proto), feeds)];
    console.log(`silero-vad-v5 dynamic: ${convs} Conv weights int8, ${before} → ${after} B, output ${y0[0].toFixed(5)} → ${y1[0].toFixed(5)}`);
    expect(convs).toBe(10);
    expect(after).toBeLessThan(before * 0.7);
    expect(Math.abs(y1[0] - y0[0])).toBeLessThan(0.02);
  });
  if (!silero) it.skip('silero-vad-v5: not in the corpus cache (node scripts/fetch-corpus.mjs fetches it)', () => {});
});
