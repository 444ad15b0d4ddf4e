import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderShapes, shapePrompts, shapesTokenizer, type TensorData } from '../sdk/data';
import { splitTowers, towerEnsemble, type TowerPart, type TowerSplit } from '../sdk/deploy/towers';
import { GraphView, makeValueInfo, ModelBuilder, readModel, serializeModel, type OnnxModel } from '../sdk/onnx';
import { toFloat16 } from '../sdk/passes/quantize/fp16';
import { quantizeDynamic } from '../sdk/passes/quantize/dynamic';
import { createSession } from '../sdk/runtime';
import { maxAbsDiff } from './helpers/serve-reference';
import { mmkitErrorOf } from './helpers/errors';

const CLIP = 'datasets/models/clip-tiny-shapes.onnx';
const VIT = 'datasets/models/vit-tiny-mnist.onnx';
/** Triton's model_config.proto, vendored for the export tests. */
const TRITON_SCHEMAS = resolve('test/schemas/triton');

type Feeds = Record<string, TensorData>;

async function run(model: OnnxModel, feeds: Feeds): Promise<Feeds> {
  const session = await createSession(model, { reuse: false });
  try {
    return await session.run(feeds);
  } finally {
    await session.dispose();
  }
}

const pick = (feeds: Feeds, names: readonly string[]): Feeds => Object.fromEntries(names.map((n) => [n, feeds[n]]));

/** The split models chained as the Triton ensemble runs them: both towers, then the joint head on what they hand over. */
async function runChained(split: TowerSplit, feeds: Feeds): Promise<Feeds> {
  const image = await run(split.imageEncoder.model, pick(feeds, split.imageEncoder.inputs));
  const text = await run(split.textEncoder.model, pick(feeds, split.textEncoder.inputs));
  const joint = await run(split.joint.model, pick({ ...image, ...text }, split.joint.inputs));
  return { ...image, ...text, ...joint };
}

const graphNames = (part: TowerPart) => ({
  inputs: part.model.proto.graph!.input.map((v) => v.name),
  outputs: part.model.proto.graph!.output.map((v) => v.name),
});

