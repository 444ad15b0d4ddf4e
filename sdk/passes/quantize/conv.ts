/**
 * Conv layers (a ViT's patch embedding) in dynamic quantization. Three treatments:
 * - 'weight-only' (default): the weight is stored int8 with one scale per output channel and a
 *   DequantizeLinear before the Conv restores it at run time; the Conv itself stays float.
 *   Standard ONNX that every onnxruntime backend runs, GPU ones included.
 * - 'integer': DynamicQuantizeLinear → ConvInteger → Cast → Mul (→ Add bias): integer math, a CPU
 *   kernel only. onnxruntime-node 1.30 and onnxruntime-web 1.30's wasm backend run it (measured,
 *   int8 weights); older onnxruntime releases reject int8 ConvInteger weights (NOT_IMPLEMENTED,
 *   microsoft/onnxruntime#12558) and onnxruntime-web's WebGL backend has no integer ops at all.
 * - 'float': left alone.
 */
import { makeTensor, node, tensorArray, type ConvMatch, type GraphEditor, type NodeProto, type OnnxModel } from '../../onnx';
import { quantizeRows } from './gather';
import { dequantizeLinear } from './dequantize';

export type ConvQuantMode = 'weight-only' | 'float' | 'integer';
export const CONV_MODES: readonly ConvQuantMode[] = ['weight-only', 'float', 'integer'];

/** Elements of the Conv's weight. */
export function convElements(c: ConvMatch): number {
  return c.outChannels * c.inChannelsPerGroup * c.kernel.reduce((a, k) => a * k, 1);
}

interface ConvWeight {
  values: string;
  scales: string;
}

function addQuantizedWeight(e: GraphEditor, model: OnnxModel, c: ConvMatch, perChannel: boolean, scaleDims: number[]): ConvWeight {
  const w = tensorArray(e.view.initializer(c.weight)!, model) as Float32Array;
  const q = quantizeRows(w, c.outChannels, w.length / c.outChannels, perChannel);
  const values = e.uniqueName(`${c.weight}_quantized`);
  const scales = e.uniqueName(`${c.weight}_scale`);
  e.addInitializer(makeTensor(values, 'int8', e.view.initializer(c.weight)!.dims.map(Number), q.values));
  e.addInitializer(makeTensor(scales, 'float32', perChannel ? scaleDims : [], q.scales));
  return { values, scales };
}

/** int8 weight + DequantizeLinear (axis 0: output channels) feeding the unchanged Conv. */
export function quantizeConvWeightOnly(e: GraphEditor, model: OnnxModel, c: ConvMatch, perChannel: boolean): void {
  const w = addQuantizedWeight(e, model, c, perChannel, [c.outChannels]);
  const base = c.conv.name || c.output;
  const weight = e.uniqueName(`${c.weight}_dequantized`);
  const dq = dequantizeLinear(e, [w.values, w.scales], weight, perChannel ? 0 : undefined, e.uniqueName(`${base}_weight_DequantizeLinear`));
  e.addNode(dq, { before: c.conv });
  e.renameInput(c.conv, 1, weight);
}

/**
 * ConvInteger with uint8 activations quantized at run time and int8 weights (zero point 0: its
 * CPU kernel takes only a per-tensor weight zero point, so the per-channel scales are applied to
 * the int32 result instead). The bias is added in float afterwards, shaped [C, 1, ...].
 */
export function quantizeConvInteger(e: GraphEditor, model: OnnxModel, c: ConvMatch, perChannel: boolean): void {
  const spatial = c.kernel.map(() => 1);
  const w = addQuantizedWeight(e, model, c, perChannel, [c.outChannels, ...spatial]);
  const base = c.conv.name || c.output;
  const name = (suffix: string) => e.uniqueName(`${base}_${suffix}`);
  const [xq, xScale, xZero] = [name('input_quantized'), name('input_scale'), name('input_zero_point')];
  const [acc, accFloat, scale] = [name('conv_integer'), name('conv_float'), name('output_scale')];
  const scaled = c.bias ? name('scaled') : c.output;
  const convInteger = node('ConvInteger', [xq, w.values, xZero], [acc], {}, { name: name('ConvInteger') });
  // Conv's attributes (auto_pad, dilations, group, kernel_shape, pads, strides) are ConvInteger's too.
  convInteger.attribute = [...c.conv.attribute];
  const nodes: NodeProto[] = [
    node('DynamicQuantizeLinear', [c.input], [xq, xScale, xZero], {}, { name: name('DynamicQuantizeLinear') }),
    convInteger,
    node('Cast', [acc], [accFloat], { to: { i: 1 } }, { name: name('Cast') }),
    node('Mul', [xScale, w.scales], [scale], {}, { name: name('ScaleMul') }),
    node('Mul', [accFloat, scale], [scaled], {}, { name: name('Mul') }),
  ];
  if (c.bias) {
    const bias = e.uniqueName(`${c.bias}_channels`);
    const values = tensorArray(e.view.constantTensor(c.bias)!, model) as Float32Array;
    e.addInitializer(makeTensor(bias, 'float32', [c.outChannels, ...spatial], values));
    nodes.push(node('Add', [scaled, bias], [c.output], {}, { name: name('BiasAdd') }));
  }
  e.replaceNode(c.conv, ...nodes);
}
