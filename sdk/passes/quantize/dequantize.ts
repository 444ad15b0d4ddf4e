/**
 * The DequantizeLinear node of weight-only int8 (Conv weights, embedding tables), at any opset.
 * ONNX has it from opset 10, with a per-channel axis from 13. Older models (paddle2onnx writes
 * opset 9) get onnxruntime's com.microsoft DequantizeLinear, which takes the same inputs and the
 * axis: raising such a model's opset would mean rewriting every op whose form changed since.
 */
import { node, type GraphEditor, type NodeProto } from '../../onnx';
import { QDQ_OPSET } from './qdq-opset';

const MS_DOMAIN = 'com.microsoft';

/** Whether DequantizeLinear takes one scale per channel at this opset (standard from 13, com.microsoft's below 10). */
export function dequantizesPerChannel(opset: number): boolean {
  return opset >= 13 || opset < QDQ_OPSET;
}

/** DequantizeLinear(inputs) → output; `axis` for per-channel scales. */
export function dequantizeLinear(e: GraphEditor, inputs: string[], output: string, axis: number | undefined, name: string): NodeProto {
  const old = (e.view.opset('') ?? 0) < QDQ_OPSET;
  if (old && e.view.opset(MS_DOMAIN) === undefined) e.setOpset(MS_DOMAIN, 1);
  return node('DequantizeLinear', inputs, [output], axis === undefined ? {} : { axis }, { name, domain: old ? MS_DOMAIN : '' });
}
