/** Graph lookups the weight forms share. */

import type { GraphView, TensorProto } from '../../onnx';

export function constant(view: GraphView, name: string | undefined): TensorProto | undefined {
  return name ? view.constantTensor(name) : undefined;
}

/**
 * `name` and the values that carry it on: a bias Add with a constant, then a Cast (where toFloat16
 * renamed a graph output 'logits' to 'logits_fp16' and casts it back), each when it is the only reader.
 */
export function withBias(view: GraphView, name: string): string[] {
  const names = [name];
  const sole = (op: string) => {
    const c = view.consumers(names[names.length - 1]);
    return c.length === 1 && c[0].opType === op && c[0].domain === '' ? c[0] : undefined;
  };
  const add = sole('Add');
  const other = add && (add.input[0] === name ? add.input[1] : add.input[0]);
  if (add && constant(view, other)) names.push(add.output[0]);
  const cast = sole('Cast');
  if (cast) names.push(cast.output[0]);
  return names;
}

/** Layer ops a dequantized weight may feed (as input 1), with the axis of their output channels. */
export const WEIGHT_CONSUMERS: Record<string, number> = { MatMul: 1, Gemm: 0, Conv: 0 };
