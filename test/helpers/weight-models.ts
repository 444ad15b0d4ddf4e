/**
 * Small real models that keep their weights where other exporters do: in Constant nodes (paddle2onnx,
 * tf2onnx, spox), behind Identity nodes (torch's deduplicated weights), and inside If branches
 * (Silero VAD), both branch-local and read from the main graph. Shared by the onnx-constants,
 * onnx-subgraphs and pass tests.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ModelBuilder, serializeModel, type GraphProto, type ModelProto } from '../../sdk/onnx';
import { seeded } from './onnx-models';

/**
 * x[batch, 4, 8, 8] → Conv(3×3, 32 channels) → Relu → GlobalAveragePool → Reshape → MatMul [32, 64]
 * (+ bias Add) → Relu → Gemm transB=1 [64, 64] + bias → y[batch, 64]. Every weight and bias is a
 * Constant node (so is the Reshape's shape); the MatMul reads its weight through an Identity.
 */
export function buildConstantNet(): { model: ModelProto; input: string; dims: (batch: number) => number[] } {
  const b = new ModelBuilder({ name: 'constant-net', opset: 17 });
  const x = b.input('x', 'float32', ['batch', 4, 8, 8]);
  const convW = b.constant('float32', [32, 4, 3, 3], seeded(32 * 4 * 9, 1), 'conv.weight');
  const convB = b.constant('float32', [32], seeded(32, 2, 0.1), 'conv.bias');
  const conv = b.node('Conv', [x, convW, convB], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name: 'conv' })[0];
  // An integer Constant (a shape) beside the weights: it stays a node.
  const pooled = b.op('Reshape', [b.op('GlobalAveragePool', [b.op('Relu', [conv])]), b.constant('int64', [2], BigInt64Array.of(0n, -1n), 'flat_shape')]);
  const fc1W = b.op('Identity', [b.constant('float32', [32, 64], seeded(32 * 64, 3), 'fc1.weight')]);
  const fc1 = b.node('Add', [b.node('MatMul', [pooled, fc1W], {}, { name: 'fc1' })[0], b.constant('float32', [64], seeded(64, 4, 0.1), 'fc1.bias')])[0];
  const fc2W = b.constant('float32', [64, 64], seeded(64 * 64, 5), 'fc2.weight');
  const fc2B = b.constant('float32', [64], seeded(64, 6, 0.1), 'fc2.bias');
  const y = b.node('Gemm', [b.op('Relu', [fc1]), fc2W, fc2B], { transB: 1 }, { name: 'fc2' })[0];
  b.output(y, 'float32', ['batch', 64]);
  return { model: b.build(), input: x, dims: (batch) => [batch, 4, 8, 8] };
}

/** A branch graph built apart: `build` may read outer values by name. */
function branch(name: string, build: (b: ModelBuilder) => string, outDims: (string | number)[]): GraphProto {
  const b = new ModelBuilder({ name });
  b.output(build(b), 'float32', outDims);
  return b.build().graph!;
}

/**
 * x[batch, 32] and two flags (bool scalars) → If(flag):
 * - then: h = Relu(x · W_outer) (W_outer a main-graph initializer only this branch reads), then a
 *   nested If(deep) whose then-branch multiplies h by a branch-local Constant [64, 32] and whose
 *   else-branch by W_deep [64, 32], a main-graph initializer read two scopes down;
 * - else: x · W_else (a branch-local initializer [32, 32]) + a branch-local Constant bias.
 * y[batch, 32]. Run with each combination of the flags to cover every branch.
 */
