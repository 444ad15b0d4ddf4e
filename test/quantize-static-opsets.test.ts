/**
 * Static quantization of models other exporters write: old opsets (upgraded by the ONNX version
 * converter's rules, or per-tensor scales where that is not safe) and graphs that declare no types
 * for their intermediates (tf2onnx). Small models built here, run in onnxruntime-node; the corpus
 * models (scripts/fetch-corpus.mjs) when their cache exists.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Dataset } from '../sdk/data';
import { agreement } from '../sdk/eval';
import { GraphView, ModelBuilder, readModel, serializeModel, tensorDims, type OnnxModel } from '../sdk/onnx';
import { quantizeStatic } from '../sdk/passes/quantize/static';
import { toFloat16 } from '../sdk/passes/quantize/fp16';
import { qdqOpset } from '../sdk/passes/quantize/qdq-opset';
import { maxAbsDiff, runOnce, seeded } from './helpers/onnx-models';

const X = [1, 3, 16, 16];
/** Seeded noise in [-1, 1) for input `input` of per-item shape dims[1..]. */
const noise = (items = 16, dims = X, input = 'x') =>
  Dataset.fromTensors({ [input]: { data: seeded(items * count(dims.slice(1)), 7, 1), dims: [items, ...dims.slice(1)], dtype: 'float32' } }, undefined, { name: 'noise', batchSize: 1 });
const count = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
/** The model's first output on one seeded input of `dims`. */
const run = (m: OnnxModel, dims = X, input = 'x') => runOnce(serializeModel(m), input, seeded(count(dims), 11, 1), dims);
const opsetOf = (m: OnnxModel) => GraphView.of(m.proto).opset('');

function conv(b: ModelBuilder, x: string, cin: number, cout: number, seed: number, k = 3): string {
  const w = b.initializer(`w${seed}`, 'float32', [cout, cin, k, k], seeded(cout * cin * k * k, seed, 0.4));
  const bias = b.initializer(`b${seed}`, 'float32', [cout], seeded(cout, seed + 1, 0.1));
  return b.op('Conv', [x, w, bias], { pads: [1, 1, 1, 1] });
}

/** Weight DequantizeLinears (int8 initializer input) and their scale shapes. */
function weightScales(m: OnnxModel): { dims: number[]; axis?: bigint }[] {
  const view = GraphView.of(m.proto);
  return view.nodes
    .filter((n) => n.opType === 'DequantizeLinear' && view.initializer(n.input[0])?.dataType === 3)
    .map((n) => ({ dims: tensorDims(view.initializer(n.input[1])!), axis: n.attribute.find((a) => a.name === 'axis')?.i }));
}

async function cosine(base: OnnxModel, q: OnnxModel, dims = X, input = 'x'): Promise<number> {
  const [a, b] = [await run(base, dims, input), await run(q, dims, input)];
  return agreement(a, b, a.length).cosineMean;
}

