/**
 * Bursts of output through the real kernelOf(). zeromq 6 throws EBUSY for sends past 512 in one
 * tick and PUB sockets drop past their high-water mark; under plain tslab such a cell lost
 * its output and its final idle, and clients waited forever.
 */
import { describe, expect, it } from 'vitest';
import { useKernel } from './helpers/kernel-session';

const kernelOf = useKernel();

describe('iopub under bursts', () => {
  it('3000 console.log lines in a tight loop all arrive, batched into few stream messages', async () => {
    const { reply, messages } = await kernelOf().execute("for (let i = 0; i < 3000; i++) console.log(`line ${i}`);\n'done'", { timeoutMs: 60_000 });
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
    const { reply, messages } = await kernelOf().execute(code, { timeoutMs: 60_000 });
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
