/**
 * prune.structured on real models run by onnxruntime: the pruned model must compute exactly what
 * the float model computes with the removed units' weights zeroed (the zeroing here is written
 * independently of the pass), on real MNIST digits for our ViT and on the recorded inputs of the
 * PyTorch-exported ViT fixture.
 */
import { describe, expect, it } from 'vitest';
import { mm, isMmkitError } from '../sdk';
import { Dataset, mnist, shapes, type TensorData } from '../sdk/data';
import { evaluateModel } from '../sdk/eval';
import { GraphView, ModelBuilder, editModel, extractModel, findAttention, findMlps, makeTensor, readModel, serializeModel, tensorArray, tensorDims, type LinearMatch, type OnnxModel } from '../sdk/onnx';
import { createSession, runBatched } from '../sdk/runtime';
import { PRUNE_STRUCTURED_OP, pruneStructured, type PruneStructuredOptions, type PruneStructuredResult } from '../sdk/passes/prune/structured';
import { findPruneGroups } from '../sdk/passes/prune/structured-groups';
import { buildEncoderBlock, buildMlp, maxAbsDiff, runOnce, seeded, torchReference, TORCH_VIT } from './helpers/onnx-models';
import { buildConstantNet } from './helpers/weight-models';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';
const CLIP = 'datasets/models/clip-tiny-shapes.onnx';
const TOL = 1e-4;

/** Zeroes output column `o` (and its bias entry) or input row `i` of a linear's weight, in its own layout. */
function zeroed(model: OnnxModel, edits: { m: LinearMatch; outputs?: number[]; inputs?: number[] }[]): OnnxModel {
  const view = GraphView.of(model.proto);
  const proto = editModel(model.proto, (e) => {
    const weights = new Map<string, Float32Array>();
    const biases = new Map<string, Float32Array>();
    const copy = (map: Map<string, Float32Array>, name: string) => map.get(name) ?? map.set(name, Float32Array.from(tensorArray(view.constantTensor(name)!, model) as Float32Array)).get(name)!;
    for (const { m, outputs = [], inputs = [] } of edits) {
      const w = copy(weights, m.weight);
      const at = (i: number, o: number) => (m.layout === 'in_out' ? i * m.outDim + o : o * m.inDim + i);
      for (const o of outputs) for (let i = 0; i < m.inDim; i++) w[at(i, o)] = 0;
      for (const i of inputs) for (let o = 0; o < m.outDim; o++) w[at(i, o)] = 0;
      if (m.bias && outputs.length) {
        const b = copy(biases, m.bias);
        for (const o of outputs) b[o] = 0;
      }
    }
    for (const [name, data] of [...weights, ...biases]) e.replaceInitializer(name, makeTensor(name, 'float32', tensorDims(view.initializer(name)!), data));
  });
  return { ...model, proto };
}

const complement = (n: number, kept: readonly number[]) => Array.from({ length: n }, (_, i) => i).filter((i) => !kept.includes(i));

/** The float model with the MLP units the pass removed zeroed instead. */
function zeroedMlpUnits(model: OnnxModel, r: PruneStructuredResult): OnnxModel {
  const mlps = findMlps(GraphView.of(model.proto));
  return zeroed(
    model,
    r.layers.flatMap((l) => {
      const gone = complement(l.units, l.kept);
      return [{ m: mlps[l.index].fc1, outputs: gone }, { m: mlps[l.index].fc2, inputs: gone }];
    }),
  );
}

/** The float model with the heads the pass removed zeroed instead (q, k, v columns and biases, output rows). */
function zeroedHeads(model: OnnxModel, r: PruneStructuredResult): OnnxModel {
  const blocks = findAttention(GraphView.of(model.proto));
  return zeroed(
    model,
    r.layers.flatMap((l) => {
      const a = blocks[l.index];
      const d = a.headDim;
      const hidden = a.numHeads * d;
      const cols = complement(l.units, l.kept).flatMap((h) => Array.from({ length: d }, (_, j) => h * d + j));
      const producers = a.packed ? [{ m: a.q, outputs: [0, 1, 2].flatMap((s) => cols.map((c) => s * hidden + c)) }] : [a.q, a.k, a.v].map((m) => ({ m, outputs: cols }));
      return [...producers, { m: a.out, inputs: cols }];
    }),
  );
}

