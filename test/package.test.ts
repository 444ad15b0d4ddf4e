import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { runProcess } from './helpers/run-process';

// The built package as users import it: by its own name, from ESM and from CommonJS (tslab
// compiles notebook cells to CommonJS). `npm install` builds dist/ through the prepare script.
// Asynchronous: a child that trains for seconds must not block the test worker.
async function node(args: string[]): Promise<string> {
  const r = await runProcess(process.execPath, args, { cwd: process.cwd(), timeoutMs: 110_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}
const program = `.load('datasets/fixtures/torch-vit-tiny.onnx').summary().then((s) => console.log(s.totals.params))`;

describe("import { mm } from 'mmkit'", () => {
  it('is built', () => {
    expect(existsSync('dist/sdk/index.js'), 'run `npm install` (or `npm run build`) first').toBe(true);
  });

  it('works from an ES module', async () => {
    expect((await node(['--input-type=module', '-e', `import { mm } from 'mmkit'; mm${program}`])).trim()).toBe('71242');
  });

  it('works from CommonJS, and loads ESM-only vega-lite through native import()', async () => {
    expect((await node(['-e', `const { mm } = require('mmkit'); mm${program}`])).trim()).toBe('71242');
    const svg = await node(['-e', `const { Chart } = require('mmkit'); new Chart({ data: { values: [{ a: 1 }] }, mark: 'bar', encoding: { x: { field: 'a', type: 'quantitative' } } }).toSVG().then((s) => console.log(s.slice(0, 4)))`]);
    expect(svg.trim()).toBe('<svg');
  });

  it('loads gRPC and the server only when they are used, not on import', async () => {
    const loaded = await node(['-e', `require('mmkit'); console.log(Object.keys(require.cache).filter((k) => /@grpc|prom-client/.test(k)).length)`]);
    expect(loaded.trim()).toBe('0');
  });

  it('loads tfjs only when a training step runs, not on import', async () => {
    const loaded = await node(['-e', `require('mmkit'); console.log(Object.keys(require.cache).filter((k) => k.includes('@tensorflow')).length)`]);
    expect(loaded.trim()).toBe('0');
    const trained = await node(['-e', `const { mm } = require('mmkit'); const base = mm.load('datasets/models/vit-tiny-mnist.onnx');
      base.prune({ pattern: 'N:M' }).fineTune({ data: mm.datasets.mnist({ split: 'train' }).take(64), epochs: 1 }).model()
        .then(() => console.log(Object.keys(require.cache).some((k) => k.includes('@tensorflow'))))`]);
    expect(trained.trim()).toBe('true');
  });
});
