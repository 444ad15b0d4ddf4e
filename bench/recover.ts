import { mm, type Pipeline } from '../sdk';
import '../sdk/passes/prune/magnitude';
import '../sdk/passes/prune/structured';
import { DISTILL_OP, FINE_TUNE_OP } from '../sdk/passes/recover';
import { report } from './measure';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';
/** Epochs of each recovery run over the whole train split (8,004 digits, 256 held out): about two minutes each here. */
const EPOCHS = 2;

/** Top-1 (percent) of a pipeline's model on the 1,996 held-out MNIST digits. */
async function mnistTop1(p: Pipeline): Promise<number> {
  const r = await p.evaluate(mm.datasets.mnist({ split: 'test', batchSize: 250 }));
  return r.model.accuracy!.top1 * 100;
}

/**
 * Accuracy recovered after pruning vit-tiny-mnist, in points below the unpruned model measured in
 * the same run: 50% structured MLP pruning + distillation from the unpruned model (target ≤ 1),
 * 2:4 magnitude pruning + fine-tuning on labels (target ≤ 0.5), and a harder case (75% of MLP
 * units and half the heads removed) + distillation, for scale.
 */
export async function benchRecover(): Promise<void> {
  const base = mm.load(VIT);
  const data = mm.datasets.mnist({ split: 'train', batchSize: 500 });
  const unpruned = await mnistTop1(base);
  const cases: { name: string; pruned: Pipeline; recover: (p: Pipeline) => Pipeline; target: number }[] = [
    {
      name: '50% structured MLP + distill',
      pruned: base.step('prune.structured', { target: 'mlp', sparsity: 0.5 }),
      recover: (p) => p.step(DISTILL_OP, { teacher: base, data, epochs: EPOCHS }),
      target: 1,
    },
    {
      name: '2:4 magnitude + fine-tune',
      pruned: base.step('prune.magnitude', { pattern: 'N:M' }, { check: false }), // accuracy only: no compression check
      recover: (p) => p.step(FINE_TUNE_OP, { data, epochs: EPOCHS }),
      target: 0.5,
    },
    {
      name: '75% structured MLP + 50% heads + distill',
      pruned: base.step('prune.structured', { target: 'mlp', sparsity: 0.75 }).step('prune.structured', { target: 'heads', sparsity: 0.5 }),
      recover: (p) => p.step(DISTILL_OP, { teacher: base, data, epochs: EPOCHS, lr: 1e-3 }),
      target: Infinity,
    },
  ];
  for (const c of cases) {
    const pruned = await mnistTop1(c.pruned);
    const started = performance.now();
    const recovered = c.recover(c.pruned);
    await recovered.model();
    const seconds = (performance.now() - started) / 1000;
    const after = await mnistTop1(recovered);
    const drop = unpruned - after;
    report({
      bench: 'recover.vit-tiny-mnist',
      metric: `top-1 drop after ${c.name} (points)`,
      value: drop,
      unit: 'points',
      ...(Number.isFinite(c.target) ? { target: `<= ${c.target}`, pass: drop <= c.target } : {}),
      detail: { unpruned_top1: unpruned, pruned_top1: pruned, recovered_top1: after, train_items: data.size!, epochs: EPOCHS, seconds },
    });
  }
}
