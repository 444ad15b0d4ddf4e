import { create } from '@bufbuild/protobuf';
import { MmkitError } from '../errors';
import { AttributeProtoSchema, AttributeType, NodeProtoSchema, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from './proto';

/**
 * An attribute value for building nodes. Explicit forms say the ONNX type: { i }, { f }, { s },
 * { ints }, { floats }, { strings }, { t }, { g }. Plain JS values are inferred: an integer
 * number → INT, any other number → FLOAT, string → STRING, number[] → INTS when every element
 * is an integer else FLOATS, string[] → STRINGS, a TensorProto → TENSOR. So write { f: 1 } for a
 * float attribute whose value happens to be whole (e.g. alpha = 1.0).
 */
export type AttrValue =
  | number
  | string
  | readonly number[]
  | readonly string[]
  | TensorProto
  | { i: number | bigint }
  | { f: number }
  | { s: string }
  | { ints: readonly (number | bigint)[] }
  | { floats: readonly number[] }
  | { strings: readonly string[] }
  | { t: TensorProto }
  | { g: GraphProto };

export type Attrs = Record<string, AttrValue>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function makeAttribute(name: string, value: AttrValue): AttributeProto {
  const a = (init: Parameters<typeof create<typeof AttributeProtoSchema>>[1]) => create(AttributeProtoSchema, { name, ...init });
  if (typeof value === 'number') return Number.isInteger(value) ? a({ type: AttributeType.INT, i: BigInt(value) }) : a({ type: AttributeType.FLOAT, f: value });
  if (typeof value === 'string') return a({ type: AttributeType.STRING, s: encoder.encode(value) });
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === 'string')) return a({ type: AttributeType.STRINGS, strings: (value as string[]).map((v) => encoder.encode(v)) });
    const nums = value as number[];
    return nums.every((v) => Number.isInteger(v))
      ? a({ type: AttributeType.INTS, ints: nums.map((v) => BigInt(v)) })
      : a({ type: AttributeType.FLOATS, floats: [...nums] });
  }
  const v = value as Exclude<AttrValue, number | string | readonly number[] | readonly string[]>;
  if ('$typeName' in v) return a({ type: AttributeType.TENSOR, t: v });
  if ('i' in v) return a({ type: AttributeType.INT, i: BigInt(v.i) });
  if ('f' in v) return a({ type: AttributeType.FLOAT, f: v.f });
  if ('s' in v) return a({ type: AttributeType.STRING, s: encoder.encode(v.s) });
  if ('ints' in v) return a({ type: AttributeType.INTS, ints: v.ints.map((x) => BigInt(x)) });
  if ('floats' in v) return a({ type: AttributeType.FLOATS, floats: [...v.floats] });
  if ('strings' in v) return a({ type: AttributeType.STRINGS, strings: v.strings.map((x) => encoder.encode(x)) });
  if ('t' in v) return a({ type: AttributeType.TENSOR, t: v.t });
  if ('g' in v) return a({ type: AttributeType.GRAPH, g: v.g });
  throw new MmkitError('BAD_OPTION', `Attribute '${name}' has a value mmkit cannot encode.`, { hint: 'Use a number, string, array, TensorProto or an explicit { i | f | s | ints | floats | strings | t | g } form.' });
}

function findAttr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function attrInt(node: NodeProto, name: string): number | undefined;
export function attrInt(node: NodeProto, name: string, fallback: number): number;
export function attrInt(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = findAttr(node, name);
  return a && a.type === AttributeType.INT ? Number(a.i) : fallback;
}

export function attrFloat(node: NodeProto, name: string): number | undefined;
export function attrFloat(node: NodeProto, name: string, fallback: number): number;
export function attrFloat(node: NodeProto, name: string, fallback?: number): number | undefined {
  const a = findAttr(node, name);
  return a && a.type === AttributeType.FLOAT ? a.f : fallback;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = findAttr(node, name);
  return a && a.type === AttributeType.INTS ? a.ints.map((v) => Number(v)) : undefined;
}

export function attrFloats(node: NodeProto, name: string): number[] | undefined {
  const a = findAttr(node, name);
  return a && a.type === AttributeType.FLOATS ? [...a.floats] : undefined;
}

export function attrString(node: NodeProto, name: string): string | undefined {
  const a = findAttr(node, name);
  return a && a.type === AttributeType.STRING ? decoder.decode(a.s) : undefined;
}

export function attrTensor(node: NodeProto, name: string): TensorProto | undefined {
  const a = findAttr(node, name);
  return a && a.type === AttributeType.TENSOR ? a.t : undefined;
}

export interface NodeOptions {
  name?: string;
  /** Operator domain; '' (default) is the standard ONNX domain. */
  domain?: string;
}

/** A NodeProto with typed attributes (see AttrValue for how plain JS values map to ONNX types). */
export function node(op: string, inputs: readonly string[], outputs: readonly string[], attrs: Attrs = {}, opts: NodeOptions = {}): NodeProto {
  return create(NodeProtoSchema, {
    opType: op,
    input: [...inputs],
    output: [...outputs],
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    ...(opts.domain ? { domain: opts.domain } : {}),
    attribute: Object.entries(attrs).map(([name, value]) => makeAttribute(name, value)),
  });
}