describe('splitTowers on the shipped CLIP', async () => {
  const clip = await readModel(CLIP);
  const before = Buffer.from(serializeModel(clip));
  const split = splitTowers(clip);
  const tokens = shapesTokenizer().encode(shapePrompts());

  it('finds the image tower, the text tower and the joint head, and the tensors that connect them', () => {
    expect(Buffer.from(serializeModel(clip)).equals(before)).toBe(true);
    const { imageEncoder, textEncoder, joint } = split;
    expect([imageEncoder.role, textEncoder.role, joint.role]).toEqual(['image-encoder', 'text-encoder', 'joint']);
    expect(graphNames(imageEncoder)).toEqual({ inputs: ['pixel_values'], outputs: ['image_embeds'] });
    expect(graphNames(textEncoder)).toEqual({ inputs: ['input_ids', 'attention_mask'], outputs: ['text_embeds'] });
    expect(graphNames(joint)).toEqual({ inputs: ['image_embeds', 'text_embeds'], outputs: ['logits_per_image', 'logits_per_text'] });
    for (const part of [imageEncoder, textEncoder, joint]) expect(graphNames(part)).toEqual({ inputs: part.inputs, outputs: part.outputs });
    expect(split.outputs).toEqual(['logits_per_image', 'logits_per_text', 'text_embeds', 'image_embeds']);

    // The towers share no weights; the head holds only the temperature, with the similarity it scales.
    const weights = (p: TowerPart) => p.model.proto.graph!.initializer.map((t) => t.name);
    expect(weights(imageEncoder).every((n) => n.startsWith('vision.') || n === 'visual_projection.weight')).toBe(true);
    expect(weights(textEncoder).every((n) => n.startsWith('text.') || n === 'text_projection.weight')).toBe(true);
    expect(weights(joint)).toEqual(['logit_scale']);
    expect(GraphView.of(joint.model.proto).nodes.map((n) => n.opType)).toEqual(['Exp', 'Transpose', 'MatMul', 'Mul', 'Transpose']);
    const all = weights(imageEncoder).length + weights(textEncoder).length + weights(joint).length;
    expect(all).toBe(clip.proto.graph!.initializer.length);

    // Towers batch along their own first axis; the head's logits are [image_batch, text_batch].
    expect([imageEncoder.batchable, textEncoder.batchable, joint.batchable]).toEqual([true, true, false]);
    expect(GraphView.of(textEncoder.model.proto).valueInfo('input_ids')).toEqual({ dtype: 'int64', shape: ['text_batch', 'sequence'] });
    expect(GraphView.of(joint.model.proto).valueInfo('image_embeds')).toEqual({ dtype: 'float32', shape: ['image_batch', 64] });
    // The tokenizer travels with the text encoder.
    expect(textEncoder.model.proto.metadataProps.map((p) => p.key)).toContain('mmkit.tokenizer');
  });

  it('chained, the three models give the unsplit model’s outputs on real images and prompts (max |Δ| = 0)', async () => {
    for (const indices of [[0, 1, 2, 3, 4, 5, 6, 7], [500, 501, 999]]) {
      const feeds = { pixel_values: renderShapes('test', indices).pixels, ...tokens };
      const want = await run(clip, feeds);
      const got = await runChained(split, feeds);
      expect(want.logits_per_image.dims).toEqual([indices.length, shapePrompts().length]);
      for (const name of split.outputs) expect(maxAbsDiff(got[name], want[name]), name).toBe(0);
    }
  });

  it('text embeddings computed once serve every later image batch', async () => {
    const cached = await run(split.textEncoder.model, tokens);
    for (const indices of [[10, 12], [20, 21, 22, 23, 24]]) {
      const pixels = renderShapes('test', indices).pixels;
      const images = await run(split.imageEncoder.model, { pixel_values: pixels });
      const logits = await run(split.joint.model, { ...images, ...cached });
      const want = await run(clip, { pixel_values: pixels, ...tokens });
      expect(maxAbsDiff(logits.logits_per_image, want.logits_per_image)).toBe(0);
    }
  });

  it('the Triton ensemble chains the parts behind the unsplit model’s inputs and outputs', () => {
    const ensemble = towerEnsemble(split, { name: 'clip' });
    expect(ensemble).toEqual({
      name: 'clip',
      platform: 'ensemble',
      maxBatchSize: 0,
      input: [
        { name: 'pixel_values', dataType: 'TYPE_FP32', dims: [-1, 3, 32, 32] },
        { name: 'input_ids', dataType: 'TYPE_INT64', dims: [-1, -1] },
        { name: 'attention_mask', dataType: 'TYPE_INT64', dims: [-1, -1] },
      ],
      output: [
        { name: 'logits_per_image', dataType: 'TYPE_FP32', dims: [-1, -1] },
        { name: 'logits_per_text', dataType: 'TYPE_FP32', dims: [-1, -1] },
        { name: 'text_embeds', dataType: 'TYPE_FP32', dims: [-1, 64] },
        { name: 'image_embeds', dataType: 'TYPE_FP32', dims: [-1, 64] },
      ],
      ensembleScheduling: {
        step: [
          { modelName: 'clip-image-encoder', modelVersion: -1, inputMap: { pixel_values: 'pixel_values' }, outputMap: { image_embeds: 'image_embeds' } },
          { modelName: 'clip-text-encoder', modelVersion: -1, inputMap: { input_ids: 'input_ids', attention_mask: 'attention_mask' }, outputMap: { text_embeds: 'text_embeds' } },
          {
            modelName: 'clip-joint',
            modelVersion: -1,
            inputMap: { image_embeds: 'image_embeds', text_embeds: 'text_embeds' },
            outputMap: { logits_per_image: 'logits_per_image', logits_per_text: 'logits_per_text' },
          },
        ],
      },
    });
    const named = towerEnsemble(split, { name: 'clip', modelNames: { joint: 'clip-logits' } });
    expect(named.ensembleScheduling.step.map((s) => s.modelName)).toEqual(['clip-image-encoder', 'clip-text-encoder', 'clip-logits']);
  });

  it('Triton’s own ModelConfig message reads the ensemble as it is (proto3 JSON, unknown fields refused)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mmkit-towers-'));
    try {
      execFileSync('protoc', [`-I${TRITON_SCHEMAS}`, `--python_out=${dir}`, join(TRITON_SCHEMAS, 'model_config.proto')]);
      const script = [
        'import json, sys',
        `sys.path.insert(0, ${JSON.stringify(dir)})`,
        'from google.protobuf import json_format',
        'import model_config_pb2',
        'config = json_format.ParseDict(json.load(sys.stdin), model_config_pb2.ModelConfig())',
        'print(json.dumps(json_format.MessageToDict(config, preserving_proto_field_name=True)))',
      ].join('\n');
      const ensemble = towerEnsemble(split, { name: 'clip' });
      const parsed = JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(ensemble), encoding: 'utf8' }));
      expect(parsed.platform).toBe('ensemble');
      expect(parsed.max_batch_size).toBeUndefined(); // 0, proto3's default
      expect(parsed.input.map((t: { data_type: string }) => t.data_type)).toEqual(['TYPE_FP32', 'TYPE_INT64', 'TYPE_INT64']);
      expect(parsed.ensemble_scheduling.step.map((s: { model_name: string; model_version: string }) => [s.model_name, s.model_version])).toEqual([
        ['clip-image-encoder', '-1'],
        ['clip-text-encoder', '-1'],
        ['clip-joint', '-1'],
      ]);
      expect(parsed.ensemble_scheduling.step[2].input_map).toEqual({ image_embeds: 'image_embeds', text_embeds: 'text_embeds' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the ensemble’s dataflow is complete: every step input is an ensemble input or an earlier step’s output', () => {
    const { input, output, ensembleScheduling } = towerEnsemble(split, { name: 'clip' });
    const parts = [split.imageEncoder, split.textEncoder, split.joint];
    const ready = new Set(input.map((t) => t.name));
    ensembleScheduling.step.forEach((step, i) => {
      expect(Object.keys(step.inputMap)).toEqual(parts[i].inputs);
      expect(Object.keys(step.outputMap)).toEqual(parts[i].outputs);
      for (const tensor of Object.values(step.inputMap)) expect(ready.has(tensor), tensor).toBe(true);
      Object.values(step.outputMap).forEach((t) => ready.add(t));
    });
    for (const t of output) expect(ready.has(t.name), t.name).toBe(true);
  });
});

