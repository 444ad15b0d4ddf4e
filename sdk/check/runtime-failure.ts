/**
 * What a runtime's refusal means: the operator (and node) it could not handle, read from
 * onnxruntime's error text and the graph, and a cause in plain words.
 */
import { allInitializers, GraphView, isExternal, type OnnxModel } from '../onnx';

export interface RuntimeFailure {
  /** Where it failed: creating the session or running it. */
  stage: 'load' | 'run';
  error: string;
  /** Operators the runtime lacks or rejected ('domain:Op' outside the standard domain). */
  ops: string[];
  /** The node the runtime named, when it named one. */
  node?: string;
  cause: string;
}

/** onnxruntime's messages for a node it cannot take, with where the op type, domain and node name sit. */
const PATTERNS: { re: RegExp; op?: number; domain?: number; node?: number }[] = [
  { re: /implementation for (\w+)\(\d+\) node with name '([^']*)'/, op: 1, node: 2 },
  { re: /([\w.]+):(\w+)\(-?\d+\) is not a registered function\/op/, domain: 1, op: 2 },
  { re: /No Op registered for (\w+) with domain_version/, op: 1 },
  { re: /Node\(([^)]*)\) with schema\(([\w.]*)::(\w+):/, node: 1, domain: 2, op: 3 },
  { re: /in node \(([^)]*)\)/, node: 1 },
  { re: /node with name '([^']*)'/, node: 1 },
];

function opName(domain: string, op: string): string {
  return domain === '' || domain === 'ai.onnx' ? op : `${domain}:${op}`;
}

/** The op and node an onnxruntime error message names, completed from the graph. */
function namedInError(message: string, model: OnnxModel): { ops: string[]; node?: string } {
  const view = GraphView.of(model.proto);
  for (const p of PATTERNS) {
    const m = p.re.exec(message);
    if (!m) continue;
    const node = p.node ? m[p.node] : undefined;
    const inGraph = node ? view.nodes.find((n) => n.name === node) : undefined;
    const op = p.op ? m[p.op] : inGraph?.opType;
    const domain = p.domain ? m[p.domain] : (inGraph?.domain ?? view.nodes.find((n) => n.opType === op)?.domain ?? '');
    return { ops: op ? [opName(domain, op)] : [], node };
  }
  return { ops: [] };
}

/** Ops outside the standard ONNX domains: the usual suspects when a runtime refuses a model. */
function contribOps(model: OnnxModel): string[] {
  const ops = new Set<string>();
  for (const n of GraphView.of(model.proto).nodes) if (n.domain !== '' && n.domain !== 'ai.onnx' && n.domain !== 'ai.onnx.ml') ops.add(opName(n.domain, n.opType));
  return [...ops].sort();
}

/** `reference`: the model the candidate came from, which runs; its own contrib ops are no suspects. */
export function describeFailure(runtime: 'onnxruntime-node' | 'onnxruntime-web (wasm)', stage: 'load' | 'run', error: unknown, model: OnnxModel, reference?: OnnxModel): RuntimeFailure {
  const message = (error instanceof Error ? error.message : String(error)).trim();
  const { ops, node } = namedInError(message, model);
  const external = model.proto.graph ? [...allInitializers(model.proto.graph)].filter(isExternal) : [];
  let cause: string;
  if (/external data/i.test(message) && external.length > 0) {
    cause = `the model keeps ${external.length} tensor(s) in an external data file, which ${runtime} only reads when the file is handed to it (the externalData session option); save the model as one file (under 2 GiB) for web use`;
  } else if (ops.length > 0) {
    cause = `${runtime} has no kernel for ${ops.join(', ')}${node ? ` (node '${node}')` : ''}; exclude that layer from the pass (exclude.nodes / exclude.ops) or pick a form this runtime runs`;
  } else {
    const inherited = new Set(reference ? contribOps(reference) : []);
    const contrib = contribOps(model).filter((op) => !inherited.has(op));
    cause = contrib.length > 0
      ? `the model uses contrib ops (${contrib.join(', ')}) that this runtime may lack; the error says: ${firstLine(message)}`
      : `${runtime} says: ${firstLine(message)}`;
  }
  return { stage, error: message, ops, ...(node ? { node } : {}), cause };
}

function firstLine(message: string): string {
  return (message.split('\n').find((l) => l.trim()) ?? message).replace(/^.*ERROR_MESSAGE: /, '').slice(0, 240);
}
