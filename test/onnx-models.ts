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
