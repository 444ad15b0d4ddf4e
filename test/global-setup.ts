/**
 * Once around the suite. Before: builds dist/ (the server's worker threads, the CLI, the kernel
 * and the notebook runner run compiled JavaScript, so their tests must see what the sources build
 * to now), and gives the run a temporary folder of its own (TMPDIR, which the test workers and
 * every process they start inherit). After: names the mmkit-* folders the run left behind there,
 * so a test that forgets to clean up is seen, and removes the run's folder. Two runs at once on
 * one machine never see, or remove, each other's files.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export default function setup(): () => void {
  const root = path.resolve(__dirname, '..');
  // MMKIT_TEST_NO_BUILD=1 runs against dist/ as it is (a unit test while other sources are mid-edit).
  if (process.env.MMKIT_TEST_NO_BUILD !== '1') {
    const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`npm run build failed (MMKIT_TEST_NO_BUILD=1 runs against dist/ as it is):\n${build.stdout}${build.stderr}`);
  }
  const runTmp = mkdtempSync(path.join(os.tmpdir(), 'vitest-run-'));
  const outerTmp = process.env.TMPDIR;
  process.env.TMPDIR = runTmp;
  return () => {
    const left = readdirSync(runTmp).filter((f) => f.startsWith('mmkit-'));
    if (left.length) console.warn(`test run left ${left.length} temporary folder(s) behind, removed: ${left.join(', ')}`);
    if (outerTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = outerTmp;
    rmSync(runTmp, { recursive: true, force: true });
  };
}
