import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import { mm, Pipeline, isMmkitError, type TensorData } from '../sdk';
import { registerStep } from '../sdk/step';
import { editModel, makeTensor, tensorArray, GraphView, serializeModel, type OnnxModel } from '../sdk/onnx';
import { TORCH_VIT, torchReference, maxAbsDiff, runOnce } from './helpers/onnx-models';
import { LocalHub } from './helpers/hub-server';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mmkit-pipeline-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const fixture = path.join(tmp, 'vit.onnx');
copyFileSync(TORCH_VIT, fixture);
const ref = torchReference();
const input: TensorData = { data: Float32Array.from(ref.input.data), dims: ref.input.dims, dtype: 'float32' };

// A real graph transform used to exercise steps: scales the classifier head's bias.
let applied = 0;
registerStep<{ factor: number }>({
  op: 'test.scaleHeadBias',
  normalize: (o) => ({ factor: o.factor }),
  async apply(model: OnnxModel, options) {
    applied++;
    const view = GraphView.of(model.proto);
    const bias = view.initializers.filter((t) => t.dims.length === 1 && Number(t.dims[0]) === 10).at(-1)!;
    const scaled = Float32Array.from(tensorArray(bias, model) as Float32Array, (v) => v * (options.factor as number));
    return { ...model, proto: editModel(model.proto, (e) => e.replaceInitializer(bias.name, makeTensor(bias.name, 'float32', [10], scaled))) };
  },
});

const expectCode = async (p: Promise<unknown>, code: string) => {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(isMmkitError(e), `expected MmkitError ${code}, got ${String(e)}`).toBe(true);
  expect((e as { code: string }).code).toBe(code);
  return e as Error;
};

describe('mm.load → run / summary', () => {
  it('loads lazily and runs the model with the same outputs as torch', async () => {
    const p = mm.load(fixture);
    expect(p).toBeInstanceOf(Pipeline);
    const out = await p.run(input);
    expect(maxAbsDiff(out.logits.data as Float32Array, ref.logits.data)).toBeLessThan(1e-4);
  });

  it('shows per-layer sparsity once weights were pruned', async () => {
    const dense = await mm.load(fixture).summary();
    expect(dense.totals.zeros / dense.totals.params).toBeLessThan(0.01); // a few zero biases
    const denseShown = await (dense as unknown as { [k: symbol]: () => Promise<Record<string, string>> })[Symbol.for('Jupyter.display')]();
    expect(denseShown['text/html']).not.toContain('sparsity');
    const pruned = await mm.load(fixture).prune({ sparsity: 0.5, check: false }).summary();
    const layer = pruned.rows.find((r) => r.op === 'MatMul' && r.params >= 4096)!;
    expect(layer.zeros / layer.params).toBeCloseTo(0.5, 2);
    expect(pruned.totals.zeros).toBeGreaterThan(0.3 * pruned.totals.params);
    const shown = await (pruned as unknown as { [k: symbol]: () => Promise<Record<string, string>> })[Symbol.for('Jupyter.display')]();
    expect(shown['text/html']).toContain('sparsity');
  });

  it('summarises layers with shapes, params, bytes and FLOPs', async () => {
    const s = await mm.load(fixture).summary();
    const model = (await mm.load(fixture).model()).proto;
    const view = GraphView.of(model);
    const params = view.initializers.reduce((n, t) => n + t.dims.reduce((a, b) => a * Number(b), 1), 0);
    expect(s.totals.params).toBe(params);
    expect(s.totals.bytesByDtype.float32).toBe(params * 4);
    const conv = s.rows.find((r) => r.op === 'Conv')!;
    // patch embedding: 64 output channels × 4×4 patches, each summing 1×7×7 inputs.
    expect(conv.outputShapes[0]).toEqual([1, 64, 4, 4]);
    expect(conv.flops).toBe(2 * 64 * 16 * 49);
    const matmuls = s.rows.filter((r) => r.op === 'MatMul' && r.params > 0);
    for (const r of matmuls) {
      const [rows, inner] = [r.inputShapes[0]!.slice(0, -1).reduce((a, b) => a * b, 1), r.inputShapes[0]!.at(-1)!];
      expect(r.flops).toBe(2 * rows * inner * r.outputShapes[0]!.at(-1)!);
    }
    expect(s.totals.flops).toBeGreaterThan(0);
    expect(s.inputs[0].name).toBe('pixel_values');
  });

  it('reports bad sources only when run, with typed errors naming the file', async () => {
    const missing = mm.load(path.join(tmp, 'nope.onnx'));
    const e = await expectCode(missing.run(input), 'FILE_NOT_FOUND');
    expect(e.message).toContain('nope.onnx');
    const text = path.join(tmp, 'notes.onnx');
    writeFileSync(text, 'this is not a model\n');
    await expectCode(mm.load(text).summary(), 'NOT_ONNX');
    const cut = path.join(tmp, 'cut.onnx');
    writeFileSync(cut, readFileSync(fixture).subarray(0, 200_000));
    await expectCode(mm.load(cut).model(), 'TRUNCATED');
    await expectCode(mm.load(tmp).model(), 'FILE_NOT_FOUND');
  });

  it('rejects inputs that do not fit the model and unknown devices', async () => {
    const p = mm.load(fixture);
    const e = await expectCode(p.run({ data: new Float32Array(3 * 32 * 32), dims: [3, 1, 32, 32], dtype: 'float32' }), 'SHAPE_MISMATCH');
    expect(e.message).toContain('pixel_values');
    await expectCode(p.run(input, { device: 'tpu' as 'cpu' }), 'UNKNOWN_DEVICE');
    // the pipeline still works after the errors
    expect((await p.run(input)).logits.dims).toEqual([3, 10]);
  });
});

