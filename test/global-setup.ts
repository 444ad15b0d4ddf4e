/**
 * Once around the suite. Before: builds dist/ (the server's worker threads, the CLI, the kernel
 * and the notebook runner run compiled JavaScript, so their tests must see what the sources build
 * to now). After: removes the mmkit-* temporary folders the run left behind, naming them, so a
 * test that forgets to clean up is seen and the machine's temp folder stays clean.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ours = (): Set<string> => new Set(readdirSync(os.tmpdir()).filter((f) => f.startsWith('mmkit-')));

export default function setup(): () => void {
  const root = path.resolve(__dirname, '..');
  const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
  const before = ours();
  return () => {
    const left = [...ours()].filter((f) => !before.has(f));
    if (left.length === 0) return;
    console.warn(`test run left ${left.length} temporary folder(s) behind, removed: ${left.join(', ')}`);
    for (const f of left) rmSync(path.join(os.tmpdir(), f), { recursive: true, force: true });
  };
}
