import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { KernelClient } from '../../kernel-extras/runner/kernel-client';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Builds the project and starts one real mmkit kernel for a test file, shut down after it.
 * Returns a getter: the kernel exists only once beforeAll has run.
 */
export function useKernel(): () => KernelClient {
  let kernel: KernelClient | undefined;
  beforeAll(async () => {
    const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
    expect(build.status, `npm run build failed:\n${build.stdout}${build.stderr}`).toBe(0);
    kernel = await KernelClient.start({ cwd: ROOT });
  }, 120_000);
  afterAll(async () => {
    await kernel?.shutdown();
  });
  return () => kernel!;
}
