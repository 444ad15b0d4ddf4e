/**
 * The fluent compression chain of DESIGN.md through the Pipeline's sugar methods, with the
 * never-silently-worse check each compression step gets, on the shipped ViT and real digits.
 */
import { describe, expect, it } from 'vitest';
import { mm } from '../sdk';
import { JUPYTER_DISPLAY } from '../sdk/report';
import { GraphView, serializeModel } from '../sdk/onnx';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';
const base = mm.load(VIT);
const test = mm.datasets.mnist({ split: 'test' }).take(512);
const calibration = mm.datasets.mnist({ split: 'train' }).take(128);

const ops = async (p: typeof base) => new Set(GraphView.of((await p.model()).proto).nodes.map((n) => n.opType));

describe('compression chain', () => {
  it("quantize({ mode }) takes its modes from one table: an unknown mode is a BAD_OPTION listing them", () => {
    const e = (() => {
      try {
        base.quantize({ mode: 'int8' } as never);
      } catch (x) {
        return x as { code: string; message: string; hint?: string };
      }
    })();
    expect(e?.code).toBe('BAD_OPTION');
    expect(e?.message).toContain('mode must be one of dynamic, static, int4, fp16');
    expect(e?.hint).toContain("'dynamic'");
    expect(() => base.prune({ target: 'neurons', sparsity: 0.5 } as never)).toThrow(/target must be one of mlp, heads/);
  });

  it('prune() zeroes weights by magnitude by default and removes MLP units with target, each step reporting', async () => {
    const sparse = base.prune({ sparsity: 0.5 });
    const narrow = base.prune({ target: 'mlp', sparsity: 0.5 });
    expect(sparse.steps.map((s) => s.op)).toEqual(['prune.magnitude']);
    expect(narrow.steps.map((s) => s.op)).toEqual(['prune.structured']);
    const [sparseReports, narrowReports] = await Promise.all([sparse.reports(), narrow.reports()]);
    expect(sparseReports.map((r) => r.op)).toEqual(['prune.magnitude', 'check']);
    // Honest: zeroed weights stored dense do not make the file smaller, and the check says so.
    const [check] = await sparse.checks();
    expect(check.flags.map((f) => f.kind)).toContain('not-smaller');
    // Structured pruning is a compression like the others: checked against its input, unless check: false.
    expect(narrowReports.map((r) => r.op)).toEqual(['prune.structured', 'check']);
    expect(await base.prune({ target: 'mlp', sparsity: 0.5, check: false }).checks()).toEqual([]);
    const params = async (p: typeof base) => GraphView.of((await p.model()).proto).initializers.reduce((n, t) => n + t.dims.reduce((a, d) => a * Number(d), 1), 0);
    expect(await params(narrow)).toBeLessThan(0.8 * (await params(base)));
  });

  it("prune → quantize({ mode: 'static' }) keeps accuracy, is checked on its calibration data, and replays byte-identically", async () => {
    const chain = base.prune({ target: 'mlp', sparsity: 0.5 }).quantize({ mode: 'static', calibration });
    const report = await chain.evaluate(test, { baseline: base, batchSize: 64 });
    expect(report.model.accuracy!.top1).toBeGreaterThan(report.baseline!.accuracy!.top1 - 0.01);
    // One check per compression step: the pruning's on synthetic inputs, the quantization's on its calibration data.
    expect(report.checks).toHaveLength(2);
    const quantized = report.checks[1];
    expect(quantized.data).toContain('mnist:train');
    expect(quantized.runs.node.ok && quantized.runs.web.ok).toBe(true);
    expect(quantized.fidelity!.agreement!).toBeGreaterThan(0.97);
    expect([...(await ops(chain))]).toContain('QuantizeLinear');
    const replay = mm.fromRecipe(JSON.parse(JSON.stringify(chain.recipe)));
    expect(Buffer.from(serializeModel(await replay.model())).equals(Buffer.from(serializeModel(await chain.model())))).toBe(true);
  });

  it("the check explains what the step left float with the step's own minElements, not a default", async () => {
    // 64×64 attention weights (4,096 elements) stay float under minElements 5,000 (the 8,192-element MLP weights do not); a size bound no int8 model meets makes the check explain.
    const [check] = await base.quantize({ mode: 'dynamic', minElements: 5_000, check: { thresholds: { notSmaller: 0.1 }, latencyBudgetMs: 0 } }).checks();
    const sizeFlag = check.flags.find((f) => f.kind === 'not-smaller');
    expect(sizeFlag?.cause).toContain('weights under minElements (5000) stay float');
  });

  it('check: false skips the check; a flagged check shows in the displays', async () => {
    const unchecked = base.quantize({ mode: 'dynamic', check: false });
    expect(await unchecked.checks()).toEqual([]);
    // Bad check options fail when the step is added, before any work.
    expect(() => base.quantize({ mode: 'dynamic', check: { maxItems: 0 } })).toThrow(/maxItems/);
    // A stricter cosine bound than int4 weights can meet: the fidelity flag, shown in the displays.
    const int4 = base.quantize({ mode: 'int4', blockSize: 128, check: { thresholds: { cosine: 0.99999 } } });
    const [check] = await int4.checks();
    expect(check.flags.map((f) => f.kind)).toContain('fidelity');
    const shown = await int4[JUPYTER_DISPLAY]();
    expect(shown['text/plain']).toContain('Compression check after quantize.int4');
    const evaluation = await int4.evaluate(test.take(64));
    expect((await evaluation[JUPYTER_DISPLAY]())['text/plain']).toContain(check.flags[0].message.slice(0, 20));
  });

  it('lowRank() factors the linears and toFloat16() halves the weights, both checked', async () => {
    const lr = base.lowRank({ energy: 0.99 });
    expect(lr.steps[0].op).toBe('low-rank');
    expect((await lr.checks())[0].runs.node.ok).toBe(true);
    const half = base.toFloat16();
    expect(half.steps[0].op).toBe('quantize.fp16');
    const [check] = await half.checks();
    expect(check.size.ratio).toBeLessThan(0.6);
  });
});
