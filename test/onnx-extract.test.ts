import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderShapes, shapePrompts, shapesTokenizer, type TensorData } from '../sdk/data';
import { extractModel, GraphView, isExternal, ModelBuilder, readModel, serializeModel, writeModel, type OnnxModel } from '../sdk/onnx';
import { createSession } from '../sdk/runtime';
import { mmkitErrorOf } from './helpers/errors';

const CLIP = 'datasets/models/clip-tiny-shapes.onnx';

/** Real inputs: 6 rendered test images and the 16 zero-shot prompts (image and text batches differ). */
function clipFeeds(): Record<string, TensorData> {
  return { pixel_values: renderShapes('test', [0, 1, 2, 3, 4, 5]).pixels, ...shapesTokenizer().encode(shapePrompts()) };
}

async function run(model: OnnxModel, feeds: Record<string, TensorData>): Promise<Record<string, TensorData>> {
  const session = await createSession(model, { reuse: false });
  try {
    return await session.run(feeds);
  } finally {
    await session.dispose();
  }
}

function names(model: OnnxModel): { inputs: string[]; outputs: string[]; initializers: string[] } {
  const g = model.proto.graph!;
  return { inputs: g.input.map((v) => v.name), outputs: g.output.map((v) => v.name), initializers: g.initializer.map((t) => t.name) };
}

describe('extractModel on the shipped CLIP', async () => {
  const clip = await readModel(CLIP);
  const feeds = clipFeeds();
  const full = await run(clip, feeds);

  it('the image tower: only vision nodes and weights, the same embeddings bit for bit, the source untouched', async () => {
    const before = Buffer.from(serializeModel(clip));
    const image = extractModel(clip, { inputs: ['pixel_values'], outputs: ['image_embeds'] });
    expect(Buffer.from(serializeModel(clip)).equals(before)).toBe(true);
    expect(names(image).inputs).toEqual(['pixel_values']);
    expect(names(image).outputs).toEqual(['image_embeds']);
    expect(names(image).initializers.every((n) => n.startsWith('vision.') || n === 'visual_projection.weight')).toBe(true);
    expect(names(image).initializers).toContain('visual_projection.weight');
    expect(GraphView.of(image.proto).nodes.length).toBeLessThan(GraphView.of(clip.proto).nodes.length);
    // Declared types come over as they were; opsets, metadata and IR version too.
    expect(GraphView.of(image.proto).valueInfo('image_embeds')).toEqual({ dtype: 'float32', shape: ['image_batch', 64] });
    expect(image.proto.opsetImport.map((o) => [o.domain, o.version])).toEqual([['', 17n]]);
    expect(image.proto.metadataProps).toEqual(clip.proto.metadataProps);
    expect(image.proto.irVersion).toBe(clip.proto.irVersion);

    const out = await run(image, { pixel_values: feeds.pixel_values });
    expect(out.image_embeds.dims).toEqual([6, 64]);
    expect(out.image_embeds.data).toEqual(full.image_embeds.data);
  });

  it('cut at intermediate tensors: the joint head from the embeddings gives the same logits', async () => {
    const head = extractModel(clip, { inputs: ['image_embeds', 'text_embeds'], outputs: ['logits_per_image', 'logits_per_text'] });
    expect(names(head).initializers).toEqual(['logit_scale']);
    expect(GraphView.of(head.proto).nodes.map((n) => n.opType)).toEqual(['Exp', 'Transpose', 'MatMul', 'Mul', 'Transpose']);
    const out = await run(head, { image_embeds: full.image_embeds, text_embeds: full.text_embeds });
    expect(out.logits_per_image.dims).toEqual([6, 16]);
    expect(out.logits_per_image.data).toEqual(full.logits_per_image.data);
    expect(out.logits_per_text.data).toEqual(full.logits_per_text.data);
  });

  it('an output that needs an input not listed: BAD_MODEL naming the input and the output', () => {
    const e = mmkitErrorOf(() => extractModel(clip, { inputs: ['pixel_values'], outputs: ['logits_per_image'] }));
    expect(e.code).toBe('BAD_MODEL');
    expect(['input_ids', 'attention_mask']).toContain(e.tensor);
    expect(e.message).toContain("Output 'logits_per_image'");
    expect(e.message).toContain(`graph input '${e.tensor}'`);
  });

  it('names not in the graph: UNKNOWN_TENSOR naming them; no outputs: BAD_OPTION', () => {
    const out = mmkitErrorOf(() => extractModel(clip, { inputs: ['pixel_values'], outputs: ['image_embed'] }));
    expect(out).toMatchObject({ code: 'UNKNOWN_TENSOR', tensor: 'image_embed' });
    expect(out.message).toContain("'image_embed', asked for as a sub-model output");
    const input = mmkitErrorOf(() => extractModel(clip, { inputs: ['pixels'], outputs: ['image_embeds'] }));
    expect(input).toMatchObject({ code: 'UNKNOWN_TENSOR', tensor: 'pixels' });
    expect(mmkitErrorOf(() => extractModel(clip, { inputs: ['pixel_values'], outputs: [] })).code).toBe('BAD_OPTION');
  });

  it('a cut tensor whose type the graph does not tell: BAD_MODEL with a hint to run shape inference', () => {
    // ReduceL2's output is not declared, and its dtype is not inferred cheaply.
    const norm = GraphView.of(clip.proto).nodes.find((n) => n.opType === 'ReduceL2')!.output[0];
    const e = mmkitErrorOf(() => extractModel(clip, { inputs: [norm, 'pixel_values'], outputs: ['image_embeds'] }));
    expect(e).toMatchObject({ code: 'BAD_MODEL', tensor: norm });
    expect(e.message).toContain('shape inference');
  });
});

