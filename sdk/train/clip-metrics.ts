import type { TensorData } from '../data';
import { renderShapes, shapePrompts, shapesTokenizer, type ShapesSplit } from '../data/shapes';

/** Turns images and texts into L2-normalised embeddings, [n, dim] each (by onnxruntime or tfjs). */
export type ClipEmbedder = (pixels: TensorData, text: { input_ids: TensorData; attention_mask: TensorData }) => Promise<{ image: Float32Array; text: Float32Array }>;

export interface RetrievalRecall {
  r1: number;
  r5: number;
}

export interface ClipMetrics {
  /** Top-1 accuracy of classifying one-shape images by the 16 "a <colour> <shape>" prompts. */
  zeroShotTop1: number;
  /** Caption retrieval for each image of the two-shape set, and image retrieval for each caption. */
  imageToText: RetrievalRecall;
  textToImage: RetrievalRecall;
  zeroShotItems: number;
  retrievalItems: number;
}

export interface ClipMetricsOptions {
  split: ShapesSplit;
  /** One-shape items (even indices) for zero-shot classification. */
  zeroShotIndices: number[];
  /** Two-shape items (odd indices) for retrieval. */
  retrievalIndices: number[];
  batchSize?: number;
}

function dot(a: Float32Array, i: number, b: Float32Array, j: number, dim: number): number {
  let s = 0;
  for (let k = 0; k < dim; k++) s += a[i * dim + k] * b[j * dim + k];
  return s;
}

/**
 * Recall@1 and @5 of retrieving, for each query, a candidate with the same caption (captions can
 * repeat in the set, and any candidate with the true caption counts as a hit).
 */
export function recallAtK(queries: Float32Array, candidates: Float32Array, captions: readonly string[], dim: number): RetrievalRecall {
  const n = captions.length;
  let r1 = 0;
  let r5 = 0;
  for (let q = 0; q < n; q++) {
    const scores = Array.from({ length: n }, (_, c) => dot(queries, q, candidates, c, dim));
    const ranked = scores.map((s, c) => [s, c] as const).sort((a, b) => b[0] - a[0]);
    const firstHit = ranked.findIndex(([, c]) => captions[c] === captions[q]);
    if (firstHit === 0) r1++;
    if (firstHit < 5) r5++;
  }
  return { r1: r1 / n, r5: r5 / n };
}

/** Zero-shot accuracy and image↔text recall of a CLIP model on the shapes set. */
export async function measureClip(embed: ClipEmbedder, opts: ClipMetricsOptions): Promise<ClipMetrics> {
  const tokenizer = shapesTokenizer();
  const per = opts.batchSize ?? 100;
  const prompts = tokenizer.encode(shapePrompts());
  let correct = 0;
  for (let s = 0; s < opts.zeroShotIndices.length; s += per) {
    const { pixels, scenes } = renderShapes(opts.split, opts.zeroShotIndices.slice(s, s + per));
    const { image, text } = await embed(pixels, prompts);
    const dim = image.length / scenes.length;
    scenes.forEach((scene, i) => {
      let best = 0;
      let bestScore = dot(image, i, text, 0, dim);
      for (let c = 1; c < prompts.input_ids.dims[0]; c++) {
        const score = dot(image, i, text, c, dim);
        if (score > bestScore) [best, bestScore] = [c, score];
      }
      if (best === scene.classIndex) correct++;
    });
  }
  const images: Float32Array[] = [];
  const texts: Float32Array[] = [];
  const captions: string[] = [];
  for (let s = 0; s < opts.retrievalIndices.length; s += per) {
    const { pixels, scenes } = renderShapes(opts.split, opts.retrievalIndices.slice(s, s + per));
    const batchCaptions = scenes.map((sc) => sc.caption);
    const { image, text } = await embed(pixels, tokenizer.encode(batchCaptions));
    images.push(image);
    texts.push(text);
    captions.push(...batchCaptions);
  }
  const join = (parts: Float32Array[]): Float32Array => {
    const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((o, p) => (out.set(p, o), o + p.length), 0);
    return out;
  };
  const allImages = join(images);
  const allTexts = join(texts);
  const dim = allImages.length / captions.length;
  return {
    zeroShotTop1: correct / opts.zeroShotIndices.length,
    imageToText: recallAtK(allImages, allTexts, captions, dim),
    textToImage: recallAtK(allTexts, allImages, captions, dim),
    zeroShotItems: opts.zeroShotIndices.length,
    retrievalItems: captions.length,
  };
}
