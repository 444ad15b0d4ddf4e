import { describe, expect, it } from 'vitest';
import { buildOnnx, CLIP_TINY_SHAPES, initWeights, VIT_TINY_MNIST } from '../sdk/models';
import { findAttention, findConvs, findLinears, findMlps, GraphView } from '../sdk/onnx';

// The graphs must show the patterns the passes look for in torch/Optimum exports.
describe('exported graphs match the export patterns the passes expect', () => {
  it('ViT: Conv patch embedding, 6 linears + attention + GELU MLP per layer, a linear head', () => {
    const view = GraphView.of(buildOnnx(VIT_TINY_MNIST, initWeights(VIT_TINY_MNIST)));
    const { layers, heads, width, mlpDim } = VIT_TINY_MNIST.vision;
    expect(findConvs(view)).toHaveLength(1);
    const linears = findLinears(view);
    expect(linears).toHaveLength(6 * layers + 1);
    expect(linears.every((l) => l.layout === 'in_out' && l.bias)).toBe(true);
    const attention = findAttention(view, linears);
    expect(attention).toHaveLength(layers);
    for (const a of attention) {
      expect(a.numHeads).toBe(heads);
      expect(a.headDim).toBe(width / heads);
    }
    const mlps = findMlps(view, linears);
    expect(mlps).toHaveLength(layers);
    expect(mlps.every((m) => m.activation === 'gelu')).toBe(true);
    expect(linears.filter((l) => l.outDim === mlpDim)).toHaveLength(layers);
  });

  it('CLIP: both towers, and bias-free projections', () => {
    const view = GraphView.of(buildOnnx(CLIP_TINY_SHAPES, initWeights(CLIP_TINY_SHAPES)));
    const layers = CLIP_TINY_SHAPES.vision.layers + CLIP_TINY_SHAPES.text.layers;
    const linears = findLinears(view);
    expect(linears).toHaveLength(6 * layers + 2);
    expect(linears.filter((l) => !l.bias).map((l) => l.weight).sort()).toEqual(['text_projection.weight', 'visual_projection.weight']);
    expect(findAttention(view, linears)).toHaveLength(layers);
    expect(findMlps(view, linears)).toHaveLength(layers);
  });
});
