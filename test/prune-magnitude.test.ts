/**
 * prune.magnitude on the shipped MNIST ViT and the PyTorch-exported fixture: exact realized
 * sparsity, the N:M pattern group by group, exclusions, and onnxruntime outputs equal to a float
 * model whose weights the test zeroes itself (by sorting, independently of the pass's radix select).
 */
import { describe, expect, it } from 'vitest';
import { mm, isMmkitError } from '../sdk';
import { mnist, type TensorData } from '../sdk/data';
import { evaluateModel } from '../sdk/eval';
import { GraphView, editModel, findConvs, findLinears, makeTensor, readModel, serializeModel, tensorArray, tensorDims, type OnnxModel } from '../sdk/onnx';
import { createSession, runBatched } from '../sdk/runtime';
import { PRUNE_MAGNITUDE_OP, PRUNE_MIN_ELEMENTS, normalizePruneMagnitudeOptions, pruneMagnitude, type PruneMagnitudeOptions } from '../sdk/passes/prune/magnitude';
import { keepMask, prunedWeightMasks, zeroMask } from '../sdk/train/prune-masks';
import { maxAbsDiff, runOnce, torchReference, TORCH_VIT } from './helpers/onnx-models';
import { buildConstantNet, buildIfNet, ifNetCosine } from './helpers/weight-models';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';

function weightOf(model: OnnxModel, name: string): Float32Array {
  return tensorArray(GraphView.of(model.proto).initializer(name)!, model) as Float32Array;
}

/** The float model with, in each named weight, the `count` smallest |w| set to 0 (ties: lower index first). */
function zeroedBySort(model: OnnxModel, counts: Map<string, number>): OnnxModel {
  const view = GraphView.of(model.proto);
  const proto = editModel(model.proto, (e) => {
    for (const [name, count] of counts) {
      const w = Float32Array.from(weightOf(model, name));
      const order = Array.from(w.keys()).sort((a, b) => Math.abs(w[a]) - Math.abs(w[b]) || a - b);
      for (const i of order.slice(0, count)) w[i] = 0;
      e.replaceInitializer(name, makeTensor(name, 'float32', tensorDims(view.initializer(name)!), w));
    }
  });
  return { ...model, proto };
}

const digits = mnist({ split: 'test', batchSize: 32 }).take(64);

async function logits(model: OnnxModel): Promise<TensorData> {
  const session = await createSession(model, { reuse: false });
  try {
    return (await runBatched(session, digits))[session.outputNames[0]];
  } finally {
    await session.dispose();
  }
}

const zerosIn = (w: Float32Array) => w.reduce((n, x) => n + (x === 0 ? 1 : 0), 0);

/** Largest |w| among the original weights the pass zeroed, smallest among those it kept. */
function magnitudeSplit(original: Float32Array, pruned: Float32Array): { zeroedMax: number; keptMin: number } {
  let zeroedMax = 0;
  let keptMin = Infinity;
  pruned.forEach((x, i) => {
    if (x === 0) zeroedMax = Math.max(zeroedMax, Math.abs(original[i]));
    else keptMin = Math.min(keptMin, Math.abs(original[i]));
  });
  return { zeroedMax, keptMin };
}

