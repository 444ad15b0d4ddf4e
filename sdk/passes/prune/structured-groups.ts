/**
 * The prunable blocks of a model for structured pruning: MLP blocks (hidden units) and attention
 * blocks (heads), each with the linears whose slices belong to one unit. MLP blocks are the
 * transformer MLPs sdk/onnx finds and the linear → activation → linear chains of
 * structured-chains.ts (Gemm, MatMul + Add and 1×1 Conv, any elementwise activation).
 */
import { findAttention, findLinears, findMlps, type AttentionMatch, type GraphView, type LinearMatch, type MlpMatch } from '../../onnx';
import { findLinearChains } from './structured-chains';

export type PruneTarget = 'mlp' | 'heads';

/**
 * One block whose units (MLP hidden units or heads) can be removed together. Unit u owns output
 * columns [u·width, (u+1)·width) of each producer (per section for torch's packed q|k|v linear)
 * and the same input rows of the consumer.
 */
export interface PruneGroup {
  /** Position among the blocks of its kind, in graph order (what exclude.layers names). */
  index: number;
  /** The common prefix of the block's node names, e.g. "/vision/layers/0/mlp". */
  name: string;
  target: PruneTarget;
  units: number;
  /** Values per unit along the hidden axis: 1 for MLP units, headDim for heads. */
  unitWidth: number;
  /** Linears computing the units (fc1; q, k, v or the packed in_proj). */
  producers: LinearMatch[];
  /** Sections per producer output: 3 for a packed q|k|v linear, else 1. */
  sections: number;
  /** The linear reading the units (fc2; the attention output projection). */
  consumer: LinearMatch;
  /** The value holding the units side by side, read by `consumer` (tapped for activation scores). */
  unitValue: string;
  /** Units along axis 1 (a 1×1 Conv chain, NCHW) rather than the last axis. */
  channelsFirst: boolean;
  mlp?: MlpMatch;
  attention?: AttentionMatch;
}

function commonPrefix(names: readonly string[]): string {
  let prefix = names[0] ?? '';
  for (const n of names) while (!n.startsWith(prefix)) prefix = prefix.slice(0, -1);
  const cut = prefix.lastIndexOf('/');
  return cut > 0 ? prefix.slice(0, cut) : prefix;
}

function nodeNames(linears: readonly LinearMatch[]): string[] {
  return linears.map((l) => l.matmul.name || l.weight);
}

export function findPruneGroups(view: GraphView, target: PruneTarget): PruneGroup[] {
  const linears = findLinears(view);
  if (target === 'mlp') {
    const mlps = findMlps(view, linears);
    const known = new Set(mlps.map((m) => m.fc1.matmul));
    const chains = [...mlps.map((mlp) => ({ fc1: mlp.fc1, fc2: mlp.fc2, channelsFirst: false, mlp })), ...findLinearChains(view, linears).filter((c) => !known.has(c.fc1.matmul))];
    const order = new Map(view.nodes.map((n, i) => [n, i]));
    chains.sort((a, b) => order.get(a.fc1.matmul)! - order.get(b.fc1.matmul)!);
    return chains.map((c, index) => ({
      index,
      name: commonPrefix(nodeNames([c.fc1, c.fc2])),
      target,
      units: c.fc1.outDim,
      unitWidth: 1,
      producers: [c.fc1],
      sections: 1,
      consumer: c.fc2,
      unitValue: c.fc2.input,
      channelsFirst: c.channelsFirst,
      mlp: 'mlp' in c ? c.mlp : undefined,
    }));
  }
  return findAttention(view, linears).map((attention, index) => {
    const producers = attention.packed ? [attention.q] : [attention.q, attention.k, attention.v];
    return {
      index,
      name: commonPrefix(nodeNames([...producers, attention.out])),
      target,
      units: attention.numHeads,
      unitWidth: attention.headDim,
      producers,
      sections: attention.packed ? 3 : 1,
      consumer: attention.out,
      unitValue: attention.out.input,
      channelsFirst: false,
      attention,
    };
  });
}

/** Every node name that belongs to a group (its linears and their bias Adds). */
export function groupNodeNames(g: PruneGroup): string[] {
  return [...g.producers, g.consumer].flatMap((l) => [l.matmul.name, l.add?.name ?? '']).filter((n) => n !== '');
}
