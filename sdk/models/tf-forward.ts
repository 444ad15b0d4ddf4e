import * as tf from '@tensorflow/tfjs';
import { MASKED_SCORE } from './onnx-graph';
import { attentionWidth, blockSpec, headDim, patchGrid, type ClipSpec, type EncoderSpec, type TextTowerSpec, type VisionTowerSpec, type VitSpec } from './spec';

/** Parameters as tfjs tensors (trainable variables or constants), by the names of weights.ts. */
export type TfParams = Record<string, tf.Tensor>;

// The forward passes in tfjs, op for op the graphs of onnx-graph.ts, so that equal weights give
// equal outputs in onnxruntime and tfjs. Call them inside tf.tidy (or a gradient function).

/** Swaps the last two axes. */
function swapLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  [perm[perm.length - 2], perm[perm.length - 1]] = [perm[perm.length - 1], perm[perm.length - 2]];
  return tf.transpose(x, perm);
}

/**
 * a · b with gradients that also multiply untransposed operands. tfjs-wasm is fast only for
 * plain (non-transposed) matmuls, ~10-20× slower with transposeA/B, which tfjs's own gradients use;
 * an explicit Transpose first is cheap by comparison.
 */
const matMulWithPlainGrads = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, [sa, sb]: tf.Tensor[]) => [tf.matMul(dy, swapLast(sb)), tf.matMul(swapLast(sa), dy)],
  };
});

function matMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return matMulWithPlainGrads(a, b);
}

function linear(p: TfParams, x: tf.Tensor, name: string, bias = true): tf.Tensor {
  const w = p[`${name}.weight`] as tf.Tensor2D;
  const [inDim, outDim] = w.shape;
  const lead = x.shape.slice(0, -1);
  const y = matMul(x.reshape([-1, inDim]), w).reshape([...lead, outDim]);
  return bias ? tf.add(y, p[`${name}.bias`]) : y;
}

function layerNorm(p: TfParams, x: tf.Tensor, name: string, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), p[`${name}.weight`]), p[`${name}.bias`]);
}

function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(tf.mul(x, tf.add(tf.erf(tf.div(x, Math.SQRT2)), 1)), 0.5);
}

function attention(p: TfParams, x: tf.Tensor, prefix: string, e: EncoderSpec, block: number, maskBias?: tf.Tensor): tf.Tensor {
  const [batch, tokens] = x.shape;
  const heads = blockSpec(e, block).heads;
  const split = (name: string, perm: number[]): tf.Tensor => tf.transpose(linear(p, x, `${prefix}.attn.${name}`).reshape([batch, tokens, heads, headDim(e)]), perm);
  let scores = tf.div(matMul(split('q', [0, 2, 1, 3]), split('k', [0, 2, 3, 1])), Math.sqrt(headDim(e)));
  if (maskBias) scores = tf.add(scores, maskBias);
  const ctx = tf.transpose(matMul(tf.softmax(scores, -1), split('v', [0, 2, 1, 3])), [0, 2, 1, 3]);
  return linear(p, ctx.reshape([batch, tokens, attentionWidth(e, block)]), `${prefix}.attn.out`);
}

function encoder(p: TfParams, h: tf.Tensor, tower: string, e: EncoderSpec, maskBias?: tf.Tensor): tf.Tensor {
  for (let i = 0; i < e.layers; i++) {
    const prefix = `${tower}.layers.${i}`;
    h = tf.add(h, attention(p, layerNorm(p, h, `${prefix}.ln1`, e.layerNormEps), prefix, e, i, maskBias));
    h = tf.add(h, linear(p, gelu(linear(p, layerNorm(p, h, `${prefix}.ln2`, e.layerNormEps), `${prefix}.mlp.fc1`)), `${prefix}.mlp.fc2`));
  }
  return layerNorm(p, h, `${tower}.ln_final`, e.layerNormEps);
}

