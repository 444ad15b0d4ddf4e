/**
 * Every notebook in notebooks/ runs top to bottom, twice: by mmkit's headless runner (no
 * Python) and by Jupyter's own client (nbclient, through test/jupyter/nbclient_check.py) in
 * the mmkit kernel. Each must run every code cell, in order, without an error output or a
 * stack trace on stderr.
 *
 * The notebooks run from a copy of notebooks/ in a temporary mirror of the repository, so
 * that what they write to '../out/…' lands in the temporary folder, not in the checkout. The
 * mirror lives under the git-ignored .cache/ rather than the system temp folder because the
 * kernel only lets cells type-check `import … from 'mmkit'` when it runs inside the package.
 */
import { spawnSync } from 'node:child_process';
import { runProcess } from './helpers/run-process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joinText, type Notebook } from '../kernel-extras/runner/notebook';

const ROOT = path.resolve(__dirname, '..');
const NOTEBOOKS = path.join(ROOT, 'notebooks');
const PYTHON = '/usr/bin/python3';
/** Top-level entries the mirror does not link: the notebooks are copied, outputs stay in the mirror. */
const NOT_MIRRORED = new Set(['notebooks', 'out', '.git', '.cache', 'node_modules', 'dist']);
/** A JavaScript stack frame or a Python traceback: an error that was printed rather than raised. */
const STACK_TRACE = /^\s+at \S.*(\(.*:\d+:\d+\)|:\d+:\d+)$|^Traceback \(most recent call last\):/m;
/** A cell that runs longer hangs: both engines interrupt it and report the cell. */
const CELL_TIMEOUT_S = 120;
/** One notebook by one engine; the process limit sits inside the test's own limit, so a stuck run fails with its output. */
const NOTEBOOK_TIMEOUT_MS = 240_000;

const notebookNames = readdirSync(NOTEBOOKS)
  .filter((name) => name.endsWith('.ipynb'))
  .sort();

let mirror: string;
let notebooksBefore: string;

function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(command, args, { cwd: ROOT, env, encoding: 'utf8', timeout: NOTEBOOK_TIMEOUT_MS });
}

/** A notebook run, which takes a minute or more: asynchronous, so the test worker stays responsive. */
function runNotebook(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  return runProcess(command, args, { cwd: ROOT, env, timeoutMs: NOTEBOOK_TIMEOUT_MS });
}

/** Names, sizes and modification times of notebooks/, to show the runs wrote nothing there. */
function listing(dir: string): string {
  return readdirSync(dir)
    .sort()
    .map((name) => {
      const stat = statSync(path.join(dir, name));
      return `${name} ${stat.size} ${stat.mtimeMs}`;
    })
    .join('\n');
}

/** What is wrong with an executed notebook: code cells that did not run, ran out of order, or failed. */
function problemsOf(notebook: Notebook): string[] {
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

beforeAll(() => {
  // The runner and the kernelspec run dist/: test what the sources build to now.
  const build = run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json']);
  expect(build.status, `npm run build failed:\n${build.stdout}${build.stderr}`).toBe(0);

  notebooksBefore = listing(NOTEBOOKS);
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

describe('the notebooks', () => {
  it('are discovered in notebooks/', () => {
    expect(notebookNames.length).toBeGreaterThan(0);
    expect(notebookNames).toContain('01-vit-compression.ipynb');
  });
});

describe('headless runner (npm run notebook)', () => {
  it.each(notebookNames)('runs every cell of %s without errors', async (name) => {
    const out = path.join(mirror, 'runner');
    const result = await runNotebook(process.execPath, [
      'dist/sdk/cli/main.js',
      'notebook',
      path.join(mirror, 'notebooks', name),
      '--timeout',
      String(CELL_TIMEOUT_S),
      '--out',
      out,
    ]);
    expect(result.status, `${name}:\n${result.stdout}${result.stderr}`).toBe(0);

    const executed = JSON.parse(readFileSync(path.join(out, name), 'utf8')) as Notebook;
    expect(problemsOf(executed), name).toEqual([]);
    expect((executed.metadata.mmkit as { ok: boolean }).ok).toBe(true);
    expect(existsSync(path.join(out, name.replace(/\.ipynb$/, '.html')))).toBe(true);
  }, NOTEBOOK_TIMEOUT_MS + 30_000);
});

describe("Jupyter's notebook client (nbclient) with the mmkit kernel", () => {
  let jupyterPath: string;

  beforeAll(() => {
    const jupyter = run(PYTHON, ['-c', 'import jupyter_client, nbclient, nbformat']);
    if (jupyter.status !== 0) {
      throw new Error(
        `${PYTHON} cannot import Jupyter's client packages (${jupyter.error?.message ?? jupyter.stderr.trim().split('\n').pop()}). ` +
          'Run `npm run setup:system` (it installs python3-jupyter-client, python3-nbclient and python3-nbformat).',
      );
    }
    const prefix = path.join(mirror, 'kernelspec');
    const install = run(process.execPath, ['dist/kernel-extras/install.js', '--prefix', prefix]);
    expect(install.status, install.stderr).toBe(0);
    jupyterPath = path.join(prefix, 'share/jupyter');
  });

  it.each(notebookNames)('runs every cell of %s in order without errors', async (name) => {
    const result = await runNotebook(PYTHON, ['test/jupyter/nbclient_check.py', '--timeout', String(CELL_TIMEOUT_S), path.join(mirror, 'notebooks', name)], { ...process.env, JUPYTER_PATH: jupyterPath });
    expect(result.status, `${name}:\n${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('1 notebook(s) ran every cell without errors');
  }, NOTEBOOK_TIMEOUT_MS + 30_000);
});

describe('the checkout', () => {
  it('is not written to: notebooks/ is unchanged after the runs', () => {
    expect(listing(NOTEBOOKS)).toBe(notebooksBefore);
  });
});
