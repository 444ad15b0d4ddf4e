import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    setupFiles: ['test/helpers/event-loop-watch.ts'],
    // onnxruntime sessions and the kernel tests are heavy on this 2-core machine.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // Two files at a time: much of the suite waits on child processes (kernels, Python clients,
    // notebooks, servers), and no test asserts a timing; measured 813 s one at a time, 536 s two.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
