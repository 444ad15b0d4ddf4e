/**
 * What the notebook tests share: a temporary mirror of the repository to run notebooks/ in, a
 * listing of notebooks/ to show the runs wrote nothing there, and the problems of an executed
 * notebook (cells that did not run, ran out of order, or failed).
 *
 * The notebooks run from a copy of notebooks/ in the mirror, so that what they write to '../out/…'
 * lands in the mirror, not in the checkout. The mirror lives under the git-ignored .cache/ rather
 * than the system temp folder because the kernel only lets cells type-check `import … from 'mmkit'`
 * when it runs inside the package.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { joinText, type Notebook } from '../../kernel-extras/runner/notebook';

export const ROOT = path.resolve(__dirname, '..', '..');
export const NOTEBOOKS = path.join(ROOT, 'notebooks');
/** A cell that runs longer hangs: both engines interrupt it and report the cell. */
export const CELL_TIMEOUT_S = 120;
/** One notebook by one engine; the process limit sits inside the test's own limit, so a stuck run fails with its output. */
export const NOTEBOOK_TIMEOUT_MS = 240_000;

/** Top-level entries the mirror does not link: the notebooks are copied, outputs stay in the mirror. */
const NOT_MIRRORED = new Set(['notebooks', 'out', '.git', '.cache', 'node_modules', 'dist']);
/** A JavaScript stack frame or a Python traceback: an error that was printed rather than raised. */
const STACK_TRACE = /^\s+at \S.*(\(.*:\d+:\d+\)|:\d+:\d+)$|^Traceback \(most recent call last\):/m;

export const notebookNames = readdirSync(NOTEBOOKS)
  .filter((name) => name.endsWith('.ipynb'))
  .sort();

/** Names, sizes and modification times of notebooks/. */
export function notebooksListing(): string {
  return readdirSync(NOTEBOOKS)
    .sort()
    .map((name) => {
      const stat = statSync(path.join(NOTEBOOKS, name));
      return `${name} ${stat.size} ${stat.mtimeMs}`;
    })
    .join('\n');
}

/**
 * A mirror of the repository for this test file, made before its tests and removed after them.
 * Returns a getter for its path; the listing of notebooks/ taken before the runs is `before()`.
 */
export function useNotebookMirror(): { dir: () => string; before: () => string } {
  let mirror = '';
  let before = '';
  beforeAll(() => {
    before = notebooksListing();
    mkdirSync(path.join(ROOT, '.cache'), { recursive: true });
    mirror = mkdtempSync(path.join(ROOT, '.cache', 'notebooks-test-'));
    for (const entry of readdirSync(ROOT, { withFileTypes: true })) {
      if (entry.isDirectory() && !NOT_MIRRORED.has(entry.name)) symlinkSync(path.join(ROOT, entry.name), path.join(mirror, entry.name));
    }
    mkdirSync(path.join(mirror, 'notebooks'));
    for (const name of notebookNames) copyFileSync(path.join(NOTEBOOKS, name), path.join(mirror, 'notebooks', name));
  });
  afterAll(() => {
    if (mirror) rmSync(mirror, { recursive: true, force: true });
  });
  return { dir: () => mirror, before: () => before };
}

/** What is wrong with an executed notebook: code cells that did not run, ran out of order, or failed. */
export function problemsOf(notebook: Notebook): string[] {
  const problems: string[] = [];
  let lastCount = 0;
  notebook.cells.forEach((cell, index) => {
    if (cell.cell_type !== 'code' || !joinText(cell.source).trim()) return;
    const where = `cell ${index + 1}`;
    if (cell.execution_count === null) problems.push(`${where} did not run`);
    else if (cell.execution_count <= lastCount) problems.push(`${where} ran out of order (count ${cell.execution_count} after ${lastCount})`);
    else lastCount = cell.execution_count;
    for (const output of cell.outputs) {
      if (output.output_type === 'error') problems.push(`${where} raised ${output.ename}: ${output.evalue}`);
      if (output.output_type === 'stream' && output.name === 'stderr' && STACK_TRACE.test(joinText(output.text))) {
        problems.push(`${where} printed a stack trace to stderr:\n${joinText(output.text)}`);
      }
    }
  });
  return problems;
}
