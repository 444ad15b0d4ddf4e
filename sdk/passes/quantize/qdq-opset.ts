/**
 * The opset a QDQ model is written at. QuantizeLinear/DequantizeLinear exist from opset 10 with
 * one scale per tensor; per-channel scales (DequantizeLinear's axis) need opset 13. A model below
 * 13 is upgraded when the ONNX version converter's rules allow it: every op either means the same
 * at the new opset or had attributes become inputs, which the adapters below move as the converter
 * does (Slice, TopK, Clip, Pad, Dropout, Squeeze, Unsqueeze, ReduceSum, Split, Softmax). Ops whose
 * meaning changed otherwise (Upsample, Resize-10, Scatter), or an op to adapt inside a subgraph,
 * keep the model at its own opset: per-tensor scales from 10, nothing below.
 */
import { MmkitError } from '../../errors';
import {
  attrFloat,
  attrInt,
  attrInts,
  editModel,
  derivedModel,
  GraphView,
  makeTensor,
  node,
  nodeSubgraphs,
  shallowCopy,
  type DType,
  type GraphEditor,
  type GraphProto,
  type NodeProto,
  type OnnxModel,
} from '../../onnx';
import { valueTypes } from '../value-types';

/** Opset where DequantizeLinear takes per-channel scales. */
export const PER_CHANNEL_OPSET = 13;
/** Opset where QuantizeLinear and DequantizeLinear appear. */
export const QDQ_OPSET = 10;
/**
 * Opset of Round, which onnxruntime (1.30) inserts when it folds a BatchNormalization into a Conv
 * with int8 weights: at opset 10 such a model fails to load, so per-tensor models go to 11 where they can.
 */
const ROUND_OPSET = 11;
/** Oldest opset upgraded: before 9, broadcasting (7) and BatchNormalization (9) changed meaning too. */
const OLDEST_UPGRADED = 9;

type Adapter = (e: GraphEditor, n: NodeProto, types: Map<string, DType | undefined>) => boolean;

/** Opsets at which an op's form changed in a way an old node is not valid under (onnx's version converter). */
interface OpChange {
  at: number[];
  /** Rewrites the node into its form at `at`; false when it cannot (then the model keeps its opset). */
  adapt?: Adapter;
}

const int64s = (values: readonly number[]) => BigInt64Array.from(values, (v) => BigInt(v));

/** The node with the named attributes dropped and `inputs` as its inputs; name and the other attributes stay. */
function rewrite(e: GraphEditor, n: NodeProto, inputs: string[], dropped: readonly string[]): void {
  e.replaceNode(n, shallowCopy(n, { input: inputs, attribute: n.attribute.filter((a) => !dropped.includes(a.name)) }));
}

/** A new int64 initializer holding `values` (1-D), named after the node and attribute. */
function intInput(e: GraphEditor, n: NodeProto, attr: string, values: readonly number[]): string {
  const name = e.uniqueName(`${n.name || n.output[0]}_${attr}`);
  e.addInitializer(makeTensor(name, 'int64', [values.length], int64s(values)));
  return name;
}

/** A float32 scalar initializer; adapters that need one refuse other element types. */
function floatInput(e: GraphEditor, n: NodeProto, attr: string, value: number): string {
  const name = e.uniqueName(`${n.name || n.output[0]}_${attr}`);
  e.addInitializer(makeTensor(name, 'float32', [], Float32Array.of(value)));
  return name;
}

/** Integer-list attributes become int64 inputs, in order; an absent optional one becomes '' (trailing ones dropped). */
function intsToInputs(names: readonly string[]): Adapter {
  return (e, n) => {
    const inputs = [...n.input, ...names.map((a) => {
      const v = attrInts(n, a) ?? (attrInt(n, a) === undefined ? undefined : [attrInt(n, a)!]);
      return v ? intInput(e, n, a, v) : '';
    })];
    while (inputs.length > 1 && inputs[inputs.length - 1] === '') inputs.pop();
    rewrite(e, n, inputs, names);
    return true;
  };
}

const floatData = (n: NodeProto, types: Map<string, DType | undefined>) => types.get(n.input[0]) === 'float32';

/** Clip-6: min/max attributes → optional scalar inputs (Clip-11). */
const clipInputs: Adapter = (e, n, types) => {
  if (!floatData(n, types)) return false;
  const min = attrFloat(n, 'min');
  const max = attrFloat(n, 'max');
  const inputs = [n.input[0], min === undefined ? '' : floatInput(e, n, 'min', min), max === undefined ? '' : floatInput(e, n, 'max', max)];
  while (inputs[inputs.length - 1] === '') inputs.pop();
  rewrite(e, n, inputs, ['min', 'max']);
  return true;
};

