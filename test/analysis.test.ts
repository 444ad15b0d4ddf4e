import { describe, expect, it } from 'vitest';
import { compareTensors, effectiveWeights, errorStats, ErrorAccumulator, weightHistogram, activationHistogram, channelRanges, referenceLayers, MAX_LEVEL_RULES } from '../sdk/analysis';
import { mnist } from '../sdk/data';
import { floatData } from '../sdk/eval';
import { isMmkitError } from '../sdk/errors';
import { editModel, findLinears, GraphView, makeTensor, ModelBuilder, node, readModel, tensorArray, type OnnxModel } from '../sdk/onnx';
import { quantizeDynamic, normalizeDynamicQuantOptions, type DynamicQuantOptions } from '../sdk/passes/quantize/dynamic';
import { quantizeInt4, type QuantizeInt4Options } from '../sdk/passes/quantize/int4';
import { quantizeStatic } from '../sdk/passes/quantize/static';
import { quantizeWeight, transposeWeight } from '../sdk/passes/quantize/weights';
import { quantizeRows } from '../sdk/passes/quantize/gather';
import { toFloat16 } from '../sdk/passes/quantize/fp16';
import { toHalf } from '../sdk/passes/quantize/fp16-values';
import { halfToFloat } from '../sdk/onnx';
import { JUPYTER_DISPLAY } from '../sdk/report';
import { createSession, runBatched } from '../sdk/runtime';
import { TORCH_VIT } from './helpers/onnx-models';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';
const CLIP = 'datasets/models/clip-tiny-shapes.onnx';
const dynamic = (m: OnnxModel, o: DynamicQuantOptions = {}) => quantizeDynamic(m, normalizeDynamicQuantOptions(o));
const digits = (n: number) => mnist({ split: 'test', batchSize: 100 }).take(n);

/** What quantize.dynamic's own int8 values and scales dequantize to, as [in, out]. */
function passDequantized(wInOut: Float32Array, inDim: number, outDim: number, perChannel: boolean): Float32Array {
  const q = quantizeWeight(wInOut, inDim, outDim, perChannel);
  return Float32Array.from(q.values, (v, i) => v * q.scales[perChannel ? i % outDim : 0]);
}

/** onnxruntime's own dequantization of a MatMulNBits weight: the node applied to the identity matrix. */
async function ortNBitsWeight(model: OnnxModel, nodeName: string): Promise<Float32Array> {
  const view = GraphView.of(model.proto);
  const op = view.nodes.find((n) => n.name === nodeName)!;
  const k = Number(op.attribute.find((a) => a.name === 'K')!.i);
  const n = Number(op.attribute.find((a) => a.name === 'N')!.i);
  const b = new ModelBuilder({ name: 'nbits-identity' });
  b.input('a', 'float32', [k, k]);
  const inputs = op.input.slice(0, 4).map((name, i) => {
    if (i === 0) return 'a';
    if (name === '') return '';
    const t = view.initializer(name)!;
    return b.initializer(name, i === 2 ? 'float32' : 'uint8', t.dims.map(Number), tensorArray(t));
  });
  const attrs = Object.fromEntries(op.attribute.map((a) => [a.name, Number(a.i)]));
  b.node('MatMulNBits', inputs, attrs, { domain: 'com.microsoft', outputs: ['y'] });
  b.output('y', 'float32', [k, n]);
  const identity = new Float32Array(k * k);
  for (let i = 0; i < k; i++) identity[i * k + i] = 1;
  const session = await createSession({ proto: b.build() }, { reuse: false });
  try {
    const out = await session.run({ a: { data: identity, dims: [k, k], dtype: 'float32' } });
    return out.y.data as Float32Array;
  } finally {
    await session.dispose();
  }
}

/**
 * The float model in QDQ form: every linear's weight stored uint8 per output channel (quantize.dynamic's
 * int8 codes shifted by a zero point of 128) and read through DequantizeLinear; the DQ outputs are
 * graph outputs so onnxruntime's own dequantization can be fetched.
 */
