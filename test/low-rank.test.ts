/**
 * low-rank on real models run by onnxruntime: at full rank the factored model computes what the
 * float model computes; truncated, it keeps MNIST accuracy while the linears shrink; the factors in
 * the saved graph really are W's truncation (checked by multiplying them back); the PyTorch
 * export's Gemm (transB=1) layers keep their layout and bias.
 */
import { describe, expect, it } from 'vitest';
import { mm, isMmkitError } from '../sdk';
import { mnist } from '../sdk/data';
import type { TensorData } from '../sdk/data';
import { agreement, evaluateModel } from '../sdk/eval';
import { GraphView, attrInt, editModel, makeTensor, readModel, serializeModel, tensorArray, tensorDims, type OnnxModel } from '../sdk/onnx';
import { createSession, runBatched } from '../sdk/runtime';
import { mulABt, sumOfSquares, transpose } from '../sdk/linalg';
import { LOW_RANK_OP, lowRank, normalizeLowRankOptions, type LowRankOptions } from '../sdk/passes/low-rank';
import { maxAbsDiff, runOnce, torchReference, TORCH_VIT } from './helpers/onnx-models';
import { allOps, buildConstantNet, buildIfNet, constantNetCosine, ifNetCosine } from './helpers/weight-models';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';
const digits = mnist({ split: 'test', batchSize: 32 }).take(64);
const opCount = (m: OnnxModel, op: string) => GraphView.of(m.proto).nodes.filter((n) => n.opType === op).length;

async function logits(model: OnnxModel): Promise<TensorData> {
  const session = await createSession(model, { reuse: false });
  try {
    const out = await runBatched(session, digits);
    return out[session.outputNames[0]];
  } finally {
    await session.dispose();
  }
}

async function torchLogits(model: OnnxModel): Promise<Float32Array> {
  const { input } = torchReference();
  return runOnce(serializeModel(model), 'pixel_values', Float32Array.from(input.data), input.dims);
}

const weightOf = (model: OnnxModel, name: string) => tensorArray(GraphView.of(model.proto).initializer(name)!, model) as Float32Array;

/** The product A·B of a factored layer's two nodes, as [in, out], read back from the graph. */
function productOf(model: OnnxModel, layer: string): { product: Float64Array; inDim: number; outDim: number } {
  const view = GraphView.of(model.proto);
  const second = view.nodes.find((n) => n.name === layer)!;
  const first = view.producer(second.input[0])!;
  expect(first.opType).toBe('MatMul');
  const a = view.initializer(first.input[1])!;
  const b = view.initializer(second.input[1])!;
  const [inDim, r] = tensorDims(a);
  const outIn = second.opType === 'Gemm' && attrInt(second, 'transB') === 1;
  const outDim = outIn ? tensorDims(b)[0] : tensorDims(b)[1];
  // A·B = A · (B as [out, r])ᵀ
  const bRows = outIn ? weightOf(model, b.name) : transpose(weightOf(model, b.name), r, outDim);
  return { product: mulABt(weightOf(model, a.name), inDim, r, bRows, outDim), inDim, outDim };
}