describe('quantize.static below opset 13', () => {
  it('opset 11 with nothing that changed meaning: upgraded to 13, per-channel scales, output unchanged by the upgrade', async () => {
    const b = new ModelBuilder({ opset: 11 });
    b.input('x', 'float32', X);
    const lo = b.initializer('lo', 'float32', [], Float32Array.of(0));
    const hi = b.initializer('hi', 'float32', [], Float32Array.of(6));
    const h = b.op('Clip', [conv(b, 'x', 3, 16, 1), lo, hi]);
    b.node('Conv', [h, b.initializer('w2', 'float32', [8, 16, 3, 3], seeded(8 * 16 * 9, 3, 0.3))], { pads: [1, 1, 1, 1] }, { outputs: ['y'] });
    b.output('y', 'float32', [1, 8, 16, 16]);
    const base = { proto: b.build() };
    const up = qdqOpset(base, true, 'test');
    expect(opsetOf(up.model)).toBe(13);
    expect(maxAbsDiff(await run(base), await run(up.model))).toBe(0);
    const { model, report } = await quantizeStatic(base, { calibration: noise(), minElements: 0 }, noise());
    console.log(report.lines.join('\n'));
    expect(report.lines).toContain('Opset 11 → 13 for per-channel weight scales; no op changed meaning.');
    expect(report.lines[0]).toMatch(/2 Conv quantized; weights int8 symmetric per-channel/);
    expect(weightScales(model)).toEqual([{ dims: [16], axis: 0n }, { dims: [8], axis: 0n }]);
    const c = await cosine(base, model);
    console.log(`opset 11 → 13 static int8: cosine ${c.toFixed(5)}`);
    expect(c).toBeGreaterThan(0.995);
  });

  it('opset 9: Clip, Slice, Pad, Dropout, Softmax, ReduceSum, Squeeze, Unsqueeze rewritten as the version converter does; same outputs, then per-channel int8', async () => {
    const b = new ModelBuilder({ opset: 9 });
    b.input('x', 'float32', X);
    let h = b.op('Clip', [conv(b, 'x', 3, 16, 1)], { min: { f: 0 }, max: { f: 6 } });
    h = b.op('Slice', [h], { starts: [0], ends: [8], axes: [1] });
    h = b.op('Pad', [h], { pads: [0, 0, 1, 1, 0, 0, 1, 1], value: { f: 0.5 } });
    h = b.op('Dropout', [h], { ratio: { f: 0.3 } });
    h = b.op('Conv', [h, b.initializer('w2', 'float32', [8, 8, 3, 3], seeded(8 * 8 * 9, 3, 0.3))]); // [1, 8, 16, 16]
    h = b.op('Softmax', [h]); // axis 1 of a 4-D input: normalizes over C·H·W before opset 13
    h = b.op('ReduceSum', [h], { axes: [3], keepdims: 0 });
    b.node('Squeeze', [b.op('Unsqueeze', [h], { axes: [0] })], { axes: [0] }, { outputs: ['y'] });
    b.output('y', 'float32', [1, 8, 16]);
    const base = { proto: b.build() };
    const up = qdqOpset(base, true, 'test');
    expect(up.note).toBe('Opset 9 → 13 for per-channel weight scales; rewritten as the ONNX version converter does: 1 Clip, 1 Slice, 1 Pad, 1 Dropout, 1 Softmax, 1 ReduceSum, 1 Unsqueeze, 1 Squeeze.');
    expect(opsetOf(up.model)).toBe(13);
    const [f, u] = [await run(base), await run(up.model)];
    console.log(`opset 9 → 13 upgrade: max |Δ| ${maxAbsDiff(f, u).toExponential(2)} over ${f.length} outputs`);
    expect(maxAbsDiff(f, u)).toBeLessThanOrEqual(1e-6);
    const { model, report } = await quantizeStatic(base, { calibration: noise(), minElements: 0 }, noise());
    expect(report.lines).toContain(up.note);
    expect(weightScales(model).map((s) => s.axis)).toEqual([0n, 0n]);
    expect(await cosine(base, model)).toBeGreaterThan(0.99);
  });

  it('opset 10 with Resize-10 (changed meaning at 11): stays at 10 with per-tensor weight and bias scales, and the report says why', async () => {
    const b = new ModelBuilder({ opset: 10 });
    b.input('x', 'float32', X);
    const scales = b.initializer('scales', 'float32', [4], Float32Array.of(1, 1, 2, 2));
    const h = b.op('Resize', [b.op('Relu', [conv(b, 'x', 3, 16, 1)]), scales], { mode: 'nearest' });
    b.node('Conv', [h, b.initializer('w2', 'float32', [8, 16, 3, 3], seeded(8 * 16 * 9, 3, 0.3))], { pads: [1, 1, 1, 1] }, { outputs: ['y'] });
    b.output('y', 'float32', [1, 8, 32, 32]);
    const base = { proto: b.build() };
    const { model, report } = await quantizeStatic(base, { calibration: noise(), minElements: 0 }, noise());
    console.log(report.lines.join('\n'));
    expect(opsetOf(model)).toBe(10);
    expect(report.lines).toContain(
      'Opset 10 kept (not upgraded to 11: 1 Resize (changed meaning, no adapter)); per-tensor weight scales: opset 10 has no per-channel DequantizeLinear (not upgraded to 13: 1 Resize (changed meaning, no adapter)).',
    );
    expect(report.lines[0]).toMatch(/2 Conv quantized; weights int8 symmetric per-tensor/);
    expect(weightScales(model)).toEqual([{ dims: [], axis: undefined }, { dims: [], axis: undefined }]);
    const view = GraphView.of(model.proto);
    const bias = view.producer(view.nodes.find((n) => n.opType === 'Conv')!.input[2])!;
    expect(bias.opType).toBe('DequantizeLinear');
    expect(tensorDims(view.initializer(bias.input[1])!)).toEqual([]); // one bias scale: DequantizeLinear-10 has no axis
    expect(await cosine(base, model)).toBeGreaterThan(0.99);
  });

  it('an op to rewrite inside an If branch keeps opset 11: per-tensor scales, the report names it', async () => {
    const branch = (name: string) => {
      const g = new ModelBuilder({ opset: 11, name });
      g.node('Squeeze', ['h'], { axes: [0] }, { outputs: [`${name}_out`] });
      g.output(`${name}_out`, 'float32', [16, 16, 16]);
      return g.build().graph!;
    };
    const b = new ModelBuilder({ opset: 11 });
    b.input('x', 'float32', X);
    b.node('Relu', [conv(b, 'x', 3, 16, 1)], {}, { outputs: ['h'] });
    const cond = b.initializer('cond', 'bool', [], Uint8Array.of(1));
    b.node('If', [cond], { then_branch: { g: branch('then') }, else_branch: { g: branch('else') } }, { outputs: ['y'] });
    b.output('y', 'float32', [16, 16, 16]);
    const base = { proto: b.build() };
    const { model, report } = await quantizeStatic(base, { calibration: noise(), minElements: 0 }, noise());
    expect(opsetOf(model)).toBe(11);
    expect(report.lines).toContain('Per-tensor weight scales: opset 11 has no per-channel DequantizeLinear (not upgraded to 13: 2 Squeeze inside subgraphs).');
    expect(weightScales(model)).toEqual([{ dims: [], axis: undefined }]);
    expect(await cosine(base, model)).toBeGreaterThan(0.99);
  });

  it('opset 8 and an opset 9 Upsample are refused with a hint that works (re-export, or float16), never dynamic', async () => {
    const old = new ModelBuilder({ opset: 8 });
    old.input('x', 'float32', X);
    old.node('Relu', [conv(old, 'x', 3, 16, 1)], {}, { outputs: ['y'] });
    old.output('y', 'float32', [1, 16, 16, 16]);
    const upsample = new ModelBuilder({ opset: 9 });
    upsample.input('x', 'float32', X);
    const scales = upsample.initializer('scales', 'float32', [4], Float32Array.of(1, 1, 2, 2));
    upsample.node('Upsample', [conv(upsample, 'x', 3, 16, 1), scales], { mode: 'nearest' }, { outputs: ['y'] });
    upsample.output('y', 'float32', [1, 16, 32, 32]);
    for (const [m, why] of [[{ proto: old.build() }, 'opset 8 is older than 9'], [{ proto: upsample.build() }, '1 Upsample (changed meaning, no adapter)']] as const) {
      const err = await quantizeStatic(m, { calibration: noise() }, noise()).catch((e: unknown) => e as { code: string; message: string; hint: string });
      console.log(err.message, '\n', err.hint);
      expect(err.code).toBe('UNSUPPORTED');
      expect(err.message).toContain(`cannot be upgraded here (${why})`);
      expect(err.hint).not.toMatch(/dynamic/);
      expect(err.hint).toMatch(/opset ≥ 13/);
      // The hint's fallback does work on the model.
      const { model: half } = toFloat16(m);
      const [a, h] = [await run(m), await run(half)];
      expect(agreement(a, h, a.length).cosineMean).toBeGreaterThan(0.999);
    }
  });
});