describe('steps, forks and recipes', () => {
  it('a pipeline is not a thenable: awaiting one gives the pipeline itself', async () => {
    const p = mm.load(fixture);
    expect(await p).toBe(p);
  });

  it('forks share their common prefix and the source is never mutated', async () => {
    const base = mm.load(fixture).step('test.scaleHeadBias', { factor: 2 });
    const a = base.step('test.scaleHeadBias', { factor: 0.5 });
    const b = base.step('test.scaleHeadBias', { factor: 3 });
    applied = 0;
    const [oa, ob, o0] = await Promise.all([a.run(input), b.run(input), mm.load(fixture).run(input)]);
    expect(applied).toBe(3); // base once, a once, b once
    expect(maxAbsDiff(o0.logits.data as Float32Array, ref.logits.data)).toBeLessThan(1e-4);
    expect(maxAbsDiff(oa.logits.data as Float32Array, ref.logits.data)).toBeLessThan(1e-4); // 2 × 0.5 = 1
    expect(maxAbsDiff(ob.logits.data as Float32Array, ref.logits.data)).toBeGreaterThan(1e-3);
    expect(readFileSync(fixture)).toEqual(readFileSync(TORCH_VIT));
  });

  it('a recipe replays to a byte-identical model, and pins the source', async () => {
    const p = mm.load(fixture).step('test.scaleHeadBias', { factor: 1.5 });
    const first = path.join(tmp, 'out', 'first.onnx');
    await p.save(first);
    const recipe = p.recipe;
    expect(recipe.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(recipe.steps).toEqual([{ op: 'test.scaleHeadBias', options: { factor: 1.5 } }]);
    const again = path.join(tmp, 'out', 'again.onnx');
    await mm.fromRecipe(JSON.stringify(recipe)).save(again);
    expect(readFileSync(again).equals(readFileSync(first))).toBe(true);
    // a different source file under the same name is caught
    const moved = path.join(tmp, 'moved.onnx');
    copyFileSync(fixture, moved);
    const edited = { ...recipe, source: { ...recipe.source, uri: moved } };
    writeFileSync(moved, Buffer.concat([readFileSync(fixture), Buffer.from([0x62, 0x00])])); // adds an unknown field 12
    await expectCode(mm.fromRecipe(edited).model(), 'BAD_RECIPE');
    expect(() => mm.fromRecipe({ ...recipe, steps: [{ op: 'nope', options: {} }] })).toThrowError(/Unknown pipeline step/);
    expect(() => mm.fromRecipe('{"steps": 3}')).toThrowError(/recipe/);
  });

  it('saves atomically and never replaces the source or a file mmkit did not write', async () => {
    const p = mm.load(fixture);
    await expectCode(p.save(fixture), 'OVERWRITE_SOURCE');
    const foreign = path.join(tmp, 'foreign.onnx');
    writeFileSync(foreign, 'keep me');
    await expectCode(p.save(foreign), 'FILE_EXISTS');
    expect(readFileSync(foreign, 'utf8')).toBe('keep me');
    const out = path.join(tmp, 'saved', 'vit.onnx');
    await p.save(out);
    await p.save(out); // mmkit's own file: replaced without asking
    await p.save(foreign, { overwrite: true });
    expect(readdirSync(path.dirname(out))).toEqual(['vit.onnx']); // no temp files left
    const logits = await runOnce(out, 'pixel_values', input.data as Float32Array, input.dims);
    expect(maxAbsDiff(logits, ref.logits.data)).toBeLessThan(1e-4);
    const plain = path.join(tmp, 'saved', 'plain.onnx');
    await p.save(plain, { recipe: false });
    expect(readFileSync(plain).equals(readFileSync(fixture))).toBe(true); // lossless without the recipe entry
  });

  it('evaluates against a baseline', async () => {
    const base = mm.load(fixture);
    const data = mm.datasets.fromTensors(input, Int32Array.from([0, 1, 2]), { batchSize: 1 });
    const report = await base.step('test.scaleHeadBias', { factor: 1.01 }).evaluate(data, { baseline: base });
    expect(report.items).toBe(3);
    expect(report.agreement!.top1).toBe(1);
    expect(report.agreement!.cosineMean).toBeGreaterThan(0.999);
    expect(report.model.size.params).toBeGreaterThan(50_000);
  });
});

describe('remote sources', () => {
  let server: http.Server;
  let base = '';
  let hub: LocalHub;
  const requests: string[] = [];
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (req.url !== '/models/vit.onnx') {
        res.writeHead(404).end();
        return;
      }
      const body = readFileSync(fixture);
      res.writeHead(200, { 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    hub = new LocalHub();
    hub.addRepo('org/vit', { commit: 'c0ffee'.padEnd(40, '0'), files: { 'onnx/model.onnx': readFileSync(fixture), 'config.json': Buffer.from('{"id2label":{"0":"zero"}}') } });
    process.env.MMKIT_CACHE = path.join(tmp, 'cache');
    process.env.HF_HOME = path.join(tmp, 'hf');
    process.env.HF_ENDPOINT = await hub.start();
  });
  afterAll(async () => {
    server.close();
    await hub.stop();
    delete process.env.MMKIT_CACHE;
    delete process.env.HF_HOME;
    delete process.env.HF_ENDPOINT;
  });

  it('loads from an http URL into the cache and reuses it', async () => {
    const out = await mm.load(`${base}/models/vit.onnx`).run(input);
    expect(maxAbsDiff(out.logits.data as Float32Array, ref.logits.data)).toBeLessThan(1e-4);
    const gets = () => requests.filter((r) => r.startsWith('GET')).length;
    const before = gets();
    await mm.load(`${base}/models/vit.onnx`).model();
    expect(gets()).toBe(before); // cached: only a HEAD to check the size
    const e = await expectCode(mm.load(`${base}/models/missing.onnx`).model(), 'FETCH_FAILED');
    expect(e.message).toContain('404');
  });

  it("loads 'hf:' references and pins the commit in the recipe", async () => {
    const p = mm.load('hf:org/vit');
    const out = await p.run(input);
    expect(maxAbsDiff(out.logits.data as Float32Array, ref.logits.data)).toBeLessThan(1e-4);
    expect(p.recipe.source.uri).toBe(`hf:org/vit@${'c0ffee'.padEnd(40, '0')}:onnx/model.onnx`);
    expect(existsSync(path.join(tmp, 'hf', 'hub'))).toBe(true);
  });
});

it('serializes what it runs (sanity for later passes)', async () => {
  const m = await mm.load(fixture).model();
  expect(serializeModel(m.proto).length).toBe(readFileSync(fixture).length);
});

describe('displays', () => {
  const DISPLAY = Symbol.for('Jupyter.display');
  type Show = { [DISPLAY]: () => Promise<Record<string, unknown>> };
  it('pipelines, summaries and evaluations display as HTML + text and stay plain JSON', async () => {
    const p = mm.load(fixture).step('test.scaleHeadBias', { factor: 1 });
    const pb = await (p as unknown as Show)[DISPLAY]();
    expect(pb['text/html']).toContain('test.scaleHeadBias');
    expect(pb['text/plain']).toContain('Pipeline');
    const s = await p.summary();
    const sb = await (s as unknown as Show)[DISPLAY]();
    expect(sb['text/html']).toContain('<table');
    expect(Object.keys(JSON.parse(JSON.stringify(s)))).toEqual(['rows', 'totals', 'inputs', 'outputs', 'probedBatch', 'probedInputs', 'notices']);
    const data = mm.datasets.fromTensors(input, Int32Array.from([0, 1, 2]));
    const r = await p.evaluate(data, { baseline: mm.load(fixture) });
    const rb = await (r as unknown as Show)[DISPLAY]();
    expect(rb['text/html']).toContain('vit.onnx → test.scaleHeadBias');
    expect(require('node:util').inspect(r)).toContain('top-1');
  });
});

describe('quantize through the pipeline', () => {
  it("quantize({ mode: 'dynamic' }) shrinks the shipped ViT, keeps its accuracy and replays byte-identically", async () => {
    const base = mm.load('datasets/models/vit-tiny-mnist.onnx');
    const q = base.quantize({ mode: 'dynamic' });
    const test = mm.datasets.mnist({ split: 'test' });
    const r = await q.evaluate(test, { baseline: base, batchSize: 64 });
    expect(r.model.size.fileBytes).toBeLessThan(0.4 * r.baseline!.size.fileBytes); // from the new bytes, not the source file
    expect(r.baseline!.accuracy!.top1 - r.model.accuracy!.top1).toBeLessThanOrEqual(0.003);
    expect(r.agreement!.top1).toBeGreaterThan(0.98);
    const a = path.join(tmp, 'q', 'a.onnx');
    const b = path.join(tmp, 'q', 'b.onnx');
    await q.save(a);
    await mm.fromRecipe(q.recipe).save(b);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(q.recipe.steps[0].op).toBe('quantize.dynamic');
  });
});

it("quantize({ mode: 'int4' }) runs the shipped ViT with weight-only 4-bit blocks", async () => {
  const base = mm.load('datasets/models/vit-tiny-mnist.onnx');
  const test = mm.datasets.mnist({ split: 'test' }).take(500);
  const r = await base.quantize({ mode: 'int4', blockSize: 32 }).evaluate(test, { baseline: base, batchSize: 100 });
  expect(r.model.size.fileBytes).toBeLessThan(0.3 * r.baseline!.size.fileBytes);
  expect(r.agreement!.top1).toBeGreaterThan(0.98);
});
