/**
 * `mmkit export triton --split-towers` on the shipped CLIP, through the compiled CLI: the three
 * part models and the ensemble, every config.pbtxt parsed by Triton's own model_config.proto;
 * then `mmkit serve --model-repository` on the export, chained over REST as the ensemble runs,
 * against onnxruntime on the unsplit model.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderShapes, shapePrompts, shapesTokenizer, type TensorData } from '../sdk/data';
import { exportTritonTowers } from '../sdk/deploy/triton-towers';
import { isMmkitError } from '../sdk/errors';
import { createClient } from '../sdk/serve/client';
import { readModelRepository } from '../sdk/serve/config/repository';
import { expectUsageError, mmkit, ROOT, VIT } from './helpers/cli-run';
import { startServeProcess, type ServerProcess } from './helpers/serve-process';
import { maxAbsDiff } from './helpers/serve-reference';

const CLIP = path.join(ROOT, 'datasets/models/clip-tiny-shapes.onnx');
const SCHEMA_DIR = path.join(ROOT, 'test/schemas/triton');
const PYTHON = '/usr/bin/python3';
const PARTS = ['clip-image-encoder', 'clip-text-encoder', 'clip-joint'] as const;

let tmp: string;
let pyOut: string;
/** The repository the CLI wrote, shared by the tests below. */
let repo: string;
let exported: { files: string[]; ensemble: { name: string }; parts: Array<{ role: string; name: string; serving: { maxBatchSize: number } }> };

/** config.pbtxt as Triton's ModelConfig message reads it (throws where Triton's parser would reject it). */
function parseWithTriton(file: string): Record<string, any> {
  return JSON.parse(execFileSync(PYTHON, [path.join(SCHEMA_DIR, 'parse_config.py'), pyOut, file], { encoding: 'utf8' })).config;
}

