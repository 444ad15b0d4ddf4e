/**
 * Never silently a no-op: a compression step that changes nothing says so in its report (naming
 * the step, the file and what it skipped), is still checked, and with `strict` fails with
 * NO_EFFECT; a step that did its work carries no such warning. On the shipped ViT.
 */
import { describe, expect, it } from 'vitest';
import { mm } from '../sdk';
import { serializeModel } from '../sdk/onnx';
import { expectMmkitError } from './helpers/errors';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';
const base = mm.load(VIT);
/** No weight of this ViT has a billion elements: dynamic quantization has nothing to rewrite. */
const idle = base.quantize({ mode: 'dynamic', minElements: 1e9 });

describe('a step that changes nothing', () => {
  it('says so first in its report, naming the step and the file, and the model comes out as it went in', async () => {
    const [report] = await idle.reports();
    expect(report.op).toBe('quantize.dynamic');
    expect(report.warnings[0]).toMatch(/^quantize\.dynamic changed nothing in .*vit-tiny-mnist\.onnx: /);
    expect(report.warnings[0]).toContain('The model comes out as it went in.');
    expect(serializeModel((await idle.model()).proto)).toEqual(serializeModel((await base.model()).proto));
  });

  it('is still checked, and the check shows it', async () => {
    const checks = await idle.checks();
    expect(checks).toHaveLength(1);
    const reports = await idle.reports();
    expect(reports.map((r) => r.op)).toEqual(['quantize.dynamic', 'check']);
  });

  it('with strict: true fails with NO_EFFECT, naming the step and the file', async () => {
    const e = await expectMmkitError(base.quantize({ mode: 'dynamic', minElements: 1e9, strict: true }).model(), 'NO_EFFECT', 'quantize.dynamic changed nothing', 'vit-tiny-mnist.onnx');
    expect(e.hint).toContain('strict');
  });

  it('strict is not part of the recipe: it never changes the model', () => {
    expect(base.quantize({ mode: 'dynamic', strict: true }).recipe).toEqual(base.quantize({ mode: 'dynamic' }).recipe);
  });
});

describe('a step that did its work', () => {
  it('has no such warning, strict or not', async () => {
    const int8 = base.quantize({ mode: 'dynamic', strict: true, check: false });
    const [report] = await int8.reports();
    expect(report.warnings.join('\n')).not.toContain('changed nothing');
  });
});
