import { shapeIndices } from '../data/shapes';
import type { OnnxModel } from '../onnx';
import { createSession, type Device } from '../runtime';
import { measureClip, type ClipEmbedder, type ClipMetrics } from './clip-metrics';

/**
 * Evaluates a CLIP ONNX model (inputs pixel_values, input_ids, attention_mask; outputs image_embeds,
 * text_embeds) on the held-out shapes test split with onnxruntime: zero-shot top-1 over the 500
 * one-shape images and recall@1/@5 both ways over the 500 two-shape image–caption pairs.
 */
export async function evaluateClip(model: OnnxModel, opts: { device?: Device } = {}): Promise<ClipMetrics> {
  const session = await createSession(model, { device: opts.device });
  try {
    const embed: ClipEmbedder = async (pixels, text) => {
      const out = await session.run({ pixel_values: pixels, ...text }, { fetch: ['image_embeds', 'text_embeds'] });
      return { image: out.image_embeds.data as Float32Array, text: out.text_embeds.data as Float32Array };
    };
    return await measureClip(embed, { split: 'test', zeroShotIndices: shapeIndices('test', 'zero-shot'), retrievalIndices: shapeIndices('test', 'retrieval') });
  } finally {
    await session.dispose();
  }
}