describe('prune.magnitude: unstructured', () => {
  it('layer scope zeroes exactly half of every selected weight, the smallest |w|; onnxruntime matches a sort-zeroed float model', async () => {
    const vit = await readModel(VIT);
    const r = pruneMagnitude(vit, { sparsity: 0.5 });
    // 24 attention/MLP weights; the 64×10 head (640) and the 7×7 patch Conv (3136) are under minElements 4096.
    expect(r.layers).toHaveLength(24);
    expect(r.skipped.map((x) => [x.weight, x.reason])).toEqual([
      ['classifier.weight', 'under minElements'],
      ['vision.patch_embed.weight', 'under minElements'],
    ]);
    for (const l of r.layers) {
      const pruned = weightOf(r.model, l.weight);
      expect(l.zeros).toBe(l.elements / 2);
      expect(zerosIn(pruned)).toBe(l.elements / 2);
      const { zeroedMax, keptMin } = magnitudeSplit(weightOf(vit, l.weight), pruned);
      expect(zeroedMax).toBeLessThanOrEqual(keptMin);
      // The input model is left as it was.
      expect(zerosIn(weightOf(vit, l.weight))).toBe(0);
    }
    expect(r.report.data).toEqual({ sparsity: 0.5, zeros: 65536, total: 131072, layers: 24, skipped: 2, pattern: 'unstructured', scope: 'layer' });
    const reference = zeroedBySort(vit, new Map(r.layers.map((l) => [l.weight, l.elements / 2])));
    const pruned = (await logits(r.model)).data as Float32Array;
    expect(maxAbsDiff(pruned, (await logits(reference)).data as Float32Array)).toBe(0);
    expect(maxAbsDiff(pruned, (await logits(vit)).data as Float32Array)).toBeGreaterThan(1e-2);
  });

  it('50% unstructured on vit-tiny-mnist costs little top-1 on the 1,996 MNIST test digits', async () => {
    const vit = await readModel(VIT);
    const r = pruneMagnitude(vit, { sparsity: 0.5 });
    const e = await evaluateModel(r.model, mnist({ split: 'test', batchSize: 500 }), { baseline: vit });
    const drop = 100 * (e.baseline!.accuracy!.top1 - e.model.accuracy!.top1);
    console.log(`vit-tiny-mnist 50% unstructured (layer): top-1 ${(100 * e.baseline!.accuracy!.top1).toFixed(2)}% → ${(100 * e.model.accuracy!.top1).toFixed(2)}% (drop ${drop.toFixed(2)} pt), agreement ${(100 * e.agreement!.top1).toFixed(2)}%`);
    expect(e.items).toBe(1996);
    expect(e.baseline!.accuracy!.top1).toBeCloseTo(0.9795, 3);
    expect(drop).toBeLessThan(0.5); // measured 0.15 pt
  });

  it('global scope: one |w| threshold across all layers, exactly round(sparsity · total) zeros, uneven per layer', async () => {
    const vit = await readModel(VIT);
    const r = pruneMagnitude(vit, { sparsity: 0.7, scope: 'global', minElements: 0 });
    expect(r.layers).toHaveLength(26);
    const total = r.layers.reduce((n, l) => n + l.elements, 0);
    expect(total).toBe(4 * (4 * 64 * 64 + 2 * 64 * 128) + 64 * 10 + 64 * 49);
    const zeros = r.layers.reduce((n, l) => n + zerosIn(weightOf(r.model, l.weight)), 0);
    expect(zeros).toBe(Math.round(0.7 * total));
    let zeroedMax = 0;
    let keptMin = Infinity;
    for (const l of r.layers) {
      const split = magnitudeSplit(weightOf(vit, l.weight), weightOf(r.model, l.weight));
      zeroedMax = Math.max(zeroedMax, split.zeroedMax);
      keptMin = Math.min(keptMin, split.keptMin);
      expect(l.zeros).toBe(zerosIn(weightOf(r.model, l.weight)));
    }
    expect(zeroedMax).toBeLessThanOrEqual(keptMin);
    const sparsities = r.layers.map((l) => l.sparsity);
    expect(Math.max(...sparsities) - Math.min(...sparsities)).toBeGreaterThan(0.1);
    expect((r.report.data as { sparsity: number }).sparsity).toBeCloseTo(0.7, 5);
    // At 97% the global threshold empties some layers, and the report names them.
    const deep = pruneMagnitude(vit, { sparsity: 0.97, scope: 'global', minElements: 0 });
    const wiped = deep.layers.filter((l) => l.sparsity >= 0.95).map((l) => l.weight);
    expect(wiped.length).toBeGreaterThan(0);
    for (const w of wiped) expect(deep.report.warnings.join(' ')).toContain(`'${w}'`);
  });

  it('excluded layers (by node and by op) keep their very tensors; the report says why', async () => {
    const vit = await readModel(VIT);
    const fc1 = '/vision/layers/0/mlp/fc1/MatMul';
    const r = pruneMagnitude(vit, { sparsity: 0.5, minElements: 0, exclude: { nodes: [fc1], ops: ['Conv'] } });
    const before = GraphView.of(vit.proto);
    const after = GraphView.of(r.model.proto);
    for (const name of ['vision.layers.0.mlp.fc1.weight', 'vision.patch_embed.weight']) expect(after.initializer(name)).toBe(before.initializer(name));
    expect(r.skipped.map((x) => x.weight).sort()).toEqual(['vision.layers.0.mlp.fc1.weight', 'vision.patch_embed.weight']);
    expect(r.layers.map((l) => l.weight)).toContain('classifier.weight');
    const rows = r.report.table!.rows.filter((row) => row[6] !== 'pruned');
    expect(rows.map((row) => row[6])).toEqual(['dense (excluded)', 'dense (excluded)']);
    expect(r.report.lines.some((l) => l.includes('not milliseconds, on onnxruntime CPU'))).toBe(true);
    // ops narrows the selection: only Conv.
    const convOnly = pruneMagnitude(vit, { sparsity: 0.5, minElements: 0, ops: ['Conv'] });
    expect(convOnly.layers.map((l) => l.op)).toEqual(['Conv']);
  });

  it('pruning masks read back from the pruned model (for training with fixed masks)', async () => {
    const vit = await readModel(VIT);
    const r = pruneMagnitude(vit, { sparsity: 0.5 });
    const masks = prunedWeightMasks(r.model);
    expect([...masks.keys()].sort()).toEqual(r.layers.map((l) => l.weight).sort());
    const w = weightOf(r.model, r.layers[0].weight);
    const m = masks.get(r.layers[0].weight)!;
    expect(m.sparsity).toBe(0.5);
    expect(m.zeros).toEqual(zeroMask(w));
    const keep = keepMask(w);
    w.forEach((x, i) => expect(keep[i]).toBe(x === 0 ? 0 : 1));
    expect(prunedWeightMasks(vit).size).toBe(0);
  });
});

