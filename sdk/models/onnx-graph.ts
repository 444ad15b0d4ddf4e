import { create } from '@bufbuild/protobuf';
import { ModelBuilder, StringStringEntryProtoSchema, type ModelProto } from '../onnx';
import { attentionWidth, blockSpec, checkSpec, headDim, type ClipSpec, type EncoderSpec, type ModelSpec, type VisionTowerSpec, type VitSpec, type TextTowerSpec } from './spec';
import { checkWeights, type Weights } from './weights';

/** Added to attention scores at padded text positions (before Softmax), in both the graph and tfjs. */
export const MASKED_SCORE = -1e9;

/**
 * Emits a spec's graph into a ModelBuilder with the op patterns torch/Optimum exports use:
 * MatMul + Add linears, LayerNormalization, attention through Reshape/Transpose/MatMul/Div/Softmax,
 * GELU through Erf, patch embedding as Conv. Parameters become initializers under their own names.
 */
class GraphEmitter {
  private readonly constants = new Map<string, string>();
  private readonly emitted = new Set<string>();
  private readonly nodeNames = new Map<string, number>();

  constructor(
    readonly b: ModelBuilder,
    private readonly weights: Weights,
  ) {}

  param(name: string): string {
    if (!this.emitted.has(name)) {
      const w = this.weights[name];
      this.b.initializer(name, 'float32', w.dims, w.data);
      this.emitted.add(name);
    }
    return name;
  }

