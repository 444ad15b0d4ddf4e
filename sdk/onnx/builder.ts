import { create } from '@bufbuild/protobuf';
import { MmkitError } from '../errors';
import { node, type Attrs } from './attrs';
import type { DType, TensorArray } from './dtype';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  OperatorSetIdProtoSchema,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto';
import { makeTensor } from './tensor';
import { makeValueInfo, type Dim } from './values';

export interface ModelBuilderOptions {
  name?: string;
  /** Default-domain opset version (default 17). */
  opset?: number;
  producer?: string;
}

export interface BuilderNodeOptions {
  /** Output count (auto-named) or explicit output names; default one output. */
  outputs?: number | string[];
  name?: string;
  domain?: string;
}

/** The IR version that goes with an opset (onnx's own table, which onnxruntime checks). */
function irVersionFor(opset: number): number {
  if (opset <= 8) return 3;
  if (opset <= 10) return 5;
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

/**
 * Builds ONNX models in code, for tests, fixtures and synthetic graphs. Names are kept unique:
 * auto-named values and nodes never clash with names given explicitly.
 */
export class ModelBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly opsets = new Map<string, number>();
  private readonly used = new Set<string>();
  private readonly counters = new Map<string, number>();
  private readonly graphName: string;
  private readonly producer: string;

  constructor(opts: ModelBuilderOptions = {}) {
    this.graphName = opts.name ?? 'mmkit';
    this.producer = opts.producer ?? 'mmkit';
    this.opsets.set('', opts.opset ?? 17);
  }

  /** A name not used yet in this model: `prefix`, else `prefix_1`, `prefix_2`, ... */
  uniqueName(prefix: string): string {
    let name = prefix;
    let n = this.counters.get(prefix) ?? 0;
    while (this.used.has(name)) name = `${prefix}_${++n}`;
    this.counters.set(prefix, n);
    this.used.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.used.has(name)) {
      throw new MmkitError('BAD_MODEL', `The name '${name}' is already used in this model.`, { tensor: name, hint: 'Pick another name, or let the builder name it.' });
    }
    this.used.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape: readonly Dim[]): string {
    this.inputs.push(makeValueInfo(this.claim(name), dtype, shape));
    return name;
  }

  /** Declares a graph output; `name` must be a value the graph produces. */
  output(name: string, dtype: DType, shape: readonly Dim[]): void {
    this.outputs.push(makeValueInfo(name, dtype, shape));
  }

  initializer(name: string, dtype: DType, dims: readonly number[], data: TensorArray): string {
    this.initializers.push(makeTensor(this.claim(name), dtype, dims, data));
    return name;
  }

  /** A Constant node holding the tensor; returns its output name. */
  constant(dtype: DType, dims: readonly number[], data: TensorArray, name?: string): string {
    const out = name ? this.claim(name) : this.uniqueName('Constant_output');
    this.nodes.push(node('Constant', [], [out], { value: { t: makeTensor(out, dtype, dims, data) } }, { name: this.uniqueName('Constant') }));
    return out;
  }

  /** Adds a node and returns its output names. */
  node(op: string, inputs: readonly string[], attrs: Attrs = {}, opts: BuilderNodeOptions = {}): string[] {
    const name = opts.name ? this.claim(opts.name) : this.uniqueName(op);
    const outputs = Array.isArray(opts.outputs)
      ? opts.outputs.map((o) => this.claim(o))
      : Array.from({ length: opts.outputs ?? 1 }, (_, i) => this.uniqueName(`${name}_output_${i}`));
    this.nodes.push(node(op, inputs, outputs, attrs, { name, domain: opts.domain }));
    if (opts.domain && !this.opsets.has(opts.domain)) this.opsets.set(opts.domain, 1);
    return outputs;
  }

  /** Single-output shorthand for node(). */
  op(op: string, inputs: readonly string[], attrs: Attrs = {}): string {
    return this.node(op, inputs, attrs)[0];
  }

  opsetImport(domain: string, version: number): void {
    this.opsets.set(domain, version);
  }

  /**
   * y = x·W + b the way torch exports nn.Linear for 3-D inputs: MatMul with a [inDim, outDim]
   * weight initializer, then Add with the bias first. `w` is row-major [inDim, outDim].
   */
  linear(x: string, inDim: number, outDim: number, w: Float32Array, b?: Float32Array, name = 'linear'): string {
    const prefix = this.uniqueName(name);
    const weight = this.initializer(`${prefix}.weight`, 'float32', [inDim, outDim], w);
    const y = this.node('MatMul', [x, weight], {}, { name: `/${prefix}/MatMul` })[0];
    if (!b) return y;
    const bias = this.initializer(`${prefix}.bias`, 'float32', [outDim], b);
    return this.node('Add', [bias, y], {}, { name: `/${prefix}/Add` })[0];
  }

  build(): ModelProto {
    const opset = this.opsets.get('') ?? 17;
    return create(ModelProtoSchema, {
      irVersion: BigInt(irVersionFor(opset)),
      producerName: this.producer,
      producerVersion: '0.1.0',
      graph: create(GraphProtoSchema, {
        name: this.graphName,
        node: [...this.nodes],
        initializer: [...this.initializers],
        input: [...this.inputs],
        output: [...this.outputs],
      }),
      opsetImport: [...this.opsets].map(([domain, version]) => create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) })),
    });
  }
}
