/**
 * `mmkit check` as a CI gate (exit 0 / 1 / 2), `mmkit eval` and `mmkit summary`, through the
 * compiled CLI on the shipped ViT and real MNIST digits.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mm } from '../sdk';
import { MNIST_MEAN, MNIST_STD } from '../sdk/data';
import { writeModel } from '../sdk/onnx';
import { VIT, expectUsageError, mmkit, tempDir } from './helpers/cli-run';
import { buildAudioConv } from './helpers/onnx-models';

const tmp = tempDir('check');
const int8 = path.join(tmp.dir, 'int8.onnx');
const sparse = path.join(tmp.dir, 'sparse.onnx');
/** x [N, L] → Conv1d (kernel 8): runs on 8 samples or more. */
const audio = path.join(tmp.dir, 'audio.onnx');

beforeAll(async () => {
  await writeModel(buildAudioConv(4), audio);
  // Written without their own checks: what they are is up to `mmkit check` below.
  for (const [file, step] of [[int8, ['--quantize', 'dynamic']], [sparse, ['--prune', '0.5']]] as const) {
    const r = await mmkit(['compress', VIT, '-o', file, ...step, '--no-check']);
    expect(r.status, r.stderr).toBe(0);
  }
});
afterAll(() => tmp.remove());

describe('mmkit check', () => {
  it('passes a sound int8 model on real digits: exit 0', async () => {
    // --no-latency: timing on a shared 2-core machine is not what this gate test is about.
    const r = await mmkit(['check', int8, '--baseline', VIT, '--data', 'mnist:test:256', '--no-latency']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('Compression check of');
    expect(r.stdout).toContain('top-1 agreement');
    expect(r.stdout).toContain('✓ The compression check passed');
  });

  it('flags zeros stored dense (the file did not shrink): exit 1, flags in --json', async () => {
    const r = await mmkit(['check', sparse, '--baseline', VIT, '--no-latency', '--json']);
    expect(r.status, r.stderr).toBe(1);
    const check = JSON.parse(r.stdout);
    expect(check.ok).toBe(false);
    // The saved file carries its recipe too, so it is even a few hundred bytes larger.
    expect(check.flags.map((f: { kind: string }) => f.kind)).toEqual(['larger']);
    expect(check.latency).toBeNull();
  });

  it('a threshold from the command line tightens the gate', async () => {
    const r = await mmkit(['check', int8, '--baseline', VIT, '--data', 'mnist:test:256', '--no-latency', '--no-web', '--min-cosine', '0.9999999', '--json']);
    expect(r.status, r.stderr).toBe(1);
    expect(JSON.parse(r.stdout).flags.map((f: { kind: string }) => f.kind)).toEqual(['fidelity']);
  });

  it("shapes the synthetic inputs with --input / --dim, flags 'reference-fails' where the baseline fails on them, and keeps to --time-budget", async () => {
    const [short, budgeted] = await Promise.all([
      mmkit(['check', audio, '--baseline', audio, '--dim', 'L=4', '--no-latency', '--json']),
      mmkit(['check', audio, '--baseline', audio, '--input', 'x=2,1280', '--time-budget', '0', '--no-web', '--json']),
    ]);
    expect(short.status, short.stderr).toBe(1);
    const failed = JSON.parse(short.stdout);
    expect(failed.flags.map((f: { kind: string }) => f.kind)).toEqual(['reference-fails', 'not-smaller']);
    expect(failed.runs.node).toEqual({ ok: true, loadOnly: true });
    expect(budgeted.status, budgeted.stderr).toBe(1); // the same file is not smaller
    const check = JSON.parse(budgeted.stdout);
    expect(check.fidelity.items).toBe(2);
    expect(check.latency).toBeNull();
    expect(check.data).toContain('(x [2, 1280])');
    expect(check.notes[0]).toBe('Compared 1 of 64 batches (2 items) within the time budget (timeBudgetMs 0).');
  });

  it('bad input exits 2 with one line', async () => {
    expectUsageError(await mmkit(['check', int8]), 'check', 'BAD_OPTION');
    expectUsageError(await mmkit(['check', audio, '--baseline', audio, '--input', 'x=1,many']), 'check', 'BAD_OPTION');
    expectUsageError(await mmkit(['check', audio, '--baseline', audio, '--input', 'x=1,2,3']), 'check', 'SHAPE_MISMATCH');
    expectUsageError(await mmkit(['check', int8, '--baseline', path.join(tmp.dir, 'missing.onnx')]), 'check', 'FILE_NOT_FOUND');
    expectUsageError(await mmkit(['check', int8, '--baseline', VIT, '--min-cosine', '2']), 'check', 'BAD_OPTION');
    expectUsageError(await mmkit(['check', int8, '--baseline', VIT, '--data', 'mnist:validation']), 'check', 'BAD_OPTION');
  });
});

describe('mmkit eval', () => {
  it('gives accuracy, latency, size and agreement with a baseline; --json parses', async () => {
    const r = await mmkit(['eval', int8, '--data', 'mnist:test:300', '--baseline', VIT, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.items).toBe(300);
    expect(report.model.accuracy.top1).toBeGreaterThan(0.9);
    expect(Math.abs(report.model.accuracy.top1 - report.baseline.accuracy.top1)).toBeLessThan(0.02);
    expect(report.agreement.top1).toBeGreaterThan(0.97);
    expect(report.comparison.sizeRatio).toBeLessThan(0.5);
    expect(report.model.latency.perItemMs.p50).toBeGreaterThan(0);
  });

  it('prints the tables as text, per-layer errors with --layers', async () => {
    const r = await mmkit(['eval', int8, '--data', 'mnist:test:64', '--baseline', VIT, '--layers']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/64 items in \d+ batches on cpu/);
    expect(r.stdout).toContain('agreement top-1');
    expect(r.stdout).toContain('Layers furthest from');
    expect(r.stdout).not.toContain('[chart:');
  });

  it('reads a folder of images through the preprocessor_config.json beside the model', async () => {
    const images = path.join(tmp.dir, 'digits');
    let n = 0;
    for await (const batch of mm.datasets.mnist({ split: 'test', normalize: false }).take(60)) {
      const pixels = batch.inputs as { data: Float32Array; dims: number[] };
      batch.label!.forEach((label, i) => {
        const png = new PNG({ width: 28, height: 28 });
        for (let p = 0; p < 784; p++) {
          png.data.fill(Math.round(255 * pixels.data[i * 784 + p]), 4 * p, 4 * p + 3);
          png.data[4 * p + 3] = 255;
        }
        mkdirSync(path.join(images, String(label)), { recursive: true });
        writeFileSync(path.join(images, String(label), `${n++}.png`), PNG.sync.write(png));
      });
    }
    const model = path.join(tmp.dir, 'with-config', 'vit.onnx');
    mkdirSync(path.dirname(model));
    copyFileSync(VIT, model);
    const config = { image_processor_type: 'ViTImageProcessor', do_resize: true, size: { height: 28, width: 28 }, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, image_mean: [MNIST_MEAN], image_std: [MNIST_STD] };
    writeFileSync(path.join(path.dirname(model), 'preprocessor_config.json'), JSON.stringify(config));
    const r = await mmkit(['eval', model, '--data', images, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.items).toBe(60);
    expect(report.model.accuracy.top1).toBeGreaterThan(0.9);
  });

  it('bad input exits 2 with one line', async () => {
    expectUsageError(await mmkit(['eval', int8]), 'eval', 'BAD_OPTION');
    expectUsageError(await mmkit(['eval', int8, '--data', path.join(tmp.dir, 'no-images')]), 'eval', 'FILE_NOT_FOUND');
    expectUsageError(await mmkit(['eval', int8, '--data', 'mnist:test', '--layers']), 'eval', 'BAD_OPTION');
  });
});

describe('mmkit summary', () => {
  it('prints totals and the largest layers; --json gives every row; --all lists every layer', async () => {
    const [text, json, all] = await Promise.all([mmkit(['summary', VIT]), mmkit(['summary', VIT, '--json']), mmkit(['summary', VIT, '--all', '--no-probe'])]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain('Largest layers (12 of 153)');
    expect(text.stdout).toContain('pixel_values');
    const summary = JSON.parse(json.stdout);
    expect(summary.rows).toHaveLength(153);
    expect(summary.totals.params).toBe(139018);
    expect(all.stdout).toContain('Largest layers (153 of 153)');
  });

  it('probes at --input / --dim shapes, and says why it could not where the model does not run at them', async () => {
    const [given, failed] = await Promise.all([mmkit(['summary', audio, '--input', 'x=1,1280', '--json']), mmkit(['summary', audio, '--dim', 'L=4'])]);
    expect(given.status, given.stderr).toBe(0);
    const summary = JSON.parse(given.stdout);
    expect(summary.probedInputs).toEqual({ x: [1, 1280] });
    expect(summary.totals.flops).toBe(2 * 4 * 1273 * 8);
    expect(failed.status, failed.stderr).toBe(0);
    expect(failed.stdout).toContain('No shape probe: The model does not run at x [1, 4]');
  });

  it('a missing model exits 2 with one line', async () => {
    expectUsageError(await mmkit(['summary', path.join(tmp.dir, 'missing.onnx')]), 'summary', 'FILE_NOT_FOUND');
    expectUsageError(await mmkit(['summary', audio, '--dim', 'L']), 'summary', 'BAD_OPTION');
  });
});
