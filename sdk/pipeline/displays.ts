import { inspect } from 'node:util';
import { JUPYTER_DISPLAY, Panel, Table, type MimeBundle } from '../report';

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

/** A pipeline as a table of its steps (source first), with its recipe for the report. */
export function pipelinePanel(uri: string, steps: { op: string; options: object }[], recipe: unknown): Panel {
  const rows = [{ step: 0, op: 'load', options: uri }, ...steps.map((s, i) => ({ step: i + 1, op: s.op, options: JSON.stringify(s.options) }))];
  return new Panel('Pipeline', [new Table(rows, { columns: ['step', 'op', 'options'] })], { recipe });
}