/** Indices of element (o, k) for each group of m along k, as the test derives them from the op's layout. */
function groups(op: string, dims: number[], m: number): number[][] {
  const out: number[][] = [];
  const [rows, cols] = [dims[0], dims.slice(1).reduce((a, d) => a * d, 1)];
  if (op === 'MatMul') {
    // [K, N]: K runs down the rows, so each column j is one output's reduction axis.
    for (let j = 0; j < cols; j++) for (let g = 0; g < rows; g += m) out.push(Array.from({ length: Math.min(m, rows - g) }, (_, t) => (g + t) * cols + j));
  } else {
    // Gemm transB=1 [N, K] and Conv [out, in·kh·kw]: K runs along each row.
    for (let o = 0; o < rows; o++) for (let g = 0; g < cols; g += m) out.push(Array.from({ length: Math.min(m, cols - g) }, (_, t) => o * cols + g + t));
  }
  return out;
}

function expectNM(original: Float32Array, pruned: Float32Array, op: string, dims: number[], n: number, m: number): void {
  for (const g of groups(op, dims, m)) {
    const kept = g.filter((i) => pruned[i] !== 0);
    expect(kept.length).toBe(Math.min(n, g.length));
    // Kept values are untouched and no dropped weight is larger than a kept one.
    for (const i of kept) expect(pruned[i]).toBe(original[i]);
    const dropped = g.filter((i) => pruned[i] === 0).map((i) => Math.abs(original[i]));
    expect(Math.max(0, ...dropped)).toBeLessThanOrEqual(Math.min(...kept.map((i) => Math.abs(original[i]))));
  }
}

