/**
 * Reads a model spec back from an ONNX graph with mmkit's parameter names (buildOnnx, or such a
 * graph after pruning): sizes come from the initializers' shapes, so per-block MLP widths and head
 * counts left by structured pruning become the spec's `blocks`.
 */
import { MmkitError } from '../errors';
import { GraphView, findAttention, tensorArray, tensorDims, type OnnxModel } from '../onnx';
import { checkSpec, type BlockSpec, type EncoderSpec, type ModelSpec, type TextTowerSpec, type VisionTowerSpec } from '../models';

/** The parts of a graph the spec is read from. */
interface GraphFacts {
  view: GraphView;
  label: string;
  file?: string;
  /** Head size of each attention block, by the name of its q weight. */
  headDims: Map<string, number>;
}

function dimsOf(g: GraphFacts, name: string): number[] {
  const t = g.view.initializer(name);
  if (!t) {
    throw new MmkitError('UNSUPPORTED', `${g.label} has no initializer '${name}', so its model spec cannot be read from it (mmkit reads specs from the parameter names its own ViT and CLIP graphs use).`, {
      file: g.file,
      tensor: name,
      hint: 'Distill into a fresh student instead: distill({ teacher, data, student: spec }) with a ViT or CLIP spec.',
    });
  }
  return tensorDims(t);
}

/** The shortest decimal that is the same float32 (the attribute stores 1e-6 as 9.99999997e-7). */
function shortestFloat32(x: number): number {
  for (let digits = 1; digits < 9; digits++) {
    const d = Number(x.toPrecision(digits));
    if (Math.fround(d) === Math.fround(x)) return d;
  }
  return x;
}

function layerNormEps(g: GraphFacts, weight: string): number {
  const n = g.view.consumers(weight).find((c) => c.opType === 'LayerNormalization');
  return shortestFloat32(n ? g.view.attrFloat(n, 'epsilon', 1e-5) : 1e-5);
}

function encoderSpec(g: GraphFacts, tower: string, width: number): EncoderSpec {
  const blocks: BlockSpec[] = [];
  let headDim = 0;
  for (let i = 0; g.view.isInitializer(`${tower}.layers.${i}.ln1.weight`); i++) {
    const p = `${tower}.layers.${i}`;
    const q = `${p}.attn.q.weight`;
    const d = g.headDims.get(q);
    if (d === undefined) {
      throw new MmkitError('UNSUPPORTED', `${g.label}: no attention block reads '${q}', so the head size of ${p} is unknown.`, { file: g.file, tensor: q, hint: 'Only graphs in the layout of buildOnnx (ViT, CLIP) can be read back into a spec.' });
    }
    if (headDim && d !== headDim) {
      throw new MmkitError('UNSUPPORTED', `${g.label}: ${p} has heads of ${d} but earlier blocks of ${headDim}; the spec keeps one head size per tower.`, { file: g.file, tensor: q });
    }
    headDim = d;
    blocks.push({ mlpDim: dimsOf(g, `${p}.mlp.fc1.weight`)[1], heads: dimsOf(g, q)[1] / d });
  }
  if (blocks.length === 0) throw new MmkitError('UNSUPPORTED', `${g.label} has no encoder blocks named '${tower}.layers.<i>.*'.`, { file: g.file, hint: 'Only graphs in the layout of buildOnnx (ViT, CLIP) can be read back into a spec.' });
  const heads = width / headDim;
  const uniform = blocks.every((b) => b.mlpDim === blocks[0].mlpDim && b.heads === heads);
  return {
    width,
    layers: blocks.length,
    heads,
    mlpDim: Math.max(...blocks.map((b) => b.mlpDim)),
    layerNormEps: layerNormEps(g, `${tower}.layers.0.ln1.weight`),
    ...(uniform ? {} : { blocks }),
  };
}

function visionSpec(g: GraphFacts): VisionTowerSpec {
  const [width, channels, patchSize] = dimsOf(g, 'vision.patch_embed.weight');
  const tokens = dimsOf(g, 'vision.pos_embed')[1];
  const grid = Math.round(Math.sqrt(tokens - 1));
  return { imageSize: grid * patchSize, patchSize, channels, ...encoderSpec(g, 'vision', width) };
}

function textSpec(g: GraphFacts): TextTowerSpec {
  const [vocabSize, width] = dimsOf(g, 'text.token_embed');
  return { vocabSize, maxLength: dimsOf(g, 'text.pos_embed')[0], ...encoderSpec(g, 'text', width) };
}

/**
 * The ViT or CLIP spec of an ONNX model in buildOnnx's layout (also after structured pruning).
 * Throws UNSUPPORTED naming the missing parameter for graphs of other layouts.
 */
export function specFromOnnx(model: OnnxModel): ModelSpec {
  const view = GraphView.of(model.proto);
  const headDims = new Map(findAttention(view).map((a) => [a.q.weight, a.headDim]));
  const g: GraphFacts = { view, label: model.path ?? 'the model', file: model.path, headDims };
  const vision = visionSpec(g);
  let spec: ModelSpec;
  if (view.isInitializer('classifier.weight')) {
    spec = { kind: 'vit', vision, numClasses: dimsOf(g, 'classifier.weight')[1] };
  } else {
    const scale = view.initializer('logit_scale');
    spec = {
      kind: 'clip',
      vision,
      text: textSpec(g),
      embedDim: dimsOf(g, 'visual_projection.weight')[1],
      initLogitScale: scale ? Number(tensorArray(scale, model)[0]) : Math.log(1 / 0.07),
    };
  }
  checkSpec(spec);
  return spec;
}
