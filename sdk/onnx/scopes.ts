/**
 * A model's graphs one at a time, each as a model of its own, so that a graph → graph pass rewrites
 * the main graph and every If/Loop/Scan body (nested ones included) alike, and the model is put
 * back together afterwards. Silero VAD keeps its whole network inside If branches.
 *
 * A body reads values of the scopes around it by name. An outer initializer that only one body
 * reads (a weight, typically) is copied into that body's model, so the pass sees it as the body's
 * own; every other outer value the body reads gets its declared type as a value info. Putting the
 * model together drops the copies a pass left untouched (the outer one is still visible) and the
 * added value infos, and removes an outer initializer that only bodies read once none reads it
 * any more (the pass rewrote or replaced it inside the body).
 */
import { GraphView, nodeReads, outerReads, reserveNames } from './graph';
import type { GraphProto, ModelProto, TensorProto, ValueInfoProto } from './proto';
import { makeValueInfo } from './values';
import { allNames, nodeSubgraphs, shallowCopy } from './walk';

export interface GraphScope {
  /** The graph as a model: the whole model's IR version and opset imports, outer weights it alone reads copied in. */
  readonly model: ModelProto;
  /** '' for the main graph; else the holding nodes and attributes from the outside in, e.g. "If_0.then_branch/If_3.else_branch". */
  readonly path: string;
  /** Op types of the nodes holding the graph, outermost first (none for the main graph). */
  readonly owners: readonly string[];
}

interface Entry {
  scope: GraphScope;
  /** The graph as the input model has it (before `normalize`); for a body, also how its parent's result holds it. */
  original: GraphProto;
  children: number[];
  /** Outer initializers copied in, by name. */
  copied: ReadonlyMap<string, TensorProto>;
  /** Value infos added for outer values. */
  infos: ReadonlySet<ValueInfoProto>;
  /** This graph's initializers that only its bodies read. */
  bodyOnly: ReadonlySet<string>;
}

export class ModelScopes {
  private constructor(
    private readonly input: ModelProto,
    private readonly entries: readonly Entry[],
    /** Every name in use, shared by the scope models' editors (undefined for a model without bodies). */
    private readonly taken: Set<string> | undefined,
  ) {}

  /** The main graph first, then the bodies depth first. */
  get scopes(): GraphScope[] {
    return this.entries.map((e) => e.scope);
  }

  /**
   * Takes the model apart. `normalize` (a graph → graph rewrite that keeps the model's meaning)
   * is applied to each scope model before its bodies are taken out.
   */
  static of(model: ModelProto, normalize: (m: ModelProto) => ModelProto = (m) => m): ModelScopes {
    const entries: Entry[] = [];
    const add = (scopeModel: ModelProto, scope: Omit<GraphScope, 'model'>, parts: Pick<Entry, 'original' | 'copied' | 'infos'>): void => {
      // The outer types go in after `normalize`: an edit drops value infos of values the graph does not make.
      let normalized = normalize(scopeModel);
      if (parts.infos.size) normalized = shallowCopy(normalized, { graph: shallowCopy(normalized.graph!, { valueInfo: [...normalized.graph!.valueInfo, ...parts.infos] }) });
      const graph = normalized.graph!;
      const entry: Entry = { ...parts, scope: { ...scope, model: normalized }, children: [], bodyOnly: new Set() };
      entries.push(entry);
      // Who reads each value of this graph: 'self' (its own nodes and outputs) or the bodies that do.
      const readers = new Map<string, Set<GraphProto | 'self'>>();
      const note = (name: string, who: GraphProto | 'self') => readers.set(name, (readers.get(name) ?? new Set()).add(who));
      for (const n of graph.node) {
        n.input.forEach((x) => x && note(x, 'self'));
        for (const body of nodeSubgraphs(n)) for (const x of outerReads(body)) note(x, body);
      }
      graph.output.forEach((o) => note(o.name, 'self'));
      const initializers = new Map(graph.initializer.map((t) => [t.name, t]));
      entry.bodyOnly = new Set([...initializers.keys()].filter((name) => readers.has(name) && !readers.get(name)!.has('self')));
      const view = GraphView.of(normalized);
      for (const n of graph.node) {
        for (const attr of n.attribute) {
          for (const body of attr.g ? [attr.g, ...attr.graphs] : attr.graphs) {
            const copied = new Map<string, TensorProto>();
            const infos = new Set<ValueInfoProto>();
            const declared = new Set(body.valueInfo.map((v) => v.name));
            for (const name of new Set(outerReads(body))) {
              const t = initializers.get(name);
              if (t && readers.get(name)!.size === 1) copied.set(name, t);
              else if (!declared.has(name)) {
                const type = view.valueInfo(name);
                if (type.dtype) infos.add(makeValueInfo(name, type.dtype, type.shape));
              }
            }
            const inner = shallowCopy(body, { initializer: [...body.initializer, ...copied.values()] });
            entry.children.push(entries.length);
            const path = `${scope.path ? `${scope.path}/` : ''}${n.name || n.opType}.${attr.name}`;
            add(shallowCopy(normalized, { graph: inner }), { path, owners: [...scope.owners, n.opType] }, { original: body, copied, infos });
          }
        }
      }
    };
    add(model, { path: '', owners: [] }, { original: model.graph!, copied: new Map(), infos: new Set() });
    let taken: Set<string> | undefined;
    if (entries.length > 1) {
      // One value namespace for all scopes: a name made in a body must not shadow an outer one.
      taken = allNames(model.graph!);
      for (const e of entries) reserveNames(e.scope.model, taken);
    }
    return new ModelScopes(model, entries, taken);
  }

