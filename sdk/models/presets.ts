import type { ClipSpec, VitSpec } from './spec';

/** The shipped MNIST ViT (datasets/models/vit-tiny-mnist.onnx): 4×4 patches of 7 px, width 64, 4 layers. */
export const VIT_TINY_MNIST: VitSpec = {
  kind: 'vit',
  vision: { imageSize: 28, patchSize: 7, channels: 1, width: 64, layers: 4, heads: 4, mlpDim: 128, layerNormEps: 1e-6 },
  numClasses: 10,
};

/**
 * The shipped shapes CLIP (datasets/models/clip-tiny-shapes.onnx): a ViT image tower on 32×32 RGB
 * in 8 px patches and a 2-layer text tower over the shapes vocabulary (shapesTokenizer(), 17 words).
 */
export const CLIP_TINY_SHAPES: ClipSpec = {
  kind: 'clip',
  vision: { imageSize: 32, patchSize: 8, channels: 3, width: 64, layers: 3, heads: 4, mlpDim: 128, layerNormEps: 1e-5 },
  text: { vocabSize: 17, maxLength: 12, width: 64, layers: 2, heads: 4, mlpDim: 128, layerNormEps: 1e-5 },
  embedDim: 64,
  initLogitScale: Math.log(1 / 0.07),
};