describe('prune.magnitude: N:M', () => {
  it('2:4 by default, group by group down the columns of MatMul [K, N] weights and along the Conv rows (K 49: last group padded)', async () => {
    const vit = await readModel(VIT);
    const r = pruneMagnitude(vit, { pattern: 'N:M', minElements: 0 });
    expect(normalizePruneMagnitudeOptions({ pattern: 'N:M' })).toMatchObject({ n: 2, m: 4, sparsity: 0.5 });
    expect(r.layers).toHaveLength(26);
    for (const l of r.layers) expectNM(weightOf(vit, l.weight), weightOf(r.model, l.weight), l.op, l.dims, 2, 4);
    // Conv [64, 1, 7, 7]: K = 49 = 12·4 + 1, so each output channel keeps 12·2 + 1 = 25 weights.
    const conv = r.layers.find((l) => l.op === 'Conv')!;
    expect(conv.zeros).toBe(64 * 24);
    expect(r.report.warnings.join(' ')).toMatch(/K is not a multiple of 4 .*'vision.patch_embed.weight' \(K 49\)/);
    expect(r.report.title).toBe('2:4 magnitude pruning');
    // Linears (K 64 or 128) lose exactly half; the Conv 24 of each 49.
    expect(r.report.data).toMatchObject({ pattern: '2:4', zeros: (131072 + 640) / 2 + 64 * 24 });
    expect(r.report.lines.join(' ')).toContain('2:4 sparsity saves no milliseconds on onnxruntime CPU');
    const reference = (await logits(r.model)).data as Float32Array;
    expect(reference.every(Number.isFinite)).toBe(true);
  });

  it('prunes the PyTorch export 1:4 (Gemm transB=1 along rows, MatMul down columns) and it runs like a sort-zeroed copy', async () => {
    const torch = await readModel(TORCH_VIT);
    const r = pruneMagnitude(torch, { pattern: 'N:M', n: 1, m: 4, minElements: 0 });
    const ops = new Set(r.layers.map((l) => l.op));
    expect(ops).toEqual(new Set(['MatMul', 'Gemm', 'Conv']));
    for (const l of r.layers) expectNM(weightOf(torch, l.weight), weightOf(r.model, l.weight), l.op, l.dims, 1, 4);
    const { input, logits: torchLogits } = torchReference();
    const run = (m: OnnxModel) => runOnce(serializeModel(m), 'pixel_values', Float32Array.from(input.data), input.dims);
    const out = await run(r.model);
    expect(out.every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(out, torchLogits.data)).toBeGreaterThan(1e-3);
    // Unstructured on the fixture matches the test's own zeroing exactly.
    const u = pruneMagnitude(torch, { sparsity: 0.3, minElements: 0 });
    expect(u.layers.length).toBe(findLinears(GraphView.of(torch.proto)).length + findConvs(GraphView.of(torch.proto)).length);
    const reference = zeroedBySort(torch, new Map(u.layers.map((l) => [l.weight, Math.round(0.3 * l.elements)])));
    expect(maxAbsDiff(await run(u.model), await run(reference))).toBe(0);
  });
});

describe('prune.magnitude: options and pipeline', () => {
  it('bad options are BAD_OPTION errors that say what to do', async () => {
    const vit = await readModel(VIT);
    const bad: unknown[] = [
      {},
      { sparsity: 1 },
      { sparsity: -0.1 },
      { sparsity: '0.5' },
      { sparsity: 0.5, scope: 'model' },
      { sparsity: 0.75, pattern: '2:4' },
      { pattern: '2:4', n: 3 },
      { pattern: '2:x' },
      { pattern: 'N:M', n: 4, m: 4 },
      { pattern: 'N:M', m: 1 },
      { pattern: 'N:M', sparsity: 0.75 },
      { pattern: 'N:M', scope: 'global' },
      { sparsity: 0.5, n: 2 },
      { sparsity: 0.5, ops: ['Add'] },
      { sparsity: 0.5, ops: [] },
      { sparsity: 0.5, exclude: { ops: ['Gather'] } },
      { sparsity: 0.5, minElements: -1 },
      { sparsity: 0.5, sparisty: 0.5 },
    ];
    for (const o of bad) {
      let error: unknown;
      try {
        pruneMagnitude(vit, o as PruneMagnitudeOptions);
      } catch (e) {
        error = e;
      }
      expect(isMmkitError(error, 'BAD_OPTION'), JSON.stringify(o)).toBe(true);
      expect((error as Error).message).toContain(PRUNE_MAGNITUDE_OP);
    }
    expect(() => pruneMagnitude(vit, { sparsity: 0.5, exclude: { nodes: ['/nope/MatMul'] } })).toThrow(/exclude.nodes names '\/nope\/MatMul'/);
    expect(PRUNE_MIN_ELEMENTS).toBe(4096);
  });

  it("accepts the pattern as users write it ('2:4', '1:4') for pattern 'N:M' with n and m", () => {
    expect(normalizePruneMagnitudeOptions({ pattern: '2:4' })).toEqual(normalizePruneMagnitudeOptions({ pattern: 'N:M', n: 2, m: 4 }));
    expect(normalizePruneMagnitudeOptions({ pattern: '1:4', sparsity: 0.75 })).toMatchObject({ pattern: 'N:M', n: 1, m: 4, sparsity: 0.75 });
  });

  it('runs as a pipeline step: the recipe records full options, reports() carries the per-layer table', async () => {
    const p = mm.load(VIT).step(PRUNE_MAGNITUDE_OP, { sparsity: 0.5, scope: 'global' });
    expect(p.recipe.steps[0]).toEqual({
      op: PRUNE_MAGNITUDE_OP,
      options: { sparsity: 0.5, scope: 'global', pattern: 'unstructured', ops: ['MatMul', 'Gemm', 'Conv'], exclude: { nodes: [], ops: [] }, minElements: 4096 },
    });
    const [report] = await p.reports();
    expect(report.op).toBe(PRUNE_MAGNITUDE_OP);
    expect(report.table!.rows).toHaveLength(26);
    expect((report.data as { sparsity: number }).sparsity).toBe(0.5);
    const replayed = await mm.fromRecipe(p.recipe).model();
    const direct = pruneMagnitude(await readModel(VIT), { sparsity: 0.5, scope: 'global' }).model;
    expect(serializeModel(replayed)).toEqual(serializeModel(direct));
  });
});