function firstToken(h: tf.Tensor): tf.Tensor2D {
  const [batch, , width] = h.shape;
  return tf.slice(h, [0, 0, 0], [batch, 1, width]).reshape([batch, width]);
}

/**
 * Patch embedding as the Conv of the graph computes it: cutting the image into patches and
 * multiplying by the [out, in·kh·kw] filter is the same sum, and trains faster on the wasm backend.
 */
function patchEmbed(p: TfParams, pixels: tf.Tensor4D, v: VisionTowerSpec): tf.Tensor {
  const [batch] = pixels.shape;
  const g = patchGrid(v);
  const s = v.patchSize;
  // [B, C, g, s, g, s] → [B, g, g, C, s, s] → [B, g·g, C·s·s]
  const patches = tf.transpose(pixels.reshape([batch, v.channels, g, s, g, s]), [0, 2, 4, 1, 3, 5]).reshape([batch, g * g, v.channels * s * s]);
  const filter = p['vision.patch_embed.weight'].reshape([v.width, v.channels * s * s]);
  return tf.add(matMul(patches.reshape([batch * g * g, -1]), swapLast(filter)).reshape([batch, g * g, v.width]), p['vision.patch_embed.bias']);
}

/** pixel_values [B, C, H, W] → pooled class token [B, width]. */
export function visionTower(p: TfParams, pixels: tf.Tensor4D, v: VisionTowerSpec): tf.Tensor2D {
  const [batch] = pixels.shape;
  const cls = tf.tile(p['vision.cls_token'], [batch, 1, 1]);
  const tokens = tf.add(tf.concat([cls, patchEmbed(p, pixels, v)], 1), p['vision.pos_embed']);
  return firstToken(encoder(p, tokens, 'vision', v));
}

/** input_ids, attention_mask [B, L] (int32 in tfjs) → pooled token 0 [B, width]. */
export function textTower(p: TfParams, ids: tf.Tensor2D, mask: tf.Tensor2D, t: TextTowerSpec): tf.Tensor2D {
  const [batch, length] = ids.shape;
  // The graph's Gather, as a one-hot product: tfjs-wasm has no kernel for Gather's gradient
  // (UnsortedSegmentSum), and with a small vocabulary the product is cheap.
  const tokens = matMul(tf.oneHot(ids.reshape([-1]), t.vocabSize), p['text.token_embed']).reshape([batch, length, t.width]);
  const h = tf.add(tokens, tf.slice(p['text.pos_embed'], [0, 0], [length, t.width]));
  const maskBias = tf.mul(tf.sub(1, tf.cast(mask, 'float32')), MASKED_SCORE).reshape([batch, 1, 1, length]);
  return firstToken(encoder(p, h, 'text', t, maskBias));
}

export function vitLogits(p: TfParams, spec: VitSpec, pixels: tf.Tensor4D): tf.Tensor2D {
  return linear(p, visionTower(p, pixels, spec.vision), 'classifier') as tf.Tensor2D;
}

function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.norm(x, 'euclidean', -1, true));
}

export interface ClipOutputs {
  imageEmbeds: tf.Tensor2D;
  textEmbeds: tf.Tensor2D;
  /** exp(logit_scale) · image · textᵀ, [images, texts]. */
  logitsPerImage: tf.Tensor2D;
}

export function clipForward(p: TfParams, spec: ClipSpec, pixels: tf.Tensor4D, ids: tf.Tensor2D, mask: tf.Tensor2D): ClipOutputs {
  const imageEmbeds = l2Normalize(linear(p, visionTower(p, pixels, spec.vision), 'visual_projection', false) as tf.Tensor2D);
  const textEmbeds = l2Normalize(linear(p, textTower(p, ids, mask, spec.text), 'text_projection', false) as tf.Tensor2D);
  const logitsPerImage = tf.mul(matMul(imageEmbeds, swapLast(textEmbeds)), tf.exp(p.logit_scale)) as tf.Tensor2D;
  return { imageEmbeds, textEmbeds, logitsPerImage };
}
