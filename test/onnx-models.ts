/** Small real models built with ModelBuilder, shared by the onnx-* tests. */
import { ModelBuilder } from '../sdk/onnx';

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
  const session = typeof model === 'string'
    ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 })
    : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
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