/** Every file under `dir`, relative, sorted: what an export left behind. */
function tree(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-towers-export-'));
  pyOut = path.join(tmp, 'py');
  fs.mkdirSync(pyOut);
  execFileSync('protoc', [`-I${SCHEMA_DIR}`, `--python_out=${pyOut}`, path.join(SCHEMA_DIR, 'model_config.proto')]);
  repo = path.join(tmp, 'repo');
  const r = await mmkit(['export', 'triton', CLIP, '--name', 'clip', '--out', repo, '--split-towers', '--json']);
  expect(r.status, r.stderr).toBe(0);
  exported = JSON.parse(r.stdout);
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('mmkit export triton --split-towers', () => {
  it('writes the three parts, each with its model, and the ensemble with an empty version folder; --json lists every file', () => {
    expect(tree(repo)).toEqual([
      'clip',
      'clip-image-encoder',
      'clip-image-encoder/1',
      'clip-image-encoder/1/model.onnx',
      'clip-image-encoder/config.pbtxt',
      'clip-joint',
      'clip-joint/1',
      'clip-joint/1/model.onnx',
      'clip-joint/config.pbtxt',
      'clip-text-encoder',
      'clip-text-encoder/1',
      'clip-text-encoder/1/model.onnx',
      'clip-text-encoder/config.pbtxt',
      'clip/1',
      'clip/config.pbtxt',
    ]);
    expect(exported.files.map((f) => path.relative(repo, f)).sort()).toEqual(tree(repo).filter((f) => f.endsWith('.onnx') || f.endsWith('.pbtxt')));
    expect(exported.ensemble.name).toBe('clip');
    expect(exported.parts.map((p) => [p.role, p.name, p.serving.maxBatchSize])).toEqual([
      ['image-encoder', 'clip-image-encoder', 32],
      ['text-encoder', 'clip-text-encoder', 32],
      ['joint', 'clip-joint', 0],
    ]);
  });

  it('Triton’s model_config.proto reads the ensemble: its inputs and outputs, and steps that chain the parts', () => {
    const c = parseWithTriton(path.join(repo, 'clip/config.pbtxt'));
    expect(c.name).toBe('clip');
    expect(c.platform).toBe('ensemble');
    expect(c.max_batch_size).toBeUndefined(); // 0, proto3's default
    expect(c.instance_group).toBeUndefined();
    // MessageToDict writes int64 as strings.
    const tensors = (list: Array<{ name: string; data_type: string; dims: string[] }>) => list.map((t) => [t.name, t.data_type, t.dims.join(',')]);
    expect(tensors(c.input)).toEqual([
      ['pixel_values', 'TYPE_FP32', '-1,3,32,32'],
      ['input_ids', 'TYPE_INT64', '-1,-1'],
      ['attention_mask', 'TYPE_INT64', '-1,-1'],
    ]);
    expect(tensors(c.output)).toEqual([
      ['logits_per_image', 'TYPE_FP32', '-1,-1'],
      ['logits_per_text', 'TYPE_FP32', '-1,-1'],
      ['text_embeds', 'TYPE_FP32', '-1,64'],
      ['image_embeds', 'TYPE_FP32', '-1,64'],
    ]);
    expect(c.ensemble_scheduling.step).toEqual([
      { model_name: 'clip-image-encoder', model_version: '-1', input_map: { pixel_values: 'pixel_values' }, output_map: { image_embeds: 'image_embeds' } },
      { model_name: 'clip-text-encoder', model_version: '-1', input_map: { input_ids: 'input_ids', attention_mask: 'attention_mask' }, output_map: { text_embeds: 'text_embeds' } },
      {
        model_name: 'clip-joint',
        model_version: '-1',
        input_map: { image_embeds: 'image_embeds', text_embeds: 'text_embeds' },
        output_map: { logits_per_image: 'logits_per_image', logits_per_text: 'logits_per_text' },
      },
    ]);
  });

  it('each part’s config parses with Triton’s proto and matches its model as onnxruntime reads it: towers batch, the joint head does not', async () => {
    for (const name of PARTS) {
      const c = parseWithTriton(path.join(repo, name, 'config.pbtxt'));
      const batched = name !== 'clip-joint';
      expect(c.name).toBe(name);
      expect(c.platform).toBe('onnxruntime_onnx');
      expect(c.max_batch_size, name).toBe(batched ? 32 : undefined);
      expect(c.dynamic_batching !== undefined, name).toBe(batched);
      expect(c.instance_group).toEqual([{ count: 1, kind: 'KIND_CPU' }]);
      const s = await ort.InferenceSession.create(path.join(repo, name, '1/model.onnx'), { logSeverityLevel: 3 });
      try {
        const expected = (m: readonly ort.InferenceSession.ValueMetadata[]) =>
          m.map((v) => {
            if (!v.isTensor) throw new Error(`${v.name} is not a tensor`);
            const dims = v.shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1));
            return [v.name, `TYPE_${v.type === 'float32' ? 'FP32' : v.type.toUpperCase()}`, (batched ? dims.slice(1) : dims).join(',')];
          });
        const declared = (list: Array<{ name: string; data_type: string; dims: string[] }>) => list.map((t) => [t.name, t.data_type, t.dims.join(',')]);
        expect(declared(c.input), name).toEqual(expected(s.inputMetadata));
        expect(declared(c.output), name).toEqual(expected(s.outputMetadata));
      } finally {
        await s.release();
      }
    }
  });

  it('bad input: exit 2, one line, nothing written', async () => {
    const out = path.join(tmp, 'vit');
    expectUsageError(await mmkit(['export', 'triton', VIT, '--name', 'vit', '--out', out, '--split-towers']), 'export triton', 'UNSUPPORTED');
    expect(fs.existsSync(out)).toBe(false);

    // A config mmkit did not write, in the ensemble's folder: refused before any part is written.
    const foreign = path.join(tmp, 'foreign');
    fs.mkdirSync(path.join(foreign, 'clip'), { recursive: true });
    fs.writeFileSync(path.join(foreign, 'clip/config.pbtxt'), 'name: "clip"\n');
    const r = await mmkit(['export', 'triton', CLIP, '--name', 'clip', '--out', foreign, '--split-towers']);
    expectUsageError(r, 'export triton', 'FILE_EXISTS');
    expect(r.stderr).toContain(path.join(foreign, 'clip/config.pbtxt'));
    expect(tree(foreign)).toEqual(['clip', 'clip/config.pbtxt']);
  });

  it('exporting again replaces its own files (SDK), and the source model is never a target', async () => {
    const result = await exportTritonTowers(CLIP, { name: 'clip', out: repo, maxBatchSize: 16, maxQueueDelayMs: 1 });
    expect(result.parts.map((p) => p.serving.maxBatchSize)).toEqual([16, 16, 0]);
    expect(parseWithTriton(result.parts[1].configPath).dynamic_batching).toEqual({ max_queue_delay_microseconds: '1000', default_queue_policy: { max_queue_size: 1024 } });
    const again = await exportTritonTowers(CLIP, { name: 'clip', out: repo });
    expect(again.files.sort()).toEqual([...exported.files].sort());
    expect(tree(repo).filter((f) => path.basename(f).startsWith('.'))).toEqual([]); // no temp files left

    // A part whose target is the source itself: OVERWRITE_SOURCE, nothing written.
    const src = path.join(tmp, 'src');
    fs.mkdirSync(path.join(src, 'm-joint/1'), { recursive: true });
    fs.copyFileSync(CLIP, path.join(src, 'm-joint/1/model.onnx'));
    const e = await exportTritonTowers(path.join(src, 'm-joint/1/model.onnx'), { name: 'm', out: src }).catch((x: unknown) => x);
    expect(isMmkitError(e, 'OVERWRITE_SOURCE')).toBe(true);
    expect(tree(src)).toEqual(['m-joint', 'm-joint/1', 'm-joint/1/model.onnx']);
  });
});