function qdqWeights(model: OnnxModel): { model: OnnxModel; dequantized: Map<string, string> } {
  const view = GraphView.of(model.proto);
  const dequantized = new Map<string, string>();
  const proto = editModel(model.proto, (e) => {
    for (const l of findLinears(view)) {
      const w = tensorArray(view.initializer(l.weight)!, model) as Float32Array;
      const q = quantizeWeight(w, l.inDim, l.outDim, true);
      const codes = Uint8Array.from(q.values, (v) => v + 128);
      const names = [`${l.weight}_u8`, `${l.weight}_scale`, `${l.weight}_zp`, `${l.weight}_deq`];
      e.addInitializer(makeTensor(names[0], 'uint8', [l.inDim, l.outDim], codes));
      e.addInitializer(makeTensor(names[1], 'float32', [l.outDim], q.scales));
      e.addInitializer(makeTensor(names[2], 'uint8', [l.outDim], new Uint8Array(l.outDim).fill(128)));
      e.addNode(node('DequantizeLinear', names.slice(0, 3), [names[3]], { axis: 1 }, { name: `${l.matmul.name}_dq` }), { before: l.matmul });
      e.renameInput(l.matmul, 1, names[3]);
      e.addOutput(names[3], 'float32', [l.inDim, l.outDim]);
      dequantized.set(l.matmul.name, names[3]);
    }
    e.prune();
  });
  return { model: { ...model, proto }, dequantized };
}

/**
 * The float model with every linear weight stored int4 in blocks of 32 along K (opset 21
 * DequantizeLinear block_size, symmetric: scale = max|w| / 7), DQ outputs exposed as graph outputs.
 */
function blockedInt4(model: OnnxModel): { model: OnnxModel; dequantized: Map<string, string> } {
  const view = GraphView.of(model.proto);
  const dequantized = new Map<string, string>();
  const block = 32;
  const proto = editModel(model.proto, (e) => {
    for (const l of findLinears(view)) {
      const w = tensorArray(view.initializer(l.weight)!, model) as Float32Array;
      const [k, n] = [l.inDim, l.outDim];
      const blocks = Math.ceil(k / block);
      const scales = new Float32Array(blocks * n);
      const packed = new Uint8Array(Math.ceil((k * n) / 2));
      for (let b = 0; b < blocks; b++) {
        for (let c = 0; c < n; c++) {
          const rows = Array.from({ length: Math.min(block, k - b * block) }, (_, j) => b * block + j);
          const scale = Math.fround(Math.max(...rows.map((r) => Math.abs(w[r * n + c]))) / 7) || 1;
          scales[b * n + c] = scale;
          for (const r of rows) {
            const i = r * n + c;
            packed[i >> 1] |= (Math.max(-8, Math.min(7, Math.round(w[i] / scale))) & 15) << ((i & 1) * 4);
          }
        }
      }
      const [codes, scale, deq] = [`${l.weight}_int4`, `${l.weight}_scale`, `${l.weight}_deq`];
      e.addInitializer(makeTensor(codes, 'int4', [k, n], packed));
      e.addInitializer(makeTensor(scale, 'float32', [blocks, n], scales));
      e.addNode(node('DequantizeLinear', [codes, scale], [deq], { axis: 0, block_size: block }, { name: `${l.matmul.name}_dq` }), { before: l.matmul });
      e.renameInput(l.matmul, 1, deq);
      e.addOutput(deq, 'float32', [k, n]);
      dequantized.set(l.matmul.name, deq);
    }
    e.setOpset('', 21);
    e.prune();
  });
  return { model: { ...model, proto }, dequantized };
}

