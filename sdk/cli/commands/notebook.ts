/**
 * `mmkit notebook`: runs a notebook headless in the mmkit kernel (kernel-extras' runner) and
 * writes the executed .ipynb and an HTML report; exit 1 when a cell fails.
 */
import type { Command } from 'commander';
import { parseParameter, type ParameterValue } from '../../../kernel-extras/runner/notebook';
import { runNotebook, type CellEvent } from '../../../kernel-extras/runner/run-notebook';
import { EXIT, action, emit, jsonOption, note, type ExitCode } from '../command';
import { wholeNumber } from '../options';

interface NotebookOptions {
  param: string[];
  out: string;
  timeout?: number;
  json?: boolean;
}

const EXAMPLES = `
Examples:
  mmkit notebook notebooks/01-vit-compression.ipynb --out out/tutorial
  mmkit notebook report.ipynb --param items=500 --param mode='"static"' --out out/report

Parameters are assigned in a cell inserted after the cell tagged "parameters" (at the top when
none is): values parse as JSON when they can (numbers, booleans, quoted strings, arrays), else
they are strings.

Exit codes: 0 every cell ran, 1 a cell failed (the outputs are still written), 2 bad usage or input.`;

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function register(program: Command): void {
  const cmd = program
    .command('notebook')
    .summary('run a notebook headless in the mmkit kernel; writes the executed .ipynb and an HTML report')
    .description('Execute a Jupyter notebook headless in the mmkit TypeScript kernel, with parameters; write the executed notebook and an HTML report.')
    .argument('<file>', 'the notebook (.ipynb, nbformat 4)')
    .option('-p, --param <name=value>', 'set a parameter (repeatable)', collect, [])
    .option('--out <dir>', 'folder for <name>.ipynb and <name>.html', 'out')
    .option('--timeout <seconds>', 'longest a single cell may run (default 600)', wholeNumber(1));
  jsonOption(cmd)
    .addHelpText('after', EXAMPLES)
    .action(action((file: string, opts: NotebookOptions) => notebook(file, opts)));
}

/** One line on stderr per finished cell ("[ 3/24] cell 5 ✓ 2.1 s  const report = …"): a long notebook is never silent. */
function showCell(e: CellEvent): void {
  if (e.phase !== 'done') return;
  const line = e.firstLine.length > 60 ? `${e.firstLine.slice(0, 59)}…` : e.firstLine;
  const width = String(e.total).length;
  note(`[${String(e.position).padStart(width)}/${e.total}] cell ${e.cellIndex + 1} ${e.failed ? '✗' : '✓'} ${((e.ms ?? 0) / 1000).toFixed(1)} s  ${line}`);
}

async function notebook(file: string, opts: NotebookOptions): Promise<ExitCode> {
  const parameters: Record<string, ParameterValue> = Object.fromEntries(opts.param.map(parseParameter));
  const result = await runNotebook(file, { parameters, outDir: opts.out, cellTimeoutMs: opts.timeout === undefined ? undefined : opts.timeout * 1000, onCell: showCell });
  const failure = result.failure && { cell: result.failure.cellIndex + 1, ename: result.failure.ename, evalue: result.failure.evalue, skippedCells: result.skippedCells.length };
  emit(opts, { ok: result.ok, notebook: result.notebookPath, html: result.htmlPath, failure: failure ?? null }, () => `Wrote ${result.notebookPath}\nWrote ${result.htmlPath}`);
  if (failure) note(`mmkit notebook: ${file} failed at cell ${failure.cell}: ${failure.ename}: ${failure.evalue}${failure.skippedCells ? ` (${failure.skippedCells} later cell(s) did not run)` : ''}`);
  return result.ok ? EXIT.OK : EXIT.FLAGGED;
}