describe('splitTowers on compressed CLIPs', async () => {
  const clip = await readModel(CLIP);
  const feeds = { pixel_values: renderShapes('test', [3, 600, 700]).pixels, ...shapesTokenizer().encode(shapePrompts()) };

  it('dynamic int8: the same parts, outputs equal bit for bit', async () => {
    const int8 = quantizeDynamic(clip);
    const split = splitTowers(int8);
    expect(split.joint.inputs).toEqual(['image_embeds', 'text_embeds']);
    const want = await run(int8, feeds);
    const got = await runChained(split, feeds);
    for (const name of split.outputs) expect(maxAbsDiff(got[name], want[name]), name).toBe(0);
  });

  it('float16: the head takes the float16 embeddings before their Cast; outputs equal within float16 rounding', async () => {
    const fp16 = toFloat16(clip).model;
    const split = splitTowers(fp16);
    expect(split.joint.inputs).toEqual(['image_embeds_fp16', 'text_embeds_fp16']);
    expect(split.imageEncoder.outputs).toEqual(['image_embeds_fp16', 'image_embeds']);
    expect([split.imageEncoder.batchable, split.textEncoder.batchable]).toEqual([true, true]);
    expect(GraphView.of(split.joint.model.proto).valueInfo('image_embeds_fp16')).toEqual({ dtype: 'float16', shape: ['image_batch', 64] });
    // onnxruntime's CPU kernels compute float16 ops in float32, and inside the unsplit graph the
    // embeddings need not be rounded to float16; the towers hand over real float16 tensors. The
    // difference stays within float16's unit roundoff (2^-11) of each output's largest value
    // (measured: 9e-5 on embeddings up to 0.36, 2.5e-3 on logits up to 26).
    const want = await run(fp16, feeds);
    const got = await runChained(split, feeds);
    for (const name of split.outputs) {
      const largest = Math.max(...Array.from(want[name].data as Float32Array, Math.abs));
      expect(maxAbsDiff(got[name], want[name]), name).toBeLessThanOrEqual(2 ** -11 * largest);
    }
  });
});