describe('error metrics', () => {
  it('SQNR, cosine, MSE and max abs error match hand-computed values', () => {
    // noise² = 0.25 + 0.25 = 0.5, signal² = 1 + 4 + 4 = 9, ref·cand = 1 + 5 + 4 = 10, |cand|² = 11.5
    const s = errorStats([1, 2, -2, 0], [1, 2.5, -2, 0.5]);
    expect(s.elements).toBe(4);
    expect(s.sqnrDb!).toBeCloseTo(10 * Math.log10(18), 12);
    expect(s.cosine).toBeCloseTo(10 / Math.sqrt(9 * 11.5), 12);
    expect(s.mse).toBeCloseTo(0.125, 15);
    expect(s.maxAbs).toBe(0.5);
  });

  it('identical tensors have no SQNR (no noise); pieces add up to the whole; lengths must match', () => {
    expect(errorStats([1, -3], [1, -3])).toEqual({ elements: 2, sqnrDb: null, cosine: 1, mse: 0, maxAbs: 0 });
    expect(errorStats([0, 0], [0, 0]).cosine).toBe(1);
    const acc = new ErrorAccumulator();
    acc.add([1, 2], [1, 2.5]);
    acc.add([-2, 0], [-2, 0.5]);
    expect(acc.result()).toEqual(errorStats([1, 2, -2, 0], [1, 2.5, -2, 0.5]));
    try {
      errorStats([1, 2], [1]);
      expect.unreachable();
    } catch (e) {
      expect(isMmkitError(e) && e.code).toBe('SHAPE_MISMATCH');
    }
  });
});

describe('dequantized weights recovered from the quantized graph', () => {
  it.each([
    ['com.microsoft', true],
    ['com.microsoft', false],
    ['qdq-integer', true],
    ['qdq-integer', false],
  ] as const)('quantize.dynamic %s perChannel=%s: exactly the pass’s own int8 × scale', async (format, perChannel) => {
    const base = await readModel(VIT);
    const q = dynamic(base, { format, perChannel });
    const { weights, unrecovered } = effectiveWeights(q);
    expect(unrecovered).toEqual([]);
    expect(weights).toHaveLength(24);
    const layers = referenceLayers(base);
    for (const w of weights) {
      const layer = layers.find((l) => w.outputs.includes(l.output))!;
      expect(w.granularity).toBe(perChannel ? 'per-channel' : 'per-tensor');
      expect(w.dtype).toBe('int8');
      expect(w.values).toEqual(passDequantized(layer.values, layer.dims[0], layer.dims[1], perChannel));
    }
  });

  it('Gemm weights stored [out, in] (the torch fixture) compare in [in, out] layout', async () => {
    const base = await readModel(TORCH_VIT);
    const q = dynamic(base);
    const cmp = await compareTensors(base, q);
    const gemm = cmp.rows.find((r) => r.op === 'Gemm')!;
    expect(gemm).toBeDefined();
    const view = GraphView.of(base.proto);
    const l = findLinears(view).find((x) => x.matmul.name === gemm.layer)!;
    expect(l.layout).toBe('out_in');
    const w = transposeWeight(tensorArray(view.initializer(l.weight)!, base) as Float32Array, l.outDim, l.inDim);
    const recovered = effectiveWeights(q).weights.find((e) => e.outputs.includes(l.output))!;
    expect(recovered.values).toEqual(passDequantized(w, l.inDim, l.outDim, true));
    expect(gemm.sqnrDb!).toBeGreaterThan(35);
  });

  it.each([
    [{ blockSize: 32, symmetric: true }],
    [{ blockSize: 64, symmetric: false }],
  ] as [QuantizeInt4Options][])('quantize.int4 %o: MatMulNBits blocks dequantize exactly as onnxruntime does', async (options) => {
    const base = await readModel(VIT);
    const q = quantizeInt4(base, options);
    const { weights, unrecovered } = effectiveWeights(q);
    expect(unrecovered).toEqual([]);
    expect(weights).toHaveLength(25);
    for (const w of [weights[0], weights[5], weights[24]]) {
      expect(w.granularity).toBe('block');
      expect(w.dtype).toBe('uint4');
      expect(w.values).toEqual(await ortNBitsWeight(q, w.node));
    }
  });

  it('DequantizeLinear (uint8 per axis, zero point 128): exactly what onnxruntime dequantizes', async () => {
    const base = await readModel(VIT);
    const { model: qdq, dequantized } = qdqWeights(base);
    const { weights } = effectiveWeights(qdq);
    expect(weights).toHaveLength(25);
    const session = await createSession(qdq, { reuse: false });
    try {
      const out = await runBatched(session, digits(1), { fetch: [...dequantized.values()] });
      for (const w of weights) {
        expect(w.form).toBe('DequantizeLinear→MatMul');
        expect(w.granularity).toBe('per-channel');
        expect(w.values).toEqual(floatData(out[dequantized.get(w.node)!], w.node));
      }
    } finally {
      await session.dispose();
    }
    const cmp = await compareTensors(base, qdq);
    expect(cmp.only('weight').rows).toHaveLength(25);
    for (const r of cmp.rows) expect(r.quantization).toBe('uint8 per-channel (DequantizeLinear→MatMul)');
  });
});

