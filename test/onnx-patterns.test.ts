import { describe, expect, test } from 'vitest';
import { findAttention, findConvs, findLinears, findMlps, GraphView, readModel, serializeModel } from '../sdk/onnx';
import { buildEncoderBlock, buildMlp, runOnce, seeded, TORCH_VIT } from './helpers/onnx-models';

describe('patterns on built models', () => {
  test('encoder block: six linears, one attention block, one MLP', async () => {
    const { model, dim } = buildEncoderBlock();
    // The block is a valid model: onnxruntime runs it.
    const y = await runOnce(serializeModel(model), 'x', seeded(2 * 8 * dim, 3, 1), [2, 8, dim]);
    expect(y.length).toBe(2 * 8 * dim);
    expect(y.every(Number.isFinite)).toBe(true);

    const view = GraphView.of(model);
    const linears = findLinears(view);
    expect(linears.map((l) => l.weight)).toEqual(['query.weight', 'key.weight', 'value.weight', 'attn_out.weight', 'fc1.weight', 'fc2.weight']);
    expect(linears.every((l) => l.layout === 'in_out' && l.add !== undefined && l.bias === l.weight.replace('weight', 'bias'))).toBe(true);
    expect(linears[4]).toMatchObject({ inDim: 32, outDim: 64 });

    const [attention, ...more] = findAttention(view);
    expect(more).toEqual([]);
    expect(attention).toMatchObject({ packed: false, numHeads: 4, headDim: 8, reshapeShapes: ['heads_shape', 'merge_shape'] });
    expect(attention.scale).toBeCloseTo(1 / Math.sqrt(8), 6);
    expect([attention.q.weight, attention.k.weight, attention.v.weight, attention.out.weight]).toEqual(['query.weight', 'key.weight', 'value.weight', 'attn_out.weight']);

    const mlps = findMlps(view);
    expect(mlps.map((m) => [m.fc1.weight, m.activation, m.fc2.weight])).toEqual([['fc1.weight', 'gelu', 'fc2.weight']]);
  });

  test('attention scaled on q and k (torch 2 style) reads the same heads and scale', async () => {
    const { model, dim } = buildEncoderBlock({ dim: 48, heads: 6, scaleOn: 'qk' });
    const y = await runOnce(serializeModel(model), 'x', seeded(8 * dim, 5, 1), [1, 8, dim]);
    expect(y.every(Number.isFinite)).toBe(true);
    const [attention] = findAttention(GraphView.of(model));
    expect(attention).toMatchObject({ numHeads: 6, headDim: 8 });
    expect(attention.scale).toBeCloseTo(1 / Math.sqrt(8), 6);
  });

  test('Erf-form GELU between two linears', () => {
    const view = GraphView.of(buildMlp().model);
    const [mlp] = findMlps(view);
    expect(mlp.activation).toBe('gelu');
    expect(mlp.activationNodes.map((n) => n.opType)).toEqual(['Div', 'Erf', 'Add', 'Mul', 'Mul']);
    expect(mlp.fc2.input).toBe(mlp.activationNodes[4].output[0]);
  });
});

describe('patterns on the PyTorch export', () => {
  test('linears: packed in_proj MatMul+Add, out_proj Gemm (out_in) with its bias behind an Identity, MLP, head', async () => {
    const view = GraphView.of((await readModel(TORCH_VIT)).proto);
    const linears = findLinears(view);
    expect(linears).toHaveLength(9);
    const gemms = linears.filter((l) => l.matmul.opType === 'Gemm');
    expect(gemms.map((l) => [l.weight, l.layout, l.inDim, l.outDim])).toEqual([
      ['encoder.layers.encoder_layer_0.self_attention.out_proj.weight', 'out_in', 64, 64],
      ['encoder.layers.encoder_layer_1.self_attention.out_proj.weight', 'out_in', 64, 64],
      ['heads.head.weight', 'out_in', 64, 10],
    ]);
    // torch deduplicated the all-zero out_proj bias into an Identity of another zero tensor.
    expect(view.isInitializer(gemms[0].matmul.input[2])).toBe(false);
    expect(view.isInitializer(gemms[0].bias!)).toBe(true);
    const inProj = linears.filter((l) => l.outDim === 192);
    expect(inProj.map((l) => l.bias)).toEqual([
      'encoder.layers.encoder_layer_0.self_attention.in_proj_bias',
      'encoder.layers.encoder_layer_0.self_attention.in_proj_bias',
    ]);
  });

  test('attention: two packed torch MultiheadAttention blocks with 4 heads of 16', async () => {
    const view = GraphView.of((await readModel(TORCH_VIT)).proto);
    const blocks = findAttention(view);
    expect(blocks).toHaveLength(2);
    for (const b of blocks) {
      expect(b).toMatchObject({ packed: true, numHeads: 4, headDim: 16, reshapeShapes: [] });
      expect(b.q).toBe(b.k);
      expect(b.q.outDim).toBe(192);
      expect(b.out.matmul.opType).toBe('Gemm');
      expect(b.scale).toBeCloseTo(0.25, 6);
    }
  });

  test('MLPs and the patch-embedding Conv', async () => {
    const view = GraphView.of((await readModel(TORCH_VIT)).proto);
    const mlps = findMlps(view);
    expect(mlps.map((m) => [m.fc1.outDim, m.activation, m.fc2.outDim])).toEqual([[128, 'gelu', 64], [128, 'gelu', 64]]);
    expect(findConvs(view)).toMatchObject([{ weight: 'conv_proj.weight', bias: 'conv_proj.bias', outChannels: 64, inChannelsPerGroup: 1, kernel: [7, 7], group: 1 }]);
  });
});
