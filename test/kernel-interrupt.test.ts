/**
 * Interrupting the kernel stops SDK work, not just the wait for it: the running cell's
 * AbortSignal is aborted, so a Progress-driven loop ends with CANCELLED. Plain tslab only
 * stopped awaiting the cell and let the loop run on in the background.
 */
import { describe, expect, it } from 'vitest';
import { useKernel } from './helpers/kernel-session';

const kernelOf = useKernel();

describe('interrupting a cell', () => {
  it('aborts the cell signal, which stops a loop driven by Progress', async () => {
    const long = [
      "import { Progress, cellSignal } from './dist/sdk/report';",
      'const counter = globalThis as typeof globalThis & { steps: number; seen?: string };',
      'counter.steps = 0;',
      "const bar = new Progress({ total: 100_000, label: 'long', minIntervalMs: 0 });",
      'try {',
      '  for (let i = 0; i < 100_000; i++) {',
      '    await new Promise((resolve) => setTimeout(resolve, 5));',
      '    bar.tick();',
      '    counter.steps++;',
      '  }',
      '} catch (e) {',
      '  counter.seen = (e as { code?: string }).code;',
      '}',
    ].join('\n');
    let interrupted = false;
    const { reply } = await kernelOf().execute(long, {
      timeoutMs: 60_000,
      onMessage: (m) => {
        if (!interrupted && m.header.msg_type === 'update_display_data') {
          interrupted = true;
          kernelOf().interrupt();
        }
      },
    });
    expect(interrupted).toBe(true);
    expect(reply.content.status).toBe('error');

    // Give a runaway loop ample time to show itself, then check it made no progress. (The
    // failed cell's declarations are gone, as always in tslab; globalThis keeps the counter.)
    const check = await kernelOf().execute(
      [
        "import { cellSignal } from './dist/sdk/report';",
        'const g = globalThis as typeof globalThis & { steps: number; seen?: string };',
        'const before = g.steps;',
        'await new Promise((resolve) => setTimeout(resolve, 500));',
        'console.log(JSON.stringify([before, g.steps, g.seen, cellSignal()?.aborted]));',
      ].join('\n'),
    );
    expect(check.reply.content.status).toBe('ok');
    const printed = check.messages.filter((m) => m.header.msg_type === 'stream').map((m) => String(m.content.text)).join('');
    const [before, after, seen, aborted] = JSON.parse(printed) as [number, number, string, boolean];
    expect(before).toBeGreaterThan(0);
    expect(after).toBe(before);
    expect(seen).toBe('CANCELLED');
    // Each cell gets a fresh signal.
    expect(aborted).toBe(false);
  }, 90_000);
});