  /**
   * The model with each scope's graph replaced by `fn`'s result, scopes in order (names made in one
   * are reserved in the next). When every result is its scope's own model, the input model itself.
   */
  map(fn: (scope: GraphScope, index: number) => ModelProto): ModelProto {
    const results = this.entries.map((e, i) => {
      const result = fn(e.scope, i);
      if (this.taken && result !== e.scope.model) allNames(result.graph!, this.taken);
      return result;
    });
    return this.join(results);
  }

  private join(results: readonly ModelProto[]): ModelProto {
    const changed: boolean[] = [];
    for (let i = this.entries.length - 1; i >= 0; i--) changed[i] = results[i] !== this.entries[i].scope.model || this.entries[i].children.some((c) => changed[c]);
    if (!changed[0]) return this.input;
    const graphOf = (i: number): GraphProto => {
      const e = this.entries[i];
      if (!changed[i]) return e.original;
      let graph = results[i].graph!;
      for (const c of e.children) graph = replaceBody(graph, this.entries[c].original, graphOf(c));
      graph = shallowCopy(graph, {
        initializer: graph.initializer.filter((t) => e.copied.get(t.name) !== t),
        valueInfo: graph.valueInfo.filter((v) => !e.infos.has(v)),
      });
      return dropUnread(graph, e.bodyOnly);
    };
    const opsetImport = [...results[0].opsetImport];
    for (const r of results) for (const o of r.opsetImport) if (!opsetImport.some((x) => x.domain === o.domain)) opsetImport.push(o);
    return shallowCopy(results[0], { graph: graphOf(0), opsetImport });
  }
}

/** `graph` with the body `held` (an attribute value of one of its nodes) replaced; unchanged when no node holds it any more. */
function replaceBody(graph: GraphProto, held: GraphProto, body: GraphProto): GraphProto {
  if (held === body) return graph;
  const node = graph.node.map((n) => {
    if (!nodeSubgraphs(n).includes(held)) return n;
    const attribute = n.attribute.map((a) => (a.g === held ? shallowCopy(a, { g: body }) : a.graphs.includes(held) ? shallowCopy(a, { graphs: a.graphs.map((g) => (g === held ? body : g)) }) : a));
    return shallowCopy(n, { attribute });
  });
  return shallowCopy(graph, { node });
}

/** Drops the initializers among `candidates` that no node (nor body) reads and no output is. */
function dropUnread(graph: GraphProto, candidates: ReadonlySet<string>): GraphProto {
  if (candidates.size === 0) return graph;
  const read = new Set([...graph.node.flatMap(nodeReads), ...graph.output.map((o) => o.name)]);
  const gone = new Set(graph.initializer.filter((t) => candidates.has(t.name) && !read.has(t.name)).map((t) => t.name));
  if (gone.size === 0) return graph;
  return shallowCopy(graph, { initializer: graph.initializer.filter((t) => !gone.has(t.name)), input: graph.input.filter((v) => !gone.has(v.name)) });
}
