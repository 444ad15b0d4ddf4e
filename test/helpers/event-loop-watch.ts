/**
 * Names the test files that block their worker's event loop for long. vitest's workers report to
 * the main process over RPC; a worker whose loop is blocked for tens of seconds (a synchronous
 * inference loop, a spawnSync of a long command) misses those calls, and under load the run fails
 * with "Timeout calling onTaskUpdate" although every test passed. Long work belongs in worker
 * threads or child processes awaited asynchronously.
 */
import * as path from 'node:path';
import { afterAll, beforeAll } from 'vitest';

/** A block this long is reported (vitest's RPC gives up after 60 s). */
const REPORT_BLOCK_MS = 10_000;
const TICK_MS = 100;

let file = 'a test file';
let worstMs = 0;
let timer: NodeJS.Timeout | undefined;

beforeAll((suite) => {
  file = 'filepath' in suite && typeof suite.filepath === 'string' ? path.relative(process.cwd(), suite.filepath) : suite.name;
  let last = performance.now();
  // The gap between two ticks, less the interval, is how long the loop could not turn.
  timer = setInterval(() => {
    const now = performance.now();
    worstMs = Math.max(worstMs, now - last - TICK_MS);
    last = now;
  }, TICK_MS).unref();
});

afterAll(async () => {
  // A block at the very end is measured when the next tick fires: give it one.
  await new Promise((resolve) => setTimeout(resolve, 2 * TICK_MS));
  clearInterval(timer);
  if (worstMs < REPORT_BLOCK_MS) return;
  console.warn(`${file} blocked its worker's event loop for ${(worstMs / 1000).toFixed(1)} s at once: move the long synchronous work off the test's thread.`);
});