export function buildIfNet(): { model: ModelProto } {
  const b = new ModelBuilder({ name: 'if-net', opset: 17 });
  const x = b.input('x', 'float32', ['batch', 32]);
  const flag = b.input('flag', 'bool', []);
  const deep = b.input('deep', 'bool', []);
  b.initializer('W_outer', 'float32', [32, 64], seeded(32 * 64, 11));
  b.initializer('W_deep', 'float32', [64, 32], seeded(64 * 32, 12));
  const innerThen = branch('inner_then', (g) => g.node('MatMul', ['then_h', g.constant('float32', [64, 32], seeded(64 * 32, 13), 'W_inner')], {}, { name: 'inner_then_fc', outputs: ['inner_then_y'] })[0], ['batch', 32]);
  const innerElse = branch('inner_else', (g) => g.node('MatMul', ['then_h', 'W_deep'], {}, { name: 'inner_else_fc', outputs: ['inner_else_y'] })[0], ['batch', 32]);
  const thenBranch = branch(
    'then',
    (g) => {
      const h = g.node('MatMul', [x, 'W_outer'], {}, { name: 'then_fc', outputs: ['then_mm'] })[0];
      g.node('Relu', [h], {}, { name: 'then_relu', outputs: ['then_h'] });
      return g.node('If', [deep], { then_branch: { g: innerThen }, else_branch: { g: innerElse } }, { name: 'inner_if', outputs: ['then_y'] })[0];
    },
    ['batch', 32],
  );
  const elseBranch = branch(
    'else',
    (g) => {
      const w = g.initializer('W_else', 'float32', [32, 32], seeded(32 * 32, 14));
      const mm = g.node('MatMul', [x, w], {}, { name: 'else_fc', outputs: ['else_mm'] })[0];
      return g.node('Add', [mm, g.constant('float32', [32], seeded(32, 15, 0.1), 'else_bias')], {}, { name: 'else_add', outputs: ['else_y'] })[0];
    },
    ['batch', 32],
  );
  const y = b.node('If', [flag], { then_branch: { g: thenBranch }, else_branch: { g: elseBranch } }, { name: 'if', outputs: ['y'] })[0];
  b.output(y, 'float32', ['batch', 32]);
  return { model: b.build() };
}

/** Feeds for buildIfNet: seeded x and the two flags. */
export function ifNetFeeds(batch: number, flag: boolean, deep: boolean): Feeds {
  const bool = (v: boolean) => ({ type: 'bool' as const, data: Uint8Array.of(v ? 1 : 0), dims: [] });
  return { x: { type: 'float32', data: seeded(batch * 32, 99, 1), dims: [batch, 32] }, flag: bool(flag), deep: bool(deep) };
}

type Ort = typeof import('onnxruntime-node');
export type Feeds = Record<string, { type: 'float32' | 'bool' | 'int64'; data: Float32Array | Uint8Array | BigInt64Array; dims: number[] }>;

/** Runs a model once in onnxruntime-node and returns its first output. */
export async function run(model: Uint8Array, feeds: Feeds): Promise<Float32Array> {
  const ort = require('onnxruntime-node') as Ort;
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  try {
    const tensors = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor(v.type, v.data, v.dims)]));
    const out = await session.run(tensors);
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return dot / Math.sqrt(na * nb);
}

/** The corpus cache (scripts/fetch-corpus.mjs), and a model in it when it was fetched. */
export function corpusModel(id: string): string | undefined {
  const dir = process.env.MMKIT_CORPUS_DIR ?? path.join(os.homedir(), '.cache', 'mmkit', 'corpus');
  const file = path.join(dir, `${id}.onnx`);
  return fs.existsSync(file) ? file : undefined;
}

/** Cosine of `model`'s output to `reference`'s on buildConstantNet's seeded input (batch 4). */
export async function constantNetCosine(reference: ModelProto, model: ModelProto): Promise<number> {
  const feeds: Feeds = { x: { type: 'float32', data: seeded(4 * 256, 21, 1), dims: [4, 4, 8, 8] } };
  return cosine(await run(serializeModel(reference), feeds), await run(serializeModel(model), feeds));
}

/** The worst cosine of `model`'s output to `reference`'s over buildIfNet's three branch paths (batch 4). */
export async function ifNetCosine(reference: ModelProto, model: ModelProto): Promise<number> {
  let worst = 1;
  for (const [flag, deep] of [[true, true], [true, false], [false, false]] as const) {
    const feeds = ifNetFeeds(4, flag, deep);
    worst = Math.min(worst, cosine(await run(serializeModel(reference), feeds), await run(serializeModel(model), feeds)));
  }
  return worst;
}

/** Every graph of a model, subgraphs included, with each node's op type. */
export function allOps(model: ModelProto): string[] {
  const walk = (g: GraphProto): string[] => g.node.flatMap((n) => [n.opType, ...n.attribute.flatMap((a) => (a.g ? walk(a.g) : []))]);
  return walk(model.graph!);
}

/** Names of the initializers of the main graph. */
export const mainInitializers = (model: ModelProto) => model.graph!.initializer.map((t) => t.name).sort();
