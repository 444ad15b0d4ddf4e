/**
 * `mmkit compress` through the compiled CLI on the shipped ViT and real MNIST digits: reports,
 * the check, --json, recipe replays byte for byte, and bad input that writes nothing.
 */
import { copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VIT, expectUsageError, mmkit, tempDir } from './helpers/cli-run';

const tmp = tempDir('compress');
afterAll(() => tmp.remove());
const out = (name: string) => path.join(tmp.dir, name);

describe('mmkit compress', () => {
  it('--quantize dynamic writes a smaller model, prints the step report and the passed check, exit 0', async () => {
    const r = await mmkit(['compress', VIT, '-o', out('int8.onnx'), '--quantize', 'dynamic']);
    expect(r.status, r.stderr).toBe(0);
    expect(statSync(out('int8.onnx')).size).toBeLessThan(0.5 * statSync(VIT).size);
    expect(r.stdout).toContain('quantize.dynamic: dynamic int8');
    expect(r.stdout).toContain('24 linears → DynamicQuantizeMatMul');
    expect(r.stdout).toContain('Compression check after quantize.dynamic');
    expect(r.stdout).toContain('✓ The compression check passed');
    expect(r.stdout).toMatch(/Wrote .*int8\.onnx \(\d+ bytes\)/);
  });

  it('--json gives the output, recipe, reports and checks; replaying that recipe (as JSON or from the model) is byte-identical', async () => {
    const r = await mmkit(['compress', VIT, '-o', out('static.onnx'), '--prune', 'mlp:0.25', '--quantize', 'static', '--calibration', 'mnist:train:64', '--json']);
    // Static int8 of this tiny ViT runs at ~0.95× fp32's latency here, close to the check's 1.05 bound
    // on a busy machine: whether the check flags it (exit 1) is not what this test is about.
    expect(r.status, r.stderr).toBeLessThan(2);
    const result = JSON.parse(r.stdout);
    expect(result.output.path).toBe(out('static.onnx'));
    expect(result.recipe.steps.map((s: { op: string }) => s.op)).toEqual(['prune.structured', 'quantize.static']);
    expect(result.recipe.steps[1].options.calibration.dataset.spec.source).toBe('mnist');
    // Each compression step is checked: the pruning, then the quantization on the calibration digits, so agreement is judged.
    expect(result.reports.map((s: { op: string }) => s.op)).toEqual(['prune.structured', 'check', 'quantize.static', 'check']);
    const check = result.checks[1];
    expect(check.data).toContain('mnist:train');
    expect(check.synthetic).toBe(false);
    expect(check.fidelity.agreement).toBeGreaterThan(0.95);
    writeFileSync(out('recipe.json'), JSON.stringify(result.recipe));

    const original = readFileSync(out('static.onnx'));
    for (const [recipe, replay] of [[out('recipe.json'), out('replay-json.onnx')], [out('static.onnx'), out('replay-model.onnx')]]) {
      const again = await mmkit(['compress', '--recipe', recipe, '-o', replay]);
      expect(again.status, again.stderr).toBeLessThan(2);
      expect(readFileSync(replay).equals(original), `${recipe} replayed to different bytes`).toBe(true);
    }
  });

  it('exit 1 when the check flags the result: written by default, not with --strict', async () => {
    // Unstructured zeros stored dense leave the file as large as before: the check says not-smaller.
    const [plain, strict] = await Promise.all([
      mmkit(['compress', VIT, '-o', out('sparse.onnx'), '--prune', '0.5', '--json']),
      mmkit(['compress', VIT, '-o', out('strict.onnx'), '--prune', '0.5', '--strict']),
    ]);
    expect(plain.status, plain.stderr).toBe(1);
    const result = JSON.parse(plain.stdout);
    expect(result.flagged).toBe(true);
    expect(result.checks[0].flags.map((f: { kind: string }) => f.kind)).toContain('not-smaller');
    expect(statSync(out('sparse.onnx')).isFile()).toBe(true);
    expect(strict.status, strict.stderr).toBe(1);
    expect(strict.stdout).toContain('⚠ The compression check flagged');
    expect(strict.stdout).toContain('Not written (--strict)');
    expect(tmp.files()).not.toContain('strict.onnx');
  });

  it('a step that changes nothing says so; with --strict that is exit 1 and nothing written', async () => {
    // Rank 0.99 of these small linears saves no work: low-rank factors none of them.
    const [plain, strict] = await Promise.all([
      mmkit(['compress', VIT, '-o', out('idle.onnx'), '--low-rank', '0.99', '--no-check']),
      mmkit(['compress', VIT, '-o', out('idle-strict.onnx'), '--low-rank', '0.99', '--strict', '--json']),
    ]);
    expect(plain.status, plain.stderr).toBe(0);
    expect(plain.stdout).toMatch(/low-rank changed nothing in .*vit-tiny-mnist\.onnx/);
    expect(strict.status, strict.stderr).toBe(1);
    const result = JSON.parse(strict.stdout);
    expect(result).toMatchObject({ output: null, flagged: true });
    expect(result.noEffect).toContain('low-rank changed nothing');
    expect(tmp.files()).not.toContain('idle-strict.onnx');
  });

  describe('bad input: exit 2, one line with the code, no stack, nothing written', () => {
    const cases: [string, string[], string, string][] = [
      ['a missing model', ['compress', 'no/such/model.onnx', '-o', out('bad.onnx'), '--quantize', 'dynamic'], 'compress', 'FILE_NOT_FOUND'],
      ['a file that is not ONNX', ['compress', path.join(__dirname, 'helpers', 'cli-run.ts'), '-o', out('bad.onnx'), '--quantize', 'dynamic'], 'compress', 'NOT_ONNX'],
      ['an unknown quantization mode', ['compress', VIT, '-o', out('bad.onnx'), '--quantize', 'int3'], 'compress', 'BAD_OPTION'],
      ['a bad --prune spec', ['compress', VIT, '-o', out('bad.onnx'), '--prune', '1.5'], 'compress', 'BAD_OPTION'],
      ['a bad --low-rank spec', ['compress', VIT, '-o', out('bad.onnx'), '--low-rank', 'energy:2'], 'compress', 'BAD_OPTION'],
      ['static quantization without calibration', ['compress', VIT, '-o', out('bad.onnx'), '--quantize', 'static'], 'compress', 'BAD_OPTION'],
      ['no step', ['compress', VIT, '-o', out('bad.onnx')], 'compress', 'BAD_OPTION'],
      ['the source as output', ['compress', VIT, '-o', VIT, '--quantize', 'dynamic'], 'compress', 'OVERWRITE_SOURCE'],
      ['a missing recipe', ['compress', '--recipe', out('none.json'), '-o', out('bad.onnx')], 'compress', 'FILE_NOT_FOUND'],
      ['a recipe with step flags', ['compress', '--recipe', VIT, '-o', out('bad.onnx'), '--quantize', 'dynamic'], 'compress', 'BAD_OPTION'],
      ['an unknown option', ['compress', VIT, '-o', out('bad.onnx'), '--quantise', 'dynamic'], 'compress', 'BAD_OPTION'],
    ];
    it.each(cases)('%s', async (_what, args, command, code) => {
      const before = statSync(VIT).mtimeMs;
      expectUsageError(await mmkit(args), command, code);
      expect(tmp.files()).not.toContain('bad.onnx');
      expect(statSync(VIT).mtimeMs).toBe(before);
    });

    it('a model file mmkit did not write is not replaced without --overwrite', async () => {
      copyFileSync(VIT, out('theirs.onnx'));
      const r = await mmkit(['compress', VIT, '-o', out('theirs.onnx'), '--quantize', 'int4']);
      expectUsageError(r, 'compress', 'FILE_EXISTS');
      expect(r.stderr).toContain('--overwrite');
      expect(readFileSync(out('theirs.onnx')).equals(readFileSync(VIT))).toBe(true);
    });

    it('--verbose adds the stack', async () => {
      const r = await mmkit(['--verbose', 'compress', 'no/such/model.onnx', '-o', out('bad.onnx'), '--quantize', 'dynamic']);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^mmkit compress: FILE_NOT_FOUND: /);
      expect(r.stderr).toMatch(/\n\s+at /);
    });
  });
});
