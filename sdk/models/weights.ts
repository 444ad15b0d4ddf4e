import { MmkitError } from '../errors';
import { mulberry32 } from '../random';
import { tensorArray, tensorDims, type OnnxModel } from '../onnx';
import { attentionWidth, blockSpec, visionTokens, type EncoderSpec, type ModelSpec, type TextTowerSpec, type VisionTowerSpec } from './spec';

/** One float32 parameter in plain memory, row-major. Linear weights are [in, out] (ONNX MatMul form). */
export interface WeightTensor {
  dims: number[];
  data: Float32Array;
}

/** A model's parameters by name: what tfjs trains and what the ONNX graph stores as initializers. */
export type Weights = Record<string, WeightTensor>;

type Init = { normal: number } | 'zeros' | 'ones';

/** A parameter the spec calls for: its name, shape, how to initialise it, whether AdamW decays it. */
export interface ParamDecl {
  name: string;
  dims: number[];
  init: Init;
  decay: boolean;
}

const INIT_STD = 0.02;

function linear(name: string, inDim: number, outDim: number, bias = true): ParamDecl[] {
  const w: ParamDecl = { name: `${name}.weight`, dims: [inDim, outDim], init: { normal: INIT_STD }, decay: true };
  return bias ? [w, { name: `${name}.bias`, dims: [outDim], init: 'zeros', decay: false }] : [w];
}

function layerNorm(name: string, width: number): ParamDecl[] {
  return [
    { name: `${name}.weight`, dims: [width], init: 'ones', decay: false },
    { name: `${name}.bias`, dims: [width], init: 'zeros', decay: false },
  ];
}

function encoderParams(prefix: string, e: EncoderSpec): ParamDecl[] {
  const out: ParamDecl[] = [];
  for (let i = 0; i < e.layers; i++) {
    const p = `${prefix}.layers.${i}`;
    const attn = attentionWidth(e, i);
    const { mlpDim } = blockSpec(e, i);
    out.push(
      ...layerNorm(`${p}.ln1`, e.width),
      ...linear(`${p}.attn.q`, e.width, attn),
      ...linear(`${p}.attn.k`, e.width, attn),
      ...linear(`${p}.attn.v`, e.width, attn),
      ...linear(`${p}.attn.out`, attn, e.width),
      ...layerNorm(`${p}.ln2`, e.width),
      ...linear(`${p}.mlp.fc1`, e.width, mlpDim),
      ...linear(`${p}.mlp.fc2`, mlpDim, e.width),
    );
  }
  out.push(...layerNorm(`${prefix}.ln_final`, e.width));
  return out;
}

function visionParams(v: VisionTowerSpec): ParamDecl[] {
  const fanIn = v.channels * v.patchSize * v.patchSize;
  return [
    // Conv weight in ONNX layout [out, in, kh, kw].
    { name: 'vision.patch_embed.weight', dims: [v.width, v.channels, v.patchSize, v.patchSize], init: { normal: 1 / Math.sqrt(fanIn) }, decay: true },
    { name: 'vision.patch_embed.bias', dims: [v.width], init: 'zeros', decay: false },
    { name: 'vision.cls_token', dims: [1, 1, v.width], init: { normal: INIT_STD }, decay: false },
    { name: 'vision.pos_embed', dims: [1, visionTokens(v), v.width], init: { normal: INIT_STD }, decay: false },
    ...encoderParams('vision', v),
  ];
}

function textParams(t: TextTowerSpec): ParamDecl[] {
  return [
    { name: 'text.token_embed', dims: [t.vocabSize, t.width], init: { normal: INIT_STD }, decay: false },
    { name: 'text.pos_embed', dims: [t.maxLength, t.width], init: { normal: INIT_STD }, decay: false },
    ...encoderParams('text', t),
  ];
}

/** Every parameter of a spec, in a fixed order. */
export function paramDecls(spec: ModelSpec): ParamDecl[] {
  if (spec.kind === 'vit') return [...visionParams(spec.vision), ...linear('classifier', spec.vision.width, spec.numClasses)];
  return [
    ...visionParams(spec.vision),
    ...textParams(spec.text),
    ...linear('visual_projection', spec.vision.width, spec.embedDim, false),
    ...linear('text_projection', spec.text.width, spec.embedDim, false),
    { name: 'logit_scale', dims: [], init: 'zeros', decay: false },
  ];
}

/** Standard normal samples from a seeded uniform source (Box–Muller). */
function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Fresh parameters for a spec, identical for equal seeds on every machine and backend. */
export function initWeights(spec: ModelSpec, seed = 0): Weights {
  const normal = gaussian(mulberry32(seed));
  const out: Weights = {};
  for (const d of paramDecls(spec)) {
    const data = new Float32Array(d.dims.reduce((a, b) => a * b, 1));
    if (d.init === 'ones') data.fill(1);
    else if (d.init !== 'zeros') for (let i = 0; i < data.length; i++) data[i] = normal() * d.init.normal;
    out[d.name] = { dims: d.dims, data };
  }
  if (spec.kind === 'clip') out.logit_scale.data[0] = spec.initLogitScale;
  return out;
}

/** Throws unless `weights` holds exactly the spec's parameters with the spec's shapes. */
export function checkWeights(spec: ModelSpec, weights: Weights, source = 'the weights'): void {
  const decls = paramDecls(spec);
  for (const d of decls) {
    const w = weights[d.name];
    if (!w) throw new MmkitError('UNKNOWN_TENSOR', `${source} lack the parameter '${d.name}' that the ${spec.kind} spec needs.`, { tensor: d.name, hint: 'Load weights made for this spec (same model kind and sizes).' });
    if (w.dims.join(',') !== d.dims.join(',') || w.data.length !== d.dims.reduce((a, b) => a * b, 1)) {
      throw new MmkitError('SHAPE_MISMATCH', `Parameter '${d.name}' in ${source} has dims [${w.dims}] but the spec needs [${d.dims}].`, { tensor: d.name, hint: 'Check the spec sizes (width, layers, patch size, vocabulary) against the model.' });
    }
  }
  const known = new Set(decls.map((d) => d.name));
  const extra = Object.keys(weights).filter((n) => !known.has(n));
  if (extra.length) throw new MmkitError('UNKNOWN_TENSOR', `${source} hold parameters the ${spec.kind} spec does not use: ${extra.slice(0, 5).join(', ')}.`, { tensor: extra[0], hint: 'Load weights made for this spec.' });
}

/** Reads a spec's parameters back from an ONNX model built by this module (initializers by name), copied. */
export function weightsFromOnnx(spec: ModelSpec, model: OnnxModel): Weights {
  const byName = new Map(model.proto.graph?.initializer.map((t) => [t.name, t]) ?? []);
  const label = model.path ?? 'the ONNX model';
  const out: Weights = {};
  for (const d of paramDecls(spec)) {
    const t = byName.get(d.name);
    if (!t) continue; // checkWeights below names the first missing one.
    const data = tensorArray(t, model);
    if (!(data instanceof Float32Array)) {
      throw new MmkitError('DTYPE_MISMATCH', `Initializer '${d.name}' in ${label} is not float32.`, { file: model.path, tensor: d.name, hint: 'Load the float32 model, not a quantized or float16 copy.' });
    }
    out[d.name] = { dims: tensorDims(t), data: data.slice() };
  }
  checkWeights(spec, out, label);
  return out;
}