const digits = mnist({ split: 'test', batchSize: 32 }).take(64);

async function outputs(model: OnnxModel, data: Dataset): Promise<Record<string, TensorData>> {
  const session = await createSession(model, { reuse: false });
  try {
    return await runBatched(session, data);
  } finally {
    await session.dispose();
  }
}

async function logits(model: OnnxModel): Promise<TensorData> {
  return Object.values(await outputs(model, digits))[0];
}

async function torchLogits(model: OnnxModel): Promise<Float32Array> {
  const { input } = torchReference();
  return runOnce(serializeModel(model), 'pixel_values', Float32Array.from(input.data), input.dims);
}

function dimsOf(model: OnnxModel, name: string): number[] {
  return tensorDims(GraphView.of(model.proto).initializer(name)!);
}

describe('prune.structured: MLP hidden units', () => {
  it('removes half of every MLP of the MNIST ViT: smaller weights, same logits as zeroing those units (64 real digits)', async () => {
    const vit = await readModel(VIT);
    const r = await pruneStructured(vit, { target: 'mlp', sparsity: 0.5 });
    const mlps = findMlps(GraphView.of(vit.proto));
    expect(r.layers).toHaveLength(4);
    for (const [k, m] of mlps.entries()) {
      expect(r.layers[k].kept).toHaveLength(64);
      expect(dimsOf(r.model, m.fc1.weight)).toEqual([64, 64]);
      expect(dimsOf(r.model, m.fc1.bias!)).toEqual([64]);
      expect(dimsOf(r.model, m.fc2.weight)).toEqual([64, 64]);
    }
    const pruned = await logits(r.model);
    const reference = await logits(zeroedMlpUnits(vit, r));
    expect(pruned.dims).toEqual([64, 10]);
    expect(maxAbsDiff(pruned.data as Float32Array, reference.data as Float32Array)).toBeLessThan(TOL);
    // The input model is untouched and really differs from the pruned one.
    expect(maxAbsDiff((await logits(vit)).data as Float32Array, pruned.data as Float32Array)).toBeGreaterThan(1e-2);
    // 4 blocks × (64·64 + 64 + 64·64) parameters gone.
    expect(r.report.data).toMatchObject({ paramsBefore: expect.any(Number), paramsAfter: expect.any(Number) });
    const { paramsBefore, paramsAfter } = r.report.data as { paramsBefore: number; paramsAfter: number };
    expect(paramsBefore - paramsAfter).toBe(4 * (64 * 64 + 64 + 64 * 64));
    expect(r.report.op).toBe(PRUNE_STRUCTURED_OP);
    expect(r.report.table!.rows[0]).toEqual([0, '/vision/layers/0/mlp', 128, 64, 64, 128 * 64 + 128 + 128 * 64, 64 * 64 + 64 + 64 * 64]);
  });

  it('prunes the PyTorch export (Erf GELU, MatMul weights) and matches zeroing on its recorded input', async () => {
    const torch = await readModel(TORCH_VIT);
    const r = await pruneStructured(torch, { target: 'mlp', sparsity: 0.75, score: 'l1' });
    expect(r.layers.map((l) => l.kept.length)).toEqual([32, 32]);
    const pruned = await torchLogits(r.model);
    expect(maxAbsDiff(pruned, await torchLogits(zeroedMlpUnits(torch, r)))).toBeLessThan(TOL);
  });

  it("prunes Gemm layers in torch's [out, in] layout (transB=1), biases included", async () => {
    const b = new ModelBuilder({ name: 'gemm-mlp' });
    b.input('x', 'float32', ['rows', 24]);
    b.initializer('fc1.weight', 'float32', [40, 24], seeded(40 * 24, 5));
    b.initializer('fc1.bias', 'float32', [40], seeded(40, 6, 0.2));
    b.initializer('fc2.weight', 'float32', [24, 40], seeded(24 * 40, 7));
    b.initializer('fc2.bias', 'float32', [24], seeded(24, 8, 0.2));
    b.node('Gemm', ['x', 'fc1.weight', 'fc1.bias'], { transB: 1 }, { outputs: ['h'], name: 'fc1' });
    b.node('Relu', ['h'], {}, { outputs: ['a'], name: 'relu' });
    b.node('Gemm', ['a', 'fc2.weight', 'fc2.bias'], { transB: 1 }, { outputs: ['y'], name: 'fc2' });
    b.output('y', 'float32', ['rows', 24]);
    const model: OnnxModel = { proto: b.build() };
    const r = await pruneStructured(model, { target: 'mlp', sparsity: 0.5, score: 'l1' });
    expect([dimsOf(r.model, 'fc1.weight'), dimsOf(r.model, 'fc1.bias'), dimsOf(r.model, 'fc2.weight')]).toEqual([[20, 24], [20], [24, 20]]);
    const x = seeded(8 * 24, 9, 2);
    const pruned = await runOnce(serializeModel(r.model), 'x', x, [8, 24]);
    expect(maxAbsDiff(pruned, await runOnce(serializeModel(zeroedMlpUnits(model, r)), 'x', x, [8, 24]))).toBeLessThan(TOL);
  });

  it('global scope ranks all units together; multipleOf keeps widths multiples of 8; every layer keeps ≥ 1 unit', async () => {
    const vit = await readModel(VIT);
    const g = await pruneStructured(vit, { target: 'mlp', sparsity: 0.6, scope: 'global' });
    const kept = g.layers.map((l) => l.kept.length);
    expect(kept.reduce((a, b) => a + b, 0)).toBe(512 - Math.floor(0.6 * 512));
    expect(new Set(kept).size).toBeGreaterThan(1);
    const m8 = await pruneStructured(vit, { target: 'mlp', sparsity: 0.6, scope: 'global', multipleOf: 8 });
    for (const l of m8.layers) expect(l.kept.length % 8).toBe(0);
    const extreme = await pruneStructured(vit, { target: 'mlp', sparsity: 0.999, scope: 'global' });
    for (const l of extreme.layers) expect(l.kept.length).toBeGreaterThanOrEqual(1);
    expect(maxAbsDiff((await logits(extreme.model)).data as Float32Array, (await logits(zeroedMlpUnits(vit, extreme))).data as Float32Array)).toBeLessThan(TOL);
  });

  it("score 'activation' keeps the units with the largest mean |activation| over the calibration digits", async () => {
    const vit = await readModel(VIT);
    const calibration = mnist({ split: 'train', batchSize: 32 }).take(64);
    const r = await pruneStructured(vit, { target: 'mlp', sparsity: 0.5, score: 'activation', calibration });
    // Independent measurement: tap the first block's GELU output and average |x| per unit.
    const mlp = findMlps(GraphView.of(vit.proto))[0];
    const session = await createSession(vit, { taps: [mlp.fc2.input], reuse: false });
    const act = (await runBatched(session, calibration, { fetch: [mlp.fc2.input] }))[mlp.fc2.input];
    await session.dispose();
    const data = act.data as Float32Array;
    const mean = new Float64Array(128);
    for (let i = 0; i < data.length; i++) mean[i % 128] += Math.abs(data[i]);
    const top = Array.from(mean.keys()).sort((a, b) => mean[b] - mean[a]).slice(0, 64).sort((a, b) => a - b);
    expect(r.layers[0].kept).toEqual(top);
    const byNorm = await pruneStructured(vit, { target: 'mlp', sparsity: 0.5 });
    expect(byNorm.layers[0].kept).not.toEqual(top);
  });
});

