/**
 * The data of a recovery run, held in memory (every epoch revisits it): images for a ViT, images
 * with their captions' tokens for CLIP (padded to the text tower's maxLength so batches stack),
 * labels when the dataset has them, and the teacher's outputs for every item, computed once.
 */
import { isTensorData, type Batch, type TensorData } from '../data';
import { MmkitError } from '../errors';
import type { ModelSpec } from '../models';
import type { OnnxModel } from '../onnx';
import { createSession } from '../runtime';
import { throwIfAborted } from '../runtime/batched';

export interface RecoveryData {
  size: number;
  /** [size, C, H, W] */
  pixels: Float32Array;
  /** CLIP only: token ids and attention mask, [size, maxLength]. */
  text?: { ids: Int32Array; mask: Int32Array; length: number };
  labels?: Int32Array;
}

/** What the teacher said about every item: ViT logits [size, classes], or CLIP's embeddings and logit scale. */
export type TeacherOutputs = { kind: 'vit'; logits: Float32Array; classes: number } | { kind: 'clip'; image: Float32Array; text: Float32Array; dim: number; scale: number };

const TEACHER_BATCH = 64;

function imagesOf(b: Batch, spec: ModelSpec, what: string): TensorData {
  const t = isTensorData(b.inputs) ? b.inputs : (b.inputs.pixel_values ?? (Object.keys(b.inputs).length === 1 ? Object.values(b.inputs)[0] : undefined));
  const v = spec.vision;
  const want = [v.channels, v.imageSize, v.imageSize];
  if (!t || t.dtype !== 'float32' || t.dims.length !== 4 || t.dims.slice(1).join(',') !== want.join(',')) {
    throw new MmkitError('BAD_DATASET', `${what} must yield float32 images [N, ${want}]${spec.kind === 'clip' ? ' as pixel_values' : ''}; got ${t ? `${t.dtype} [${t.dims}]` : 'no pixel_values'}.`, {
      hint: spec.kind === 'vit' ? "Use e.g. mm.datasets.mnist({ split: 'train' }) for the MNIST ViT." : "Use e.g. mm.datasets.shapes({ split: 'train' }) for the shapes CLIP.",
    });
  }
  return t;
}

/** input_ids / attention_mask of a CLIP batch, each row padded with zeros to `length`. */
function tokensOf(b: Batch, length: number, what: string): { ids: Int32Array; mask: Int32Array } {
  const inputs = isTensorData(b.inputs) ? {} : b.inputs;
  const ids = inputs.input_ids;
  const mask = inputs.attention_mask;
  if (!ids || !mask || ids.dims.length !== 2 || mask.dims.join(',') !== ids.dims.join(',')) {
    throw new MmkitError('BAD_DATASET', `${what} must yield CLIP pairs { pixel_values, input_ids, attention_mask } for a CLIP student.`, { hint: "Use e.g. mm.datasets.shapes({ split: 'train' })." });
  }
  const [n, l] = ids.dims;
  if (l > length) throw new MmkitError('BAD_DATASET', `${what} has texts of ${l} tokens; the student's text tower takes at most ${length}.`, { hint: 'Tokenize with the tokenizer the model was trained with.' });
  const outIds = new Int32Array(n * length);
  const outMask = new Int32Array(n * length);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < l; j++) {
      outIds[i * length + j] = Number(ids.data[i * l + j]);
      outMask[i * length + j] = Number(mask.data[i * l + j]);
    }
  }
  return { ids: outIds, mask: outMask };
}