describe('blocked DequantizeLinear', () => {
  it('int4 blocks of 32 along K (opset 21): exactly what onnxruntime dequantizes, and the same weights as MatMulNBits symmetric', async () => {
    const base = await readModel(VIT);
    const { model: qdq, dequantized } = blockedInt4(base);
    const { weights } = effectiveWeights(qdq);
    expect(weights).toHaveLength(25);
    const session = await createSession(qdq, { reuse: false });
    try {
      const out = await runBatched(session, digits(1), { fetch: [...dequantized.values()] });
      for (const w of weights) {
        expect([w.dtype, w.granularity, w.blockSize]).toEqual(['int4', 'block', 32]);
        expect(w.values).toEqual(floatData(out[dequantized.get(w.node)!], w.node));
      }
    } finally {
      await session.dispose();
    }
    // One scheme, two graph forms: int4 codes with zero point 0, or uint4 codes with zero point 8.
    const nbits = effectiveWeights(quantizeInt4(base, { blockSize: 32, symmetric: true })).weights;
    for (const w of weights) expect(w.values).toEqual(nbits.find((x) => w.outputs.includes(x.outputs[0]))!.values);
  });
});

describe('embedding tables and float16 weights', () => {
  it.each([true, false])('CLIP token embedding int8 (perChannel=%s): the table dequantizes exactly as quantize.dynamic stored it', async (perRow) => {
    const base = await readModel(CLIP);
    const q = dynamic(base, { minElements: 0, perChannel: perRow });
    const cmp = await compareTensors(base, q);
    expect(cmp.skipped).toEqual([]);
    const row = cmp.rows.find((r) => r.op === 'Gather')!;
    expect(row.tensor).toBe('text.token_embed');
    expect(row.quantization).toBe(perRow ? 'int8 per-channel (Gather→Mul)' : 'int8 per-tensor (Gather→DequantizeLinear)');
    const table = referenceLayers(base).find((l) => l.weight === 'text.token_embed')!;
    const [rows, cols] = table.dims;
    const stored = quantizeRows(table.values, rows, cols, perRow);
    const expected = Float32Array.from(stored.values, (v, i) => v * stored.scales[perRow ? Math.floor(i / cols) : 0]);
    const recovered = effectiveWeights(q).weights.find((w) => w.stored.startsWith('text.token_embed'))!;
    expect(recovered.values).toEqual(expected);
    expect(row.sqnrDb!).toBeGreaterThan(35);
  });

  it('toFloat16: every weight (the head writing the graph output through a Cast too) is its float16 rounding; activations on real digits', async () => {
    const base = await readModel(VIT);
    const half = toFloat16(base).model;
    const cmp = await compareTensors(base, half, { data: digits(100) });
    expect(cmp.skipped).toEqual([]);
    const weights = cmp.only('weight').rows;
    // 25 linears (the classifier writes the graph output through a Cast) and the patch Conv.
    expect(weights).toHaveLength(26);
    for (const layer of referenceLayers(base)) {
      const w = effectiveWeights(half).weights.find((e) => e.outputs.includes(layer.output))!;
      expect(w.granularity).toBe('float');
      expect(w.values).toEqual(Float32Array.from(toHalf(layer.values).bits, halfToFloat));
    }
    for (const r of cmp.rows) expect(r.sqnrDb ?? Infinity).toBeGreaterThan(55);
    const chart = (await weightHistogram(base, '/classifier/MatMul', { quantized: half })).spec as unknown as { layer: unknown[]; title: { subtitle: string[] } };
    expect(chart.layer).toHaveLength(1);
    expect(chart.title.subtitle[0]).toContain('float16 has no uniform grid');
  });
});

