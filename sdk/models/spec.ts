import { MmkitError } from '../errors';

/** The sizes of one encoder block that structured pruning can shrink. */
export type BlockSpec = {
  mlpDim: number;
  /** Attention heads, each of the encoder's headDim (width / heads of the spec). */
  heads: number;
};

/** A pre-LayerNorm transformer encoder: `layers` blocks of attention + GELU MLP at `width`. */
export type EncoderSpec = {
  width: number;
  layers: number;
  /** Heads per block; width / heads is the head size of every block. */
  heads: number;
  mlpDim: number;
  layerNormEps: number;
  /**
   * Per-block sizes where they differ from `mlpDim` / `heads` (after structured pruning removed
   * MLP units or heads), one entry per layer. Absent: every block has `mlpDim` and `heads`.
   */
  blocks?: BlockSpec[];
};

/** A ViT image tower: Conv patch embedding, class token, learned positions, encoder, final LayerNorm. */
export type VisionTowerSpec = EncoderSpec & {
  imageSize: number;
  patchSize: number;
  channels: number;
};

/** A ViT classifier: the image tower's class token through a linear head. */
export type VitSpec = {
  kind: 'vit';
  vision: VisionTowerSpec;
  numClasses: number;
};

/**
 * A text tower: token + position embeddings, encoder with a padding mask, final LayerNorm,
 * pooled at position 0 (the tokenizer puts a begin-of-sentence token there, BERT-style).
 */
export type TextTowerSpec = EncoderSpec & {
  vocabSize: number;
  maxLength: number;
};

/** CLIP: both towers, bias-free projections to a shared embedding, a learned temperature. */
export type ClipSpec = {
  kind: 'clip';
  vision: VisionTowerSpec;
  text: TextTowerSpec;
  embedDim: number;
  /** Initial logit scale, as its natural log (CLIP starts at ln(1/0.07)). */
  initLogitScale: number;
};

export type ModelSpec = VitSpec | ClipSpec;

export function patchGrid(v: VisionTowerSpec): number {
  return v.imageSize / v.patchSize;
}

/** Tokens the image tower sees: the patches plus the class token. */
export function visionTokens(v: VisionTowerSpec): number {
  return patchGrid(v) ** 2 + 1;
}

export function headDim(e: EncoderSpec): number {
  return e.width / e.heads;
}

/** The sizes of block `i` (its entry in `blocks`, else the encoder-wide ones). */
export function blockSpec(e: EncoderSpec, i: number): BlockSpec {
  return e.blocks?.[i] ?? { mlpDim: e.mlpDim, heads: e.heads };
}

/** Width of block `i`'s attention (q, k, v outputs and the output projection's input): its heads × headDim. */
export function attentionWidth(e: EncoderSpec, i: number): number {
  return blockSpec(e, i).heads * headDim(e);
}

function positiveInt(what: string, n: number): void {
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new MmkitError('BAD_OPTION', `Model spec: ${what} must be a whole number ≥ 1, got ${n}.`, { hint: 'Fix the spec passed to the model builder.' });
  }
}

function checkEncoder(what: string, e: EncoderSpec): void {
  for (const key of ['width', 'layers', 'heads', 'mlpDim'] as const) positiveInt(`${what}.${key}`, e[key]);
  if (e.width % e.heads !== 0) {
    throw new MmkitError('BAD_OPTION', `Model spec: ${what}.width (${e.width}) is not divisible by ${what}.heads (${e.heads}).`, { hint: 'Pick a head count that divides the width.' });
  }
  if (e.blocks !== undefined) {
    if (!Array.isArray(e.blocks) || e.blocks.length !== e.layers) {
      throw new MmkitError('BAD_OPTION', `Model spec: ${what}.blocks must have one entry per layer (${e.layers}).`, { hint: 'Give { mlpDim, heads } for every block, or leave blocks out.' });
    }
    e.blocks.forEach((b, i) => {
      positiveInt(`${what}.blocks[${i}].mlpDim`, b.mlpDim);
      positiveInt(`${what}.blocks[${i}].heads`, b.heads);
    });
  }
  if (!(e.layerNormEps > 0)) throw new MmkitError('BAD_OPTION', `Model spec: ${what}.layerNormEps must be > 0, got ${e.layerNormEps}.`);
}

function checkVision(v: VisionTowerSpec): void {
  checkEncoder('vision', v);
  for (const key of ['imageSize', 'patchSize', 'channels'] as const) positiveInt(`vision.${key}`, v[key]);
  if (v.imageSize % v.patchSize !== 0) {
    throw new MmkitError('BAD_OPTION', `Model spec: vision.imageSize (${v.imageSize}) is not divisible by vision.patchSize (${v.patchSize}).`, { hint: 'Pick a patch size that tiles the image.' });
  }
}

/** Throws a BAD_OPTION MmkitError naming the first inconsistent field. */
export function checkSpec(spec: ModelSpec): void {
  checkVision(spec.vision);
  if (spec.kind === 'vit') {
    positiveInt('numClasses', spec.numClasses);
    return;
  }
  checkEncoder('text', spec.text);
  positiveInt('text.vocabSize', spec.text.vocabSize);
  positiveInt('text.maxLength', spec.text.maxLength);
  positiveInt('embedDim', spec.embedDim);
}