describe('extractModel with external data', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mmkit-extract-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  await writeModel(await readModel(CLIP), join(dir, 'clip.onnx'), { externalData: { threshold: 256 } });
  const clip = await readModel(join(dir, 'clip.onnx'));

  it('keeps external initializers as references the session and writeModel still read', async () => {
    const text = extractModel(clip, { inputs: ['input_ids', 'attention_mask'], outputs: ['text_embeds'] });
    const external = text.proto.graph!.initializer.filter(isExternal);
    expect(external.length).toBeGreaterThan(10);
    expect(text.baseDir).toBe(clip.baseDir);
    const feeds = shapesTokenizer().encode(shapePrompts());
    const want = (await run(clip, { ...feeds, pixel_values: renderShapes('test', [0]).pixels })).text_embeds;
    expect((await run(text, feeds)).text_embeds.data).toEqual(want.data);

    // Saved on its own, the text tower's data file holds the text weights only.
    const written = await writeModel(text, join(dir, 'text', 'model.onnx'));
    const saved = await readModel(written.files[0]);
    expect(statSync(written.files[1]).size).toBeLessThan(statSync(join(dir, 'clip.onnx.data')).size * 0.6);
    expect((await run(saved, feeds)).text_embeds.data).toEqual(want.data);
  });
});

describe('extractModel keeps what the kept nodes need, and only that', () => {
  /** Two branches from one input: a standard one and one through a com.microsoft op. */
  function twoBranches(): OnnxModel {
    const b = new ModelBuilder({ opset: 17 });
    b.input('x', 'float32', ['n', 4]);
    b.initializer('w', 'float32', [4, 4], new Float32Array(16).fill(0.5));
    b.initializer('unused', 'float32', [1], Float32Array.of(1));
    b.node('MatMul', ['x', 'w'], {}, { outputs: ['plain'] });
    b.node('Gelu', ['x'], {}, { outputs: ['fancy'], domain: 'com.microsoft' });
    b.output('plain', 'float32', ['n', 4]);
    b.output('fancy', 'float32', ['n', 4]);
    return { proto: b.build() };
  }

  it('opset imports of dropped domains and initializers nobody reads are left out', () => {
    const model = twoBranches();
    const plain = extractModel(model, { inputs: ['x'], outputs: ['plain'] });
    expect(plain.proto.opsetImport.map((o) => o.domain)).toEqual(['']);
    expect(names(plain).initializers).toEqual(['w']);
    const fancy = extractModel(model, { inputs: ['x'], outputs: ['fancy'] });
    expect(fancy.proto.opsetImport.map((o) => o.domain).sort()).toEqual(['', 'com.microsoft']);
    expect(names(fancy).initializers).toEqual([]);
    // The source keeps everything.
    expect(model.proto.graph!.node).toHaveLength(2);
    expect(model.proto.opsetImport).toHaveLength(2);
  });

  it('an initializer listed as an input becomes a graph input instead', async () => {
    const model = twoBranches();
    const sub = extractModel(model, { inputs: ['x', 'w'], outputs: ['plain'] });
    expect(names(sub)).toEqual({ inputs: ['x', 'w'], outputs: ['plain'], initializers: [] });
    const x: TensorData = { data: Float32Array.of(1, 2, 3, 4), dims: [1, 4], dtype: 'float32' };
    const w: TensorData = { data: new Float32Array(16).fill(1), dims: [4, 4], dtype: 'float32' };
    expect(Array.from((await run(sub, { x, w })).plain.data as Float32Array)).toEqual([10, 10, 10, 10]);
  });
});