describe('compareTensors on the MNIST ViT', () => {
  it('compares activations on real digits: rows equal the errors of tapped onnxruntime outputs', async () => {
    const base = await readModel(VIT);
    const q = dynamic(base);
    const cmp = await compareTensors(base, q, { data: digits(200) });
    expect(cmp.items).toBe(200);
    const acts = cmp.only('activation').rows;
    // 25 linears + the patch Conv; the classifier's output is the graph output 'logits'.
    expect(acts).toHaveLength(26);
    const logits = acts.find((r) => r.tensor === 'logits')!;
    expect(logits.dims).toEqual([1, 10]);
    for (const r of acts) {
      expect(r.sqnrDb ?? Infinity).toBeGreaterThan(25);
      expect(r.cosine).toBeGreaterThan(0.99);
    }
    // The patch Conv stays float and reads the float input: identical.
    expect(acts.find((r) => r.op === 'Conv')!.sqnrDb).toBeNull();

    // Independent check of one row: tap both models ourselves.
    const fc1 = acts.find((r) => r.layer === '/vision/layers/2/mlp/fc1/MatMul')!;
    const tapped = async (m: OnnxModel) => {
      const s = await createSession(m, { taps: [fc1.tensor], reuse: false });
      try {
        return floatData((await runBatched(s, digits(200), { fetch: [fc1.tensor] }))[fc1.tensor], fc1.tensor);
      } finally {
        await s.dispose();
      }
    };
    const expected = errorStats(await tapped(base), await tapped(q));
    expect(fc1.sqnrDb!).toBeCloseTo(expected.sqnrDb!, 9);
    expect(fc1.mse).toBeCloseTo(expected.mse, 12);
    expect(fc1.maxAbs).toBe(expected.maxAbs);
    console.log(`int8 dynamic on 200 digits: logits SQNR ${logits.sqnrDb!.toFixed(2)} dB, cosine ${logits.cosine.toFixed(6)}; ${fc1.layer} ${fc1.sqnrDb!.toFixed(2)} dB`);

    const int4 = await compareTensors(base, quantizeInt4(base), { data: digits(200) });
    const logits4 = int4.rows.find((r) => r.tensor === 'logits')!;
    console.log(`int4 block 32: logits SQNR ${logits4.sqnrDb!.toFixed(2)} dB; worst weight ${int4.worst(1, 'weight').rows[0].layer} ${int4.worst(1, 'weight').rows[0].sqnrDb!.toFixed(2)} dB`);
    expect(logits4.sqnrDb!).toBeLessThan(logits.sqnrDb!);
  });

  it('finds the damaged layer: one layer per-tensor in an otherwise per-channel int8 model', async () => {
    const base = await readModel(VIT);
    const damaged = '/vision/layers/0/mlp/fc2/MatMul';
    const perChannel = dynamic(base, { exclude: { nodes: [damaged] } });
    const mixed = dynamic(perChannel, { perChannel: false });
    const cmp = await compareTensors(base, mixed);
    expect(cmp.rows).toHaveLength(24);
    const [worst, next] = cmp.worst(2, 'weight').rows;
    console.log(`damaged ${worst.layer}: ${worst.sqnrDb!.toFixed(2)} dB (${worst.quantization}); next ${next.layer} ${next.sqnrDb!.toFixed(2)} dB`);
    expect(worst.layer).toBe(damaged);
    expect(worst.quantization).toBe('int8 per-tensor (DynamicQuantizeMatMul)');
    expect(worst.sqnrDb! + 3).toBeLessThan(next.sqnrDb!);
    expect(cmp.skipped.map((s) => s.tensor).sort()).toEqual(['classifier.weight', 'vision.patch_embed.weight']);
    // It stands out from its per-channel peers, and the display says so; the clean model has no outlier.
    expect(cmp.outliers().map((r) => r.layer)).toEqual([damaged]);
    expect((await cmp[JUPYTER_DISPLAY]())['text/plain']).toContain(`Weight of ${damaged} stands out`);
    expect((await compareTensors(base, perChannel)).outliers()).toEqual([]);
  });
});

