/**
 * Splits a two-tower model (CLIP) into the models it deploys as: an image encoder and a text
 * encoder, which batch and scale on their own (and whose text embeddings can be computed once and
 * cached), and the joint head that turns their embeddings into logits; plus the Triton ensemble
 * that chains the three behind the unsplit model's own inputs and outputs.
 *
 * The towers are found by graph structure, not by node names: each tensor is labelled with the
 * graph inputs it is computed from; the inputs fall into two groups that are computed on apart
 * and meet only in the joint head.
 */
import { MmkitError } from '../errors';
import { extractModel, GraphView, nodeReads, sliceGraph, type Dim, type OnnxModel } from '../onnx';
import { tritonDataType } from '../serve/config/triton-config';

export type TowerRole = 'image-encoder' | 'text-encoder' | 'joint';

/** One of the split models, with the names of its inputs and outputs in order. */
export interface TowerPart {
  role: TowerRole;
  model: OnnxModel;
  inputs: string[];
  outputs: string[];
  /**
   * Every input and output starts with one shared symbolic axis, so a server may batch requests
   * along it (Triton max_batch_size > 0). False for CLIP's joint head: its logits are
   * [image_batch, text_batch].
   */
  batchable: boolean;
}

export interface TowerSplit {
  imageEncoder: TowerPart;
  textEncoder: TowerPart;
  /** Its inputs are the tensors that connect the towers to it, each an output of one tower. */
  joint: TowerPart;
  /** The unsplit model's outputs, in order; each is an output of exactly one part. */
  outputs: string[];
}

/** Splits a two-tower model; throws UNSUPPORTED, saying what was looked for and found, for any other model. */
export function splitTowers(model: OnnxModel): TowerSplit {
  const view = GraphView.of(model.proto);
  const origins = inputOrigins(view);
  const groups = inputGroups(view, origins);
  if (groups.length !== 2) {
    const found = groups.map((g) => `[${g.join(', ')}]`).join(' and ');
    throw notTwoTower(model, `it found ${groups.length} group${groups.length === 1 ? '' : 's'} of inputs${found ? `: ${found}` : ''}`);
  }
  const [image, text] = imageThenText(view, groups, model);
  const within = (name: string, group: readonly string[]): boolean => {
    const from = origins.get(name);
    return from !== undefined && from.size > 0 && [...from].every((i) => group.includes(i));
  };

  for (const group of [image, text]) {
    if (!hasWeights(view, (n) => within(n, group))) {
      throw notTwoTower(model, `the inputs [${group.join(', ')}] pass through no weights of their own before they meet the others, so they are an input of one encoder, not a tower`);
    }
  }

  const outputs = view.outputs.map((o) => o.name);
  const jointOutputs = outputs.filter((o) => !within(o, image) && !within(o, text));
  if (jointOutputs.length === 0) {
    throw notTwoTower(model, `the towers from [${image.join(', ')}] and [${text.join(', ')}] never meet: no output depends on both`, 'They are two separate models already: take each with extractModel().');
  }
  // Where the joint head first reads each tower: the tower tensors its nodes read.
  const towerTensors = [...origins.keys()].filter((n) => within(n, image) || within(n, text));
  const frontier = [...sliceGraph(view, { inputs: towerTensors, outputs: jointOutputs }).reachedInputs];
  const imageOutputs = outputs.filter((o) => within(o, image));
  const textOutputs = outputs.filter((o) => within(o, text));
  const imageLinks = handoff(view, frontier.filter((n) => within(n, image)), imageOutputs);
  const textLinks = handoff(view, frontier.filter((n) => within(n, text)), textOutputs);

  const part = (role: TowerRole, inputs: string[], partOutputs: string[]): TowerPart => {
    const sub = extractModel(model, { inputs, outputs: partOutputs });
    return { role, model: sub, inputs, outputs: partOutputs, batchable: sharesBatchAxis(GraphView.of(sub.proto), [...inputs, ...partOutputs]) };
  };
  return {
    imageEncoder: part('image-encoder', image, unique([...imageLinks, ...imageOutputs])),
    textEncoder: part('text-encoder', text, unique([...textLinks, ...textOutputs])),
    joint: part('joint', [...imageLinks, ...textLinks], jointOutputs),
    outputs,
  };
}

