/**
 * The never-silently-worse check on real models run by real onnxruntime sessions (node and
 * web/wasm): a clean int8 ViT on MNIST digits, and one real case that trips each flag.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCompression, checkStepReport, compressionCheckView, type CompressionCheck } from '../sdk/check';
import { Dataset, mnist } from '../sdk/data';
import { isMmkitError } from '../sdk/errors';
import { ModelBuilder, readModel, writeModel, type OnnxModel } from '../sdk/onnx';
import { normalizeDynamicQuantOptions, quantizeDynamic } from '../sdk/passes/quantize/dynamic';
import { JUPYTER_DISPLAY } from '../sdk/report';
import { buildAudioConv, seeded, TORCH_VIT, torchReference } from './helpers/onnx-models';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';
const dynamic = (o: Parameters<typeof normalizeDynamicQuantOptions>[0]) => normalizeDynamicQuantOptions(o);
const kinds = (c: CompressionCheck) => c.flags.map((f) => f.kind);
const flag = (c: CompressionCheck, kind: string) => c.flags.find((f) => f.kind === kind);

/** x [N, dim] → fc1 → Relu → fc2 → logits [N, classes], with torch-style names ('/fc1/MatMul', '/fc1/Add'). */
function classifier(fc1: Float32Array, fc2: Float32Array, dim = 64, classes = 10): OnnxModel {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('x', 'float32', ['N', dim]);
  const h = b.op('Relu', [b.linear(x, dim, dim, fc1, seeded(dim, 11, 0.1), 'fc1')]);
  const y = b.linear(h, dim, classes, fc2, seeded(classes, 12, 0.1), 'fc2');
  b.output(y, 'float32', ['N', classes]);
  return { proto: b.build() };
}

/** x [N, 4] → sigmoid(x · w + b) [N, 1]: one wake-word-style score per item. */
function scorer(w: number[], b = 0): OnnxModel {
  const m = new ModelBuilder({ opset: 17 });
  const x = m.input('x', 'float32', ['N', 4]);
  const score = m.op('Sigmoid', [m.linear(x, 4, 1, Float32Array.from(w), Float32Array.from([b]), 'head')]);
  m.output(score, 'float32', ['N', 1]);
  return { proto: m.build() };
}

/** 64 items: item 0 is [1.59, 0, 0, 0], the rest have x0 = 0 and seeded x1..x3. */
function scorerData(): Dataset {
  const data = seeded(64 * 4, 31, 1);
  for (let i = 0; i < 64; i++) data[i * 4] = 0;
  data.set([1.59, 0, 0, 0], 0);
  return Dataset.fromTensors({ data, dims: [64, 4], dtype: 'float32' }, undefined, { name: 'scores' });
}

