/**
 * Notebooks (nbformat 4) as the runner reads and writes them, and papermill's parameter
 * convention: values go into a new cell right after the cell tagged `parameters`.
 */
import { readFileSync } from 'node:fs';
import { MmkitError } from '../../sdk/errors';

export type MultilineText = string | string[];

export type Output =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: MultilineText }
  | { output_type: 'display_data'; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { output_type: 'execute_result'; execution_count: number | null; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

export interface CodeCell {
  cell_type: 'code';
  id?: string;
  source: MultilineText;
  metadata: { tags?: string[]; [key: string]: unknown };
  execution_count: number | null;
  outputs: Output[];
}

export interface TextCell {
  cell_type: 'markdown' | 'raw';
  id?: string;
  source: MultilineText;
  metadata: Record<string, unknown>;
}

export type Cell = CodeCell | TextCell;

export interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: Record<string, unknown>;
  cells: Cell[];
}

export function joinText(text: MultilineText): string {
  return Array.isArray(text) ? text.join('') : text;
}

export function readNotebook(file: string): Notebook {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new MmkitError('BAD_OPTION', `Could not read the notebook ${file}: ${String(cause)}.`, {
      file,
      hint: 'Pass a .ipynb file (nbformat 4 JSON).',
    });
  }
  const nb = parsed as Partial<Notebook>;
  if (nb.nbformat !== 4 || !Array.isArray(nb.cells)) {
    throw new MmkitError('BAD_OPTION', `${file} is not an nbformat 4 notebook.`, { file, hint: 'Save it from Jupyter 4+.' });
  }
  return parsed as Notebook;
}

export type ParameterValue = string | number | boolean | null | ParameterValue[] | { [key: string]: ParameterValue };

/** `key=value`: the value as JSON when it parses (numbers, booleans, quoted strings, arrays), else a string. */
export function parseParameter(assignment: string): [string, ParameterValue] {
  const at = assignment.indexOf('=');
  const key = at < 0 ? '' : assignment.slice(0, at).trim();
  if (!/^[A-Za-z_$][\w$]*$/.test(key)) {
    throw new MmkitError('BAD_OPTION', `--param ${assignment}: expected name=value with a TypeScript identifier as name.`);
  }
  const text = assignment.slice(at + 1);
  try {
    return [key, JSON.parse(text) as ParameterValue];
  } catch {
    return [key, text];
  }
}

function newCellId(): string {
  return Math.random().toString(16).slice(2, 10);
}

/**
 * Inserts a cell assigning the parameters right after the cell tagged `parameters` (at the
 * top when there is none). tslab lets a later cell redeclare a name, so `const` is fine.
 */
export function injectParameters(nb: Notebook, params: Record<string, ParameterValue>): Notebook {
  const names = Object.keys(params);
  if (names.length === 0) return nb;
  const source = [
    '// Parameters injected by mmkit notebook',
    ...names.map((name) => `const ${name} = ${JSON.stringify(params[name])};`),
  ].join('\n');
  const injected: CodeCell = {
    cell_type: 'code',
    id: newCellId(),
    source,
    metadata: { tags: ['injected-parameters'] },
    execution_count: null,
    outputs: [],
  };
  const at = nb.cells.findIndex((cell) => cell.cell_type === 'code' && cell.metadata.tags?.includes('parameters'));
  const cells = [...nb.cells];
  cells.splice(at + 1, 0, injected);
  return { ...nb, cells };
}