function join<T extends Float32Array | Int32Array>(parts: T[], make: (n: number) => T): T {
  const out = make(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
  return out;
}

/** Reads up to `maxItems` items of `data` into memory in the form the student's spec takes. */
export async function collectRecoveryData(data: AsyncIterable<Batch>, spec: ModelSpec, maxItems: number, what: string, signal?: AbortSignal): Promise<RecoveryData> {
  const pixels: Float32Array[] = [];
  const ids: Int32Array[] = [];
  const masks: Int32Array[] = [];
  const labels: Int32Array[] = [];
  let size = 0;
  let labelled = 0;
  const length = spec.kind === 'clip' ? spec.text.maxLength : 0;
  for await (const b of data) {
    throwIfAborted(signal, `Reading ${what}`);
    const images = imagesOf(b, spec, what);
    const n = Math.min(images.dims[0], maxItems - size);
    const per = images.data.length / images.dims[0];
    pixels.push((images.data as Float32Array).subarray(0, n * per));
    if (spec.kind === 'clip') {
      const t = tokensOf(b, length, what);
      ids.push(t.ids.subarray(0, n * length));
      masks.push(t.mask.subarray(0, n * length));
    }
    if (b.label) {
      labels.push(b.label.subarray(0, n));
      labelled++;
    }
    size += n;
    if (size >= maxItems) break;
  }
  if (size === 0) throw new MmkitError('BAD_DATASET', `${what} has no items.`, { hint: 'Pass a dataset with images, e.g. mm.datasets.mnist({ split: "train" }).take(2000).' });
  if (labelled !== 0 && labelled !== pixels.length) throw new MmkitError('BAD_DATASET', `Some batches of ${what} have labels and others do not.`, { hint: 'Give labels for every batch or for none.' });
  return {
    size,
    pixels: join(pixels, (n) => new Float32Array(n)),
    ...(spec.kind === 'clip' ? { text: { ids: join(ids, (n) => new Int32Array(n)), mask: join(masks, (n) => new Int32Array(n)), length } } : {}),
    ...(labelled ? { labels: join(labels, (n) => new Int32Array(n)) } : {}),
  };
}

function rows(data: Float32Array | Int32Array, start: number, end: number, per: number): Float32Array | Int32Array {
  return data.subarray(start * per, end * per);
}

/** Runs the teacher in onnxruntime over every item once. Its outputs must fit the student's spec. */
export async function teacherOutputs(teacher: OnnxModel, spec: ModelSpec, data: RecoveryData, signal?: AbortSignal, onItems?: (done: number) => void): Promise<TeacherOutputs> {
  const session = await createSession(teacher);
  const label = teacher.path ?? 'the teacher';
  const per = data.pixels.length / data.size;
  try {
    const parts: Record<string, Float32Array[]> = {};
    for (let s = 0; s < data.size; s += TEACHER_BATCH) {
      throwIfAborted(signal, 'Running the teacher');
      const e = Math.min(data.size, s + TEACHER_BATCH);
      const pixels: TensorData = { data: rows(data.pixels, s, e, per), dims: [e - s, ...[spec.vision.channels, spec.vision.imageSize, spec.vision.imageSize]], dtype: 'float32' };
      let feeds: Record<string, TensorData>;
      let fetch: string[];
      if (spec.kind === 'vit') {
        feeds = { [session.inputNames[0]]: pixels };
        fetch = [session.outputNames[0]];
      } else {
        const t = data.text!;
        const int64 = (a: Int32Array): TensorData => ({ data: BigInt64Array.from(rows(a, s, e, t.length), (v) => BigInt(v)), dims: [e - s, t.length], dtype: 'int64' });
        feeds = { pixel_values: pixels, input_ids: int64(t.ids), attention_mask: int64(t.mask) };
        fetch = ['image_embeds', 'text_embeds', ...(s === 0 ? ['logits_per_image'] : [])];
      }
      const out = await session.run(feeds, { fetch });
      for (const [name, t] of Object.entries(out)) (parts[name] ??= []).push(t.data as Float32Array);
      onItems?.(e);
    }
    const all = (name: string): Float32Array => join(parts[name], (n) => new Float32Array(n));
    if (spec.kind === 'vit') {
      const logits = all(session.outputNames[0]);
      const classes = logits.length / data.size;
      if (classes !== spec.numClasses) {
        throw new MmkitError('SHAPE_MISMATCH', `${label} gives ${classes} logits per image but the student has ${spec.numClasses} classes.`, { file: teacher.path, hint: 'Distill from a teacher trained on the same classes.' });
      }
      return { kind: 'vit', logits, classes };
    }
    const image = all('image_embeds');
    const text = all('text_embeds');
    const dim = image.length / data.size;
    // The teacher's temperature exp(logit_scale), read off its outputs where the similarity is
    // largest: logits_per_image[i][i] = scale · imageᵢ · textᵢ.
    const first = parts.logits_per_image[0];
    const n = Math.round(Math.sqrt(first.length));
    let best = { dot: 0, logit: 0 };
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += image[i * dim + k] * text[i * dim + k];
      if (Math.abs(dot) > Math.abs(best.dot)) best = { dot, logit: first[i * n + i] };
    }
    const scale = best.logit / best.dot;
    return { kind: 'clip', image, text, dim, scale };
  } finally {
    await session.dispose();
  }
}
