import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { buildOnnx, initWeights, type VitSpec } from '../sdk/models';
import { writeModel } from '../sdk/onnx';
import { PACKAGE_ROOT } from '../sdk/version';

/** ViT-B/16 as torchvision defines it (86.6 M parameters, ~350 MB in float32). */
export const VIT_B16: VitSpec = {
  kind: 'vit',
  vision: { imageSize: 224, patchSize: 16, channels: 3, width: 768, layers: 12, heads: 12, mlpDim: 3072, layerNormEps: 1e-6 },
  numClasses: 1000,
};

export const BENCH_CACHE = path.join(PACKAGE_ROOT, '.cache', 'bench');

/** The ViT-B/16-shaped model with seeded random weights, built once and kept in .cache/bench. */
export async function vitB16File(): Promise<string> {
  const file = path.join(BENCH_CACHE, 'vit-b16-random.onnx');
  if (!existsSync(file)) {
    mkdirSync(BENCH_CACHE, { recursive: true });
    await writeModel(buildOnnx(VIT_B16, initWeights(VIT_B16, 16), { name: 'vit-b16-random' }), file);
  }
  return file;
}