/** Pad-2: pads and value attributes → inputs (Pad-11); mode stays an attribute. */
const padInputs: Adapter = (e, n, types) => {
  const pads = attrInts(n, 'pads');
  if (!pads || !floatData(n, types)) return false;
  rewrite(e, n, [n.input[0], intInput(e, n, 'pads', pads), floatInput(e, n, 'value', attrFloat(n, 'value', 0))], ['pads', 'value']);
  return true;
};

/** Dropout before 12: ratio was an attribute; in inference Dropout is the identity whatever the ratio, so it goes. */
const dropoutRatio: Adapter = (e, n) => {
  rewrite(e, n, [...n.input], ['ratio']);
  return true;
};

/**
 * Softmax before 13 flattened its input to 2-D at `axis` (default 1) and normalized the second
 * dimension; from 13 it normalizes one axis. Same result when axis is the last one; otherwise,
 * as the converter does: Flatten at axis → Softmax over the last axis → Reshape to the input's shape.
 */
const softmaxAxis: Adapter = (e, n) => {
  const axis = attrInt(n, 'axis', 1);
  const rank = e.view.valueInfo(n.input[0]).shape?.length;
  if (axis === -1 || (rank !== undefined && axis === rank - 1)) return true;
  const base = n.name || n.output[0];
  const flat = e.uniqueName(`${base}_flat`);
  const shape = e.uniqueName(`${base}_shape`);
  const normalized = e.uniqueName(`${base}_2d`);
  e.replaceNode(
    n,
    node('Shape', [n.input[0]], [shape], {}, { name: e.uniqueName(`${base}_Shape`) }),
    node('Flatten', [n.input[0]], [flat], { axis }, { name: e.uniqueName(`${base}_Flatten`) }),
    shallowCopy(n, { input: [flat], output: [normalized], attribute: node(n.opType, [], [], { axis: -1 }).attribute }),
    node('Reshape', [normalized, shape], [n.output[0]], {}, { name: e.uniqueName(`${base}_Reshape`) }),
  );
  return true;
};

const CHANGES: Record<string, OpChange> = {
  Slice: { at: [10], adapt: intsToInputs(['starts', 'ends', 'axes']) },
  TopK: { at: [10], adapt: intsToInputs(['k']) },
  Upsample: { at: [10, 11] }, // scales became an input at 10, the op was removed at 11
  Clip: { at: [11], adapt: clipInputs },
  Pad: { at: [11], adapt: padInputs },
  Resize: { at: [11] }, // Resize-10 → 11: new roi input and coordinate modes
  Scatter: { at: [11] }, // removed: ScatterElements
  Dropout: { at: [12], adapt: dropoutRatio },
  ReduceSum: { at: [13], adapt: intsToInputs(['axes']) },
  Squeeze: { at: [13], adapt: intsToInputs(['axes']) },
  Unsqueeze: { at: [13], adapt: intsToInputs(['axes']) },
  Split: { at: [13], adapt: intsToInputs(['split']) },
  Softmax: { at: [13], adapt: softmaxAxis },
  LogSoftmax: { at: [13], adapt: softmaxAxis },
  Hardmax: { at: [13], adapt: softmaxAxis },
};

function* subgraphNodes(graph: GraphProto): Generator<NodeProto> {
  for (const n of graph.node) {
    for (const g of nodeSubgraphs(n)) {
      yield* g.node;
      yield* subgraphNodes(g);
    }
  }
}

const isStandard = (n: NodeProto) => n.domain === '' || n.domain === 'ai.onnx';
/** Whether a standard node's form changed between the two opsets. */
const changesBetween = (n: NodeProto, from: number, to: number) => isStandard(n) && (CHANGES[n.opType]?.at ?? []).some((v) => from < v && v <= to);

/** Why `model` cannot go from opset `from` to `to`, or undefined when it can (every changed op has an adapter). */
function blockers(view: GraphView, from: number, to: number): string | undefined {
  const count = (nodes: Iterable<NodeProto>, keep: (n: NodeProto) => boolean) => {
    const by = new Map<string, number>();
    for (const n of nodes) if (changesBetween(n, from, to) && keep(n)) by.set(n.opType, (by.get(n.opType) ?? 0) + 1);
    return [...by].map(([op, k]) => `${k} ${op}`).join(', ');
  };
  const main = count(view.nodes, (n) => !CHANGES[n.opType].adapt);
  const inner = count(subgraphNodes(view.graph), () => true);
  const why = [main && `${main} (changed meaning, no adapter)`, inner && `${inner} inside subgraphs`].filter(Boolean);
  return why.length ? why.join('; ') : undefined;
}

/** IR version onnxruntime expects with an opset (onnx's table). */
const irFor = (opset: number) => (opset <= 10 ? 5 : opset <= 11 ? 6 : 7);

