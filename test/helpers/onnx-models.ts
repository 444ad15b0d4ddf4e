/** Small real models built with ModelBuilder, shared by the onnx-* tests. */
import { ModelBuilder } from '../../sdk/onnx';

/** Deterministic pseudo-random floats in [-scale, scale). */
export function seeded(n: number, seed: number, scale = 0.5): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 2 * scale;
  }
  return out;
}

/** x[batch, 16, 32] → Linear(32→64) → Gelu(Erf form) → Linear(64→32): a transformer MLP block. */
export function buildMlp(opts: { dim?: number; hidden?: number } = {}) {
  const dim = opts.dim ?? 32;
  const hidden = opts.hidden ?? 64;
  const b = new ModelBuilder({ name: 'mlp' });
  const x = b.input('x', 'float32', ['batch', 16, dim]);
  const h = b.linear(x, dim, hidden, seeded(dim * hidden, 1), seeded(hidden, 2), 'fc1');
  // GELU as torch exports it: x * 0.5 * (1 + erf(x / sqrt(2)))
  const sqrt2 = b.initializer('sqrt2', 'float32', [], new Float32Array([Math.SQRT2]));
  const one = b.initializer('one', 'float32', [], new Float32Array([1]));
  const half = b.initializer('half', 'float32', [], new Float32Array([0.5]));
  const erf = b.op('Erf', [b.op('Div', [h, sqrt2])]);
  const gelu = b.op('Mul', [b.op('Mul', [h, b.op('Add', [erf, one])]), half]);
  const y = b.linear(gelu, hidden, dim, seeded(hidden * dim, 3), seeded(dim, 4), 'fc2');
  b.output(y, 'float32', ['batch', 16, dim]);
  return { model: b.build(), input: 'x', output: y, dim };
}

export const TORCH_VIT = 'datasets/fixtures/torch-vit-tiny.onnx';

interface Reference {
  dims: number[];
  data: number[];
}

/** The fixture's recorded inputs and torch's outputs for them. */
export function torchReference(): { input: Reference; logits: Reference } {
  const fs = require('node:fs') as typeof import('node:fs');
  const read = (f: string) => JSON.parse(fs.readFileSync(`datasets/fixtures/${f}`, 'utf8'));
  return { input: read('torch-vit-tiny.inputs.json').pixel_values, logits: read('torch-vit-tiny.outputs.json').logits };
}

type Ort = typeof import('onnxruntime-node');

/** Runs a model (bytes or path) once with onnxruntime-node and returns the first output's data. */
export async function runOnce(model: Uint8Array | string, name: string, data: Float32Array, dims: number[]): Promise<Float32Array> {
  const ort = require('onnxruntime-node') as Ort;
  const options = { logSeverityLevel: 3 } as const;
  // Two calls because create() is overloaded for a path or bytes, not for their union.
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
  try {
    const out = await session.run({ [name]: new ort.Tensor('float32', data, dims) });
    return out[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * One pre-norm-free self-attention block as HF/Optimum export it: separate Q/K/V linears,
 * constant Reshape shapes [0, 0, heads, headDim], K transposed to [b, h, d, s], scores divided
 * by √headDim after the MatMul, then an MLP. x: [batch, 8, dim].
 */
export function buildEncoderBlock(opts: { dim?: number; heads?: number; scaleOn?: 'scores' | 'qk' } = {}) {
  const dim = opts.dim ?? 32;
  const heads = opts.heads ?? 4;
  const headDim = dim / heads;
  const b = new ModelBuilder({ name: 'encoder-block' });
  const x = b.input('x', 'float32', ['batch', 8, dim]);
  const split = b.initializer('heads_shape', 'int64', [4], BigInt64Array.from([0n, 0n, BigInt(heads), BigInt(headDim)]));
  const merge = b.initializer('merge_shape', 'int64', [3], BigInt64Array.from([0n, 0n, BigInt(dim)]));
  const proj = (name: string, seed: number) => b.linear(x, dim, dim, seeded(dim * dim, seed), seeded(dim, seed + 1), name);
  const toHeads = (t: string, perm: number[]) => b.op('Transpose', [b.op('Reshape', [t, split])], { perm });
  let q = toHeads(proj('query', 10), [0, 2, 1, 3]);
  let k = toHeads(proj('key', 20), [0, 2, 3, 1]);
  const v = toHeads(proj('value', 30), [0, 2, 1, 3]);
  let scores: string;
  if (opts.scaleOn === 'qk') {
    // torch 2's exporter: q and k each multiplied by headDim^-1/4 before the MatMul.
    const quarter = b.initializer('scale_quarter', 'float32', [], new Float32Array([headDim ** -0.25]));
    q = b.op('Mul', [q, quarter]);
    k = b.op('Mul', [k, quarter]);
    scores = b.op('MatMul', [q, k]);
  } else {
    const sqrtD = b.initializer('sqrt_head_dim', 'float32', [], new Float32Array([Math.sqrt(headDim)]));
    scores = b.op('Div', [b.op('MatMul', [q, k]), sqrtD]);
  }
  const probs = b.op('Softmax', [scores], { axis: -1 });
  const context = b.op('Reshape', [b.op('Transpose', [b.op('MatMul', [probs, v])], { perm: [0, 2, 1, 3] }), merge]);
  const attn = b.linear(context, dim, dim, seeded(dim * dim, 40), seeded(dim, 41), 'attn_out');
  const h = b.op('Add', [x, attn]);
  const fc1 = b.linear(h, dim, 2 * dim, seeded(2 * dim * dim, 50), seeded(2 * dim, 51), 'fc1');
  const gelu = b.node('Gelu', [fc1], {}, { domain: 'com.microsoft' })[0]; // onnxruntime's fused GELU
  const y = b.op('Add', [h, b.linear(gelu, 2 * dim, dim, seeded(2 * dim * dim, 60), seeded(dim, 61), 'fc2')]);
  b.output(y, 'float32', ['batch', 8, dim]);
  return { model: b.build(), input: x, output: y, dim, heads, headDim };
}

/**
 * x [N, L] → Unsqueeze → Conv1d ('conv', kernel 8, `channels` out) → [N, channels, L − 7]: an
 * audio front end that runs on 8 samples or more and fails on fewer.
 */
export function buildAudioConv(channels = 1) {
  const b = new ModelBuilder({ name: 'audio-conv' });
  const x = b.input('x', 'float32', ['N', 'L']);
  const axes = b.initializer('axes', 'int64', [1], BigInt64Array.from([1n]));
  const kernel = b.initializer('kernel', 'float32', [channels, 1, 8], seeded(channels * 8, 41));
  const y = b.node('Conv', [b.op('Unsqueeze', [x, axes]), kernel], {}, { name: 'conv' })[0];
  b.output(y, 'float32', ['N', channels, 'frames']);
  return { proto: b.build() };
}