describe('prune.structured: attention heads', () => {
  it('removes 2 of 4 heads per block of the MNIST ViT: q/k/v/out sliced, reshape shapes updated, same logits as zeroing them', async () => {
    const vit = await readModel(VIT);
    const r = await pruneStructured(vit, { target: 'heads', sparsity: 0.5 });
    const blocks = findAttention(GraphView.of(vit.proto));
    for (const a of blocks) {
      for (const m of [a.q, a.k, a.v]) expect(dimsOf(r.model, m.weight)).toEqual([64, 32]);
      expect(dimsOf(r.model, a.out.weight)).toEqual([32, 64]);
    }
    expect(findAttention(GraphView.of(r.model.proto)).map((a) => [a.numHeads, a.headDim, a.scale])).toEqual(blocks.map(() => [2, 16, 0.25]));
    const pruned = (await logits(r.model)).data as Float32Array;
    expect(maxAbsDiff(pruned, (await logits(zeroedHeads(vit, r))).data as Float32Array)).toBeLessThan(TOL);
    expect(maxAbsDiff(pruned, (await logits(vit)).data as Float32Array)).toBeGreaterThan(1e-2);
    // Global scope: blocks keep different head counts although our export shares one Reshape shape constant between them.
    const global = await pruneStructured(vit, { target: 'heads', sparsity: 0.5, scope: 'global' });
    expect(new Set(global.layers.map((l) => l.kept.length)).size).toBeGreaterThan(1);
    expect(maxAbsDiff((await logits(global.model)).data as Float32Array, (await logits(zeroedHeads(vit, global))).data as Float32Array)).toBeLessThan(TOL);
  });

  it('prunes heads of the PyTorch export (packed in_proj, shapes computed at run time) and matches zeroing', async () => {
    const torch = await readModel(TORCH_VIT);
    const r = await pruneStructured(torch, { target: 'heads', sparsity: 0.25 });
    const blocks = findAttention(GraphView.of(torch.proto));
    expect(blocks[0].packed).toBe(true);
    for (const a of blocks) {
      expect(dimsOf(r.model, a.q.weight)).toEqual([64, 3 * 48]);
      expect(dimsOf(r.model, a.out.weight)).toEqual([64, 48]); // Gemm transB=1: [out, in]
    }
    const pruned = await torchLogits(r.model);
    expect(maxAbsDiff(pruned, await torchLogits(zeroedHeads(torch, r)))).toBeLessThan(TOL);
    expect(maxAbsDiff(pruned, torchReference().logits.data)).toBeGreaterThan(1e-3);
    // Global scope: blocks may keep different head counts (each block's run-time head count is rewritten on its own).
    const global = await pruneStructured(torch, { target: 'heads', sparsity: 0.5, scope: 'global', score: 'l1' });
    expect(global.layers.reduce((n, l) => n + l.kept.length, 0)).toBe(4);
    expect(maxAbsDiff(await torchLogits(global.model), await torchLogits(zeroedHeads(torch, global)))).toBeLessThan(TOL);
    // Unpruned (sparsity 0) the fixture still reproduces torch's own logits.
    const same = await pruneStructured(torch, { target: 'heads', sparsity: 0 });
    expect(maxAbsDiff(await torchLogits(same.model), torchReference().logits.data)).toBeLessThan(1e-4);
  });

  it("score 'activation' keeps the heads with the largest mean output norm; global scope keeps ≥ 1 head per block", async () => {
    const vit = await readModel(VIT);
    const calibration = mnist({ split: 'train', batchSize: 32 }).take(32);
    const r = await pruneStructured(vit, { target: 'heads', sparsity: 0.5, score: 'activation', calibration });
    const a = findAttention(GraphView.of(vit.proto))[1];
    const session = await createSession(vit, { taps: [a.out.input], reuse: false });
    const ctxData = (await runBatched(session, calibration, { fetch: [a.out.input] }))[a.out.input].data as Float32Array;
    await session.dispose();
    const norms = new Float64Array(4);
    for (let r0 = 0; r0 < ctxData.length; r0 += 64) {
      for (let h = 0; h < 4; h++) norms[h] += Math.hypot(...ctxData.subarray(r0 + h * 16, r0 + h * 16 + 16));
    }
    const top = [0, 1, 2, 3].sort((x, y) => norms[y] - norms[x]).slice(0, 2).sort();
    expect(r.layers[1].kept).toEqual(top);
    const global = await pruneStructured(vit, { target: 'heads', sparsity: 0.75, scope: 'global' });
    expect(global.layers.reduce((n, l) => n + l.kept.length, 0)).toBe(16 - 12);
    for (const l of global.layers) expect(l.kept.length).toBe(1);
    expect(maxAbsDiff((await logits(global.model)).data as Float32Array, (await logits(zeroedHeads(vit, global))).data as Float32Array)).toBeLessThan(TOL);
  });
});