describe('models that are not two-tower', () => {
  it('the ViT: one group of inputs, said plainly', async () => {
    const vit = await readModel(VIT);
    const e = mmkitErrorOf(() => splitTowers(vit));
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toContain(`${VIT} is not a two-tower model`);
    expect(e.message).toContain('looks for two groups of graph inputs');
    expect(e.message).toContain('it found 1 group of inputs: [pixel_values]');
  });

  /** Two inputs, each through its own small tower; `meet` decides whether a head reads both. */
  function twoTowers(opts: { textIds: boolean; meet: boolean }): OnnxModel {
    const b = new ModelBuilder({ opset: 17 });
    // Each tower has a weight of its own: a 1×1 conv kernel, an embedding table.
    b.initializer('kernel', 'float32', [3, 3, 1, 1], Float32Array.from({ length: 9 }, (_, i) => Math.cos(i)));
    const pooled = (x: string) => b.op('Flatten', [b.op('GlobalAveragePool', [b.op('Conv', [x, 'kernel'])])]);
    b.input('a', 'float32', ['n', 3, 4, 4]);
    const img = pooled('a');
    if (opts.textIds) {
      b.input('b', 'int64', ['m', 5]);
      b.initializer('table', 'float32', [10, 3], Float32Array.from({ length: 30 }, (_, i) => Math.sin(i)));
      b.node('ReduceMean', [b.op('Gather', ['table', 'b'])], { axes: [1], keepdims: 0 }, { outputs: ['txt'] });
    } else {
      b.input('b', 'float32', ['m', 3, 4, 4]);
      b.node('Identity', [pooled('b')], {}, { outputs: ['txt'] });
    }
    if (opts.meet) {
      b.node('Transpose', ['txt'], { perm: [1, 0] }, { outputs: ['txt_t'] });
      b.node('MatMul', [img, 'txt_t'], {}, { outputs: ['scores'] });
      b.output('scores', 'float32', ['n', 'm']);
    } else {
      b.node('Identity', [img], {}, { outputs: ['image_out'] });
      b.output('image_out', 'float32', ['n', 3]);
      b.output('txt', 'float32', ['m', 3]);
    }
    const proto = b.build();
    // As after ONNX shape inference: the intermediate tensors' types are declared.
    proto.graph!.valueInfo.push(makeValueInfo(img, 'float32', ['n', 3]), makeValueInfo('txt_t', 'float32', [3, 'm']));
    return { proto };
  }

  it('two towers that never meet', () => {
    const e = mmkitErrorOf(() => splitTowers(twoTowers({ textIds: true, meet: false })));
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toContain('the towers from [a] and [b] never meet: no output depends on both');
  });

  it('two image towers: no text tower to be found', () => {
    const e = mmkitErrorOf(() => splitTowers(twoTowers({ textIds: false, meet: true })));
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toContain('it found two towers, from [a: float32 [n, 3, 4, 4]] and from [b: float32 [m, 3, 4, 4]]');
  });

  it('a mask input that meets the pixels before any weight: one encoder, not two towers', () => {
    const b = new ModelBuilder({ opset: 17 });
    b.input('pixel_values', 'float32', ['n', 3, 4, 4]);
    b.input('mask', 'int64', ['n', 1, 4, 4]);
    b.initializer('kernel', 'float32', [2, 3, 1, 1], new Float32Array(6).fill(0.5));
    const masked = b.op('Mul', ['pixel_values', b.op('Cast', ['mask'], { to: 1 })]);
    b.node('Flatten', [b.op('GlobalAveragePool', [b.op('Conv', [masked, 'kernel'])])], {}, { outputs: ['features'] });
    b.output('features', 'float32', ['n', 2]);
    const e = mmkitErrorOf(() => splitTowers({ proto: b.build() }));
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toContain('the inputs [pixel_values] pass through no weights of their own before they meet the others');
  });

  it('found by structure, whatever the names: towers without embedding outputs hand over what the head first reads', async () => {
    const model = twoTowers({ textIds: true, meet: true });
    const split = splitTowers(model);
    expect(split.imageEncoder.inputs).toEqual(['a']);
    expect(split.textEncoder.inputs).toEqual(['b']);
    // No tower output is exposed, so the cut falls where the head first reads each tower.
    const view = GraphView.of(model.proto);
    expect(split.imageEncoder.outputs.map((n) => view.producer(n)?.opType)).toEqual(['Flatten']);
    expect(split.textEncoder.outputs).toEqual(['txt_t']);
    expect(split.joint.inputs).toEqual([...split.imageEncoder.outputs, ...split.textEncoder.outputs]);
    expect(GraphView.of(split.joint.model.proto).nodes.map((n) => n.opType)).toEqual(['MatMul']);
    // The transposed text features have no batch axis first: that tower does not batch.
    expect(split.textEncoder.batchable).toBe(false);

    const feeds: Feeds = {
      a: { data: Float32Array.from({ length: 2 * 48 }, (_, i) => Math.cos(i)), dims: [2, 3, 4, 4], dtype: 'float32' },
      b: { data: BigInt64Array.from({ length: 15 }, (_, i) => BigInt(i % 10)), dims: [3, 5], dtype: 'int64' },
    };
    const got = await runChained(split, feeds);
    expect(maxAbsDiff(got.scores, (await run(model, feeds)).scores)).toBe(0);
  });
});