describe('quantize.static (QDQ)', () => {
  it('matches layers whose MatMul output is quantized before the bias Add; activation grids come from the QuantizeLinear', async () => {
    const base = await readModel(VIT);
    const calibration = digits(64);
    const { model: q } = await quantizeStatic(base, { calibration }, calibration);
    const cmp = await compareTensors(base, q, { data: mnist({ split: 'test', batchSize: 100 }).skip(1000).take(200) });
    const weights = cmp.only('weight').rows;
    expect(weights).toHaveLength(24);
    for (const r of weights) {
      expect(r.quantization).toBe('int8 per-channel (DequantizeLinear→MatMul)');
      expect(r.sqnrDb!).toBeGreaterThan(35);
    }
    const logits = cmp.rows.find((r) => r.tensor === 'logits')!;
    console.log(`static minmax (64 calibration digits) on 200 other digits: logits SQNR ${logits.sqnrDb!.toFixed(2)} dB; worst activation ${cmp.worst(1, 'activation').rows[0].layer} ${cmp.worst(1, 'activation').rows[0].sqnrDb!.toFixed(2)} dB`);
    expect(logits.sqnrDb!).toBeGreaterThan(20);

    const layer = referenceLayers(base).find((l) => l.node === '/vision/layers/1/mlp/fc2/MatMul')!;
    const ql = GraphView.of(q.proto).consumers(layer.input).find((n) => n.opType === 'QuantizeLinear')!;
    const scale = tensorArray(GraphView.of(q.proto).constantTensor(ql.input[1])!)[0] as number;
    const zp = tensorArray(GraphView.of(q.proto).constantTensor(ql.input[2])!)[0] as number;
    type Layered = { layer: { data: { values: Record<string, number>[] } }[]; title: { subtitle: string[] } };
    const spec = (await activationHistogram(base, layer.node, digits(50), { quantized: q })).spec as unknown as Layered;
    expect(spec.title.subtitle[0]).toMatch(/^static uint8 \(QuantizeLinear\)/);
    expect(spec.layer[2].data.values.map((v) => v.x)).toEqual([Math.fround((0 - zp) * scale), Math.fround((255 - zp) * scale)]);
    expect((await weightHistogram(base, layer.node, { quantized: q })).title).toBe(`Weights of ${layer.node}`);
  });
});