describe('prune.structured: onnxruntime-web', () => {
  it('the ViT with half its heads and MLP units removed runs in onnxruntime-web (wasm) with onnxruntime-node\'s logits', async () => {
    const web = require('onnxruntime-web') as typeof import('onnxruntime-web');
    const heads = await pruneStructured(await readModel(VIT), { target: 'heads', sparsity: 0.5 });
    const bytes = serializeModel((await pruneStructured(heads.model, { target: 'mlp', sparsity: 0.5, multipleOf: 8 })).model);
    const pixels = seeded(2 * 784, 41, 1);
    const session = await web.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    try {
      const out = await session.run({ pixel_values: new web.Tensor('float32', pixels, [2, 1, 28, 28]) });
      expect(maxAbsDiff(out[session.outputNames[0]].data as Float32Array, await runOnce(bytes, 'pixel_values', pixels, [2, 1, 28, 28]))).toBeLessThan(TOL);
    } finally {
      await session.release();
    }
  });
});

describe('prune.structured: CLIP (both towers, causal text attention)', () => {
  it('chains heads then MLP pruning, data-driven on image–caption pairs; embeddings equal zeroing both in the float model', async () => {
    const clip = await readModel(CLIP);
    const pairs = shapes({ split: 'test', batchSize: 16 }).take(32);
    const calibration = shapes({ split: 'train', batchSize: 16 }).take(32);
    const heads = await pruneStructured(clip, { target: 'heads', sparsity: 0.5, score: 'activation', calibration });
    expect(heads.layers.map((l) => l.name)).toEqual(['/vision/layers/0/attn', '/vision/layers/1/attn', '/vision/layers/2/attn', '/text/layers/0/attn', '/text/layers/1/attn']);
    const both = await pruneStructured(heads.model, { target: 'mlp', sparsity: 0.5, multipleOf: 8 });
    const pruned = await outputs(both.model, pairs);
    const reference = await outputs(zeroedMlpUnits(zeroedHeads(clip, heads), both), pairs);
    for (const name of ['image_embeds', 'text_embeds']) {
      expect(pruned[name].dims).toEqual(reference[name].dims);
      expect(maxAbsDiff(pruned[name].data as Float32Array, reference[name].data as Float32Array)).toBeLessThan(TOL);
    }
  });
});

