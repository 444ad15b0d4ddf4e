/** Option parsers and options that several commands share. */
import { InvalidArgumentError, Option } from 'commander';
import { DEVICES } from '../runtime';

/** A whole number ≥ min, for counts (items, batch sizes, seconds). */
export function wholeNumber(min: number): (text: string) => number {
  return (text) => {
    const n = /^\d+$/.test(text) ? Number(text) : NaN;
    if (!(n >= min)) throw new InvalidArgumentError(`expected a whole number ≥ ${min}.`);
    return n;
  };
}

/** A plain decimal number (range checks are left to the SDK, which names the limits). */
export function decimal(text: string): number {
  const x = /^-?\d*\.?\d+$/.test(text) ? Number(text) : NaN;
  if (Number.isNaN(x)) throw new InvalidArgumentError('expected a number, e.g. 0.99.');
  return x;
}

/** `--device`: where onnxruntime runs the model; unavailable devices fall back to cpu with a notice. */
export function deviceOption(): Option {
  return new Option('--device <device>', 'where the model runs (unavailable devices fall back to cpu with a notice)').choices(DEVICES).default('cpu');
}
