/**
 * Trains the shipped shapes CLIP and writes datasets/models/clip-tiny-shapes.{onnx,md,metrics.json}.
 *   npm run train:clip                  # full run
 *   npm run train:clip -- --epochs 1 --out /tmp/clip   # a quick try
 *   npm run train:clip -- --card-only   # re-measure the shipped model and rewrite its card
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { SHAPES_SPLIT_SIZES, shapesTokenizer } from '../sdk/data/shapes';
import { CLIP_TINY_SHAPES, buildOnnx, paramDecls } from '../sdk/models';
import { readModel, writeModel } from '../sdk/onnx';
import { evaluateClip, logProgress, trainClip, useTrainingBackend, writeCard, type TrainResult } from '../sdk/train';

const HYPER = { epochs: 15, batchSize: 128, lr: 2e-3, weightDecay: 0.05, seed: 0, validationSize: 1000, patience: 5 };

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      epochs: { type: 'string' },
      // Compiled to dist/datasets/, the script writes into the source tree's datasets/models.
      out: { type: 'string', default: path.resolve(__dirname, '..', '..', 'datasets', 'models') },
      'card-only': { type: 'boolean', default: false },
    },
  });
  const outDir = path.resolve(values.out!);
  const modelFile = path.join(outDir, 'clip-tiny-shapes.onnx');
  const epochs = values.epochs ? Number(values.epochs) : HYPER.epochs;
  let result: TrainResult | undefined;
  let backend = '';
  if (!values['card-only']) {
    backend = await useTrainingBackend();
    console.error(`Training ${modelFile} on tfjs '${backend}' for ${epochs} epochs`);
    const progress = logProgress();
    result = await trainClip({
      spec: CLIP_TINY_SHAPES,
      ...HYPER,
      epochs,
      checkpointDir: path.join(os.tmpdir(), 'mmkit-checkpoints', 'clip-tiny-shapes'),
      ...progress,
      onValidation: (m) => console.error(`  validation: zero-shot ${m.zeroShotTop1.toFixed(3)}, image→text R@1 ${m.imageToText.r1.toFixed(3)} R@5 ${m.imageToText.r5.toFixed(3)}, text→image R@1 ${m.textToImage.r1.toFixed(3)} R@5 ${m.textToImage.r5.toFixed(3)}`),
    });
    await writeModel(buildOnnx(CLIP_TINY_SHAPES, result.weights, { name: 'clip-tiny-shapes', metadata: shapesTokenizer().toMetadata() }), modelFile);
  }
  const model = await readModel(modelFile);
  const m = await evaluateClip(model);
  const params = paramDecls(CLIP_TINY_SHAPES).reduce((n, d) => n + d.dims.reduce((a, b) => a * b, 1), 0);
  const { vision: v, text: t } = CLIP_TINY_SHAPES;
  const tokenizer = shapesTokenizer();
  await writeCard(path.join(outDir, 'clip-tiny-shapes'), {
    title: 'clip-tiny-shapes',
    file: 'clip-tiny-shapes.onnx',
    summary: "A tiny CLIP (image tower + text tower + projections + learned temperature) trained in TypeScript with tfjs on mmkit's procedurally rendered shapes captions, exported to ONNX by mmkit (`sdk/models`) with the inputs and outputs of Hugging Face's CLIP export.",
    architecture: {
      'image tower': `ViT on ${v.imageSize}×${v.imageSize} RGB, Conv ${v.patchSize}×${v.patchSize} patches (${(v.imageSize / v.patchSize) ** 2} + class token), width ${v.width}, ${v.layers} layers, ${v.heads} heads, MLP ${v.mlpDim}`,
      'text tower': `token + learned position embeddings (≤ ${t.maxLength} tokens), width ${t.width}, ${t.layers} layers, ${t.heads} heads, MLP ${t.mlpDim}, padding mask, pooled at [BOS]`,
      projections: `bias-free Linear to ${CLIP_TINY_SHAPES.embedDim}, L2-normalised`,
      temperature: 'learned logit_scale, logits = exp(logit_scale) · cosine similarity',
      tokenizer: `word-level, ${tokenizer.size} tokens: ${tokenizer.vocabulary.join(' ')}; sequences [BOS] words [EOS], [PAD] = 0 (shapesTokenizer(); also in the model's metadata, read by tokenizerFromModel())`,
      parameters: params,
      'ONNX opset': 17,
    },
    inputs: ['pixel_values float32 [image_batch, 3, 32, 32] in [-1, 1]', 'input_ids int64 [text_batch, sequence]', 'attention_mask int64 [text_batch, sequence]'],
    outputs: ['logits_per_image [image_batch, text_batch]', 'logits_per_text [text_batch, image_batch]', 'text_embeds [text_batch, 64]', 'image_embeds [image_batch, 64]'],
    data: `mm.datasets.shapes: 4 shapes × 4 colours, alone ("a red circle") or as a pair with a relation ("a red circle left of a blue square", relations left of / right of / above / below), rendered in the SDK with seeded jitter. Fixed splits: ${SHAPES_SPLIT_SIZES.train} train items (the first ${HYPER.validationSize} held out for validation) and ${SHAPES_SPLIT_SIZES.test} test items (500 one-shape, 500 two-shape).`,
    command: 'npm run train:clip',
    training: {
      backend: result ? `tfjs ${backend}` : '(see the training log)',
      epochs: result ? `${result.history.length} (best ${result.bestEpoch}, validation score ${result.bestMetric.toFixed(4)})` : HYPER.epochs,
      'batch size': HYPER.batchSize,
      optimizer: `AdamW, lr ${HYPER.lr}, weight decay ${HYPER.weightDecay} on matrices, 1 epoch warm-up then cosine`,
      loss: 'symmetric contrastive (InfoNCE) over the batch; items with the same caption are all positives',
      seed: HYPER.seed,
    },
    metrics: {
      zeroShotTop1: m.zeroShotTop1,
      imageToTextR1: m.imageToText.r1,
      imageToTextR5: m.imageToText.r5,
      textToImageR1: m.textToImage.r1,
      textToImageR5: m.textToImage.r5,
      zeroShotItems: m.zeroShotItems,
      retrievalItems: m.retrievalItems,
      fileBytes: model.fileBytes ?? 0,
    },
    evaluation: 'Measured by `evaluateClip(model)` (onnxruntime, CPU) on the shapes test split: zero-shot top-1 over the 16 prompts "a <colour> <shape>" on 500 one-shape images; recall@k over 500 two-shape pairs, where a hit is any item with the true caption among the top k. `test/models-shipped.test.ts` re-measures it.',
    notes: ['Chance levels: zero-shot 1/16 = 0.0625; retrieval R@1 about 0.002 (1/500).'],
  });
  console.error(`zero-shot ${m.zeroShotTop1.toFixed(4)}, image→text R@1 ${m.imageToText.r1.toFixed(4)}, text→image R@1 ${m.textToImage.r1.toFixed(4)}; wrote ${modelFile}`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
