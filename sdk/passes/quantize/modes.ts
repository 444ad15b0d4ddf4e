/**
 * The quantize modes, in one table (as transformers.js's SUPPORTED_TASKS): `quantize({ mode })`
 * takes its option type, its step and its error from here.
 */
import { MmkitError } from '../../errors';
import type { StepOptions } from '../../step';
import { quantizeDynamicStep } from './dynamic';
import { quantizeStaticStep } from './static';
import { quantizeInt4Step } from './int4';
import { quantizeFloat16Step } from './fp16';

export const QUANTIZE_MODES = {
  dynamic: quantizeDynamicStep,
  static: quantizeStaticStep,
  int4: quantizeInt4Step,
  fp16: quantizeFloat16Step,
} as const;

export type QuantizeMode = keyof typeof QUANTIZE_MODES;

/** quantize()'s options: a mode and that mode's own options. */
export type QuantizeModeOptions = { [M in QuantizeMode]: { mode: M } & StepOptions<(typeof QUANTIZE_MODES)[M]> }[QuantizeMode];

/** The step of a mode; an unknown mode is a BAD_OPTION that lists the modes. */
export function quantizeModeStep(mode: unknown): (typeof QUANTIZE_MODES)[QuantizeMode] {
  if (typeof mode === 'string' && Object.hasOwn(QUANTIZE_MODES, mode)) return QUANTIZE_MODES[mode as QuantizeMode];
  const modes = Object.keys(QUANTIZE_MODES);
  throw new MmkitError('BAD_OPTION', `quantize: mode must be one of ${modes.join(', ')}, got ${JSON.stringify(mode)}.`, {
    hint: "For int8 use mode 'dynamic' (weights int8, activations at run time) or 'static' (with calibration data).",
  });
}
