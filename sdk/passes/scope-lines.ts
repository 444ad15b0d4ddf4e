/**
 * Report lines about If/Loop/Scan bodies (the passes rewrite those like the main graph:
 * sdk/onnx/scopes.ts), so a user of a model such as Silero VAD, which keeps everything inside If
 * branches, sees where the work happened, or why it did not.
 */
import { GraphView, type GraphScope } from '../onnx';

/** `counts[i]` is what the pass did in `scopes[i]` (scope 0 is the main graph); undefined when the bodies got nothing. */
export function bodiesLine(scopes: readonly GraphScope[], counts: readonly number[], what: string): string | undefined {
  const inner = scopes.map((s, i) => ({ s, n: counts[i] })).filter((x, i) => i > 0 && x.n > 0);
  if (inner.length === 0) return undefined;
  const total = inner.reduce((a, x) => a + x.n, 0);
  const owners = [...new Set(inner.flatMap((x) => x.s.owners))].join('/');
  return `${total} of the ${what} inside ${owners} subgraphs (${inner.length} graph${inner.length === 1 ? '' : 's'}), rewritten like the main graph.`;
}

/**
 * The layers inside the bodies that a pass working on the main graph only leaves alone: nodes of
 * `ops` whose weight (input 1) is a constant, counted, with the op types holding them ('If/Loop').
 */
export function bodyLayers(scopes: readonly GraphScope[], ops: readonly string[]): { count: number; owners: string } {
  const inner = scopes.slice(1).map((s) => {
    const view = GraphView.of(s.model);
    return { s, n: view.nodes.filter((n) => n.domain === '' && ops.includes(n.opType) && view.constantTensor(n.input[1]) !== undefined).length };
  });
  const holding = inner.filter((x) => x.n > 0);
  return { count: holding.reduce((a, x) => a + x.n, 0), owners: [...new Set(holding.flatMap((x) => x.s.owners))].join('/') };
}
