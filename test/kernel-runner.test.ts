/**
 * The headless notebook runner: a Node Jupyter client driving the real mmkit kernel over
 * ZeroMQ, papermill-style parameters, outputs captured as nbformat, HTML report, failures.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { CodeCell, Output } from '../kernel-extras/runner/notebook';
import { runNotebook, type RunResult } from '../kernel-extras/runner/run-notebook';
import { runProcess } from './helpers/run-process';

const ROOT = path.resolve(__dirname, '..');
let outDir: string;

beforeAll(() => {
  // dist/ (the kernel) was built by test/global-setup.ts.
  outDir = mkdtempSync(path.join(os.tmpdir(), 'mmkit-runner-'));
});

afterAll(() => {
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

function codeCell(result: RunResult, id: string): CodeCell {
  const cell = result.notebook.cells.find((c) => c.id === id);
  if (cell?.cell_type !== 'code') throw new Error(`no code cell ${id}`);
  return cell;
}

function dataOf(output: Output | undefined): Record<string, unknown> {
  if (!output || !('data' in output)) throw new Error(`expected a rich output, got ${JSON.stringify(output)}`);
  return output.data;
}

describe('a notebook that runs cleanly', () => {
  let result: RunResult;
  beforeAll(async () => {
    result = await runNotebook(path.join(ROOT, 'test/jupyter/runner-demo.ipynb'), {
      parameters: { greeting: 'hi ', repeat: 3 },
      outDir,
    });
  }, 120_000);

  it('injects parameters right after the cell tagged parameters', () => {
    const index = result.notebook.cells.findIndex((c) => c.id === 'params');
    const injected = result.notebook.cells[index + 1] as CodeCell;
    expect(injected.metadata.tags).toEqual(['injected-parameters']);
    expect(injected.source).toContain('const greeting = "hi ";');
    expect(injected.source).toContain('const repeat = 3;');
    expect(result.ok).toBe(true);
    expect(result.skippedCells).toEqual([]);
  });

  it('captures streams, execute results and rich bundles as nbformat outputs', () => {
    expect(codeCell(result, 'stream').outputs).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'hi hi hi \n' },
      { output_type: 'stream', name: 'stderr', text: 'to stderr\n' },
    ]);
    const table = codeCell(result, 'table').outputs;
    expect(table).toHaveLength(1);
    expect(table[0].output_type).toBe('execute_result');
    expect(dataOf(table[0])['text/html']).toContain('fp32 &lt;base&gt;');
    const chart = dataOf(codeCell(result, 'chart').outputs[0]);
    expect(Object.keys(chart).sort()).toEqual(['application/vnd.vegalite.v5+json', 'image/svg+xml', 'text/plain']);
    expect((chart['image/svg+xml'] as string).match(/aria-roledescription="bar"/g)).toHaveLength(4);
    // Every executed code cell has its count, in order.
    const counts = result.notebook.cells.filter((c): c is CodeCell => c.cell_type === 'code').map((c) => c.execution_count);
    expect(counts).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('clear_output(wait) clears the cell when the next output arrives', () => {
    expect(codeCell(result, 'clear').outputs).toEqual([
      { output_type: 'display_data', data: { 'text/plain': "'second'" }, metadata: {} },
    ]);
  });

  it("resolves the package's own name in a notebook inside the repository (types and runtime)", () => {
    expect(dataOf(codeCell(result, 'self-import').outputs[0])['text/plain']).toBe("'function'");
  });

  it('progress updates one display (one display_id) and the notebook keeps its final state', () => {
    const index = result.notebook.cells.findIndex((c) => c.id === 'progress');
    const shown = (result.messages.get(index) ?? []).filter((m) => m.header.msg_type.endsWith('display_data'));
    expect(shown[0].header.msg_type).toBe('display_data');
    expect(shown.slice(1).map((m) => m.header.msg_type)).toEqual(Array(shown.length - 1).fill('update_display_data'));
    expect(shown.length).toBeGreaterThanOrEqual(6);
    const ids = new Set(shown.map((m) => (m.content.transient as { display_id: string }).display_id));
    expect(ids.size).toBe(1);
    const outputs = codeCell(result, 'progress').outputs;
    expect(outputs).toHaveLength(1);
    expect(dataOf(outputs[0])['text/plain']).toContain('5/5 (100%)');
  });

  it('writes a valid .ipynb and a standalone HTML report', () => {
    const validate = spawnSync(
      '/usr/bin/python3',
      ['-c', 'import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=4))', result.notebookPath],
      { encoding: 'utf8' },
    );
    expect(validate.status, validate.stderr).toBe(0);
    const html = readFileSync(result.htmlPath, 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).not.toMatch(/<script|<link /);
    expect(html).toContain('<title>Runner demo</title>');
    expect(html).toContain('<h1>Runner demo</h1>');
    expect(html).toContain('<svg');
    expect(html).toContain('<table class="mmkit-table">');
    expect(html).toContain('&quot;hi &quot;');
    expect(html).toContain('&quot;mode&quot;: &quot;dynamic&quot;');
    expect(html).toMatch(/vit-int8\.onnx<\/td><td>1000<\/td><td><code>ab12/);
    expect(html).toContain(process.version);
    expect(html).toContain('All cells ran without errors.');
  });
});

describe('a notebook with a failing cell', () => {
  it('stops at the error, leaves later cells unrun and says so', async () => {
    const result = await runNotebook(path.join(ROOT, 'test/jupyter/runner-failing.ipynb'), { outDir });
    expect(result.ok).toBe(false);
    expect(result.failure).toEqual({ cellIndex: 1, ename: 'RangeError', evalue: 'sparsity must be in [0, 1)' });
    expect(result.skippedCells).toEqual([2]);
    const after = codeCell(result, 'after');
    expect(after.execution_count).toBeNull();
    expect(after.outputs).toEqual([]);
    const error = codeCell(result, 'boom').outputs[0];
    expect(error.output_type).toBe('error');
    expect(readFileSync(result.htmlPath, 'utf8')).toContain('Failed: cell 2 raised RangeError');
  }, 120_000);

  it('the CLI exits non-zero and names the cell', async () => {
    const cli = await runProcess(process.execPath, ['dist/sdk/cli/main.js', 'notebook', 'test/jupyter/runner-failing.ipynb', '--out', outDir], { cwd: ROOT, timeoutMs: 110_000 });
    expect(cli.status).toBe(1);
    expect(cli.stderr).toContain('failed at cell 2: RangeError: sparsity must be in [0, 1)');
    // One progress line per cell that ran, the failing one marked.
    expect(cli.stderr).toMatch(/^\[1\/\d+\] cell 1 ✓ [\d.]+ s /m);
    expect(cli.stderr).toMatch(/^\[2\/\d+\] cell 2 ✗ [\d.]+ s /m);
  }, 120_000);
});

describe('a notebook outside the repository', () => {
  it("imports mmkit by name, type-checked and at run time, though nothing named mmkit is installed there", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mmkit-elsewhere-'));
    try {
      const model = path.join(ROOT, 'datasets/models/vit-tiny-mnist.onnx');
      const notebook = {
        nbformat: 4,
        nbformat_minor: 5,
        metadata: { kernelspec: { name: 'mmkit', display_name: 'TypeScript (mmkit)', language: 'typescript' } },
        cells: [{ cell_type: 'code', id: 'use', metadata: {}, execution_count: null, outputs: [], source: [`import { mm } from 'mmkit';\n`, `const s = await mm.load(${JSON.stringify(model)}).summary();\n`, 'console.log(`params ${s.totals.params}`);'] }],
      };
      writeFileSync(path.join(dir, 'elsewhere.ipynb'), JSON.stringify(notebook));
      const result = await runNotebook(path.join(dir, 'elsewhere.ipynb'), { outDir: dir });
      expect(result.failure, JSON.stringify(result.failure)).toBeUndefined();
      expect(JSON.stringify(codeCell(result, 'use').outputs)).toMatch(/params \d+/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('a cell that never finishes', () => {
  it('is interrupted at the cell timeout, and the run fails naming it', async () => {
    const result = await runNotebook(path.join(ROOT, 'test/jupyter/runner-endless.ipynb'), { outDir, cellTimeoutMs: 1500 });
    expect(result.ok).toBe(false);
    expect(result.failure?.cellIndex).toBe(0);
    expect(result.failure?.evalue).toMatch(/did not finish within 1\.5 s and was interrupted/);
    expect(result.skippedCells).toEqual([1]);
  }, 120_000);
});

describe('kernel lifetime', () => {
  it('the kernel exits by itself when the process that started it dies without shutting it down', async () => {
    const script = `const { KernelClient } = require('./dist/kernel-extras/runner/kernel-client.js');
KernelClient.start({ cwd: '.' }).then((k) => { console.log(k.pid); process.exit(0); });`;
    // The dead parent cannot remove the kernel's connection folder: it goes in a folder of the test's own.
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'mmkit-orphan-'));
    onTestFinished(() => rmSync(tmp, { recursive: true, force: true }));
    const parent = await runProcess(process.execPath, ['-e', script], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, timeoutMs: 50_000 });
    const pid = Number(parent.stdout.trim());
    expect(pid, parent.stderr).toBeGreaterThan(0);
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    for (let waited = 0; alive() && waited < 20_000; waited += 250) await new Promise((r) => setTimeout(r, 250));
    expect(alive()).toBe(false);
  }, 60_000);
});
