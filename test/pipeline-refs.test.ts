/**
 * Steps whose options carry live objects: a Dataset (calibration / training data) or a Pipeline
 * (a teacher). The recipe records refs to them; replays rebuild built-in datasets from their spec
 * and ask for the others by name. Steps may also report what they did.
 */
import { describe, expect, it } from 'vitest';
import { mm, isMmkitError } from '../sdk';
import { JUPYTER_DISPLAY } from '../sdk/report';
import { registerStep, isDatasetRef, isPipelineRef } from '../sdk/step';
import { Dataset, batchSize } from '../sdk/data';
import { editModel, GraphView, makeTensor, tensorArray } from '../sdk/onnx';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';

// A real pass over both refs: the student's classifier bias becomes the teacher's bias plus the
// number of calibration items seen (so tests can see which data and teacher the step used).
registerStep<{ teacher: unknown; calibration: unknown }>({
  op: 'test.copyTeacherBias',
  normalize(o) {
    if (!isPipelineRef(o.teacher)) throw new Error('teacher must be a pipeline');
    if (!isDatasetRef(o.calibration)) throw new Error('calibration must be a Dataset');
    return { teacher: o.teacher as never, calibration: o.calibration as never };
  },
  async apply(model, _options, ctx) {
    let items = 0;
    for await (const b of ctx.refs.dataset('calibration')) items += batchSize(b);
    const teacher = await ctx.refs.model('teacher');
    const tView = GraphView.of(teacher.proto);
    const bias = tView.initializers.filter((t) => t.dims.length === 1 && Number(t.dims[0]) === 10).at(-1)!;
    const values = Float32Array.from(tensorArray(bias, teacher) as Float32Array, (v) => v + items);
    const proto = editModel(model.proto, (e) => e.replaceInitializer(bias.name, makeTensor(bias.name, 'float32', [10], values)));
    return { model: { ...model, proto }, report: { op: 'test.copyTeacherBias', title: 'Bias copied', lines: [`${items} calibration items`], warnings: [] } };
  },
});

async function headBias(p: ReturnType<typeof mm.load>): Promise<Float32Array> {
  const model = await p.model();
  const bias = GraphView.of(model.proto).initializers.filter((t) => t.dims.length === 1 && Number(t.dims[0]) === 10).at(-1)!;
  return tensorArray(bias, model) as Float32Array;
}

describe('steps with Dataset and Pipeline options', () => {
  const base = mm.load(VIT);
  const calibration = mm.datasets.mnist({ split: 'train' }).shuffle(7).take(40);

  it('the step gets the live objects; the recipe records refs with the dataset spec and the teacher recipe', async () => {
    const p = base.step('test.copyTeacherBias', { teacher: base, calibration });
    const [before, after] = await Promise.all([headBias(base), headBias(p)]);
    after.forEach((v, i) => expect(v).toBeCloseTo(before[i] + 40, 5));
    const options = p.recipe.steps[0].options as { teacher: { pipeline: { source: { sha256?: string } } }; calibration: unknown };
    expect(options.calibration).toEqual({
      dataset: { name: 'mnist:train', size: 40, spec: { source: 'mnist', args: { split: 'train' }, ops: [['shuffle', 7], ['take', 40]] } },
    });
    expect(options.teacher.pipeline.source.sha256).toMatch(/^[0-9a-f]{64}$/); // pinned once the teacher was read
    expect(await p.reports()).toEqual([expect.objectContaining({ title: 'Bias copied', lines: ['40 calibration items'] })]);
    expect(await base.reports()).toEqual([]);
    const shown = await p[JUPYTER_DISPLAY]();
    expect(shown['text/plain']).toContain('test.copyTeacherBias: Bias copied');
    expect(shown['text/html']).toContain('40 calibration items');
  });

  it('a replay rebuilds built-in datasets from the spec and the teacher from its recipe, byte-identically', async () => {
    const p = base.step('test.copyTeacherBias', { teacher: base, calibration });
    const replay = mm.fromRecipe(JSON.stringify(p.recipe));
    expect(Buffer.from(await headBias(replay).then((b) => b.buffer))).toEqual(Buffer.from((await headBias(p)).buffer));
  });

  it('data a recipe cannot rebuild (map(), tensors) must be passed again by name', async () => {
    const mapped = calibration.map((b) => b);
    const custom = Dataset.fromTensors({ data: new Float32Array(3 * 784), dims: [3, 1, 28, 28], dtype: 'float32' }, undefined, { name: 'my-digits' });
    const p = base.step('test.copyTeacherBias', { teacher: base, calibration: custom });
    let err: unknown;
    try {
      mm.fromRecipe(p.recipe);
    } catch (e) {
      err = e;
    }
    expect(isMmkitError(err) && err.code).toBe('BAD_RECIPE');
    expect(String((err as Error).message)).toContain('my-digits');
    const replay = mm.fromRecipe(p.recipe, { data: { 'my-digits': custom } });
    expect(Array.from(await headBias(replay))).toEqual(Array.from(await headBias(p)));
    expect(mapped.info.spec).toBeUndefined();
  });

  it('a step that reads a ref it was not given fails with a typed error naming the option', async () => {
    registerStep<Record<string, never>>({
      op: 'test.needsData',
      normalize: () => ({}),
      async apply(model, _o, ctx) {
        ctx.refs.dataset('calibration');
        return model;
      },
    });
    const e = await base.step('test.needsData', {}).model().catch((x: unknown) => x);
    expect(isMmkitError(e) && e.code).toBe('BAD_OPTION');
    expect((e as Error).message).toContain("'calibration'");
  });
});