describe('readModelRepository with an ensemble', () => {
  it('skips the ensemble with one notice and reads its steps', async () => {
    const notices: string[] = [];
    const configs = await readModelRepository(repo, { notice: (m) => notices.push(m) });
    expect(configs.map((c) => [c.name, c.maxBatchSize])).toEqual([
      ['clip-image-encoder', 32],
      ['clip-joint', 0],
      ['clip-text-encoder', 32],
    ]);
    expect(notices).toEqual([
      "model 'clip' is a Triton ensemble; mmkit serves its steps 'clip-image-encoder', 'clip-text-encoder', 'clip-joint' as separate models: send each step its part of the request (and the next step the outputs it needs), or serve the repository on Triton.",
    ]);
  });

  it('an ensemble whose steps the repository lacks fails, naming them and the config', async () => {
    const partial = path.join(tmp, 'partial');
    for (const name of ['clip', 'clip-joint']) fs.cpSync(path.join(repo, name), path.join(partial, name), { recursive: true });
    const e = await readModelRepository(partial).catch((x: unknown) => x);
    expect(isMmkitError(e, 'FILE_NOT_FOUND')).toBe(true);
    expect((e as Error).message).toContain(`${path.join(partial, 'clip/config.pbtxt')}: ensemble 'clip' has steps 'clip-image-encoder', 'clip-text-encoder' that the repository ${partial} does not hold.`);
    expect((e as { hint?: string }).hint).toContain('--split-towers');
  });

  it('an ensemble without steps is a config error naming the file and line', async () => {
    const bad = path.join(tmp, 'no-steps');
    fs.cpSync(path.join(repo, 'clip-joint'), path.join(bad, 'clip-joint'), { recursive: true });
    fs.mkdirSync(path.join(bad, 'e/1'), { recursive: true });
    fs.writeFileSync(path.join(bad, 'e/config.pbtxt'), 'name: "e"\nplatform: "ensemble"\nensemble_scheduling {\n}\n');
    const e = await readModelRepository(bad).catch((x: unknown) => x);
    expect(isMmkitError(e, 'BAD_OPTION')).toBe(true);
    expect((e as Error).message).toContain(`${path.join(bad, 'e/config.pbtxt')}:3: field 'ensemble_scheduling.step' must name the model of every step.`);
  });
});

describe('mmkit serve --model-repository on the split export', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await startServeProcess(['--model-repository', repo]);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves the three parts and skips the ensemble with a notice', async () => {
    expect(server.output()).toContain(
      "mmkit serve: model 'clip' is a Triton ensemble; mmkit serves its steps 'clip-image-encoder', 'clip-text-encoder', 'clip-joint' as separate models",
    );
    const client = createClient(server.httpUrl);
    try {
      for (const name of PARTS) expect(await client.modelReady(name), name).toBe(true);
      expect(await client.modelReady('clip')).toBe(false);
      const e = await client.modelMetadata('clip').catch((x: unknown) => x);
      expect(isMmkitError(e, 'UNKNOWN_MODEL')).toBe(true);
    } finally {
      client.close();
    }
  });

  it('image encoder and text encoder, then the joint head, over REST: the unsplit model’s outputs (max |Δ| = 0)', async () => {
    const clip = await ort.InferenceSession.create(CLIP, { logSeverityLevel: 3 });
    const client = createClient(server.httpUrl);
    try {
      const tokens = shapesTokenizer().encode(shapePrompts());
      for (const indices of [[0, 1, 2, 3, 4, 5, 6, 7], [500, 501, 999]]) {
        const pixels = renderShapes('test', indices).pixels;
        // As the ensemble runs it: both towers, then the joint head on what they hand over.
        const [image, text] = await Promise.all([client.infer('clip-image-encoder', { pixel_values: pixels }), client.infer('clip-text-encoder', tokens)]);
        const joint = await client.infer('clip-joint', { ...image.outputs, ...text.outputs });
        const got = { ...image.outputs, ...text.outputs, ...joint.outputs };

        const feeds = { pixel_values: pixels, ...tokens };
        const want = await clip.run(Object.fromEntries(Object.entries(feeds).map(([n, t]) => [n, new ort.Tensor(t.dtype, t.data, t.dims)])) as Record<string, ort.Tensor>);
        expect(Object.keys(got).sort()).toEqual([...clip.outputNames].sort());
        expect(want.logits_per_image.dims).toEqual([indices.length, shapePrompts().length]);
        // The parts run the unsplit graph's own nodes on the same CPU kernels, so equal bit for bit is expected.
        for (const name of clip.outputNames) expect(maxAbsDiff(got[name], want[name]), name).toBe(0);
      }
    } finally {
      client.close();
      await clip.release();
    }
  });
});