/** For every tensor, the graph inputs it is computed from (empty for constants). */
function inputOrigins(view: GraphView): Map<string, Set<string>> {
  const origins = new Map<string, Set<string>>();
  for (const v of view.inputs) origins.set(v.name, new Set([v.name]));
  for (const node of view.nodes) {
    const from = new Set<string>();
    for (const name of nodeReads(node)) for (const i of origins.get(name) ?? []) from.add(i);
    for (const o of node.output) if (o) origins.set(o, from);
  }
  return origins;
}

/**
 * The graph inputs grouped into towers: two inputs are in one tower when some node computes on
 * both before everything meets (a node reading every input belongs to the joint head).
 */
function inputGroups(view: GraphView, origins: Map<string, Set<string>>): string[][] {
  const used = view.inputs.map((v) => v.name).filter((n) => view.consumers(n).length > 0);
  const groupOf = new Map(used.map((n) => [n, n]));
  const root = (n: string): string => {
    while (groupOf.get(n) !== n) n = groupOf.get(n)!;
    return n;
  };
  for (const node of view.nodes) {
    const from = [...(origins.get(node.output.find(Boolean) ?? '') ?? [])];
    if (from.length < 2 || from.length === used.length) continue;
    for (const i of from.slice(1)) groupOf.set(root(i), root(from[0]));
  }
  const groups = new Map<string, string[]>();
  for (const n of used) groups.set(root(n), [...(groups.get(root(n)) ?? []), n]);
  return [...groups.values()];
}

