import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MNIST_MEAN, MNIST_STD, mnist } from '../sdk/data';
import { evaluateModel } from '../sdk/eval';
import { buildOnnx, initWeights, toVariables, weightsFromOnnx, type VitSpec } from '../sdk/models';
import { readModel } from '../sdk/onnx';
import { tfAccuracy, trainVit, useTrainingBackend, collectImages, type TrainVitOptions } from '../sdk/train';
import { testTempDir } from './helpers/temp';

// Small enough to train twice in a few seconds on one core: 16 patches of 7 px, width 32, 1 layer.
const spec: VitSpec = {
  kind: 'vit',
  vision: { imageSize: 28, patchSize: 7, channels: 1, width: 32, layers: 1, heads: 2, mlpDim: 64, layerNormEps: 1e-6 },
  numClasses: 10,
};

const base: TrainVitOptions = {
  spec,
  train: mnist({ split: 'train', batchSize: 500 }).take(3300),
  validationSize: 300,
  epochs: 3,
  batchSize: 32,
  lr: 3e-3,
  maxShift: 0,
  background: -MNIST_MEAN / MNIST_STD,
  seed: 7,
};

let backend = '';
beforeAll(async () => {
  backend = await useTrainingBackend();
});

describe('trainVit', () => {
  it('learns MNIST well above chance, deterministically, and its ONNX export scores what tfjs scores', async () => {
    const dir = testTempDir('train');
    const epochs: number[] = [];
    const first = await trainVit({ ...base, checkpointDir: dir, onEpoch: (r) => epochs.push(r.metric) });
    const second = await trainVit(base);
    expect(backend).toBe('wasm');
    expect(first.history).toHaveLength(3);
    expect(first.bestMetric).toBeGreaterThan(0.5); // chance is 0.1
    expect(first.bestMetric).toBe(Math.max(...epochs));
    // Same seed, same backend: the same weights bit for bit.
    for (const [name, w] of Object.entries(first.weights)) expect(Array.from(second.weights[name].data)).toEqual(Array.from(w.data));

    // The checkpoint is the best epoch's model; onnxruntime's accuracy on the validation items equals tfjs's.
    const checkpoint = await readModel(path.join(dir, 'best.onnx'));
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'history.json'), 'utf8')).bestEpoch).toBe(first.bestEpoch);
    const ort = await evaluateModel(checkpoint, mnist({ split: 'train', batchSize: 100 }).take(300));
    const vars = toVariables(weightsFromOnnx(spec, checkpoint));
    const validation = await collectImages(mnist({ split: 'train', batchSize: 300 }).take(300));
    expect(Math.abs(ort.model.accuracy!.top1 - (await tfAccuracy(vars, spec, validation)))).toBeLessThanOrEqual(1 / 300);
    tf.dispose(Object.values(vars));
    expect(ort.model.accuracy!.top1).toBeCloseTo(first.bestMetric, 2);
  });

  it('fine-tunes from ONNX weights and stops early when validation stops improving', async () => {
    const start = buildOnnx(spec, initWeights(spec, 1));
    const result = await trainVit({ ...base, weights: weightsFromOnnx(spec, { proto: start }), lr: 1e-9, epochs: 6, patience: 1 });
    // With a learning rate of ~0 nothing improves after epoch 1, so patience 1 stops at epoch 2.
    expect(result.stoppedEarly).toBe(true);
    expect(result.history).toHaveLength(2);
    expect(result.bestEpoch).toBe(1);
  });

  it('stops with CANCELLED when its signal aborts', async () => {
    const controller = new AbortController();
    const run = trainVit({ ...base, signal: controller.signal, onStep: (p) => p.step === 3 && controller.abort() });
    await expect(run).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('rejects images that do not fit the spec, naming both shapes', async () => {
    await expect(trainVit({ ...base, spec: { ...spec, vision: { ...spec.vision, channels: 3 } } })).rejects.toThrow(/\[1,28,28\] but the ViT spec takes \[3,28,28\]/);
  });
});
