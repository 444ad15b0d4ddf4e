import { describe, expect, it } from 'vitest';
import { mkdtempSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mm, isMmkitError } from '../sdk';
import { mnist } from '../sdk/data';
import { evaluateModel, agreement } from '../sdk/eval';
import { GraphView, readModel, serializeModel, dtypeOf, type OnnxModel } from '../sdk/onnx';
import { quantizeDynamic, normalizeDynamicQuantOptions, DEFAULT_MIN_ELEMENTS, type DynamicQuantOptions } from '../sdk/passes/quantize-dynamic';
import { quantizeWeight } from '../sdk/passes/quant-weights';
import { TORCH_VIT, torchReference, runOnce } from './onnx-models';

const VIT_MNIST = 'datasets/models/vit-tiny-mnist.onnx';
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
    // Nothing selected: the very same model comes back.
    expect(quantize(base, { exclude: { ops: ['MatMul', 'Gemm'] } })).toBe(base);
  });

  it('runs as a pipeline step and records its full options', async () => {
    const p = mm.load(TORCH_VIT).step('quantize.dynamic', { perChannel: false });
    expect(p.steps.at(-1)).toEqual({
      op: 'quantize.dynamic',
      options: { perChannel: false, format: 'com.microsoft', minElements: DEFAULT_MIN_ELEMENTS, exclude: { nodes: [], ops: [] } },
    });
    const out = await p.run({ data: input, dims: ref.input.dims, dtype: 'float32' });
    const a = agreement(Float32Array.from(ref.logits.data), out[Object.keys(out)[0]].data as Float32Array, 10);
    expect(a.cosineMean).toBeGreaterThan(0.99);
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'mmkit-qdyn-')), 'vit-int8.onnx');
    await p.save(file);
    console.log(`torch fixture saved: ${statSync(TORCH_VIT).size} B float → ${statSync(file).size} B int8`);
    expect(statSync(file).size).toBeLessThan(statSync(TORCH_VIT).size * 0.5);
    const saved = await readModel(file);
    expect(opCount(saved, 'DynamicQuantizeMatMul')).toBe(8);
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
    expect(code({ exclude: { ops: ['Conv'] } })).toBe('BAD_OPTION');
    expect(code({ exclude: { nodes: 'fc1' } })).toBe('BAD_OPTION');
  });
});
