/**
 * summary()'s shape probe on models that need real input shapes: shapes given or chosen by rule,
 * onnxruntime's shape inference instead of a run where it knows every tensor, a run bounded by a
 * memory budget, and the file's own shapes with a notice (never an exception) when the model
 * does not run at the shapes chosen.
 */
import { describe, expect, it } from 'vitest';
import { summarize } from '../sdk/pipeline';
import { summaryView } from '../sdk/pipeline/views';
import { isMmkitError } from '../sdk/errors';
import { ModelBuilder, type OnnxModel } from '../sdk/onnx';
import { inputShapes } from '../sdk/runtime/input-shapes';
import { probeModel } from '../sdk/runtime/probe';
import { buildAudioConv, seeded } from './helpers/onnx-models';

/** image [N, 3, H, W] → Conv 3×3 (8 channels, padded) → ReduceMean → [N, 8]. */
function imageConv(): OnnxModel {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('image', 'float32', ['N', 3, 'H', 'W']);
  const y = b.node('Conv', [x, b.initializer('w', 'float32', [8, 3, 3, 3], seeded(216, 42))], { pads: { ints: [1, 1, 1, 1] } }, { name: 'conv' })[0];
  b.output(b.op('ReduceMean', [y], { axes: { ints: [2, 3] }, keepdims: { i: 0 } }), 'float32', ['N', 8]);
  return { proto: b.build() };
}

/** x [N, 4096] → NonZero(x > 0) → Transpose → ReduceSum: a shape only a run can tell. */
function dataDependent(): OnnxModel {
  const b = new ModelBuilder({ opset: 17 });
  const x = b.input('x', 'float32', ['N', 4096]);
  const zero = b.initializer('zero', 'float32', [], new Float32Array([0]));
  const where = b.op('Transpose', [b.op('NonZero', [b.op('Greater', [x, zero])])]);
  b.output(b.op('ReduceSum', [where], { keepdims: { i: 0 } }), 'int64', []);
  return { proto: b.build() };
}

const convRow = (rows: Awaited<ReturnType<typeof summarize>>['rows']) => rows.find((r) => r.name === 'conv')!;

describe('summary: the shape probe', () => {
  it('probes at the shapes given, else at sizes chosen by rule, which the notices list', async () => {
    const audio = await summarize(buildAudioConv(4), { inputs: { x: [1, 1280] } });
    expect(convRow(audio.rows).outputShapes[0]).toEqual([1, 4, 1273]);
    expect(audio.totals.flops).toBe(2 * 4 * 1273 * 8);
    expect(audio.probedInputs).toEqual({ x: [1, 1280] });
    expect(audio.notices).toEqual([]);
    // Free: a float [N, L] is an audio chunk of 512 samples.
    const chunk = await summarize(buildAudioConv(4));
    expect(chunk.probedInputs).toEqual({ x: [1, 512] });
    expect(chunk.notices[0]).toMatch(/^Shapes and FLOPs are at x \[1, 512\], with sizes the model leaves free chosen: 'L' = 512 \(audio chunk\)\. For other sizes: summary\(\{ inputs: \{ "x": \[N, L\] \} \}\)/);
    // A float [N, 3, H, W] is an image of 224 × 224; dims name sizes too.
    const image = await summarize(imageConv());
    expect(convRow(image.rows).outputShapes[0]).toEqual([1, 8, 224, 224]);
    expect(image.notices[0]).toContain("'H' = 224 (image), 'W' = 224 (image)");
    const sized = await summarize(imageConv(), { dims: { H: 32, W: 48, N: 2 } });
    expect(sized.probedInputs).toEqual({ image: [2, 3, 32, 48] });
    expect(sized.probedBatch).toBe(2);
    expect(convRow(sized.rows).flops).toBe(2 * 2 * 8 * 32 * 48 * 27);
  });

  it("falls back to the file's own shapes with a notice, never an exception, when the model does not run at the shapes chosen", async () => {
    const s = await summarize(buildAudioConv(4), { dims: { L: 4 } });
    expect(s.probedBatch).toBeUndefined();
    expect(s.probedInputs).toBeUndefined();
    expect(s.totals.flops).toBe(0);
    expect(s.totals.params).toBe(32 + 1); // the kernel and the Unsqueeze axes
    expect(s.notices).toHaveLength(1);
    expect(s.notices[0]).toMatch(/^No shape probe: The model does not run at x \[1, 4\]: onnxruntime failed to run the model at node 'conv'/);
    expect(s.notices[0]).toMatch(/So shapes are those declared in the file and FLOPs are not counted\. If the model needs other input shapes, give them: summary\(\{ inputs: \{ "x": \[N, L\] \} \}\)/);
    expect(summaryView(s).toText()).toContain('No shape probe');
    // Mistakes in the options are errors, not probe failures.
    for (const [opts, code] of [[{ inputs: { y: [1, 512] } }, 'UNKNOWN_INPUT'], [{ inputs: { x: [1, 2, 512] } }, 'SHAPE_MISMATCH'], [{ dims: { L: 0 } }, 'BAD_OPTION']] as const) {
      await expect(summarize(buildAudioConv(4), opts)).rejects.toSatisfy((e: unknown) => isMmkitError(e, code));
    }
  });

  it("needs no run where onnxruntime's shape inference knows every tensor, and runs within a memory budget where it does not", async () => {
    expect((await probeModel(imageConv(), { inputs: { image: [1, 3, 1024, 1024] } })).source).toBe('inferred');
    const run = await probeModel(dataDependent());
    expect(run.source).toBe('run');
    const nonzero = [...run.shapes].find(([name]) => name.startsWith('NonZero'))![1];
    expect(nonzero[0]).toBe(2);
    // Over the budget, the run is skipped: what inference knows, and why.
    const s = await summarize(dataDependent(), { maxProbeBytes: 1024 });
    expect(s.notices.at(-1)).toMatch(/^The probe run was skipped: a run at x \[1, 4096\] would hold about [\d.]+ MiB of intermediate tensors, over the 0\.00 MiB budget\. Shapes are onnxruntime's static inference \(\d+ tensors unknown\)/);
    expect(s.rows.find((r) => r.op === 'Greater')!.outputShapes[0]).toEqual([1, 4096]);
    expect(s.rows.find((r) => r.op === 'NonZero')!.outputShapes[0]).toBeUndefined();
  });
});

describe('inputShapes', () => {
  it('ties the batch across inputs by name and by the RNN state layout, and keeps fixed sizes', () => {
    const shapes = inputShapes(
      [
        { name: 'input', dtype: 'float32', dims: ['', ''] },
        { name: 'state', dtype: 'float32', dims: [2, '', 128] },
        { name: 'ids', dtype: 'int64', dims: ['batch', 'sequence'] },
        { name: 'mask', dtype: 'int64', dims: ['batch', 'sequence'] },
        { name: 'nhwc', dtype: 'float32', dims: ['batch', 'height', 'width', 3] },
      ],
      { batchSize: 4 },
    );
    expect(shapes.shapes).toEqual({ input: [4, 512], state: [2, 4, 128], ids: [4, 1], mask: [4, 1], nhwc: [4, 224, 224, 3] });
    expect(shapes.chosen).toEqual(['input[1] = 512 (audio chunk)', "'sequence' = 1", "'height' = 224 (image)", "'width' = 224 (image)"]);
  });
});
