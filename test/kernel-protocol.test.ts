/**
 * The mmkit kernel against Jupyter's reference kernel test suite (jupyter_kernel_test, from
 * Debian's python3-jupyter-kernel-test): every check enabled, every one must pass.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runProcess } from './helpers/run-process';

const ROOT = path.resolve(__dirname, '..');
const PYTHON = '/usr/bin/python3';
let prefix: string;

/** Asynchronous: the reference suite runs for many seconds, and the test worker must stay responsive. */
function run(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  return runProcess(command, args, { cwd: ROOT, env, timeoutMs: 240_000 });
}

beforeAll(() => {
  // The kernelspec runs dist/kernel-extras/launch.js, and cells import dist/sdk: test/global-setup.ts built it.
  prefix = mkdtempSync(path.join(os.tmpdir(), 'mmkit-kernelspec-'));
});

afterAll(() => {
  if (prefix) rmSync(prefix, { recursive: true, force: true });
});

describe('kernel:install', () => {
  it('writes a kernelspec running this checkout with this Node, and is idempotent', async () => {
    const first = await run(process.execPath, ['dist/kernel-extras/install.js', '--prefix', prefix]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^Installed/);
    const again = await run(process.execPath, ['dist/kernel-extras/install.js', '--prefix', prefix]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^Already installed/);

    const spec = JSON.parse(readFileSync(path.join(prefix, 'share/jupyter/kernels/mmkit/kernel.json'), 'utf8'));
    expect(spec.display_name).toBe('TypeScript (mmkit)');
    expect(spec.language).toBe('typescript');
    expect(spec.argv).toEqual([process.execPath, path.join(ROOT, 'dist/kernel-extras/launch.js'), '--config-path', '{connection_file}']);

    const listed = await run(PYTHON, ['-m', 'jupyter_client.kernelspecapp', 'list', '--json'], {
      ...process.env,
      JUPYTER_PATH: path.join(prefix, 'share/jupyter'),
    });
    expect(listed.status, listed.stderr).toBe(0);
    expect(Object.keys(JSON.parse(listed.stdout).kernelspecs)).toContain('mmkit');
  });
});

describe('jupyter_kernel_test reference suite', () => {
  it('passes every check, none skipped', async () => {
    const suite = await run(PYTHON, ['test/jupyter/test_mmkit_kernel.py', '-v'], {
      ...process.env,
      JUPYTER_PATH: path.join(prefix, 'share/jupyter'),
    });
    const report = suite.stderr;
    expect(suite.status, report).toBe(0);
    expect(report).toMatch(/Ran 13 tests/);
    expect(report).not.toMatch(/skipped|FAIL|ERROR/);
    for (const check of [
      'test_kernel_info',
      'test_execute_stdout',
      'test_execute_stderr',
      'test_execute_result',
      'test_display_data',
      'test_error',
      'test_completion',
      'test_inspect',
      'test_is_complete',
      'test_history',
      'test_pager',
      'test_clear_output',
      'test_stop_on_error',
    ]) {
      expect(report).toMatch(new RegExp(`${check} .*\\.\\.\\. ok`));
    }
  });
});

describe("Jupyter's own notebook client (nbclient) with the mmkit kernel", () => {
  const check = (notebook: string) =>
    run(PYTHON, ['test/jupyter/nbclient_check.py', notebook], { ...process.env, JUPYTER_PATH: path.join(prefix, 'share/jupyter') });

  it('runs every cell of a notebook with rich outputs', async () => {
    const result = await check('test/jupyter/runner-demo.ipynb');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('ran every cell without errors');
  });

  it('reports the cell that raised', async () => {
    const result = await check('test/jupyter/runner-failing.ipynb');
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('cell 2 raised RangeError: sparsity must be in [0, 1)');
  });
});
