/**
 * Builds dist/ once before the suite: the server's worker threads, the CLI, the kernel and
 * the notebook runner run compiled JavaScript, so their tests must see what the sources build to now.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export default function setup(): void {
  const root = path.resolve(__dirname, '..');
  const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: root, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);
}
