/**
 * Small real models for the runtime and eval tests, built with ModelBuilder from seeded weights.
 * Not a test file itself: the runtime-*.test.ts and eval-*.test.ts files share it.
 */
import { mulberry32 } from '../../sdk/random';
import type { TensorData } from '../../sdk/tensor-data';
import { dataTypeOf, ModelBuilder, type OnnxModel } from '../../sdk/onnx';

export const FEATURES = 6;
export const HIDDEN = 16;
export const CLASSES = 4;

/** Uniform values in [-scale, scale) from a seed. */
export function seededFloats(count: number, seed: number, scale = 1): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: count }, () => (rand() * 2 - 1) * scale);
}

export function seededInputs(items: number, seed: number): TensorData {
  return { data: seededFloats(items * FEATURES, seed, 2), dims: [items, FEATURES], dtype: 'float32' };
}

export interface MlpOptions {
  seed?: number;
  /** Uniform noise of this size added to every weight: a "compressed" copy of the same model. */
  noise?: number;
  /** Also declare the hidden activation as a graph output. */
  exposeHidden?: boolean;
  /** Cast the logits to float16 at the end, as a half-precision model's output is. */
  halfOutput?: boolean;
}

/**
 * x [N, 6] → MatMul+Add ('fc1') → Relu → 'hidden' [N, 16] → MatMul+Add ('fc2') → 'logits' [N, 4].
 */
export function mlpClassifier(opts: MlpOptions = {}): OnnxModel {
  const seed = opts.seed ?? 7;
  const weights = (count: number, salt: number, scale: number): Float32Array => {
    const w = seededFloats(count, seed * 100 + salt, scale);
    if (opts.noise) {
      const n = seededFloats(count, seed * 100 + salt + 50, opts.noise);
      for (let i = 0; i < count; i++) w[i] += n[i];
    }
    return w;
  };
  const b = new ModelBuilder({ opset: 17 });
  b.input('x', 'float32', ['N', FEATURES]);
  b.initializer('fc1.weight', 'float32', [FEATURES, HIDDEN], weights(FEATURES * HIDDEN, 1, 0.6));
  b.initializer('fc1.bias', 'float32', [HIDDEN], weights(HIDDEN, 2, 0.1));
  b.initializer('fc2.weight', 'float32', [HIDDEN, CLASSES], weights(HIDDEN * CLASSES, 3, 0.5));
  b.initializer('fc2.bias', 'float32', [CLASSES], weights(CLASSES, 4, 0.1));
  b.node('MatMul', ['x', 'fc1.weight'], {}, { outputs: ['fc1.mm'], name: 'fc1' });
  b.node('Add', ['fc1.mm', 'fc1.bias'], {}, { outputs: ['fc1.out'], name: 'fc1.add' });
  b.node('Relu', ['fc1.out'], {}, { outputs: ['hidden'], name: 'relu' });
  b.node('MatMul', ['hidden', 'fc2.weight'], {}, { outputs: ['fc2.mm'], name: 'fc2' });
  if (opts.halfOutput) {
    b.node('Add', ['fc2.mm', 'fc2.bias'], {}, { outputs: ['fc2.out'], name: 'fc2.add' });
    b.node('Cast', ['fc2.out'], { to: dataTypeOf('float16') }, { outputs: ['logits'], name: 'to_half' });
    b.output('logits', 'float16', ['N', CLASSES]);
  } else {
    b.node('Add', ['fc2.mm', 'fc2.bias'], {}, { outputs: ['logits'], name: 'fc2.add' });
    b.output('logits', 'float32', ['N', CLASSES]);
  }
  if (opts.exposeHidden) b.output('hidden', 'float32', ['N', HIDDEN]);
  return { proto: b.build() };
}

/** x [N, 6] float32 and a runtime-chosen shape → Reshape (node 'reshape'): fails inside ort on a bad shape. */
export function reshapeModel(): OnnxModel {
  const b = new ModelBuilder({ opset: 17 });
  b.input('x', 'float32', ['N', FEATURES]);
  b.input('shape', 'int64', [2]);
  b.node('Reshape', ['x', 'shape'], {}, { outputs: ['y'], name: 'reshape' });
  b.output('y', 'float32', ['A', 'B']);
  return { proto: b.build() };
}