describe('prune.structured: options and pipeline', () => {
  const bad = async (o: PruneStructuredOptions) => {
    const e = await pruneStructured(await readModel(VIT), o).catch((x: unknown) => x);
    expect(isMmkitError(e, 'BAD_OPTION')).toBe(true);
    return (e as Error).message;
  };

  it('rejects bad options with BAD_OPTION naming the layer or value', async () => {
    expect(await bad({ target: 'mlp', sparsity: 1 })).toMatch(/sparsity must be a fraction in \[0, 1\), got 1/);
    expect(await bad({ target: 'mlp', sparsity: 0.5, exclude: { layers: [4] } })).toMatch(/layer 4.*4 MLP blocks.*'\/vision\/layers\/3\/mlp'/);
    expect(await bad({ target: 'heads', sparsity: 0.5, exclude: { nodes: ['/vision/layers/0/mlp/fc1/MatMul'] } })).toMatch(/'\/vision\/layers\/0\/mlp\/fc1\/MatMul', which is no linear node/);
    expect(await bad({ target: 'heads', sparsity: 0.5, multipleOf: 64 })).toMatch(/multipleOf 64 leaves nothing to remove in layer '\/vision\/layers\/0\/attn'/);
    expect(await bad({ target: 'mlp', sparsity: 0.5, score: 'activation' })).toMatch(/calibration must be a Dataset/);
    expect(await bad({ target: 'neurons' as 'mlp', sparsity: 0.5 })).toMatch(/target "neurons"/);
  });

  it('multipleOf rounds kept head widths up (headDim 16, multipleOf 32: an even head count); progress is reported, cancellation honoured', async () => {
    const vit = await readModel(VIT);
    const progress: number[] = [];
    const r = await pruneStructured(vit, { target: 'heads', sparsity: 0.75, multipleOf: 32 }, undefined, { onProgress: (done) => progress.push(done) });
    expect(r.layers.map((l) => l.kept.length)).toEqual([2, 2, 2, 2]);
    expect(progress).toEqual([1, 2, 3, 4]);
    const controller = new AbortController();
    controller.abort();
    const e = await pruneStructured(vit, { target: 'mlp', sparsity: 0.5 }, undefined, { signal: controller.signal }).catch((x: unknown) => x);
    expect(isMmkitError(e, 'CANCELLED')).toBe(true);
  });

  it('exclusions leave blocks whole and are reported', async () => {
    const vit = await readModel(VIT);
    const r = await pruneStructured(vit, { target: 'mlp', sparsity: 0.5, exclude: { layers: [0], nodes: ['/vision/layers/3/mlp/fc2/MatMul'] } });
    expect(r.layers.map((l) => l.index)).toEqual([1, 2]);
    expect(dimsOf(r.model, findMlps(GraphView.of(vit.proto))[0].fc1.weight)).toEqual([64, 128]);
    expect(r.report.warnings).toEqual([expect.stringMatching(/Layer 0 '\/vision\/layers\/0\/mlp' left whole/), expect.stringMatching(/Layer 3/)]);
  });

  it('runs as a pipeline step with a calibration Dataset: the recipe records its ref, reports() returns the report', async () => {
    const calibration = mm.datasets.mnist({ split: 'train' }).take(32);
    const p = mm.load(VIT).step(PRUNE_STRUCTURED_OP, { target: 'mlp', sparsity: 0.5, score: 'activation', calibration });
    const step = p.recipe.steps.at(-1)!;
    expect(step.options).toMatchObject({ target: 'mlp', scope: 'layer', score: 'activation', multipleOf: 1, calibration: { dataset: { size: 32 } } });
    const [report] = await p.reports();
    // The recipe replays (rebuilding the calibration digits from their spec) to the same bytes.
    const again = serializeModel(await mm.fromRecipe(JSON.stringify(p.recipe)).model());
    expect(Buffer.from(again).equals(Buffer.from(serializeModel(await p.model())))).toBe(true);
    expect(report.table!.rows.map((row) => row[3])).toEqual([64, 64, 64, 64]);
    // Pruned without recovery the ViT still classifies most held-out digits.
    const r = await evaluateModel(await p.model(), mnist({ split: 'test', batchSize: 250 }).take(500));
    expect(r.model.accuracy!.top1).toBeGreaterThan(0.5);
  });
});

