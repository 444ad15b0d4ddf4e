/**
 * What a model offers structured pruning when the target's pattern is not there: what was looked
 * for, what the model's linears are instead, and a hint that only names a variant the model has.
 */
import { MmkitError } from '../../errors';
import { dtypeOf, findConvs, findLinears, type GraphView, type OnnxModel } from '../../onnx';
import { countReasons, notLayers } from '../layer-selection';
import { pointwiseConvs } from './structured-chains';
import { findPruneGroups, type PruneTarget } from './structured-groups';

/** Each target's blocks, the pattern that finds them, and what its units are called. */
export const PATTERNS: Record<PruneTarget, { blocks: string; shape: string; units: string }> = {
  mlp: { blocks: 'MLP blocks', shape: 'linear → elementwise activation → linear, the linears MatMul (+ Add), Gemm or 1×1 Conv', units: 'MLP units' },
  heads: { blocks: 'attention blocks', shape: 'Q/K/V linears → MatMul → Softmax → MatMul → output linear', units: 'heads' },
};

/** The graph's MatMul/Gemm/Conv nodes, counted by what they are to the passes. */
function linearsCensus(view: GraphView): string {
  const linears = findLinears(view);
  const pointwise = pointwiseConvs(view).length;
  const convs = view.nodes.filter((n) => n.opType === 'Conv' && n.domain === '').length;
  const kinds = [
    ...linears.map(() => 'MatMul/Gemm with an initializer weight'),
    ...notLayers(view, new Set(linears.map((l) => l.matmul))).map((r) => `MatMul/Gemm: ${r}`),
    ...Array.from({ length: pointwise }, () => 'Conv 1×1'),
    ...Array.from({ length: convs - pointwise }, () => 'other Conv'),
  ];
  return kinds.length ? countReasons(kinds) : 'no MatMul, Gemm or Conv';
}

/** Layers magnitude pruning (no target) would take: float32 initializer weights of MatMul/Gemm/Conv. */
function magnitudeLayers(view: GraphView): number {
  const weights = [...findLinears(view), ...findConvs(view)].map((l) => view.initializer(l.weight));
  return weights.filter((t) => t && dtypeOf(t.dataType) === 'float32').length;
}

/** UNSUPPORTED for a model without the target's pattern: what it has instead, and where to go. */
export function noBlocksError(op: string, model: OnnxModel, view: GraphView, target: PruneTarget): MmkitError {
  const other: PruneTarget = target === 'mlp' ? 'heads' : 'mlp';
  const others = findPruneGroups(view, other).length;
  const weights = magnitudeLayers(view);
  const ways = [
    others > 0 && `prune ${PATTERNS[other].units} instead (target: '${other}'; it has ${others} ${PATTERNS[other].blocks})`,
    weights > 0 && `zero single weights with prune({ sparsity }) (no target; ${weights} MatMul/Gemm/Conv layers)`,
  ].filter((w): w is string => typeof w === 'string');
  const hint = ways.length
    ? `${ways.join(', or ')}.`.replace(/^./, (c) => c.toUpperCase())
    : "No prune variant applies: no MatMul, Gemm or Conv has a float32 initializer weight. quantize({ mode: 'fp16' }) halves the file instead.";
  const p = PATTERNS[target];
  return new MmkitError('UNSUPPORTED', `${op}: found 0 ${p.blocks} (${p.shape}) in ${model.path ?? 'the model'}; its linears: ${linearsCensus(view)}.`, { file: model.path, hint });
}
