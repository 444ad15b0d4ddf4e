import { readModel, type OnnxModel } from '../sdk/onnx';
import { mnist } from '../sdk/data';
import { evaluateModel, modelSize } from '../sdk/eval';
import { createSession, syntheticFeeds, type Session } from '../sdk/runtime';
import { pruneStructured, type PruneScore } from '../sdk/passes/prune/structured';
import { report } from './measure';
import { vitB16File } from './vit-b16';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';

/** Top-1 (percent) on the 1,996 held-out MNIST digits, and top-1 agreement (percent) with `baseline`. */
async function mnistTop1(model: OnnxModel, baseline: OnnxModel): Promise<{ top1: number; agreement: number }> {
  const r = await evaluateModel(model, mnist({ split: 'test', batchSize: 250 }), { baseline });
  return { top1: r.model.accuracy!.top1 * 100, agreement: r.agreement!.top1 * 100 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Batch-8 p50 latency of two models, runs interleaved (A B, B A, ...): with other work sharing
 * this 2-core machine, the ratio of back-to-back runs is steadier than two separate timings.
 */
async function interleavedLatency(a: OnnxModel, b: OnnxModel, rounds = 9): Promise<{ aMs: number; bMs: number; ratio: number; fastestRatio: number }> {
  const sessions: Session[] = [await createSession(a, { reuse: false }), await createSession(b, { reuse: false })];
  try {
    const feeds = sessions.map((s) => syntheticFeeds(s.inputs, { batchSize: 8 }));
    const time = async (k: number) => {
      const t0 = performance.now();
      await sessions[k].run(feeds[k]);
      return performance.now() - t0;
    };
    await time(0);
    await time(1);
    const ms: number[][] = [[], []];
    for (let r = 0; r < rounds; r++) for (const k of r % 2 ? [1, 0] : [0, 1]) ms[k].push(await time(k));
    return { aMs: median(ms[0]), bMs: median(ms[1]), ratio: median(ms[1].map((x, i) => x / ms[0][i])), fastestRatio: Math.min(...ms[1]) / Math.min(...ms[0]) };
  } finally {
    for (const s of sessions) await s.dispose();
  }
}

/**
 * 50% of the MLP hidden units removed from the ViT-B/16-shaped model: parameters and batch-8
 * latency against the unpruned model in the same run; and what the same pruning costs the MNIST
 * ViT in top-1 without any recovery (distillation recovers it), for weight-norm and data-driven scores.
 */
export async function benchPrune(): Promise<void> {
  const dense = await readModel(await vitB16File());
  const t0 = process.hrtime.bigint();
  const { model: pruned } = await pruneStructured(dense, { target: 'mlp', sparsity: 0.5 });
  const pruneS = Number(process.hrtime.bigint() - t0) / 1e9;
  const paramRatio = modelSize(pruned).params / modelSize(dense).params;
  report({ bench: 'prune.vit-b16', metric: '50% MLP units removed: params / unpruned params', value: paramRatio, unit: 'ratio', target: '<= 0.7', pass: paramRatio <= 0.7, detail: { dense_params: modelSize(dense).params, pruned_params: modelSize(pruned).params } });
  report({ bench: 'prune.vit-b16', metric: 'time to prune 50% of MLP units (L2 scores)', value: pruneS, unit: 's' });
  const { aMs, bMs, ratio, fastestRatio } = await interleavedLatency(dense, pruned);
  report({ bench: 'prune.vit-b16', metric: '50% MLP units removed: latency / unpruned latency (batch 8, p50)', value: ratio, unit: 'ratio', target: '<= 0.75', pass: ratio <= 0.75, detail: { dense_ms: aMs, pruned_ms: bMs, fastest_run_ratio: fastestRatio } });

  const vit = await readModel(VIT);
  const float = (await mnistTop1(vit, vit)).top1;
  const calibration = mnist({ split: 'train', batchSize: 64 }).take(256);
  for (const score of ['l2', 'activation'] as PruneScore[]) {
    const { model } = await pruneStructured(vit, { target: 'mlp', sparsity: 0.5, score, calibration: score === 'activation' ? calibration : undefined });
    const { top1, agreement } = await mnistTop1(model, vit);
    report({
      bench: 'prune.vit-tiny-mnist',
      metric: `top-1 drop, 50% MLP units removed (${score} scores), no recovery (points)`,
      value: float - top1,
      unit: 'points',
      detail: { float_top1: float, pruned_top1: top1, agreement_with_float: agreement },
    });
  }
}