describe('prune.structured where other exporters keep weights', () => {
  it('finds and prunes an MLP block whose weights are kept in Constant nodes (MatMul → ReLU → Gemm)', async () => {
    const { model } = buildConstantNet();
    const { model: pruned, layers } = await pruneStructured({ proto: model }, { target: 'mlp', sparsity: 0.5 });
    expect(layers.map((l) => [l.units, l.kept.length])).toEqual([[64, 32]]);
    const view = GraphView.of(pruned.proto);
    expect(tensorDims(view.initializer('fc1.weight')!)).toEqual([32, 32]);
    expect(tensorDims(view.initializer('fc2.weight')!)).toEqual([64, 32]);
    const y = await runOnce(serializeModel(pruned.proto), 'x', new Float32Array(2 * 256).fill(0.5), [2, 4, 8, 8]);
    expect(y).toHaveLength(2 * 64);
    expect(y.every(Number.isFinite)).toBe(true);
  });
});

describe('prune.structured: MLP chains of Gemm, MatMul + Add and 1×1 Conv, any elementwise activation', () => {
  /** The float model with the units each pruned group lost zeroed instead (its producer outputs and biases, its consumer inputs). */
  function zeroedGroups(model: OnnxModel, r: PruneStructuredResult): OnnxModel {
    const groups = findPruneGroups(GraphView.of(model.proto), 'mlp');
    return zeroed(
      model,
      r.layers.flatMap((l) => {
        const gone = complement(l.units, l.kept);
        return [{ m: groups[l.index].producers[0], outputs: gone }, { m: groups[l.index].consumer, inputs: gone }];
      }),
    );
  }

  it('a squeeze-excite block (1×1 Conv → ReLU → 1×1 Conv → HardSigmoid) and a pointwise HardSwish MLP: 4-D weights sliced, same output as zeroing', async () => {
    const b = new ModelBuilder({ name: 'cnn', opset: 17 });
    b.input('x', 'float32', [2, 3, 8, 8]);
    const conv = (x: string, cin: number, cout: number, k: number, seed: number, name: string) => {
      const w = b.initializer(`${name}.weight`, 'float32', [cout, cin, k, k], seeded(cout * cin * k * k, seed, 0.5));
      const bias = b.initializer(`${name}.bias`, 'float32', [cout], seeded(cout, seed + 1, 0.2));
      return b.node('Conv', [x, w, bias], k > 1 ? { pads: [1, 1, 1, 1] } : {}, { name: `/${name}/Conv` })[0];
    };
    const f = b.op('Relu', [conv('x', 3, 16, 3, 1, 'stem')]);
    const squeeze = b.op('Relu', [conv(b.op('GlobalAveragePool', [f]), 16, 8, 1, 3, 'se/fc1')]);
    const excite = b.op('HardSigmoid', [conv(squeeze, 8, 16, 1, 5, 'se/fc2')]);
    const g = b.op('Mul', [f, excite]);
    const hidden = b.op('HardSwish', [conv(g, 16, 32, 1, 7, 'pw/fc1')]);
    b.node('Add', [g, conv(hidden, 32, 16, 1, 9, 'pw/fc2')], {}, { outputs: ['y'] });
    b.output('y', 'float32', [2, 16, 8, 8]);
    const model: OnnxModel = { proto: b.build() };
    const r = await pruneStructured(model, { target: 'mlp', sparsity: 0.5 });
    expect(r.layers.map((l) => [l.name, l.units, l.kept.length])).toEqual([['/se', 8, 4], ['/pw', 32, 16]]);
    expect([dimsOf(r.model, 'se/fc1.weight'), dimsOf(r.model, 'se/fc1.bias'), dimsOf(r.model, 'se/fc2.weight')]).toEqual([[4, 16, 1, 1], [4], [16, 4, 1, 1]]);
    expect(dimsOf(r.model, 'pw/fc2.weight')).toEqual([16, 16, 1, 1]);
    const x = seeded(2 * 3 * 64, 11, 1);
    const pruned = await runOnce(serializeModel(r.model), 'x', x, [2, 3, 8, 8]);
    expect(maxAbsDiff(pruned, await runOnce(serializeModel(zeroedGroups(model, r)), 'x', x, [2, 3, 8, 8]))).toBeLessThan(TOL);
    // Activation scores read the units along the channel axis of the NCHW value.
    const calibration = Dataset.fromTensors({ x: { data: seeded(8 * 3 * 64, 12, 1), dims: [8, 3, 8, 8], dtype: 'float32' } }, undefined, { name: 'noise', batchSize: 2 });
    const byAct = await pruneStructured(model, { target: 'mlp', sparsity: 0.5, score: 'activation', calibration });
    const tap = findPruneGroups(GraphView.of(model.proto), 'mlp')[1].unitValue;
    const session = await createSession(model, { taps: [tap], reuse: false });
    const data = (await runBatched(session, calibration, { fetch: [tap] }))[tap].data as Float32Array;
    await session.dispose();
    const mean = new Float64Array(32);
    for (let i = 0; i < data.length; i++) mean[Math.floor(i / 64) % 32] += Math.abs(data[i]);
    expect(byAct.layers[1].kept).toEqual(Array.from(mean.keys()).sort((a, c) => mean[c] - mean[a]).slice(0, 16).sort((a, c) => a - c));
  });

  it('MatMul + Add → Swish (x·σ(x)) → MatMul + Add and Gemm → LeakyRelu → Gemm: both found, same output as zeroing', async () => {
    const b = new ModelBuilder({ name: 'chains' });
    b.input('x', 'float32', ['rows', 24]);
    const h = b.linear('x', 24, 48, seeded(24 * 48, 1), seeded(48, 2), 'swish_fc1');
    const swish = b.op('Mul', [h, b.op('Sigmoid', [h])]);
    const s = b.linear(swish, 48, 24, seeded(48 * 24, 3), seeded(24, 4), 'swish_fc2');
    b.initializer('g1.w', 'float32', [40, 24], seeded(40 * 24, 5));
    b.initializer('g2.w', 'float32', [24, 40], seeded(24 * 40, 6));
    const a = b.op('LeakyRelu', [b.node('Gemm', [s, 'g1.w'], { transB: 1 }, { name: '/gemm/fc1' })[0]], { alpha: { f: 0.1 } });
    b.node('Gemm', [a, 'g2.w'], { transB: 1 }, { name: '/gemm/fc2', outputs: ['y'] });
    b.output('y', 'float32', ['rows', 24]);
    const model: OnnxModel = { proto: b.build() };
    const r = await pruneStructured(model, { target: 'mlp', sparsity: 0.25, score: 'l1' });
    expect(r.layers.map((l) => [l.units, l.kept.length])).toEqual([[48, 36], [40, 30]]);
    const x = seeded(8 * 24, 9, 2);
    const pruned = await runOnce(serializeModel(r.model), 'x', x, [8, 24]);
    expect(maxAbsDiff(pruned, await runOnce(serializeModel(zeroedGroups(model, r)), 'x', x, [8, 24]))).toBeLessThan(TOL);
  });
});