describe('quantize.static infers types the exporter did not declare', () => {
  it('float ops that keep their dtype (LeakyRelu, PRelu, Max, Min, Elu, Selu, Softplus, Neg, Abs, HardSigmoid, HardSwish, Clip, Pad, Transpose, MaxPool, AveragePool, Resize, Concat, Slice, Reshape) pass float32 on', async () => {
    const b = new ModelBuilder({ opset: 14 });
    b.input('x', 'float32', X);
    const c = (dims: number[], v: Float32Array) => b.initializer(`c${b.uniqueName('k')}`, 'float32', dims, v);
    const i64 = (v: number[]) => b.initializer(`i${b.uniqueName('k')}`, 'int64', [v.length], BigInt64Array.from(v, BigInt));
    let h = b.op('LeakyRelu', [conv(b, 'x', 3, 8, 1)], { alpha: { f: 0.1 } });
    h = b.op('PRelu', [h, c([8, 1, 1], seeded(8, 5, 0.3))]);
    h = b.op('Max', [h, c([], Float32Array.of(-1))]);
    h = b.op('Min', [h, c([], Float32Array.of(4))]);
    for (const op of ['Elu', 'Selu', 'Softplus', 'Neg', 'Abs', 'HardSwish', 'HardSigmoid']) h = b.op(op, [h]);
    h = b.op('Clip', [h, c([], Float32Array.of(0.1)), c([], Float32Array.of(0.9))]);
    h = b.op('Pad', [h, i64([0, 0, 1, 1, 0, 0, 1, 1])]); // [1, 8, 18, 18]
    h = b.op('Transpose', [h], { perm: [0, 1, 3, 2] });
    h = b.op('MaxPool', [h], { kernel_shape: [2, 2], strides: [2, 2] }); // [1, 8, 9, 9]
    h = b.op('AveragePool', [h], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
    h = b.op('Resize', [h, '', c([4], Float32Array.of(1, 1, 2, 2))], { mode: 'nearest' }); // [1, 8, 18, 18]
    h = b.op('Concat', [h, h], { axis: 1 });
    h = b.op('Slice', [h, i64([4]), i64([12]), i64([1])]);
    h = b.op('Reshape', [h, i64([1, 8, 18, 18])]);
    const w2 = b.initializer('w2', 'float32', [8, 8, 3, 3], seeded(8 * 8 * 9, 3, 0.3));
    b.node('Conv', [h, w2], {}, { outputs: ['y'] });
    b.output('y', 'float32', [1, 8, 16, 16]);
    const base = { proto: b.build() };
    expect(base.proto.graph!.valueInfo).toHaveLength(0); // as tf2onnx writes it: nothing declared in between
    const { model, report } = await quantizeStatic(base, { calibration: noise(), minElements: 0 }, noise());
    console.log(report.lines.join('\n'));
    expect(report.lines[0]).toMatch(/^QDQ int8: 2 Conv quantized/);
    expect(report.lines.join('\n')).not.toMatch(/not float32/);
    const c2 = await cosine(base, model);
    console.log(`undeclared-types chain: cosine ${c2.toFixed(5)}`);
    expect(c2).toBeGreaterThan(0.98);
  });
});

const CORPUS = process.env.MMKIT_CORPUS_DIR ?? path.join(os.homedir(), '.cache', 'mmkit', 'corpus');
const corpus = (id: string) => path.join(CORPUS, `${id}.onnx`);

describe.skipIf(!fs.existsSync(corpus('oww-embedding')) || !fs.existsSync(corpus('ppocr-v2-cls')))('quantize.static on corpus models (noise calibration)', () => {
  it('oww-embedding (tf2onnx, no value_info): its Convs are quantized, not "not float32"', async () => {
    const base = await readModel(corpus('oww-embedding'));
    const dims = [1, 76, 32, 1];
    const input = GraphView.of(base.proto).inputs[0].name;
    const data = noise(8, dims, input);
    const { model, report } = await quantizeStatic(base, { calibration: data }, data);
    console.log('oww-embedding:', report.lines.join('\n'));
    expect(report.lines[0]).toMatch(/^QDQ int8: 16 Conv quantized/); // the 4 others are under minElements
    const cos = await cosine(base, model, dims, input);
    console.log(`oww-embedding static int8: cosine ${cos.toFixed(5)}, ${serializeModel(base).length} → ${serializeModel(model).length} bytes`);
    expect(cos).toBeGreaterThan(0.999);
  });

  it('ppocr-v2-cls (paddle2onnx, opset 9, Constant weights): upgraded to 13 and quantized per channel', async () => {
    const base = await readModel(corpus('ppocr-v2-cls'));
    const dims = [1, 3, 48, 192];
    const data = noise(8, dims);
    const { model, report } = await quantizeStatic(base, { calibration: data }, data);
    console.log('ppocr-v2-cls:', report.lines.join('\n'));
    expect(report.lines).toContain('Opset 9 → 13 for per-channel weight scales; rewritten as the ONNX version converter does: 18 Clip, 1 Slice, 1 Softmax.');
    expect(report.lines[0]).toMatch(/11 Conv/);
    const cos = await cosine(base, model, dims);
    console.log(`ppocr-v2-cls static int8: cosine ${cos.toFixed(5)}`);
    expect(cos).toBeGreaterThan(0.99);
  });
});
