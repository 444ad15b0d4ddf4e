import { describe, expect, it } from 'vitest';
import {
  GraphEditor,
  GraphView,
  ModelBuilder,
  ModelScopes,
  editModel,
  findLinears,
  nodeSubgraphs,
  readModel,
  serializeModel,
  shallowCopy,
  weightScopes,
  type GraphProto,
  type ModelProto,
} from '../sdk/onnx';
import { seeded } from './helpers/onnx-models';
import { buildIfNet, corpusModel, ifNetFeeds, run, type Feeds } from './helpers/weight-models';

/** Every graph of a model with its path, as ModelScopes names them. */
function graphs(g: GraphProto, path = ''): { path: string; graph: GraphProto }[] {
  return [
    { path, graph: g },
    ...g.node.flatMap((n) => n.attribute.flatMap((a) => (a.g ? graphs(a.g, `${path ? `${path}/` : ''}${n.name}.${a.name}`) : []))),
  ];
}

/** Names defined (inputs, initializers, node outputs) in a scope that a scope around it defines too. */
function shadowed(g: GraphProto, outer = new Set<string>()): string[] {
  const here = [...g.input.map((v) => v.name), ...g.initializer.map((t) => t.name), ...g.node.flatMap((n) => n.output)];
  const clash = here.filter((x) => outer.has(x));
  const visible = new Set([...outer, ...here]);
  return [...clash, ...g.node.flatMap((n) => nodeSubgraphs(n).flatMap((b) => shadowed(b, visible)))];
}

/** A stand-in weight pass: each MatMul with an initializer weight reads a new copy of it, and the old one goes when unread. */
function copyWeights(model: ModelProto): ModelProto {
  const view = GraphView.of(model);
  const targets = view.nodes.filter((n) => n.opType === 'MatMul' && view.isInitializer(n.input[1]));
  if (targets.length === 0) return model;
  return editModel(model, (e) => {
    for (const n of targets) {
      const w = view.initializer(n.input[1])!;
      const name = e.uniqueName(`${w.name}_copy`);
      e.addInitializer(shallowCopy(w, { name }));
      e.renameInput(n, 1, name);
    }
    e.prune();
  });
}

const COMBOS = [
  [true, true],
  [true, false],
  [false, false],
] as const;

async function expectSameOutputs(a: ModelProto, b: ModelProto, feeds: (flag: boolean, deep: boolean) => Feeds): Promise<void> {
  for (const [flag, deep] of COMBOS) expect(await run(serializeModel(b), feeds(flag, deep))).toEqual(await run(serializeModel(a), feeds(flag, deep)));
}

describe('ModelScopes', () => {
  it('takes a model apart into its main graph and every If branch, nested ones included, each a model with the outer weights only it reads', () => {
    const { model } = buildIfNet();
    const scopes = ModelScopes.of(model).scopes;
    expect(scopes.map((s) => s.path)).toEqual(['', 'if.then_branch', 'if.then_branch/inner_if.then_branch', 'if.then_branch/inner_if.else_branch', 'if.else_branch']);
    expect(scopes.map((s) => s.owners.join('/'))).toEqual(['', 'If', 'If/If', 'If/If', 'If']);
    const initializers = scopes.map((s) => s.model.graph!.initializer.map((t) => t.name).sort());
    // W_deep is read only inside the then branch (two scopes down), so the then branch gets it too.
    expect(initializers).toEqual([['W_deep', 'W_outer'], ['W_deep', 'W_outer'], [], ['W_deep'], ['W_else']]);
    // Every scope model has the whole model's opsets, and the types of the outer values it reads
    // (declared ones with their shape, inferred ones without).
    for (const s of scopes) expect(s.model.opsetImport).toEqual(model.opsetImport);
    expect(GraphView.of(scopes[2].model).valueInfo('then_h')).toEqual({ dtype: 'float32' });
    expect(GraphView.of(scopes[1].model).valueInfo('x')).toEqual({ dtype: 'float32', shape: ['batch', 32] });
  });

  it('gives back the very input model when no scope changed', () => {
    const { model } = buildIfNet();
    expect(ModelScopes.of(model).map((s) => s.model)).toBe(model);
    expect(weightScopes(model).map((s) => s.model)).toBe(model);
  });

  it('puts rewritten branches back: outer weights the branches consumed leave the main graph, nothing is shadowed, outputs are identical', async () => {
    const { model } = buildIfNet();
    const out = ModelScopes.of(model).map((s) => copyWeights(s.model));
    const all = graphs(out.graph!);
    const names = (path: string) => all.find((g) => g.path === path)!.graph.initializer.map((t) => t.name).sort();
    expect(names('')).toEqual([]);
    expect(names('if.then_branch')).toEqual(['W_outer_copy']);
    expect(names('if.then_branch/inner_if.else_branch')).toEqual(['W_deep_copy']);
    expect(names('if.else_branch')).toEqual(['W_else_copy']);
    expect(shadowed(out.graph!)).toEqual([]);
    // No value infos added for outer values stay behind.
    expect(all.flatMap((g) => g.graph.valueInfo.map((v) => v.name))).toEqual([]);
    await expectSameOutputs(model, out, (flag, deep) => ifNetFeeds(2, flag, deep));
  });

  it('drops the copies a pass left untouched, keeps what it replaced in place, and the outer original goes once unread', async () => {
    const { model } = buildIfNet();
    // Only the inner else branch changes, and it replaces its copied-in W_deep under the same name.
    const out = ModelScopes.of(model).map((s) =>
      s.path.endsWith('inner_if.else_branch') ? editModel(s.model, (e) => e.replaceInitializer('W_deep', shallowCopy(e.initializer('W_deep')!))) : s.model,
    );
    const all = graphs(out.graph!);
    const names = (path: string) => all.find((g) => g.path === path)!.graph.initializer.map((t) => t.name).sort();
    expect(names('')).toEqual(['W_outer']);
    expect(names('if.then_branch')).toEqual([]);
    expect(names('if.then_branch/inner_if.else_branch')).toEqual(['W_deep']);
    expect(shadowed(out.graph!)).toEqual([]);
    await expectSameOutputs(model, out, (flag, deep) => ifNetFeeds(2, flag, deep));
  });

  it('weightScopes lifts the Constant weights inside branches, so the patterns find every branch linear', () => {
    const { model } = buildIfNet();
    const found = weightScopes(model).scopes.map((s) => findLinears(GraphView.of(s.model)).map((l) => l.weight));
    expect(found).toEqual([[], ['W_outer'], ['W_inner'], ['W_deep'], ['W_else']]);
  });
});

