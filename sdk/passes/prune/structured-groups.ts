/**
 * The prunable blocks of a transformer for structured pruning: MLP blocks (hidden units) and
 * attention blocks (heads), each with the linears whose slices belong to one unit.
 */
import { findAttention, findLinears, findMlps, type AttentionMatch, type GraphView, type LinearMatch, type MlpMatch } from '../../onnx';

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
  /** The value holding the units side by side along the last axis, read by `consumer` (tapped for activation scores). */
  unitValue: string;
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
    return findMlps(view, linears).map((mlp, index) => ({
      index,
      name: commonPrefix(nodeNames([mlp.fc1, mlp.fc2])),
      target,
      units: mlp.fc1.outDim,
      unitWidth: 1,
      producers: [mlp.fc1],
      sections: 1,
      consumer: mlp.fc2,
      unitValue: mlp.fc2.input,
      mlp,
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
      attention,
    };
  });
}

/** Every node name that belongs to a group (its linears and their bias Adds). */
export function groupNodeNames(g: PruneGroup): string[] {
  return [...g.producers, g.consumer].flatMap((l) => [l.matmul.name, l.add?.name ?? '']).filter((n) => n !== '');
}