describe('prune.structured: when the target is not there, the error says what the model has and the hint only names what works', () => {
  const error = async (model: OnnxModel, target: 'mlp' | 'heads') =>
    pruneStructured(model, { target, sparsity: 0.5 }).then(
      () => ({ message: 'no error', hint: '' }),
      (e: { message: string; hint: string }) => e,
    );

  it("attention without an MLP: target 'mlp' points to 'heads', and 'heads' works", async () => {
    const block = buildEncoderBlock();
    const attention = extractModel({ proto: block.model }, { inputs: ['x'], outputs: ['/attn_out/Add_output_0'] });
    const e = await error(attention, 'mlp');
    console.log(e.message, '\n', e.hint);
    expect(e.message).toMatch(/found 0 MLP blocks \(linear → elementwise activation → linear.*\) in the model; its linears: 4 MatMul\/Gemm with an initializer weight, 2 MatMul\/Gemm: weight computed at run time\./);
    expect(e.hint).toMatch(/^Prune heads instead \(target: 'heads'; it has 1 attention blocks\), or zero single weights with prune\(\{ sparsity \}\)/);
    expect((await pruneStructured(attention, { target: 'heads', sparsity: 0.5 })).layers).toHaveLength(1);
  });

  it("an MLP without attention: target 'heads' points to 'mlp' only", async () => {
    const e = await error({ proto: buildMlp().model }, 'heads');
    expect(e.message).toMatch(/found 0 attention blocks .* its linears: 2 MatMul\/Gemm with an initializer weight\./);
    expect(e.hint).toMatch(/^Prune MLP units instead \(target: 'mlp'; it has 1 MLP blocks\)/);
  });

  it("neither pattern: no target is suggested; with no weight at all, not pruning either", async () => {
    const b = new ModelBuilder();
    b.input('x', 'float32', [1, 3, 8, 8]);
    b.node('Conv', [b.op('Relu', [b.op('Conv', ['x', b.initializer('w1', 'float32', [4, 3, 3, 3], seeded(108, 1))])]), b.initializer('w2', 'float32', [4, 4, 3, 3], seeded(144, 2))], {}, { outputs: ['y'] });
    b.output('y', 'float32', [1, 4, 4, 4]);
    for (const target of ['mlp', 'heads'] as const) {
      const e = await error({ proto: b.build() }, target);
      expect(e.message).toMatch(/its linears: 2 other Conv\. /);
      expect(e.hint).toBe('Zero single weights with prune({ sparsity }) (no target; 2 MatMul/Gemm/Conv layers).');
    }
    const bare = new ModelBuilder();
    bare.input('x', 'float32', [4, 4]);
    bare.node('MatMul', ['x', 'x'], {}, { outputs: ['y'] });
    bare.output('y', 'float32', [4, 4]);
    const e = await error({ proto: bare.build() }, 'mlp');
    expect(e.message).toMatch(/its linears: 1 MatMul\/Gemm: weight computed at run time\. /);
    expect(e.hint).toMatch(/No prune variant applies.*quantize\(\{ mode: 'fp16' \}\)/);
    expect(e.hint).not.toMatch(/target/);
  });
});
