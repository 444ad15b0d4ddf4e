/**
 * The SDK's displays outside the mmkit kernel: under plain tslab (display still sends full
 * bundles through tslab's writer, last expressions fall back to text) and in plain Node
 * (text on stdout; progress as a terminal bar on a TTY, silent under CI).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelClient } from '../kernel-extras/runner/kernel-client';

const ROOT = path.resolve(__dirname, '..');

describe('under plain tslab (its own kernel, no kernel-extras)', () => {
  let kernel: KernelClient;
  beforeAll(async () => {
    kernel = await KernelClient.start({
      cwd: ROOT,
      argv: [process.execPath, path.join(ROOT, 'node_modules/tslab/bin/tslab'), 'kernel', '--config-path', '{connection_file}'],
    });
  }, 90_000);
  afterAll(async () => {
    await kernel?.shutdown();
  });

  it('display() sends the whole bundle as display_data', async () => {
    const { reply, messages } = await kernel.execute(
      "import { display, Table } from './dist/sdk/report';\nawait display(new Table([{ model: '<vit>', mb: 21.5 }]))",
    );
    expect(reply.content.status).toBe('ok');
    const shown = messages.filter((m) => m.header.msg_type === 'display_data');
    expect(shown).toHaveLength(1);
    const data = shown[0].content.data as Record<string, unknown>;
    expect(Object.keys(data).sort()).toEqual(['application/vnd.dataresource+json', 'text/html', 'text/plain']);
    expect(data['text/html']).toContain('&lt;vit&gt;');
  });

  it('a table as last expression prints its text form (tslab has no execute_result)', async () => {
    const { messages } = await kernel.execute("new Table([{ model: 'vit', mb: 21.5 }])");
    const text = messages
      .filter((m) => m.header.msg_type === 'stream')
      .map((m) => String(m.content.text))
      .join('');
    expect(text).toContain('model  mb');
    expect(text).toContain('vit    21.5');
  });
});

function runNode(script: string, env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, ['-e', script], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
}

describe('in plain Node', () => {
  it('display() prints text/plain to stdout', () => {
    const run = runNode(
      "const r = require('./dist/sdk/report'); r.display(new r.Table([{ a: 1, b: 'x' }])).then((h) => console.log('id', h.displayId.length))",
      {},
    );
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toBe('a  b\n-  -\n1  x\nid 16\n');
  });

  it('progress is silent under CI and when stderr is not a terminal', () => {
    const script = "const { Progress } = require('./dist/sdk/report'); const p = new Progress({ total: 3 }); p.tick(3); p.finish(); console.log(p.mode)";
    const ci = runNode(script, { CI: 'true' });
    expect(ci.stdout.trim()).toBe('quiet');
    expect(ci.stderr).toBe('');
    const piped = runNode(script, { CI: '' });
    expect(piped.stdout.trim()).toBe('quiet');
    expect(piped.stderr).toBe('');
  });

  it('the terminal bar redraws one line with \\r and ends it when finished', () => {
    const run = runNode(
      "const { Progress } = require('./dist/sdk/report'); const p = new Progress({ total: 4, label: 'eval', mode: 'terminal', minIntervalMs: 0 }); for (let i = 0; i < 4; i++) p.tick(); p.finish();",
      {},
    );
    expect(run.status, run.stderr).toBe(0);
    const frames = run.stderr.split('\r').filter(Boolean);
    expect(frames.length).toBe(5);
    expect(frames[0]).toContain('eval');
    expect(frames[0]).toContain('1/4 (25%)');
    expect(frames[4]).toMatch(/4\/4 \(100%\)\x1b\[K\n$/);
    expect(run.stderr.match(/\n/g)).toHaveLength(1);
  });
});
