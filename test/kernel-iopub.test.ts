/**
 * Bursts of output through the real kernel. zeromq 6 throws EBUSY for sends past 512 in one
 * tick and PUB sockets drop past their high-water mark; under plain tslab such a cell lost
 * its output and its final idle, and clients waited forever.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelClient } from '../kernel-extras/runner/kernel-client';

const ROOT = path.resolve(__dirname, '..');
let kernel: KernelClient;

beforeAll(async () => {
  const build = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
  expect(build.status, `npm run build failed:\n${build.stdout}${build.stderr}`).toBe(0);
  kernel = await KernelClient.start({ cwd: ROOT });
}, 120_000);

afterAll(async () => {
  await kernel?.shutdown();
});

describe('iopub under bursts', () => {
  it('3000 console.log lines in a tight loop all arrive, batched into few stream messages', async () => {
    const { reply, messages } = await kernel.execute("for (let i = 0; i < 3000; i++) console.log(`line ${i}`);\n'done'", { timeoutMs: 60_000 });
    expect(reply.content.status).toBe('ok');
    const streams = messages.filter((m) => m.header.msg_type === 'stream');
    const lines = streams.map((m) => String(m.content.text)).join('').split('\n').filter(Boolean);
    expect(lines).toHaveLength(3000);
    expect(lines[2999]).toBe('line 2999');
    expect(streams.length).toBeLessThan(10);
    expect(messages[messages.length - 1].header.msg_type).toBe('execute_result');
  }, 60_000);

  it('2000 unthrottled progress updates all arrive in order, interleaved correctly with prints', async () => {
    const code = [
      "import { Progress } from './dist/sdk/report';",
      "console.log('before');",
      "const bar = new Progress({ total: 2000, label: 'burst', minIntervalMs: 0 });",
      'for (let i = 0; i < 2000; i++) bar.tick();',
      "console.log('after');",
    ].join('\n');
    const { reply, messages } = await kernel.execute(code, { timeoutMs: 60_000 });
    expect(reply.content.status).toBe('ok');
    const kinds = messages.map((m) => (m.header.msg_type === 'stream' ? `stream:${String(m.content.text).trim()}` : m.header.msg_type));
    expect(kinds[0]).toBe('execute_input');
    expect(kinds[1]).toBe('stream:before');
    expect(kinds[2]).toBe('display_data');
    expect(kinds.filter((k) => k === 'update_display_data')).toHaveLength(1999);
    expect(kinds[kinds.length - 1]).toBe('stream:after');
    const last = messages[messages.length - 2].content.data as Record<string, string>;
    expect(last['text/plain']).toContain('2000/2000 (100%)');
  }, 60_000);
});
