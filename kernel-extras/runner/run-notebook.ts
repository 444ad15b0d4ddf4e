/**
 * Executes a notebook top to bottom in a fresh mmkit kernel, papermill-style: parameters
 * injected after the `parameters` cell, execution stops at the first failing cell, and the
 * executed .ipynb plus a standalone HTML report are written either way.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { KERNEL_DISPLAY_NAME, KERNEL_NAME } from '../kernelspec';
import type { JupyterMessage } from '../wire';
import { environmentFacts } from './environment';
import { renderHtmlReport } from './html-report';
import { KernelClient } from './kernel-client';
import { injectParameters, joinText, readNotebook, type CodeCell, type Notebook, type ParameterValue } from './notebook';
import { OutputCollector } from './outputs';

export interface RunOptions {
  parameters?: Record<string, ParameterValue>;
  /** Folder for <name>.ipynb and <name>.html; default: "out" under the current directory. */
  outDir?: string;
  /** Longest a single cell may run. Default 10 minutes. */
  cellTimeoutMs?: number;
  /** Told when each code cell starts and ends, so a terminal can show progress through a long notebook. */
  onCell?: (event: CellEvent) => void;
}

export interface CellEvent {
  phase: 'start' | 'done';
  /** Index of the cell among all cells of the notebook. */
  cellIndex: number;
  /** 1-based position among the code cells that run, and how many there are. */
  position: number;
  total: number;
  /** The cell's first line of code. */
  firstLine: string;
  /** With 'done': how long it ran, and whether it failed. */
  ms?: number;
  failed?: boolean;
}

export interface CellFailure {
  /** Index of the failing cell among all cells of the executed notebook. */
  cellIndex: number;
  ename: string;
  evalue: string;
}

export interface RunResult {
  ok: boolean;
  notebook: Notebook;
  notebookPath: string;
  htmlPath: string;
  failure?: CellFailure;
  /** Code cells that never ran because an earlier one failed. */
  skippedCells: number[];
  /** Every iopub message each code cell caused, by cell index (for inspection and tests). */
  messages: Map<number, JupyterMessage[]>;
}

function writeAtomically(file: string, text: string): void {
  const partial = `${file}.${process.pid}.tmp`;
  writeFileSync(partial, text);
  renameSync(partial, file);
}

/** Why a cell failed, from its reply and outputs; undefined when it ran cleanly. */
function failureOf(cellIndex: number, reply: JupyterMessage, cell: CodeCell): CellFailure | undefined {
  const error = cell.outputs.find((o) => o.output_type === 'error');
  if (error && error.output_type === 'error') return { cellIndex, ename: error.ename, evalue: error.evalue };
  if (reply.content.status !== 'ok') {
    return { cellIndex, ename: String(reply.content.ename ?? 'Error'), evalue: String(reply.content.evalue ?? `reply status "${String(reply.content.status)}"`) };
  }
  return undefined;
}

/** The notebook's first Markdown heading, which names it better than its file does. */
function titleOf(nb: Notebook): string | undefined {
  for (const cell of nb.cells) {
    if (cell.cell_type !== 'markdown') continue;
    const heading = /^#{1,6}\s+(.+)$/m.exec(joinText(cell.source));
    if (heading) return heading[1].trim();
  }
  return undefined;
}

export async function runNotebook(file: string, options: RunOptions = {}): Promise<RunResult> {
  const source = readNotebook(file);
  const parameters = options.parameters ?? {};
  const notebook = injectParameters(source, parameters);
  const startedAt = new Date();
  const collector = new OutputCollector();
  const messages = new Map<number, JupyterMessage[]>();
  const skippedCells: number[] = [];
  let failure: CellFailure | undefined;

  for (const cell of notebook.cells) {
    if (cell.cell_type === 'code') {
      cell.outputs = [];
      cell.execution_count = null;
    }
  }
  const kernel = await KernelClient.start({ cwd: path.dirname(path.resolve(file)) });
  const total = notebook.cells.filter((c) => c.cell_type === 'code' && joinText(c.source).trim()).length;
  let position = 0;
  try {
    for (const [index, cell] of notebook.cells.entries()) {
      if (cell.cell_type !== 'code') continue;
      if (failure) {
        skippedCells.push(index);
        continue;
      }
      const code = joinText(cell.source);
      if (!code.trim()) continue;
      const event = { cellIndex: index, position: ++position, total, firstLine: code.trim().split('\n')[0] };
      options.onCell?.({ phase: 'start', ...event });
      const began = Date.now();
      try {
        const { reply, messages: iopub } = await kernel.execute(code, { timeoutMs: options.cellTimeoutMs });
        messages.set(index, iopub);
        for (const message of iopub) collector.apply(cell.outputs, message);
        cell.execution_count = typeof reply.content.execution_count === 'number' ? reply.content.execution_count : null;
        failure = failureOf(index, reply, cell);
      } catch (e) {
        failure = { cellIndex: index, ename: 'KernelError', evalue: e instanceof Error ? e.message : String(e) };
      }
      options.onCell?.({ phase: 'done', ...event, ms: Date.now() - began, failed: failure !== undefined });
    }
  } finally {
    await kernel.shutdown();
  }

  notebook.metadata = {
    ...notebook.metadata,
    kernelspec: { name: KERNEL_NAME, display_name: KERNEL_DISPLAY_NAME, language: 'typescript' },
    language_info: { name: 'typescript', file_extension: '.ts', mimetype: 'text/typescript' },
    mmkit: { parameters, startedAt: startedAt.toISOString(), ok: !failure },
  };
  const outDir = path.resolve(options.outDir ?? 'out');
  mkdirSync(outDir, { recursive: true });
  const base = path.basename(file, path.extname(file));
  const notebookPath = path.join(outDir, `${base}.ipynb`);
  const htmlPath = path.join(outDir, `${base}.html`);
  writeAtomically(notebookPath, JSON.stringify(notebook, null, 1) + '\n');
  const failureText = failure
    ? `cell ${failure.cellIndex + 1} raised ${failure.ename}: ${failure.evalue}${skippedCells.length ? `; ${skippedCells.length} later cell(s) did not run` : ''}`
    : undefined;
  writeAtomically(
    htmlPath,
    renderHtmlReport(notebook, {
      title: titleOf(notebook) ?? base,
      parameters,
      environment: environmentFacts(),
      failure: failureText,
      startedAt,
      durationMs: Date.now() - startedAt.getTime(),
    }),
  );
  return { ok: !failure, notebook, notebookPath, htmlPath, failure, skippedCells, messages };
}