  ints(values: readonly number[], scalar = false): string {
    const key = `i64:${scalar}:${values.join(',')}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.b.constant('int64', scalar ? [] : [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
      this.constants.set(key, name);
    }
    return name;
  }

  float(value: number): string {
    const key = `f32:${value}`;
    let name = this.constants.get(key);
    if (!name) {
      name = this.b.constant('float32', [], Float32Array.of(value));
      this.constants.set(key, name);
    }
    return name;
  }

  /** One node named `/<scope>/<Op>`; `out` names its output (a graph output), else it is auto-named. */
  op(op: string, inputs: string[], scope: string, attrs: Parameters<ModelBuilder['node']>[2] = {}, out?: string): string {
    return this.b.node(op, inputs, attrs, { name: this.nodeName(`/${scope}/${op}`), outputs: out ? [out] : 1 })[0];
  }

  /** torch's naming: `/scope/Op`, then `/scope/Op_1`, ... (no value name starts with '/'). */
  private nodeName(base: string): string {
    const n = this.nodeNames.get(base) ?? 0;
    this.nodeNames.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  }

  linear(x: string, name: string, bias = true, out?: string): string {
    const scope = name.replace(/\./g, '/');
    const y = this.op('MatMul', [x, this.param(`${name}.weight`)], scope, {}, bias ? undefined : out);
    return bias ? this.op('Add', [this.param(`${name}.bias`), y], scope, {}, out) : y;
  }

  layerNorm(x: string, name: string, eps: number): string {
    return this.op('LayerNormalization', [x, this.param(`${name}.weight`), this.param(`${name}.bias`)], name.replace(/\./g, '/'), { axis: -1, epsilon: { f: eps } });
  }

  /** 0.5 · x · (1 + erf(x / √2)), the exact GELU as torch exports it. */
  gelu(x: string, scope: string): string {
    const erf = this.op('Erf', [this.op('Div', [x, this.float(Math.SQRT2)], scope)], scope);
    return this.op('Mul', [this.op('Mul', [x, this.op('Add', [erf, this.float(1)], scope)], scope), this.float(0.5)], scope);
  }

  attention(x: string, prefix: string, e: EncoderSpec, block: number, maskBias?: string): string {
    const scope = `${prefix}/attn`.replace(/\./g, '/');
    const heads = this.ints([0, 0, blockSpec(e, block).heads, headDim(e)]);
    const split = (name: string, perm: number[]): string => this.op('Transpose', [this.op('Reshape', [this.linear(x, `${prefix}.attn.${name}`), heads], scope)], scope, { perm });
    const q = split('q', [0, 2, 1, 3]);
    const kT = split('k', [0, 2, 3, 1]);
    const v = split('v', [0, 2, 1, 3]);
    let scores = this.op('Div', [this.op('MatMul', [q, kT], scope), this.float(Math.sqrt(headDim(e)))], scope);
    if (maskBias) scores = this.op('Add', [scores, maskBias], scope);
    const probs = this.op('Softmax', [scores], scope, { axis: -1 });
    const ctx = this.op('Transpose', [this.op('MatMul', [probs, v], scope)], scope, { perm: [0, 2, 1, 3] });
    return this.linear(this.op('Reshape', [ctx, this.ints([0, 0, attentionWidth(e, block)])], scope), `${prefix}.attn.out`);
  }

  /** The encoder blocks and final LayerNorm over [batch, tokens, width]. */
  encoder(h: string, tower: string, e: EncoderSpec, maskBias?: string): string {
    for (let i = 0; i < e.layers; i++) {
      const p = `${tower}.layers.${i}`;
      const scope = p.replace(/\./g, '/');
      h = this.op('Add', [h, this.attention(this.layerNorm(h, `${p}.ln1`, e.layerNormEps), p, e, i, maskBias)], scope);
      const hidden = this.gelu(this.linear(this.layerNorm(h, `${p}.ln2`, e.layerNormEps), `${p}.mlp.fc1`), `${scope}/mlp`);
      h = this.op('Add', [h, this.linear(hidden, `${p}.mlp.fc2`)], scope);
    }
    return this.layerNorm(h, `${tower}.ln_final`, e.layerNormEps);
  }

  /** Token 0 of [batch, tokens, width] → [batch, width]. */
  firstToken(h: string, scope: string): string {
    return this.op('Gather', [h, this.ints([0], true)], scope, { axis: 1 });
  }

  /** pixel_values [batch, C, H, W] → pooled class token [batch, width]. */
  visionTower(pixels: string, v: VisionTowerSpec): string {
    const scope = 'vision/embeddings';
    const conv = this.op('Conv', [pixels, this.param('vision.patch_embed.weight'), this.param('vision.patch_embed.bias')], 'vision/patch_embed', {
      kernel_shape: [v.patchSize, v.patchSize],
      strides: [v.patchSize, v.patchSize],
    });
    const patches = this.op('Transpose', [this.op('Reshape', [conv, this.ints([0, v.width, -1])], scope)], scope, { perm: [0, 2, 1] });
    const batch = this.op('Shape', [pixels], scope, { start: 0, end: 1 });
    const clsShape = this.op('Concat', [batch, this.ints([1, v.width])], scope, { axis: 0 });
    const cls = this.op('Expand', [this.param('vision.cls_token'), clsShape], scope);
    const tokens = this.op('Add', [this.op('Concat', [cls, patches], scope, { axis: 1 }), this.param('vision.pos_embed')], scope);
    return this.firstToken(this.encoder(tokens, 'vision', v), 'vision/pooler');
  }

  /** input_ids, attention_mask [batch, length] (int64) → pooled token 0 [batch, width]. */
  textTower(ids: string, mask: string, t: TextTowerSpec): string {
    const scope = 'text/embeddings';
    const tokens = this.op('Gather', [this.param('text.token_embed'), ids], scope, { axis: 0 });
    const length = this.op('Shape', [ids], scope, { start: 1, end: 2 });
    const positions = this.op('Slice', [this.param('text.pos_embed'), this.ints([0]), length, this.ints([0])], scope);
    const h = this.op('Add', [tokens, positions], scope);
    const maskScope = 'text/mask';
    const keep = this.op('Cast', [mask], maskScope, { to: 1 });
    const bias = this.op('Mul', [this.op('Sub', [this.float(1), keep], maskScope), this.float(MASKED_SCORE)], maskScope);
    const maskBias = this.op('Unsqueeze', [bias, this.ints([1, 2])], maskScope);
    return this.firstToken(this.encoder(h, 'text', t, maskBias), 'text/pooler');
  }

  /** x / ‖x‖₂ along the last axis. */
  l2Normalize(x: string, scope: string, out?: string): string {
    return this.op('Div', [x, this.op('ReduceL2', [x], scope, { axes: [-1], keepdims: 1 })], scope, {}, out);
  }
}

function buildVit(spec: VitSpec, g: GraphEmitter): void {
  const v = spec.vision;
  const pixels = g.b.input('pixel_values', 'float32', ['batch', v.channels, v.imageSize, v.imageSize]);
  g.linear(g.visionTower(pixels, v), 'classifier', true, 'logits');
  g.b.output('logits', 'float32', ['batch', spec.numClasses]);
}

function buildClip(spec: ClipSpec, g: GraphEmitter): void {
  const v = spec.vision;
  const pixels = g.b.input('pixel_values', 'float32', ['image_batch', v.channels, v.imageSize, v.imageSize]);
  const ids = g.b.input('input_ids', 'int64', ['text_batch', 'sequence']);
  const mask = g.b.input('attention_mask', 'int64', ['text_batch', 'sequence']);
  const image = g.l2Normalize(g.linear(g.visionTower(pixels, v), 'visual_projection', false), 'image_embeds', 'image_embeds');
  const text = g.l2Normalize(g.linear(g.textTower(ids, mask, spec.text), 'text_projection', false), 'text_embeds', 'text_embeds');
  // As HF's CLIP: logits_per_text = exp(logit_scale) · text · imageᵀ, logits_per_image its transpose.
  const scale = g.op('Exp', [g.param('logit_scale')], 'logit_scale');
  const similarity = g.op('MatMul', [text, g.op('Transpose', [image], 'logits', { perm: [1, 0] })], 'logits');
  const perText = g.op('Mul', [similarity, scale], 'logits', {}, 'logits_per_text');
  g.op('Transpose', [perText], 'logits', { perm: [1, 0] }, 'logits_per_image');
  g.b.output('logits_per_image', 'float32', ['image_batch', 'text_batch']);
  g.b.output('logits_per_text', 'float32', ['text_batch', 'image_batch']);
  g.b.output('text_embeds', 'float32', ['text_batch', spec.embedDim]);
  g.b.output('image_embeds', 'float32', ['image_batch', spec.embedDim]);
}

/** The ONNX graph (opset 17) of a spec with the given weights; `metadata` goes to the model's metadata_props. */
export function buildOnnx(spec: ModelSpec, weights: Weights, opts: { name?: string; metadata?: Record<string, string> } = {}): ModelProto {
  checkSpec(spec);
  checkWeights(spec, weights);
  const b = new ModelBuilder({ opset: 17, name: opts.name ?? (spec.kind === 'vit' ? 'vit' : 'clip') });
  const g = new GraphEmitter(b, weights);
  if (spec.kind === 'vit') buildVit(spec, g);
  else buildClip(spec, g);
  const model = b.build();
  for (const [key, value] of Object.entries(opts.metadata ?? {})) model.metadataProps.push(create(StringStringEntryProtoSchema, { key, value }));
  return model;
}
