/**
 * Every notebook in notebooks/ runs top to bottom, with its default parameters (as the tutorial
 * does), by Jupyter's own client (nbclient, through test/jupyter/nbclient_check.py) in the mmkit
 * kernel: every code cell, in order, without an error output or a stack trace on stderr. The
 * headless runner's pass and the reports in a browser are test/notebooks-runner.test.ts.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from './helpers/run-process';
import { CELL_TIMEOUT_S, NOTEBOOK_TIMEOUT_MS, ROOT, notebookNames, notebooksListing, useNotebookMirror } from './helpers/notebook-mirror';

const PYTHON = '/usr/bin/python3';
const mirror = useNotebookMirror();

describe('the notebooks', () => {
  it('are discovered in notebooks/', () => {
    expect(notebookNames.length).toBeGreaterThan(0);
    expect(notebookNames).toContain('01-vit-compression.ipynb');
  });
});

describe("Jupyter's notebook client (nbclient) with the mmkit kernel", () => {
  let jupyterPath: string;

  beforeAll(() => {
    const jupyter = spawnSync(PYTHON, ['-c', 'import jupyter_client, nbclient, nbformat'], { encoding: 'utf8' });
    if (jupyter.status !== 0) {
      throw new Error(
        `${PYTHON} cannot import Jupyter's client packages (${jupyter.error?.message ?? jupyter.stderr.trim().split('\n').pop()}). ` +
          'Run `npm run setup:system` (it installs python3-jupyter-client, python3-nbclient and python3-nbformat).',
      );
    }
    const prefix = path.join(mirror.dir(), 'kernelspec');
    const install = spawnSync(process.execPath, ['dist/kernel-extras/install.js', '--prefix', prefix], { cwd: ROOT, encoding: 'utf8' });
    expect(install.status, install.stderr).toBe(0);
    jupyterPath = path.join(prefix, 'share/jupyter');
  });

  it.each(notebookNames)('runs every cell of %s in order without errors', async (name) => {
    const notebook = path.join(mirror.dir(), 'notebooks', name);
    const result = await runProcess(PYTHON, ['test/jupyter/nbclient_check.py', '--timeout', String(CELL_TIMEOUT_S), notebook], {
      cwd: ROOT,
      env: { ...process.env, JUPYTER_PATH: jupyterPath },
      timeoutMs: NOTEBOOK_TIMEOUT_MS,
    });
    expect(result.status, `${name}:\n${result.stdout}${result.stderr}`).toBe(0);
    expect(result.stdout).toContain('1 notebook(s) ran every cell without errors');
  }, NOTEBOOK_TIMEOUT_MS + 30_000);
});

describe('the checkout', () => {
  it('is not written to: notebooks/ is unchanged after the runs', () => {
    expect(notebooksListing()).toBe(mirror.before());
  });
});
