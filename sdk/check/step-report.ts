/** A compression check as a pipeline StepReport, so pipeline displays show it beside the step's own report. */
import type { Json, StepReport } from '../step';
import type { CompressionCheck } from './check';
import { checkMeasures, flagText, okLine } from './view';

export const CHECK_REPORT_OP = 'check';

/** `step` names the checked step in the title ('quantize.dynamic'). */
export function checkStepReport(check: CompressionCheck, step?: string): StepReport {
  const rows = checkMeasures(check);
  const columns = ['check', 'value', 'limit', 'verdict'];
  return {
    op: CHECK_REPORT_OP,
    title: `Compression check${step ? ` after ${step}` : ''}`,
    lines: [...(check.ok ? [okLine(check)] : []), `Compared on ${check.data}.`, ...check.notes],
    warnings: check.flags.map(flagText),
    table: { columns, rows: rows.map((r) => columns.map((c) => (r[c] === undefined ? null : String(r[c])))) },
    // The check is plain data (numbers, strings, null); this drops the optional fields left out.
    data: JSON.parse(JSON.stringify(check)) as Json,
  };
}