describe('views', () => {
  it('table, DataFrame and the SQNR chart (worst highlighted, vega-lite v5)', async () => {
    const base = await readModel(VIT);
    const cmp = await compareTensors(base, quantizeInt4(base), { data: digits(100) });
    const table = cmp.table();
    expect(table.columns).toEqual(['kind', 'layer', 'op', 'dims', 'quantization', 'sqnrDb', 'cosine', 'mse', 'maxAbs']);
    expect(table.rows).toHaveLength(cmp.rows.length);
    const frame = cmp.toDataFrame();
    expect(frame.shape).toEqual([cmp.rows.length, 11]);

    const chart = cmp.chart({ highlight: 2 });
    const spec = chart.spec as unknown as { $schema: string; vconcat: { data: { values: { layer: string; sqnrDb: number; worst: boolean }[] }; mark: { type: string }; encoding: Record<string, { field?: string; condition?: { test: string } }> }[] };
    expect(spec.$schema).toBe('https://vega.github.io/schema/vega-lite/v5.json');
    expect(spec.vconcat).toHaveLength(2);
    for (const [panel, kind] of [[spec.vconcat[0], 'weight'], [spec.vconcat[1], 'activation']] as const) {
      expect(panel.mark.type).toBe('bar');
      expect(panel.encoding.x.field).toBe('sqnrDb');
      expect(panel.encoding.color.condition!.test).toBe('datum.worst');
      const highlighted = panel.data.values.filter((v) => v.worst);
      expect(highlighted).toHaveLength(2);
      const lowest = cmp.worst(2, kind).rows.map((r) => r.layer);
      expect(highlighted.map((v) => v.layer).sort()).toEqual([...lowest].sort());
    }
    expect(await chart.toSVG()).toContain('<svg');
    const bundle = await cmp[JUPYTER_DISPLAY]();
    expect(bundle['text/html']).toContain('<svg');
    expect(bundle['text/plain']).toContain('worst');
  });

  it('weight histograms draw the grid as rules when few, as a density when many, and the clipping range', async () => {
    const base = await readModel(VIT);
    const layer = '/vision/layers/1/mlp/fc2/MatMul';
    const int4 = quantizeInt4(base);
    type Layered = { layer: { data: { values: Record<string, number>[] }; mark: { type: string } }[]; resolve?: unknown; title: { subtitle: string[] } };
    // One output channel of int4 block 32: 4 blocks × 16 levels, few enough for one rule each.
    const channel = (await weightHistogram(base, layer, { quantized: int4, channel: 3 })).spec as unknown as Layered;
    expect(channel.layer.map((l) => l.mark.type)).toEqual(['bar', 'rule', 'rule']);
    const levels = channel.layer[1].data.values.map((v) => v.level);
    expect(levels.length).toBeLessThanOrEqual(MAX_LEVEL_RULES);
    expect(levels.length).toBeGreaterThan(16);
    const clip = channel.layer[2].data.values.map((v) => v.x);
    expect(clip).toEqual([Math.min(...levels), Math.max(...levels)]);
    expect(channel.title.subtitle[1]).toMatch(/^0 of 128 values/);

    // Per-tensor int8: 256 levels, drawn as their density on a second axis.
    const perTensor = dynamic(base, { perChannel: false });
    const whole = (await weightHistogram(base, layer, { quantized: perTensor })).spec as unknown as Layered;
    expect(whole.layer.map((l) => l.mark.type)).toEqual(['bar', 'line', 'rule']);
    expect(whole.resolve).toEqual({ scale: { y: 'independent' } });
    const w = referenceLayers(base).find((l) => l.node === layer)!.values;
    const absMax = Math.max(...w.map(Math.abs));
    const [lo, hi] = whole.layer[2].data.values.map((v) => v.x);
    expect(hi).toBeCloseTo(absMax, 6); // 127 · scale
    expect(lo).toBeCloseTo((-128 * absMax) / 127, 6);
    expect(await new (await import('../sdk/report')).Chart(whole as never).toSVG()).toContain('<svg');
  });

  it('activation histograms: static QuantizeLinear clipping is counted, dynamic ranges follow the data', async () => {
    const base = await readModel(VIT);
    const layer = findLinears(GraphView.of(base.proto)).find((l) => l.matmul.name === '/vision/layers/0/mlp/fc2/MatMul')!;
    // GELU's output reaches about -0.17; a uint8 grid with zero point 0 clips every negative value.
    const scale = 0.02;
    const proto = editModel(base.proto, (e) => {
      e.addInitializer(makeTensor('act_scale', 'float32', [], new Float32Array([scale])));
      e.addInitializer(makeTensor('act_zp', 'uint8', [], new Uint8Array([0])));
      e.addNode(node('QuantizeLinear', [layer.input, 'act_scale', 'act_zp'], ['act_q'], {}, { name: 'act_quant' }), { before: layer.matmul });
      e.addNode(node('DequantizeLinear', ['act_q', 'act_scale', 'act_zp'], ['act_dq'], {}, { name: 'act_dequant' }), { before: layer.matmul });
      e.renameInput(layer.matmul, 0, 'act_dq');
    });
    const static8: OnnxModel = { ...base, proto };
    type Layered = { layer: { data: { values: Record<string, number>[] }; mark: { type: string } }[]; title: { text: string; subtitle: string[] } };
    const spec = (await activationHistogram(base, layer.matmul.name, digits(100), { quantized: static8 })).spec as unknown as Layered;
    expect(spec.title.text).toBe(`Activation into ${layer.matmul.name}`);
    const [lo, hi] = spec.layer[2].data.values.map((v) => v.x);
    expect(lo).toBe(0);
    expect(hi).toBeCloseTo(255 * scale, 6);
    const s = await createSession(base, { taps: [layer.input], reuse: false });
    const values = floatData((await runBatched(s, digits(100), { fetch: [layer.input] }))[layer.input], layer.input);
    await s.dispose();
    const clipped = values.filter((v) => v < -scale / 2 || v > 255.5 * scale).length;
    expect(clipped).toBeGreaterThan(1000);
    expect(spec.title.subtitle[1]).toMatch(new RegExp(`^${clipped} of ${values.length} values`));
    // The static model runs, and its activation error shows at that layer.
    const cmp = await compareTensors(base, static8, { data: digits(100), activations: [layer.output] });
    expect(cmp.rows).toHaveLength(1);
    expect(cmp.rows[0].sqnrDb!).toBeLessThan(40);

    const dyn = (await activationHistogram(base, layer.matmul.name, digits(100), { quantized: dynamic(base) })).spec as unknown as Layered;
    const [dlo, dhi] = dyn.layer[2].data.values.map((v) => v.x);
    const min = values.reduce((a, v) => Math.min(a, v), 0);
    const max = values.reduce((a, v) => Math.max(a, v), 0);
    expect(dhi - dlo).toBeCloseTo(max - min, 6);
    expect(dyn.title.subtitle[1]).toMatch(/^0 of/);
    const weightOnly = (await activationHistogram(base, layer.matmul.name, digits(20), { quantized: quantizeInt4(base) })).spec as unknown as Layered;
    expect(weightOnly.layer).toHaveLength(1);
    expect(weightOnly.title.subtitle[0]).toContain('stays float');
  });

  it('per-channel ranges: min/max of each output channel with the per-tensor range across them', async () => {
    const base = await readModel(VIT);
    const l = referenceLayers(base).find((x) => x.node === '/vision/layers/1/attn/v/MatMul')!;
    const spec = (await channelRanges(base, l.weight)).spec as unknown as { layer: { data: { values: Record<string, number>[] }; encoding: Record<string, { field: string }> }[] };
    const rows = spec.layer[0].data.values;
    expect(rows).toHaveLength(64);
    const column = (c: number) => Array.from({ length: 64 }, (_, r) => l.values[r * 64 + c]);
    for (const c of [0, 17, 63]) {
      expect(rows[c].min).toBe(Math.min(...column(c)));
      expect(rows[c].max).toBe(Math.max(...column(c)));
    }
    expect(spec.layer[0].encoding.y2.field).toBe('max');
    expect(spec.layer[1].data.values.map((v) => v.y)).toEqual([Math.min(...l.values), Math.max(...l.values)]);
    try {
      await channelRanges(base, 'vision.layers.1.attn.w.weight');
      expect.unreachable();
    } catch (e) {
      expect(isMmkitError(e) && e.code).toBe('UNKNOWN_TENSOR');
      expect((e as Error & { hint?: string }).hint).toContain('vision.layers.1.attn.');
    }
  });
});
