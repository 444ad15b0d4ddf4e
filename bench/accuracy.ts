import { mm } from '../sdk';
import { evaluateClip } from '../sdk/train/clip-eval';
import type { Pipeline, QuantizeOptions } from '../sdk/pipeline';
import { report } from './measure';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';
const CLIP = 'datasets/models/clip-tiny-shapes.onnx';

/** Top-1 (percent) of a pipeline's model on the 1,996 held-out MNIST digits. */
async function mnistTop1(p: Pipeline): Promise<number> {
  const r = await p.evaluate(mm.datasets.mnist({ split: 'test', batchSize: 128 }));
  return r.model.accuracy!.top1 * 100;
}

/**
 * Accuracy cost of each quantization mode on the shipped models, in points against the float
 * model measured in the same run: vit-tiny-mnist top-1 on its test split, CLIP-tiny zero-shot.
 * The compression check is skipped: only accuracy is read here.
 */
export async function benchAccuracy(): Promise<void> {
  const vit = mm.load(VIT);
  const float = await mnistTop1(vit);
  const calibration = mm.datasets.mnist({ split: 'train' }).take(128);
  const modes: { mode: QuantizeOptions; target: number }[] = [
    { mode: { mode: 'dynamic' }, target: 0.3 },
    { mode: { mode: 'static', calibration }, target: 0.5 },
  ];
  for (const { mode, target } of modes) {
    const drop = float - (await mnistTop1(vit.quantize({ ...mode, check: false })));
    report({ bench: 'accuracy.vit-tiny-mnist', metric: `top-1 drop, ${mode.mode} int8 (points)`, value: drop, unit: 'points', target: `<= ${target}`, pass: drop <= target, detail: { float_top1: float } });
  }
  const clip = mm.load(CLIP);
  const clipFloat = (await evaluateClip(await clip.model())).zeroShotTop1 * 100;
  const clipInt8 = (await evaluateClip(await clip.quantize({ mode: 'dynamic', check: false }).model())).zeroShotTop1 * 100;
  const drop = clipFloat - clipInt8;
  report({ bench: 'accuracy.clip-tiny-shapes', metric: 'zero-shot top-1 drop, dynamic int8 (points)', value: drop, unit: 'points', target: '<= 1', pass: drop <= 1, detail: { float: clipFloat, int8: clipInt8 } });
  // Static int8, calibrated on 128 training image–caption pairs.
  const pairs = mm.datasets.shapes({ split: 'train' }).take(128);
  const clipStatic = (await evaluateClip(await clip.quantize({ mode: 'static', calibration: pairs, check: false }).model())).zeroShotTop1 * 100;
  report({ bench: 'accuracy.clip-tiny-shapes', metric: 'zero-shot top-1 drop, static int8 (points)', value: clipFloat - clipStatic, unit: 'points', target: '<= 1', pass: clipFloat - clipStatic <= 1, detail: { float: clipFloat, int8: clipStatic } });
}