describe('low-rank on the MNIST ViT', () => {
  it('at full rank (minReduction −2 lets every layer grow) computes the float logits on 64 real digits', async () => {
    const vit = await readModel(VIT);
    const r = await lowRank(vit, { rank: 1000, minReduction: -2 });
    expect(r.layers.every((l) => l.rank === Math.min(l.inDim, l.outDim))).toBe(true);
    expect(opCount(r.model, 'MatMul')).toBe(opCount(vit, 'MatMul') + 25);
    for (const l of r.layers) expect(l.relativeError).toBeLessThan(1e-6);
    const diff = maxAbsDiff((await logits(r.model)).data as Float32Array, (await logits(vit)).data as Float32Array);
    console.log(`full rank: max |logit difference| ${diff.toExponential(2)} on 64 digits`);
    expect(diff).toBeLessThan(2e-4);
    expect(r.report.warnings.length).toBe(25); // every layer grew, and the report says so
  });

  it('energy 0.99: 20 of 25 linears factored, fewer multiply-adds, top-1 on the 1,996 test digits within 1 point of float', async () => {
    const vit = await readModel(VIT);
    const before = serializeModel(vit);
    const r = await lowRank(vit, { energy: 0.99 });
    expect(serializeModel(vit)).toEqual(before); // input not mutated
    const done = r.layers.filter((l) => l.rank !== null);
    expect(done).toHaveLength(20);
    for (const l of done) {
      expect(l.energyKept).toBeGreaterThanOrEqual(0.99);
      expect(l.rank! * (l.inDim + l.outDim)).toBeLessThan(l.inDim * l.outDim); // each factored layer does less work
    }
    // Skipped: layers where keeping 99% needs a rank that saves nothing (and the report says why).
    expect(r.layers.filter((l) => l.skipped).map((l) => l.skipped)).toEqual(expect.arrayContaining([expect.stringMatching(/^energy 0.99 needs a rank above 42/)]));
    const { paramsBefore, paramsAfter } = r.report.data as { paramsBefore: number; paramsAfter: number };
    expect(paramsAfter).toBeLessThan(paramsBefore * 0.95);

    const e = await evaluateModel(r.model, mnist({ split: 'test', batchSize: 500 }), { baseline: vit });
    const drop = 100 * (e.baseline!.accuracy!.top1 - e.model.accuracy!.top1);
    console.log(
      `energy 0.99: linear params ${paramsBefore} → ${paramsAfter} (${((100 * paramsAfter) / paramsBefore).toFixed(1)}%); on ${e.items} digits float top-1 ${(100 * e.baseline!.accuracy!.top1).toFixed(2)}%, ` +
        `low-rank ${(100 * e.model.accuracy!.top1).toFixed(2)}% (drop ${drop.toFixed(2)} pt); agreement ${(100 * e.agreement!.top1).toFixed(2)}%, cosine ${e.agreement!.cosineMean.toFixed(5)}`,
    );
    expect(e.items).toBe(1996);
    expect(drop).toBeLessThanOrEqual(1);
    expect(e.agreement!.cosineMean).toBeGreaterThan(0.99);
  });

  it('rank 0.25: the graph holds the SVD truncation of each weight (error as reported), and onnxruntime runs it', async () => {
    const vit = await readModel(VIT);
    const r = await lowRank(vit, { rank: 0.25 });
    const view = GraphView.of(vit.proto);
    for (const l of r.layers.filter((x) => x.rank !== null)) {
      expect(l.rank).toBe(l.name === '/classifier/MatMul' ? 3 : 16); // round(0.25 × min(in, out))
      const w = weightOf(vit, view.nodes.find((n) => n.name === l.name)!.input[1]);
      const { product } = productOf(r.model, l.name);
      let err = 0;
      for (let i = 0; i < w.length; i++) err += (w[i] - product[i]) ** 2;
      expect(Math.abs(Math.sqrt(err / sumOfSquares(w)) - l.relativeError!)).toBeLessThan(1e-4);
    }
    const out = await logits(r.model);
    expect(out.dims).toEqual([64, 10]);
    const a = agreement((await logits(vit)).data as Float32Array, out.data as Float32Array, 10);
    // A quarter rank keeps ~92% of a block weight's energy but only 43% of the 10-class head's (rank 3):
    // without recovery (distill / fineTune) or excluding the head, the logits drift far.
    console.log(`rank 0.25: agreement with float on 64 digits ${(100 * a.top1).toFixed(1)}%, cosine ${a.cosineMean.toFixed(4)}`);
    expect((out.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('exclusions by node and op type, ops, and minReduction choose the layers', async () => {
    const vit = await readModel(VIT);
    const fc1 = '/vision/layers/0/mlp/fc1/MatMul';
    const r = await lowRank(vit, { rank: 8, exclude: { nodes: [fc1] } });
    expect(r.layers.find((l) => l.name === fc1)!.skipped).toBe('excluded');
    expect(r.layers.filter((l) => l.rank !== null)).toHaveLength(24);
    expect(GraphView.of(r.model.proto).nodes.find((n) => n.name === fc1)!.input[1]).toBe(GraphView.of(vit.proto).nodes.find((n) => n.name === fc1)!.input[1]);
    // 64×64 at rank 24 keeps 75% of the work: below a required 30% reduction, only the 64×128 layers (rank 24: 56%) go.
    const strict = await lowRank(vit, { rank: 24, minReduction: 0.3 });
    expect(strict.layers.filter((l) => l.rank !== null).map((l) => l.inDim * l.outDim)).toEqual(Array(8).fill(8192));
    // No Gemm here: excluding MatMul (or factoring only Gemm) leaves the very same model.
    expect((await lowRank(vit, { rank: 8, exclude: { ops: ['MatMul'] } })).model).toBe(vit);
    expect((await lowRank(vit, { rank: 8, ops: ['Gemm'] })).model).toBe(vit);
  });
});

describe('low-rank on the PyTorch fixture', () => {
  it('factors MatMul and Gemm (transB=1) layers: exact at full rank, B keeps the [out, r] layout and the bias', async () => {
    const torch = await readModel(TORCH_VIT);
    const full = await lowRank(torch, { rank: 1000, minReduction: -3 });
    const gemms = full.layers.filter((l) => l.op === 'Gemm');
    expect(gemms.length).toBeGreaterThan(0);
    expect(full.layers.every((l) => l.rank !== null)).toBe(true);
    const view = GraphView.of(full.model.proto);
    for (const g of gemms) {
      const node = view.nodes.find((n) => n.name === g.name)!;
      expect(node.opType).toBe('Gemm');
      expect(attrInt(node, 'transB')).toBe(1);
      expect(tensorDims(view.initializer(node.input[1])!)).toEqual([g.outDim, g.rank]);
      expect(node.input[2]).toBeTruthy();
    }
    const ref = Float32Array.from(torchReference().logits.data);
    const diff = maxAbsDiff(await torchLogits(full.model), await torchLogits(torch));
    console.log(`torch fixture full rank: max |logit difference| ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-3);
    // The fixture's weights are torch's random init (a flat spectrum): half rank changes the logits
    // a lot, so this only checks that the truncated Gemm layers run and give finite logits.
    const half = await lowRank(torch, { rank: 0.5 });
    const halfLogits = await torchLogits(half.model);
    console.log(`torch fixture rank 0.5: ${half.layers.filter((l) => l.rank !== null).length} of ${half.layers.length} factored, cosine to torch ${agreement(ref, halfLogits, 10).cosineMean.toFixed(4)}`);
    expect(half.layers.filter((l) => l.op === 'Gemm' && l.rank !== null).length).toBeGreaterThan(0);
    expect(halfLogits.every(Number.isFinite)).toBe(true);
    expect(halfLogits).toHaveLength(ref.length);
  });
});

describe('low-rank as a pipeline step', () => {
  it('records its full options, runs, and reports per layer', async () => {
    const p = mm.load(VIT).step(LOW_RANK_OP, { energy: 0.95 });
    expect(p.steps.at(-1)).toEqual({
      op: LOW_RANK_OP,
      options: { energy: 0.95, minReduction: 0, exclude: { nodes: [], ops: [] }, ops: ['MatMul', 'Gemm'], oversample: 10, powerIterations: 1, seed: 0 },
    });
    const [report] = await p.reports();
    expect(report.op).toBe(LOW_RANK_OP);
    expect(report.table!.columns).toEqual(['layer', 'in', 'out', 'rank', 'energy kept', 'relative error', 'params before', 'params after', 'note']);
    expect(report.table!.rows).toHaveLength(25);
    const model = await p.model();
    expect(opCount(model, 'MatMul')).toBeGreaterThan(opCount(await readModel(VIT), 'MatMul'));
    // The recorded options normalize to themselves, and a replay of the recipe gives the same bytes (seeded sketch).
    expect(normalizeLowRankOptions(p.steps.at(-1)!.options as LowRankOptions)).toEqual(p.steps.at(-1)!.options);
    expect(serializeModel(await mm.fromRecipe(JSON.parse(JSON.stringify(p.recipe))).model())).toEqual(serializeModel(model));
  });

  it.each<[string, LowRankOptions]>([
    ['neither rank nor energy', {}],
    ['both', { rank: 8, energy: 0.9 }],
    ['rank 0', { rank: 0 }],
    ['rank 1.5', { rank: 1.5 }],
    ['energy 1.2', { energy: 1.2 }],
    ['minReduction 1', { rank: 8, minReduction: 1 }],
    ['an unknown op', { rank: 8, ops: ['Conv' as 'MatMul'] }],
    ['a negative oversample', { rank: 8, oversample: -1 }],
  ])('refuses %s with BAD_OPTION', (_label, options) => {
    let caught: unknown;
    try {
      normalizeLowRankOptions(options);
    } catch (e) {
      caught = e;
    }
    expect(isMmkitError(caught, 'BAD_OPTION')).toBe(true);
  });

  it('reports progress per layer and stops between layers when its signal aborts', async () => {
    const vit = await readModel(VIT);
    const controller = new AbortController();
    const seen: number[] = [];
    let caught: unknown;
    try {
      await lowRank(vit, { rank: 8 }, { signal: controller.signal, onProgress: (done, total) => (seen.push(done), expect(total).toBe(25), done === 3 && controller.abort()) });
    } catch (e) {
      caught = e;
    }
    expect(isMmkitError(caught, 'CANCELLED')).toBe(true);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('names a weight holding NaN', async () => {
    const vit = await readModel(VIT);
    const view = GraphView.of(vit.proto);
    const fc1 = view.nodes.find((n) => n.name === '/vision/layers/1/mlp/fc1/MatMul')!;
    const w = Float32Array.from(weightOf(vit, fc1.input[1]));
    w[5] = NaN;
    const broken = { ...vit, proto: editModel(vit.proto, (e) => e.replaceInitializer(fc1.input[1], makeTensor(fc1.input[1], 'float32', [64, 128], w))) };
    let caught: unknown;
    try {
      await lowRank(broken, { rank: 8 });
    } catch (e) {
      caught = e;
    }
    expect(isMmkitError(caught, 'BAD_MODEL')).toBe(true);
    expect((caught as Error).message).toContain(fc1.input[1]);
  });

  it('names an excluded node the model does not have', async () => {
    const vit = await readModel(VIT);
    let caught: unknown;
    try {
      await lowRank(vit, { rank: 8, exclude: { nodes: ['/vision/layers/0/mlp/fc9/MatMul'] } });
    } catch (e) {
      caught = e;
    }
    expect(isMmkitError(caught, 'BAD_OPTION')).toBe(true);
    expect((caught as Error).message).toContain("'/vision/layers/0/mlp/fc9/MatMul'");
  });
});

describe('low-rank over worker threads', () => {
  it('compiled, it spreads the SVDs over the cores and writes the same bytes as in one thread', async () => {
    const { execFileSync } = await import('node:child_process');
    const { createHash } = await import('node:crypto');
    const sha = (m: OnnxModel) => createHash('sha256').update(serializeModel(m)).digest('hex');
    const inline = await lowRank(await readModel(VIT), { rank: 0.5 });
    // dist/ is what `npm install` builds; there the pool finds its compiled worker script.
    const program = `const { readModel, serializeModel } = require('./dist/sdk/onnx'); const { lowRank } = require('./dist/sdk/passes/low-rank');
      const { SvdPool } = require('./dist/sdk/linalg'); const pool = SvdPool.open(73); console.log(pool.threads); pool.close();
      readModel('${VIT}').then((m) => lowRank(m, { rank: 0.5 })).then((r) => console.log(require('node:crypto').createHash('sha256').update(serializeModel(r.model)).digest('hex')));`;
    const [threads, hash] = execFileSync(process.execPath, ['-e', program], { encoding: 'utf8' }).trim().split('\n');
    expect(Number(threads)).toBeGreaterThan(1);
    expect(hash).toBe(sha(inline.model));
  });
});

describe('low-rank where other exporters keep weights', () => {
  // Near-full rank (minReduction below 0 allows it) so that the factored model must match the float one.
  const faithful: LowRankOptions = { energy: 0.99999, minReduction: -10 };

  it('factors MatMul and Gemm weights kept in Constant nodes (one behind an Identity)', async () => {
    const { model } = buildConstantNet();
    const { model: out, layers } = await lowRank({ proto: model }, faithful);
    expect(layers.filter((l) => l.rank !== null).map((l) => l.name)).toEqual(['fc1', 'fc2']);
    expect(await constantNetCosine(model, out.proto)).toBeGreaterThan(0.9999);
  });

  it('factors the linears inside If branches, nested ones too', async () => {
    const { model } = buildIfNet();
    const { model: out, layers, report } = await lowRank({ proto: model }, faithful);
    expect(layers.filter((l) => l.rank !== null).map((l) => l.name)).toEqual(['then_fc', 'inner_then_fc', 'inner_else_fc', 'else_fc']);
    expect(allOps(out.proto).filter((op) => op === 'MatMul')).toHaveLength(8);
    expect(out.proto.graph!.initializer).toEqual([]);
    expect(report.lines[1]).toBe('4 of the factored layers are inside If subgraphs (4 graphs), rewritten like the main graph.');
    expect(await ifNetCosine(model, out.proto)).toBeGreaterThan(0.9999);
  });

  it('gives back the very input model when no layer is factored', async () => {
    const base: OnnxModel = { proto: buildIfNet().model };
    expect((await lowRank(base, { rank: 0.5, exclude: { ops: ['MatMul'] } })).model).toBe(base);
  });
});