describe('prune.magnitude where other exporters keep weights', () => {
  /** The weight tensors of every graph, by name. */
  const weights = (proto: OnnxModel['proto']) => {
    const out = new Map<string, Float32Array>();
    const walk = (g: NonNullable<OnnxModel['proto']['graph']>): void => {
      for (const t of g.initializer) out.set(t.name, tensorArray(t) as Float32Array);
      for (const n of g.node) {
        if (n.opType === 'Constant' && n.attribute[0]?.t) out.set(n.output[0], tensorArray(n.attribute[0].t) as Float32Array);
        for (const a of n.attribute) if (a.g) walk(a.g);
      }
    };
    walk(proto.graph!);
    return out;
  };

  /** Each pruned weight: half its values exactly 0, every other value as it was. */
  const expectHalfZeroed = (before: Map<string, Float32Array>, after: Map<string, Float32Array>, names: string[]) => {
    for (const name of names) {
      const [w0, w1] = [before.get(name)!, after.get(name)!];
      expect(w1.filter((v) => v === 0).length, name).toBe(Math.round(w0.length / 2));
      expect(w1.every((v, i) => v === 0 || v === w0[i]), name).toBe(true);
    }
  };

  it('prunes Conv, MatMul and Gemm weights kept in Constant nodes (one behind an Identity), under their own names', async () => {
    const { model } = buildConstantNet();
    const { model: pruned, layers } = pruneMagnitude({ proto: model }, { sparsity: 0.5, minElements: 0 });
    expect(layers.map((l) => l.weight).sort()).toEqual(['conv.weight', 'fc1.weight', 'fc2.weight']);
    expectHalfZeroed(weights(model), weights(pruned.proto), ['conv.weight', 'fc1.weight', 'fc2.weight']);
    const y = await runOnce(serializeModel(pruned.proto), 'x', new Float32Array(2 * 256).fill(0.5), [2, 4, 8, 8]);
    expect(y.every(Number.isFinite)).toBe(true);
  });

  it('prunes inside If branches with one global threshold across all graphs; the outer weights the branches read move into them', async () => {
    const { model } = buildIfNet();
    const { model: pruned, layers, report } = pruneMagnitude({ proto: model }, { sparsity: 0.5, minElements: 0, scope: 'global' });
    expect(layers.map((l) => l.weight).sort()).toEqual(['W_deep', 'W_else', 'W_inner', 'W_outer']);
    expect(layers.reduce((n, l) => n + l.zeros, 0)).toBe((2048 + 2048 + 2048 + 1024) / 2);
    // The pruned copies live in the branches; the float originals left the main graph.
    expect(pruned.proto.graph!.initializer).toEqual([]);
    expect(report.lines[1]).toBe('4 of the pruned weights are inside If subgraphs (4 graphs), rewritten like the main graph.');
    expect(Number.isFinite(await ifNetCosine(model, pruned.proto))).toBe(true); // it runs on every branch path; the weights are checked below
    const layerScope = pruneMagnitude({ proto: model }, { sparsity: 0.5, minElements: 0 }).model;
    expectHalfZeroed(weights(model), weights(layerScope.proto), ['W_deep', 'W_else', 'W_inner', 'W_outer']);
  });

  it('gives back the very input model when no weight is pruned', () => {
    const base: OnnxModel = { proto: buildConstantNet().model };
    expect(pruneMagnitude(base, { sparsity: 0.5, minElements: 1 << 20 }).model).toBe(base);
  });
});