const tmp = mkdtempSync(join(tmpdir(), 'mmkit-check-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('checkCompression', () => {
  it('passes dynamic int8 of vit-tiny-mnist clean on 512 MNIST test digits, in onnxruntime-node and -web', async () => {
    const reference = await readModel(VIT);
    const candidate = quantizeDynamic(reference, dynamic({}));
    // Not timed: whether int8 is faster is the bench's to measure (bench/quantize.ts), not a test's under load.
    const check = await checkCompression(reference, candidate, { data: mnist({ split: 'test' }), maxItems: 512, timeBudgetMs: 600_000, latencyBudgetMs: 0 });
    expect(check.flags).toEqual([]);
    expect(check.ok).toBe(true);
    expect(check.runs.node.ok && check.runs.web.ok).toBe(true);
    expect(check.fidelity!.items).toBe(512);
    expect(check.fidelity!.agreement).toBeGreaterThanOrEqual(0.99);
    expect(check.fidelity!.cosine).toBeGreaterThan(0.999);
    expect(check.size.ratio).toBeLessThan(0.8);
    expect(check.data).toMatch(/^mnist:test, 512 items in batches of 32$/);
  });

  it('passes dynamic int8 of the PyTorch-exported ViT (Gemm out_in weights) clean on its recorded inputs', async () => {
    const reference = await readModel(TORCH_VIT);
    const { input } = torchReference();
    const data = Dataset.fromTensors({ data: Float32Array.from(input.data), dims: input.dims, dtype: 'float32' }, undefined, { name: 'torch fixture inputs' });
    const check = await checkCompression(reference, quantizeDynamic(reference, dynamic({})), { data, latencyBudgetMs: 0 });
    expect(check.flags).toEqual([]);
    expect(check.fidelity!.cosine).toBeGreaterThan(0.999);
    expect(check.data).toBe(`torch fixture inputs, ${input.dims[0]} items in batches of ${input.dims[0]}`);
  });

  it('checks CLIP-tiny (three inputs, four outputs) on synthetic inputs with the sequence length given', async () => {
    const reference = await readModel('datasets/models/clip-tiny-shapes.onnx');
    const check = await checkCompression(reference, quantizeDynamic(reference, dynamic({})), { dims: { sequence: 8 }, maxItems: 32, latencyBudgetMs: 100, timeBudgetMs: 600_000 });
    expect(check.fidelity!.outputs.map((o) => o.output)).toEqual(['logits_per_image', 'logits_per_text', 'text_embeds', 'image_embeds']);
    expect(check.fidelity!.cosine).toBeGreaterThan(0.999);
    expect(check.data).toMatch(/^32 synthetic items .* in batches of 8/);
    expect(kinds(check).filter((k) => k !== 'slower')).toEqual([]);
    // Without the sequence length, a length of 1 (it broadcasts against learned position tables of any length), said in the result.
    const unsized = await checkCompression(reference, quantizeDynamic(reference, dynamic({})), { maxItems: 16, latencyBudgetMs: 0 });
    expect(unsized.data).toContain("'sequence' = 1");
    expect(unsized.runs.node.ok).toBe(true);
  });

  it("flags 'fidelity' for per-tensor int8 of a weight with an outlier column, naming that layer", async () => {
    // One column 200× the others: a per-tensor scale leaves the other 63 columns a few int8 steps.
    const fc1 = seeded(64 * 64, 1, 0.2);
    for (let r = 0; r < 64; r++) fc1[r * 64 + 5] *= 200;
    const fc2 = seeded(64 * 10, 2, 0.3);
    for (let c = 0; c < 10; c++) fc2[5 * 10 + c] /= 200; // the outlier channel does not drown the logits
    const reference = classifier(fc1, fc2);
    const candidate = quantizeDynamic(reference, dynamic({ perChannel: false, minElements: 0 }));
    const check = await checkCompression(reference, candidate, { latencyBudgetMs: 0 });
    const f = flag(check, 'fidelity')!;
    expect(f).toBeDefined();
    expect(check.fidelity!.cosine).toBeLessThan(0.8);
    expect(check.fidelity!.worstLayers[0].node).toBe('/fc1/MatMul');
    expect(f.cause).toContain("the error starts at layer '/fc1/MatMul' (MatMul, output '/fc1/Add_output_0')");
    expect(check.data).toContain('synthetic');
    // Per-channel weight scales fix fc1, but fc1's outlier channel then stretches the per-tensor
    // scale of fc2's input, quantized at run time: the check moves on to fc2, and excluding it is clean.
    const perChannel = await checkCompression(reference, quantizeDynamic(reference, dynamic({ minElements: 0 })), { latencyBudgetMs: 0 });
    expect(kinds(perChannel)).toEqual(['fidelity']);
    expect(perChannel.fidelity!.cosine).toBeLessThan(0.95);
    expect(perChannel.fidelity!.worstLayers[0].node).toBe('/fc2/MatMul');
    const fixed = await checkCompression(reference, quantizeDynamic(reference, dynamic({ minElements: 0, exclude: { nodes: ['/fc2/MatMul'] } })), { latencyBudgetMs: 0 });
    expect(kinds(fixed)).toEqual([]);
    expect(fixed.fidelity!.cosine).toBeGreaterThan(0.999);
  });

  it("flags 'larger' when a weight shared by a quantized and an excluded node keeps its float copy", async () => {
    const b = new ModelBuilder({ opset: 17 });
    b.input('x', 'float32', ['N', 128]);
    b.initializer('shared.weight', 'float32', [128, 128], seeded(128 * 128, 3));
    b.node('MatMul', ['x', 'shared.weight'], {}, { name: 'proj_a', outputs: ['a'] });
    b.node('MatMul', ['a', 'shared.weight'], {}, { name: 'proj_b', outputs: ['y'] });
    b.output('y', 'float32', ['N', 128]);
    const reference = { proto: b.build() };
    const candidate = quantizeDynamic(reference, dynamic({ exclude: { nodes: ['proj_b'] } }));
    const check = await checkCompression(reference, candidate, { latencyBudgetMs: 0 });
    // Only the size: on synthetic inputs the 128-way argmax of a sound int8 copy flips on a few near-ties, which is not judged.
    expect(kinds(check)).toEqual(['larger']);
    const f = flag(check, 'larger')!;
    expect(check.size.ratio).toBeGreaterThan(1.2); // 64 KiB float kept + 16 KiB int8 added
    expect(f.cause).toContain("float weights kept next to their quantized copies: 'shared.weight'");
    expect(f.cause).toContain("(e.g. 'proj_b')");
  });

  it("flags 'not-smaller' when the embedding table, most of the model, is left in float", async () => {
    const b = new ModelBuilder({ opset: 17 });
    b.input('ids', 'int64', ['N', 8]);
    b.initializer('token_embedding', 'float32', [1000, 64], seeded(64000, 14));
    const tokens = b.node('Gather', ['token_embedding', 'ids'], {}, { name: 'embed' })[0];
    const pooled = b.op('ReduceMean', [tokens], { axes: { ints: [1] }, keepdims: { i: 0 } }); // opset 17: axes is an attribute
    b.output(b.linear(pooled, 64, 10, seeded(640, 15), undefined, 'head'), 'float32', ['N', 10]);
    const reference = { proto: b.build() };
    const candidate = quantizeDynamic(reference, dynamic({ embeddings: false }));
    const check = await checkCompression(reference, candidate, { latencyBudgetMs: 0, maxItems: 16 });
    expect(kinds(check)).toEqual(['not-smaller']);
    const cause = flag(check, 'not-smaller')!.cause;
    expect(cause).toContain("embeddings left in float: 'token_embedding', 250.0 KiB read by Gather");
    expect(cause).toContain("weights under minElements (4096) stay float: 'head.weight'");
  });

  it("flags 'slower' when run-time activation quantization dominates (huge activations, 16×16 weights, 'qdq-integer')", async () => {
    const b = new ModelBuilder({ opset: 17 });
    let h = b.input('x', 'float32', ['N', 4096, 16]);
    for (let i = 0; i < 4; i++) h = b.op('Relu', [b.linear(h, 16, 16, seeded(256, 20 + i), undefined, `layer${i}`)]);
    b.output(h, 'float32', ['N', 4096, 16]);
    const reference = { proto: b.build() };
    const candidate = quantizeDynamic(reference, dynamic({ format: 'qdq-integer', minElements: 0 }));
    const check = await checkCompression(reference, candidate, { maxItems: 16, latencyBudgetMs: 200 });
    expect(kinds(check)).toEqual(['slower']);
    expect(check.fidelity!.agreement).toBeNull(); // [N, 4096, 16] is no class score
    const f = flag(check, 'slower')!;
    expect(check.latency!.ratio).toBeGreaterThan(1.05);
    expect(f.cause).toContain('run-time activation quantization overhead: 4 layer(s)');
    expect(f.cause).toContain('Cast churn');
  });

  it("flags 'fails-node' (and 'fails-web') for a float8 GEMM made for GPUs, naming the op", async () => {
    const fc1 = seeded(64 * 64, 4, 0.2);
    const reference = classifier(fc1, seeded(640, 5, 0.3));
    // What an fp8 recipe for Hopper GPUs writes: com.microsoft GemmFloat8, which has only a CUDA kernel.
    const b = new ModelBuilder({ opset: 19 });
    b.input('x', 'float32', ['N', 64]);
    const w = b.node('Cast', [b.initializer('w', 'float32', [64, 10], seeded(640, 5, 0.3))], { to: { i: 17 } }, { name: 'w_fp8' })[0];
    const xs = b.node('Cast', ['x'], { to: { i: 17 } }, { name: 'x_fp8' })[0];
    const one = b.initializer('one', 'float32', [], new Float32Array([1]));
    b.node('GemmFloat8', [xs, w, '', one, one], { dtype: { i: 1 } }, { domain: 'com.microsoft', name: 'fc_fp8', outputs: ['y'] });
    b.output('y', 'float32', ['N', 10]);
    const check = await checkCompression(reference, { proto: b.build() });
    expect(check.runs.node.ok).toBe(false);
    expect(check.runs.node.failure!.stage).toBe('load');
    expect(check.runs.node.failure!.ops).toEqual(['com.microsoft:GemmFloat8']);
    expect(check.runs.node.failure!.node).toBe('fc_fp8');
    expect(flag(check, 'fails-node')!.cause).toContain('onnxruntime-node has no kernel for com.microsoft:GemmFloat8');
    expect(kinds(check)).toContain('fails-web');
    // Nothing to compare or time without a node session; the size is still known.
    expect(check.fidelity).toBeNull();
    expect(check.latency).toBeNull();
    expect(check.size.candidateBytes).toBeGreaterThan(0);
  });

  it("flags 'fails-web' for a model whose weights sit in an external data file, which onnxruntime-web does not read by itself", async () => {
    const reference = classifier(seeded(64 * 64, 6, 0.2), seeded(640, 7, 0.3));
    const quantized = quantizeDynamic(reference, dynamic({ minElements: 0, exclude: { nodes: ['/fc2/MatMul'] } }));
    const file = join(tmp, 'external.onnx');
    await writeModel(quantized, file, { externalData: { threshold: 1024 } });
    const candidate = await readModel(file);
    const check = await checkCompression(reference, candidate, { latencyBudgetMs: 0 });
    expect(check.runs.node.ok).toBe(true);
    expect(kinds(check)).toEqual(['fails-web']);
    expect(flag(check, 'fails-web')!.cause).toMatch(/external data file.*externalData session option/);
    expect(check.fidelity!.cosine).toBeGreaterThan(0.999);
  });

  it("flags a single sigmoid score that moves 0.96 → 0.32, which the per-item cosine cannot see: score drift and decisions at 0.5", async () => {
    const reference = scorer([2, 1, -1, 0.5]);
    // Item 0's logit goes from 3.18 to -0.754 (score 0.960 → 0.320); the other items keep theirs.
    const broken = scorer([-0.474, 1, -1, 0.5]);
    const check = await checkCompression(reference, broken, { data: scorerData(), latencyBudgetMs: 0 });
    const f = check.fidelity!;
    expect(f.cosine).toBeGreaterThan(0.9999); // blind: each item's "row" is one positive value
    expect(f.agreement).toBeNull();
    expect(f.scoreDrift).toBeCloseTo(0.64, 2); // a probability's scale is 1
    expect(f.decisions).toBeCloseTo(63 / 64, 6);
    expect(kinds(check)).toEqual(['fidelity', 'not-smaller']);
    expect(flag(check, 'fidelity')!.message).toMatch(/decisions at 0\.5 agree on 98\.4% \(below 99\.0%\), output cosine 1\.0000, score drift 0\.64\d of the output's scale \(above 0\.1\)/);
    // On made-up inputs the decisions are reported, not judged; the drift is judged.
    const synthetic = await checkCompression(reference, broken, { latencyBudgetMs: 0, web: false });
    expect(synthetic.fidelity!.scoreDrift).toBeGreaterThan(0.1);
    expect(kinds(synthetic)).toContain('fidelity');
    expect(compressionCheckView(synthetic).toText()).toMatch(/decisions at 0\.5 .*not judged on synthetic data/);
    // A sound copy (weights off by 0.1%) passes.
    const sound = await checkCompression(reference, scorer([2.002, 1.001, -1.001, 0.5005]), { data: scorerData(), latencyBudgetMs: 0, web: false });
    expect(sound.fidelity!.scoreDrift).toBeLessThan(0.01);
    expect(sound.fidelity!.decisions).toBe(1);
    expect(kinds(sound)).toEqual(['not-smaller']);
  });

  it("says 'reference-fails' instead of blaming the candidate when the original model fails on the synthetic inputs, and runs with dims or inputs that fit", async () => {
    const reference = buildAudioConv();
    const check = await checkCompression(reference, reference, { dims: { L: 4 }, latencyBudgetMs: 0 });
    expect(kinds(check)).toEqual(['reference-fails', 'not-smaller']);
    const f = flag(check, 'reference-fails')!;
    expect(f.message).toMatch(/^The original model fails on the synthetic inputs too \(onnxruntime failed to run .* at node 'conv'/);
    expect(f.cause).toContain('(x [8, 4]) are not what it takes — give data, dims or inputs');
    expect(check.runs.node).toEqual({ ok: true, loadOnly: true });
    expect(check.runs.web).toEqual({ ok: true, loadOnly: true });
    expect(check.fidelity).toBeNull();
    expect(check.latency).toBeNull();
    expect(compressionCheckView(check).toText()).toContain('loads (not run: the reference fails on the inputs)');
    // Left free, the audio length is a 512-sample chunk; or give the shapes.
    const chunk = await checkCompression(reference, reference, { latencyBudgetMs: 0, maxItems: 16, web: false });
    expect(kinds(chunk)).toEqual(['not-smaller']);
    expect(chunk.data).toContain("'L' = 512 (audio chunk)");
    const given = await checkCompression(reference, reference, { inputs: { x: [2, 1280] }, latencyBudgetMs: 0, maxItems: 4, web: false });
    expect(given.fidelity!.items).toBe(4);
    expect(given.data).toMatch(/^4 synthetic items .* in batches of 2 \(x \[2, 1280\]\)/);
    await expect(checkCompression(reference, reference, { inputs: { x: [2, 3, 4] } })).rejects.toSatisfy((e: unknown) => isMmkitError(e, 'SHAPE_MISMATCH'));
  });

  it('keeps within its time budget: one batch and no latency runs at timeBudgetMs 0, one item per batch for large inputs, and says so', async () => {
    const reference = classifier(seeded(64 * 64, 14, 0.2), seeded(640, 15, 0.3));
    const candidate = quantizeDynamic(reference, dynamic({ minElements: 0 }));
    const check = await checkCompression(reference, candidate, { timeBudgetMs: 0, web: false });
    expect(check.fidelity!.batches).toBe(1);
    expect(check.fidelity!.items).toBe(8);
    expect(check.latency).toBeNull();
    expect(check.data).toMatch(/^8 synthetic items/);
    expect(check.notes[0]).toBe('Compared 1 of 16 batches (8 items) within the time budget (timeBudgetMs 0).');
    expect(check.notes[1]).toMatch(/^Latency not compared: a run of both models takes about \d+ ms/);
    expect(checkStepReport(check).lines).toEqual(expect.arrayContaining(check.notes));
    // One 1024 × 1024 RGB image is 12 MiB of float32: synthetic batches hold one.
    const b = new ModelBuilder({ opset: 17 });
    const x = b.input('x', 'float32', ['N', 3, 1024, 1024]);
    b.output(b.op('ReduceMean', [x], { axes: { ints: [2, 3] }, keepdims: { i: 0 } }), 'float32', ['N', 3]);
    const image = { proto: b.build() };
    const big = await checkCompression(image, image, { maxItems: 3, web: false, latencyBudgetMs: 0, timeBudgetMs: 600_000 });
    expect(big.data).toMatch(/^3 synthetic items .* in batches of 1 \(x \[1, 3, 1024, 1024\]\)/);
    expect(big.fidelity!.batches).toBe(3);
    expect(big.notes).toEqual([]);
  });

  it("names a tensor that float16 clamped beyond ±65504 as the likely cause of a fidelity drop", async () => {
    // x · scale → BatchNormalization whose channel-0 variance (1e8) float16 cannot hold.
    const build = (variance: (name: string, b: ModelBuilder) => string) => {
      const b = new ModelBuilder({ opset: 17 });
      const x = b.input('x', 'float32', ['N', 4]);
      const scaled = b.op('Mul', [x, b.initializer('scale', 'float32', [4], Float32Array.from([1e4, 1, 1, 1]))]);
      const params = (name: string, v: number[]) => b.initializer(name, 'float32', [4], Float32Array.from(v));
      const y = b.node('BatchNormalization', [scaled, params('bn.gamma', [1, 1, 1, 1]), params('bn.beta', [0, 0, 0, 0]), params('bn.mean', [0, 0, 0, 0]), variance('bn.var', b)], {}, { name: 'bn' })[0];
      b.output(y, 'float32', ['N', 4]);
      return { proto: b.build() };
    };
    const reference = build((name, b) => b.initializer(name, 'float32', [4], Float32Array.from([1e8, 1, 1, 1])));
    // What an older float16 conversion wrote: the variance stored as float16 (clamped to 65504), cast back to float32.
    const clamped = build((name, b) => b.op('Cast', [b.initializer(name, 'float16', [4], Uint16Array.from([0x7bff, 0x3c00, 0x3c00, 0x3c00]))], { to: { i: 1 } }));
    const check = await checkCompression(reference, clamped, { latencyBudgetMs: 0, web: false });
    expect(check.fidelity!.cosine).toBeLessThan(0.9);
    const cause = flag(check, 'fidelity')!.cause;
    expect(cause).toContain("float16 clamped 'bn.var' (1 of 4 values beyond ±65504, max |x| 1.00e+8) to ±65504");
    expect(cause).toContain("keep its reader in float32: quantize({ mode: 'fp16', block: { nodes: ['bn'] } })");
    expect(cause).not.toContain('no layer could be matched');
  });

  it('skips the web run on request, and rejects bad options with BAD_OPTION', async () => {
    const reference = classifier(seeded(64 * 64, 8, 0.2), seeded(640, 9, 0.3));
    const check = await checkCompression(reference, reference, { web: false, latencyBudgetMs: 0, maxItems: 8 });
    expect(check.runs.web).toEqual({ ok: false, skipped: true });
    // The same model is not smaller: a check after a pass that changed nothing says so.
    expect(kinds(check)).toEqual(['not-smaller']);
    for (const bad of [{ thresholds: { agreement: 2 } }, { maxItems: 0 }, { batch: 1.5 }, { thresholds: { cosnie: 0.9 } }, { thresholds: { scoreDrift: -1 } }, { timeBudgetMs: -1 }, { inputs: { x: [0, 64] } }] as object[]) {
      await expect(checkCompression(reference, reference, bad)).rejects.toSatisfy((e: unknown) => isMmkitError(e, 'BAD_OPTION'));
    }
  });

  it('displays flags first with their causes, and a ✓ line when clean', async () => {
    const reference = classifier(seeded(64 * 64, 10, 0.2), seeded(640, 11, 0.3));
    const larger = await checkCompression(reference, reference, { latencyBudgetMs: 0, maxItems: 8 });
    const view = compressionCheckView(larger, { name: 'mlp-int8' });
    const text = view.toText();
    expect(text.split('\n')[0]).toBe('Compression check of mlp-int8');
    expect(text).toContain('⚠ not-smaller: The model file is hardly smaller');
    const bundle = await view[JUPYTER_DISPLAY]();
    expect(bundle['text/html']).toContain('mmkit-warning');
    expect(bundle['text/plain']).toBe(text);
    const clean: CompressionCheck = { ...larger, ok: true, flags: [] };
    expect(compressionCheckView(clean).toText()).toMatch(/✓ Runs in onnxruntime-node and onnxruntime-web, follows the reference \(cosine 1\.0000\)/);
  });

  it('reports progress, stops with CANCELLED when its signal aborts, and becomes a pipeline StepReport', async () => {
    const reference = classifier(seeded(64 * 64, 12, 0.2), seeded(640, 13, 0.3));
    const candidate = quantizeDynamic(reference, dynamic({ minElements: 0 }));
    const labels = new Set<string>();
    const check = await checkCompression(reference, candidate, { maxItems: 32, latencyBudgetMs: 20, onProgress: (_done, _total, label) => labels.add(label ?? '') });
    expect([...labels]).toEqual(['runtimes', 'fidelity', 'latency', 'size']);
    const report = checkStepReport(check, 'quantize.dynamic');
    expect(report.title).toBe('Compression check after quantize.dynamic');
    expect(report.warnings).toEqual(check.flags.map((f) => `${f.kind}: ${f.message} Likely cause: ${f.cause}.`));
    expect(report.table!.columns).toEqual(['check', 'value', 'limit', 'verdict']);
    expect(report.table!.rows[0]).toEqual(['onnxruntime-node', 'loads and runs', '', '✓']);
    expect(report.lines.at(-1)).toBe(`Compared on ${check.data}.`);

    const controller = new AbortController();
    const stopped = checkCompression(reference, candidate, { maxItems: 64, onProgress: (_d, _t, label) => label === 'fidelity' && controller.abort(), signal: controller.signal });
    await expect(stopped).rejects.toSatisfy((e: unknown) => isMmkitError(e, 'CANCELLED'));
  });
});
