/**
 * Never silently a no-op: what a compression step did, judged from its result and its report's
 * coverage. A step that changed nothing, or left most of what it targets as it was, gets a warning
 * that counts what it skipped by reason; `strict` turns "changed nothing" into an error.
 */
import { MmkitError } from '../errors';
import type { StepCoverage, StepReport } from '../step';

/** Below this share of its (not user-excluded) targets changed, a step is said to have done little. */
const LITTLE_DONE = 0.5;

/** 'excluded' counts are the user's choice: they never make a step look idle. */
const USER_CHOICE = 'excluded';

export interface StepEffect {
  /** The step returned its input model unchanged. */
  unchanged: boolean;
  /** The warning to show with the step's report, when it did nothing or little. */
  warning?: string;
}

function skippedText(skipped: StepCoverage['skipped']): string {
  const parts = Object.entries(skipped)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([why, n]) => `${n} ${why}`);
  return parts.length ? parts.join(', ') : 'none skipped';
}

/** A report's own lines as one text, without the final full stop (the warning adds its own). */
function sentences(lines: string[]): string {
  return lines.join(' ').trim().replace(/\.$/, '');
}

export function stepEffect(op: string, file: string, unchanged: boolean, report: StepReport | undefined): StepEffect {
  const c = report?.coverage;
  if (unchanged) {
    const found = c
      ? c.targeted === 0
        ? `it found no ${c.unit} to work on`
        : `it left all ${c.targeted} ${c.unit} as they were (${skippedText(c.skipped)})`
      : sentences(report ? [...report.lines, ...report.warnings] : []) || 'it reported nothing';
    return { unchanged, warning: `${op} changed nothing in ${file}: ${found}. The model comes out as it went in.` };
  }
  if (!c) return { unchanged };
  const excluded = c.skipped[USER_CHOICE] ?? 0;
  const eligible = c.targeted - excluded;
  if (eligible <= 0 || c.changed >= LITTLE_DONE * eligible) return { unchanged };
  return {
    unchanged,
    warning: `${op} changed only ${c.changed} of ${c.targeted} ${c.unit} in ${file}; left: ${skippedText(c.skipped)}.`,
  };
}

/** The error `strict` raises for a step that changed nothing. */
export function noEffectError(op: string, file: string, effect: StepEffect): MmkitError {
  return new MmkitError('NO_EFFECT', effect.warning ?? `${op} changed nothing in ${file}.`, {
    file,
    hint: 'See the step report for what was skipped and why; change the step options, or drop strict to accept the model as it is.',
  });
}

/** The step's report with the effect's warning first (a report made up when the step gave none). */
export function withEffectWarning(op: string, report: StepReport | undefined, effect: StepEffect): StepReport | undefined {
  if (!effect.warning) return report;
  const base = report ?? { op, title: op, lines: [], warnings: [] };
  return { ...base, warnings: [effect.warning, ...base.warnings] };
}