describe('ModelScopes on a Loop', () => {
  /** y = x · W · W · W: a Loop of 3 iterations whose body multiplies the carried value by W, a main-graph initializer. */
  function buildLoop(): ModelProto {
    const body = new ModelBuilder({ name: 'body' });
    body.input('i', 'int64', []);
    const cond = body.input('cond_in', 'bool', []);
    const v = body.input('v_in', 'float32', ['batch', 16]);
    body.node('Identity', [cond], {}, { name: 'keep_going', outputs: ['cond_out'] });
    body.node('MatMul', [v, 'W'], {}, { name: 'step', outputs: ['v_out'] });
    body.output('cond_out', 'bool', []);
    body.output('v_out', 'float32', ['batch', 16]);
    const b = new ModelBuilder({ name: 'loop', opset: 17 });
    const x = b.input('x', 'float32', ['batch', 16]);
    b.initializer('W', 'float32', [16, 16], seeded(256, 5, 0.3));
    const trips = b.initializer('trips', 'int64', [], BigInt64Array.of(3n));
    b.node('Loop', [trips, '', x], { body: { g: body.build().graph! } }, { name: 'loop', outputs: ['y'] });
    b.output('y', 'float32', ['batch', 16]);
    return b.build();
  }

  it('rewrites the body with the outer weight it alone reads, keeps its inputs, and the model computes the same', async () => {
    const model = buildLoop();
    const scopes = ModelScopes.of(model);
    expect(scopes.scopes.map((s) => s.path)).toEqual(['', 'loop.body']);
    expect(scopes.scopes[1].model.graph!.initializer.map((t) => t.name)).toEqual(['W']);
    const out = scopes.map((s) => copyWeights(s.model));
    expect(out.graph!.initializer.map((t) => t.name)).toEqual(['trips']);
    const body = out.graph!.node[0].attribute[0].g!;
    expect(body.input.map((v) => v.name)).toEqual(['i', 'cond_in', 'v_in']);
    expect(body.initializer.map((t) => t.name)).toEqual(['W_copy']);
    const feeds: Feeds = { x: { type: 'float32', data: seeded(2 * 16, 6, 1), dims: [2, 16] } };
    expect(await run(serializeModel(out), feeds)).toEqual(await run(serializeModel(model), feeds));
  });
});

describe('GraphEditor with bodies', () => {
  it('prune keeps the initializers that only If branches read', () => {
    const { model } = buildIfNet();
    const pruned = editModel(model, (e) => e.prune());
    expect(pruned.graph!.initializer.map((t) => t.name).sort()).toEqual(['W_deep', 'W_outer']);
  });

  it('never hands out a name a branch uses, nor, in a scope model, one of the scopes around it', () => {
    const { model } = buildIfNet();
    expect(new GraphEditor(model).uniqueName('then_mm')).toBe('then_mm_1');
    const inner = ModelScopes.of(model).scopes[2].model;
    expect(new GraphEditor(inner).uniqueName('x')).toBe('x_1');
    expect(new GraphEditor(inner).uniqueName('else_mm')).toBe('else_mm_1');
  });
});

const silero = corpusModel('silero-vad-v5');
describe.skipIf(!silero)('silero-vad-v5 (spox: everything inside nested If branches)', () => {
  const feeds = (): Feeds => ({
    input: { type: 'float32', data: seeded(512, 3, 0.5), dims: [1, 512] },
    state: { type: 'float32', data: new Float32Array(2 * 128), dims: [2, 1, 128] },
    sr: { type: 'int64', data: BigInt64Array.of(16000n), dims: [] },
  });

  it('weightScopes reaches the Constant weights of every branch, and a rewrite of all scopes keeps the outputs identical', async () => {
    const model = (await readModel(silero!)).proto;
    const scopes = weightScopes(model);
    expect(scopes.scopes.length).toBeGreaterThan(25);
    const convs = scopes.scopes.flatMap((s) => GraphView.of(s.model).nodes.filter((n) => n.opType === 'Conv' && GraphView.of(s.model).isInitializer(n.input[1])));
    expect(convs).toHaveLength(12);
    const out = scopes.map((s) => s.model); // lifted everywhere, otherwise unchanged: the input itself
    expect(out).toBe(model);
    const rewritten = weightScopes(model).map((s) => editModel(s.model, (e) => e.prune()));
    expect(shadowed(rewritten.graph!)).toEqual([]);
    expect(await run(serializeModel(rewritten), feeds())).toEqual(await run(serializeModel(model), feeds()));
  });
});
if (!silero) it.skip('silero-vad-v5: not in the corpus cache (node scripts/fetch-corpus.mjs fetches it)', () => {});
