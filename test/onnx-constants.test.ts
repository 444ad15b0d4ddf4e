import { describe, expect, it } from 'vitest';
import {
  GraphView,
  ModelBuilder,
  findConvs,
  findLinears,
  liftConstantWeights,
  readModel,
  serializeModel,
  storedTensors,
  tensorDims,
  tensorElementCount,
} from '../sdk/onnx';
import { modelSize } from '../sdk/eval';
import { summarize } from '../sdk/pipeline/summary';
import { buildMlp, seeded } from './helpers/onnx-models';
import { buildConstantNet, buildIfNet, corpusModel, run, type Feeds } from './helpers/weight-models';

const ops = (m: Parameters<typeof GraphView.of>[0]) => GraphView.of(m).nodes.map((n) => n.opType);

describe('liftConstantWeights', () => {
  it('turns float Constant nodes into initializers of the same name and Identity of a weight into an alias; the model computes the same', async () => {
    const { model, dims } = buildConstantNet();
    const lifted = liftConstantWeights(model);
    const view = GraphView.of(lifted);
    expect(view.initializers.map((t) => t.name).sort()).toEqual(['conv.bias', 'conv.weight', 'fc1.bias', 'fc1.weight', 'fc2.bias', 'fc2.weight']);
    // The int64 shape stays a Constant node; the Identity is gone and the MatMul reads the weight itself.
    expect(ops(lifted).filter((op) => op === 'Constant' || op === 'Identity')).toEqual(['Constant']);
    expect(view.nodes.find((n) => n.name === 'fc1')!.input[1]).toBe('fc1.weight');
    // The patterns now see every layer.
    expect(findConvs(GraphView.of(model))).toHaveLength(0);
    expect(findLinears(GraphView.of(model))).toHaveLength(0);
    expect(findConvs(view).map((c) => c.weight)).toEqual(['conv.weight']);
    expect(findLinears(view).map((l) => [l.weight, l.bias])).toEqual([
      ['fc1.weight', 'fc1.bias'],
      ['fc2.weight', 'fc2.bias'],
    ]);
    const feeds: Feeds = { x: { type: 'float32', data: seeded(3 * 256, 7, 1), dims: dims(3) } };
    expect(await run(serializeModel(lifted), feeds)).toEqual(await run(serializeModel(model), feeds));
  });

  it('returns the very model when there is nothing to lift', () => {
    const { model } = buildMlp();
    expect(liftConstantWeights(model)).toBe(model);
  });

  it('raises IR version 3 to 4, where initializers need not be graph inputs, and the lifted model runs', async () => {
    const b = new ModelBuilder({ opset: 8 });
    const x = b.input('x', 'float32', [2, 16]);
    const y = b.op('MatMul', [x, b.constant('float32', [16, 8], seeded(128, 3), 'w')]);
    b.output(y, 'float32', [2, 8]);
    const model = b.build();
    expect(model.irVersion).toBe(3n);
    const lifted = liftConstantWeights(model);
    expect(lifted.irVersion).toBe(4n);
    expect(GraphView.of(lifted).isInitializer('w')).toBe(true);
    const feeds: Feeds = { x: { type: 'float32', data: seeded(32, 4, 1), dims: [2, 16] } };
    expect(await run(serializeModel(lifted), feeds)).toEqual(await run(serializeModel(model), feeds));
  });

  it('folds a Transpose of a weight (torch without constant folding) into the transposed weight, drops the original, and computes the same', async () => {
    const b = new ModelBuilder({ name: 'transposed-weights', opset: 17 });
    const x = b.input('x', 'float32', ['batch', 16]);
    // MatMul(x, Transpose(Constant [32, 16])) and Gemm(h, Transpose(initializer [24, 32], perm [1, 0])).
    const w1 = b.op('Transpose', [b.constant('float32', [32, 16], seeded(32 * 16, 21), 'fc1.weight')]);
    const h = b.op('Relu', [b.node('MatMul', [x, w1], {}, { name: 'fc1' })[0]]);
    const w2 = b.node('Transpose', [b.initializer('fc2.weight', 'float32', [24, 32], seeded(24 * 32, 22))], { perm: [1, 0] })[0];
    b.output(b.node('Gemm', [h, w2], {}, { name: 'fc2' })[0], 'float32', ['batch', 24]);
    const model = b.build();
    const lifted = liftConstantWeights(model);
    const view = GraphView.of(lifted);
    expect(ops(lifted)).toEqual(['MatMul', 'Relu', 'Gemm']);
    // The originals are gone: each weight is stored once, transposed.
    expect(view.initializers.map((t) => [t.name, tensorDims(t)])).toEqual([
      [view.nodes[0].input[1], [16, 32]],
      [view.nodes[2].input[1], [32, 24]],
    ]);
    expect(findLinears(view).map((l) => [l.inDim, l.outDim])).toEqual([
      [16, 32],
      [32, 24],
    ]);
    const feeds: Feeds = { x: { type: 'float32', data: seeded(3 * 16, 23, 1), dims: [3, 16] } };
    expect(await run(serializeModel(lifted), feeds)).toEqual(await run(serializeModel(model), feeds));
  });

  it('storedTensors counts Constant-node weights beside initializers', () => {
    const { model } = buildConstantNet();
    const count = (m: typeof model) => [...storedTensors(m.graph!)].reduce((n, t) => n + tensorElementCount(t), 0);
    // conv 1152 + 32, fc1 2048 + 64, fc2 4096 + 64; not the int64 shape constant, which is no parameter.
    expect(count(model)).toBe(7456);
    expect(count(liftConstantWeights(model))).toBe(7456);
  });

  const ppocr = corpusModel('ppocr-v2-cls');
  it.skipIf(!ppocr)('ppocr-v2-cls (paddle2onnx, every weight a Constant): lifted, its 53 Convs and its MatMul are found and the outputs are bit-identical', async () => {
    const model = await readModel(ppocr!);
    const lifted = liftConstantWeights(model.proto);
    const before = GraphView.of(model.proto);
    const view = GraphView.of(lifted);
    expect(before.initializers).toHaveLength(0);
    expect(findConvs(before)).toHaveLength(0);
    expect(findConvs(view)).toHaveLength(53);
    expect(findLinears(view)).toHaveLength(1);
    // Every float Constant became an initializer; the one integer Constant stayed.
    expect(view.nodes.filter((n) => n.opType === 'Constant')).toHaveLength(1);
    expect(view.initializers).toHaveLength(249);
    const feeds: Feeds = { x: { type: 'float32', data: seeded(3 * 48 * 192, 5, 1), dims: [1, 3, 48, 192] } };
    expect(await run(serializeModel(lifted), feeds)).toEqual(await run(serializeModel(model.proto), feeds));
  });
  if (!ppocr) it.skip('ppocr-v2-cls: not in the corpus cache (node scripts/fetch-corpus.mjs fetches it)', () => {});
});

describe('parameter counts see weights wherever ONNX keeps them', () => {
  it('summary() and modelSize count Constant-node weights and the weights inside If branches', async () => {
    const net = buildConstantNet().model;
    expect((await summarize({ proto: net }, { probe: false })).totals.params).toBe(7456);
    expect(modelSize({ proto: net }).params).toBe(7456);
    const summary = await summarize({ proto: net }, { probe: false });
    expect(summary.rows.find((r) => r.name === 'conv')!.params).toBe(1152 + 32);
    // W_outer 2048, W_deep 2048, W_inner 2048, W_else 1024, else_bias 32.
    const ifNet = buildIfNet().model;
    expect((await summarize({ proto: ifNet }, { probe: false })).totals.params).toBe(7200);
    expect(modelSize({ proto: ifNet }).params).toBe(7200);
  });

  const ppocr = corpusModel('ppocr-v2-cls');
  it.skipIf(!ppocr)('ppocr-v2-cls: summary() reports its parameters, not 0', async () => {
    const s = await summarize(await readModel(ppocr!), { probe: false });
    console.log(`ppocr-v2-cls: ${s.totals.params} parameters, ${s.totals.bytes} bytes`);
    expect(s.totals.params).toBeGreaterThan(130_000);
  });
});
