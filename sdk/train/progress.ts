import type { EpochRecord, StepProgress } from './loop';

/** Training progress for a terminal or a log file: a line every `every` steps and one per epoch. */
export function logProgress(write: (line: string) => void = (l) => process.stderr.write(`${l}\n`), every = 25): {
  onStep: (p: StepProgress) => void;
  onEpoch: (r: EpochRecord) => void;
} {
  const started = performance.now();
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)}s`;
  return {
    onStep: (p) => {
      if (p.step % every === 0 || p.step === p.stepsPerEpoch) {
        write(`epoch ${p.epoch}/${p.epochs} step ${p.step}/${p.stepsPerEpoch} loss ${p.loss.toFixed(4)} lr ${p.lr.toExponential(2)} [${elapsed()}]`);
      }
    },
    onEpoch: (r) => write(`epoch ${r.epoch} done: loss ${r.loss.toFixed(4)} validation ${r.metric.toFixed(4)} (${r.seconds.toFixed(0)}s) [${elapsed()}]`),
  };
}
