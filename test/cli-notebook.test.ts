/** `mmkit notebook`: kernel-extras' headless runner behind the CLI, with its exit codes. */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, expectUsageError, mmkit, tempDir } from './helpers/cli-run';

const tmp = tempDir('notebook');
afterAll(() => tmp.remove());

describe('mmkit notebook', () => {
  it('runs a notebook with parameters and writes the executed .ipynb and the HTML report: exit 0', async () => {
    const r = await mmkit(['notebook', 'test/jupyter/runner-demo.ipynb', '--param', 'greeting="yo "', '-p', 'repeat=2', '--out', tmp.dir, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toEqual({ ok: true, notebook: path.join(tmp.dir, 'runner-demo.ipynb'), html: path.join(tmp.dir, 'runner-demo.html'), failure: null });
    expect(readFileSync(result.notebook, 'utf8')).toContain('yo yo ');
    expect(existsSync(result.html)).toBe(true);
  });

  it('a failing cell: exit 1, the failure on stderr, outputs still written', async () => {
    const r = await mmkit(['notebook', path.join(ROOT, 'test/jupyter/runner-failing.ipynb'), '--out', tmp.dir]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toContain(`Wrote ${path.join(tmp.dir, 'runner-failing.html')}`);
    expect(r.stderr).toMatch(/failed at cell \d+: RangeError: sparsity must be in \[0, 1\)/);
  });

  it('bad input exits 2 with one line', async () => {
    expectUsageError(await mmkit(['notebook', path.join(tmp.dir, 'missing.ipynb'), '--out', tmp.dir]), 'notebook', 'BAD_OPTION');
    expectUsageError(await mmkit(['notebook', 'test/jupyter/runner-demo.ipynb', '--param', 'not an assignment', '--out', tmp.dir]), 'notebook', 'BAD_OPTION');
  });
});