/** The two groups as [image, text]: the image tower starts at a float [N, C, H, W] input, the text tower at integer token inputs. */
function imageThenText(view: GraphView, groups: string[][], model: OnnxModel): [string[], string[]] {
  const isPixels = (n: string): boolean => {
    const { dtype, shape } = view.valueInfo(n);
    return (dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16' || dtype === 'float64') && shape?.length === 4;
  };
  const isTokens = (n: string): boolean => /^u?int(8|16|32|64)$/.test(view.valueInfo(n).dtype ?? '');
  const image = groups.find((g) => g.some(isPixels));
  const text = groups.find((g) => g !== image && g.every(isTokens));
  if (!image || !text) {
    const describe = (g: string[]): string => `[${g.map((n) => `${n}: ${view.valueInfo(n).dtype ?? '?'} [${view.valueInfo(n).shape?.join(', ') ?? '?'}]`).join('; ')}]`;
    throw notTwoTower(model, `it found two towers, from ${describe(groups[0])} and from ${describe(groups[1])}, but not one image tower (a float [N, C, H, W] input) and one text tower (integer token inputs)`);
  }
  return [image, text];
}

/**
 * The tensors a tower hands to the joint head. Where the head's first reads of the tower can be
 * computed from the tower's own graph outputs (CLIP: the head transposes image_embeds), the tower
 * hands over those outputs instead and the rest moves into the head: the embeddings the model
 * already exposes, with their batch axis first, are what a server batches and a client caches.
 */
function handoff(view: GraphView, frontier: string[], towerOutputs: string[]): string[] {
  const candidates = towerOutputs.flatMap((o) => castSources(view, o));
  const fromOutputs = sliceGraph(view, { inputs: candidates, outputs: frontier });
  return fromOutputs.unlisted.size === 0 ? candidates.filter((c) => fromOutputs.reachedInputs.has(c)) : frontier;
}

/**
 * A tensor and the tensors it is a Cast or Identity of: the same values. A float16 model exposes
 * float32 embeddings through a Cast while its head reads the float16 ones before that Cast.
 */
function castSources(view: GraphView, name: string): string[] {
  const chain = [name];
  for (let p = view.producer(name); p && p.domain === '' && (p.opType === 'Cast' || p.opType === 'Identity'); p = view.producer(p.input[0])) {
    chain.push(p.input[0]);
  }
  return chain;
}

/** Whether a node computing only on a tower's inputs reads a weight: a constant of rank 2 or more (a matrix, a conv kernel, an embedding table). */
function hasWeights(view: GraphView, inTower: (tensor: string) => boolean): boolean {
  return view.nodes.some((n) => inTower(n.output.find(Boolean) ?? '') && n.input.some((i) => (view.constantTensor(i)?.dims.length ?? 0) >= 2));
}

function sharesBatchAxis(view: GraphView, names: readonly string[]): boolean {
  const firstAxes = new Set<Dim | undefined>(names.map((n) => view.valueInfo(n).shape?.[0]));
  const [axis] = firstAxes;
  return firstAxes.size === 1 && typeof axis === 'string';
}

function unique(names: string[]): string[] {
  return [...new Set(names)];
}

function notTwoTower(model: OnnxModel, found: string, hint = 'Deploy it as one model (mmkit export triton without --split-towers).'): MmkitError {
  return new MmkitError(
    'UNSUPPORTED',
    `${model.path ?? 'The model'} is not a two-tower model: splitTowers looks for two groups of graph inputs that are computed on apart (an image tower from pixel values, a text tower from token ids) and meet in a joint head that reads both; ${found}.`,
    { file: model.path, hint },
  );
}

/** An input or output of the ensemble's configuration. */
export interface EnsembleTensorConfig {
  name: string;
  /** Triton's DataType name, e.g. 'TYPE_FP32'. */
  dataType: string;
  /** The full shape, -1 for a variable axis (the ensemble does not batch: maxBatchSize 0). */
  dims: number[];
}

export interface TritonEnsembleStep {
  modelName: string;
  /** -1: the newest version of the composing model. */
  modelVersion: -1;
  /** The composing model's input name → the ensemble tensor that feeds it. */
  inputMap: Record<string, string>;
  /** The composing model's output name → the ensemble tensor it becomes. */
  outputMap: Record<string, string>;
}

/**
 * Triton's ensemble model configuration (platform "ensemble", ensemble_scheduling) in the proto3
 * JSON form of its ModelConfig: protobuf's json_format.ParseDict reads it as it is.
 */
export interface TritonEnsembleConfig {
  name: string;
  platform: 'ensemble';
  maxBatchSize: number;
  input: EnsembleTensorConfig[];
  output: EnsembleTensorConfig[];
  ensembleScheduling: { step: TritonEnsembleStep[] };
}

export interface TowerEnsembleOptions {
  /** The ensemble's model name: clients call it as they called the unsplit model. */
  name: string;
  /** Names of the composing models in the repository; default `<name>-image-encoder`, `<name>-text-encoder`, `<name>-joint`. */
  modelNames?: Partial<Record<TowerRole, string>>;
}

/**
 * The Triton ensemble that runs image encoder and text encoder on a request and feeds their
 * embeddings to the joint head: the unsplit model's inputs in, all its outputs back. The
 * ensemble itself does not batch (maxBatchSize 0, full shapes with -1): its image and text
 * batches differ, so the joint head has no single batch axis; the encoders batch on their own,
 * as Triton allows batching models inside a non-batching ensemble.
 */
export function towerEnsemble(split: TowerSplit, opts: TowerEnsembleOptions): TritonEnsembleConfig {
  const parts = [split.imageEncoder, split.textEncoder, split.joint];
  const modelName = (role: TowerRole): string => opts.modelNames?.[role] ?? `${opts.name}-${role}`;
  const tensor = (part: TowerPart, name: string): EnsembleTensorConfig => {
    const { dtype, shape } = GraphView.of(part.model.proto).valueInfo(name);
    if (!dtype || !shape) {
      throw new MmkitError('BAD_MODEL', `The ${part.role} model does not declare the ${dtype ? 'shape' : 'element type'} of '${name}', which the Triton ensemble must state.`, {
        tensor: name,
        hint: 'Run ONNX shape inference on the model (onnx.shape_inference.infer_shapes) before splitting it.',
      });
    }
    return { name, dataType: tritonDataType(dtype, name), dims: shape.map((d) => (typeof d === 'number' ? d : -1)) };
  };
  const producer = (name: string): TowerPart => parts.find((p) => p.outputs.includes(name))!;
  const identity = (names: string[]): Record<string, string> => Object.fromEntries(names.map((n) => [n, n]));
  return {
    name: opts.name,
    platform: 'ensemble',
    maxBatchSize: 0,
    input: [split.imageEncoder, split.textEncoder].flatMap((p) => p.inputs.map((n) => tensor(p, n))),
    output: split.outputs.map((n) => tensor(producer(n), n)),
    // Tensor names are unique in the unsplit graph, so each part's own names serve as the ensemble's.
    ensembleScheduling: {
      step: parts.map((p) => ({ modelName: modelName(p.role), modelVersion: -1, inputMap: identity(p.inputs), outputMap: identity(p.outputs) })),
    },
  };
}