/** The model at opset `to`: changed ops adapted, the opset import and IR version raised. Undefined when an adapter refuses. */
function upgrade(model: OnnxModel, from: number, to: number): { model: OnnxModel; adapted: string } | undefined {
  const view = GraphView.of(model.proto);
  const types = valueTypes(view);
  const by = new Map<string, number>();
  let refused = false;
  const proto = editModel(model.proto, (e) => {
    for (const n of view.nodes) {
      if (refused || !changesBetween(n, from, to)) continue;
      if (!CHANGES[n.opType].adapt!(e, n, types)) refused = true;
      else by.set(n.opType, (by.get(n.opType) ?? 0) + 1);
    }
    const domain = view.model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx')!.domain;
    e.setOpset(domain, to);
  });
  if (refused) return undefined;
  const ir = BigInt(Math.max(Number(proto.irVersion), irFor(to)));
  // The path stays so that messages about the upgraded model name the user's file.
  return { model: { ...derivedModel(model, shallowCopy(proto, { irVersion: ir })), path: model.path }, adapted: [...by].map(([op, k]) => `${k} ${op}`).join(', ') };
}

/** Whether static quantization can write QDQ nodes into this graph: opset ≥ 10, or one it upgrades to 10 (adapters aside). */
export function qdqWritable(view: GraphView): boolean {
  const from = view.opset('') ?? 1;
  return from >= QDQ_OPSET || (from >= OLDEST_UPGRADED && !blockers(view, from, QDQ_OPSET));
}

export interface QdqOpset {
  /** The model to quantize: the input, or its upgrade. */
  model: OnnxModel;
  /** Whether weight scales may be per channel at this opset. */
  perChannel: boolean;
  /** What was decided, for the report (undefined when the model was at opset ≥ 13 already). */
  note?: string;
}

/**
 * Where to write the QDQ model: at its own opset when ≥ 13; else upgraded to 13 when per-channel
 * scales are wanted and the rules allow; else per-tensor, at its own opset from 11, upgraded to 11
 * (or 10) below. UNSUPPORTED when none of these is possible, with a hint that leads to a model that works.
 */
export function qdqOpset(model: OnnxModel, wantPerChannel: boolean, op: string): QdqOpset {
  const view = GraphView.of(model.proto);
  const from = view.opset('') ?? 1;
  if (from >= PER_CHANNEL_OPSET) return { model, perChannel: true };
  const blockedBy = (to: number) => (from < OLDEST_UPGRADED ? `opset ${from} is older than ${OLDEST_UPGRADED}` : blockers(view, from, to));
  const upgradeTo = (to: number) => (blockedBy(to) ? undefined : upgrade(model, from, to));
  const changed = (u: { adapted: string }) => (u.adapted ? `; rewritten as the ONNX version converter does: ${u.adapted}` : '; no op changed meaning');
  let up = wantPerChannel ? upgradeTo(PER_CHANNEL_OPSET) : undefined;
  if (up) return { model: up.model, perChannel: true, note: `Opset ${from} → ${PER_CHANNEL_OPSET} for per-channel weight scales${changed(up)}.` };
  const why = wantPerChannel ? `not upgraded to ${PER_CHANNEL_OPSET}: ${blockedBy(PER_CHANNEL_OPSET) ?? 'an op could not be adapted'}` : 'perChannel: false';
  const perTensor = wantPerChannel ? `per-tensor weight scales: opset ${from} has no per-channel DequantizeLinear (${why})` : 'per-tensor weight scales (perChannel: false)';
  if (from >= ROUND_OPSET) return { model, perChannel: false, note: wantPerChannel ? `${perTensor[0].toUpperCase()}${perTensor.slice(1)}.` : undefined };
  for (const to of [ROUND_OPSET, QDQ_OPSET].filter((t) => t > from)) {
    up = upgradeTo(to);
    if (up) return { model: up.model, perChannel: false, note: `Opset ${from} → ${to} for QuantizeLinear${changed(up)}; ${perTensor}.` };
  }
  if (from >= QDQ_OPSET) return { model, perChannel: false, note: `Opset ${from} kept (not upgraded to ${ROUND_OPSET}: ${blockedBy(ROUND_OPSET) ?? 'an op could not be adapted'}); ${perTensor}.` };
  throw new MmkitError('UNSUPPORTED', `${op}: QuantizeLinear needs ONNX opset ≥ ${QDQ_OPSET}; ${model.path ?? 'the model'} imports opset ${from} and cannot be upgraded here (${blockedBy(QDQ_OPSET) ?? 'an op could not be adapted'}).`, {
    file: model.path,
    hint: `Re-export the model at opset ≥ ${PER_CHANNEL_OPSET} (torch.onnx.export opset_version, tf2onnx --opset, paddle2onnx --opset_version) or convert it with onnx.version_converter.convert_version(model, ${PER_CHANNEL_OPSET}), then quantize it; quantize({ mode: 'fp16' }) works at any opset.`,
  });
}
