import { inspect } from 'node:util';
import { JUPYTER_DISPLAY, Panel, Table, Warning, type MimeBundle, type PanelPart } from '../report';
import type { StepReport } from '../step';

/**
 * Gives a plain result object (a summary, an evaluation report) its rich display without
 * changing its data: the display methods are non-enumerable, so JSON.stringify and
 * structured clones still see only the numbers.
 */
export function withView<T extends object>(value: T, view: (v: T) => Panel): T {
  Object.defineProperty(value, JUPYTER_DISPLAY, { value: (): Promise<MimeBundle> => view(value)[JUPYTER_DISPLAY](), enumerable: false });
  Object.defineProperty(value, inspect.custom, { value: (): string => view(value).toText(), enumerable: false });
  return value;
}

/** What one step reported: its lines, its warnings highlighted, its table. */
export function stepReportParts(report: StepReport): PanelPart[] {
  const table = report.table && new Table(report.table.rows.map((r) => Object.fromEntries(report.table!.columns.map((c, i) => [c, r[i]]))), { columns: report.table.columns, title: report.title });
  return [`${report.op}: ${report.title}`, ...report.lines, ...report.warnings.map((w) => new Warning(w)), ...(table ? [table] : [])];
}

/**
 * A pipeline as a table of its steps (source first), with its recipe for the report, followed by
 * what its steps reported once they have run (a display never starts the computation).
 */
export function pipelinePanel(uri: string, steps: { op: string; options: object }[], recipe: unknown, reports: StepReport[] = []): Panel {
  const rows = [{ step: 0, op: 'load', options: uri }, ...steps.map((s, i) => ({ step: i + 1, op: s.op, options: JSON.stringify(s.options) }))];
  return new Panel('Pipeline', [new Table(rows, { columns: ['step', 'op', 'options'] }), ...reports.flatMap(stepReportParts)], { recipe });
}
