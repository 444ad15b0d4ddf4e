import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { KernelClient } from '../../kernel-extras/runner/kernel-client';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Starts one real mmkit kernel for a test file (it runs dist/, which the suite's global setup
 * built), shut down after it. Returns a getter: the kernel exists only once beforeAll has run.
 */
export function useKernel(): () => KernelClient {
  let kernel: KernelClient | undefined;
  beforeAll(async () => {
    kernel = await KernelClient.start({ cwd: ROOT });
  }, 120_000);
  afterAll(async () => {
    await kernel?.shutdown();
  });
  return () => kernel!;
}
