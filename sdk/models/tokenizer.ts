import type { TensorData } from '../tensor-data';
import { MmkitError } from '../errors';
import type { OnnxModel } from '../onnx';

/** The metadata_props key under which a model carries its word tokenizer (see tokenizerMetadata()). */
export const TOKENIZER_METADATA_KEY = 'mmkit.tokenizer';

export const PAD = '[PAD]';
export const BOS = '[BOS]';
export const EOS = '[EOS]';

/**
 * A word-level tokenizer for small closed vocabularies (our synthetic captions): lower-cases,
 * splits on spaces, maps each word to its index. Sequences are `[BOS] words… [EOS]`, padded with
 * `[PAD]` (id 0, attention_mask 0) to the longest text of the call. The text tower pools at
 * position 0, the `[BOS]` token. Unknown words are an error, not a silent `[UNK]`: with a closed
 * vocabulary an unknown word is always a typo in a prompt.
 */
export class WordTokenizer {
  readonly vocabulary: readonly string[];
  private readonly ids: Map<string, number>;

  constructor(
    words: readonly string[],
    /** Longest sequence, special tokens included (the text tower's maxLength). */
    readonly maxLength: number,
  ) {
    this.vocabulary = [PAD, BOS, EOS, ...words];
    this.ids = new Map(this.vocabulary.map((w, i) => [w, i]));
  }

  get size(): number {
    return this.vocabulary.length;
  }

  tokenize(text: string): number[] {
    const words = text.toLowerCase().trim().split(/\s+/).filter(Boolean);
    const ids = words.map((w) => {
      const id = this.ids.get(w);
      if (id === undefined) {
        throw new MmkitError('BAD_OPTION', `The word '${w}' in "${text}" is not in the tokenizer's vocabulary.`, { hint: `Known words: ${this.vocabulary.slice(3).join(', ')}.` });
      }
      return id;
    });
    const seq = [this.ids.get(BOS)!, ...ids, this.ids.get(EOS)!];
    if (seq.length > this.maxLength) {
      throw new MmkitError('BAD_OPTION', `"${text}" is ${seq.length} tokens with [BOS] and [EOS]; the model takes at most ${this.maxLength}.`, { hint: 'Shorten the text.' });
    }
    return seq;
  }

  /** The `input_ids` and `attention_mask` (int64, [texts, length]) that the CLIP graph takes. */
  encode(texts: readonly string[]): { input_ids: TensorData; attention_mask: TensorData } {
    const seqs = texts.map((t) => this.tokenize(t));
    const length = Math.max(1, ...seqs.map((s) => s.length));
    const ids = new BigInt64Array(texts.length * length);
    const mask = new BigInt64Array(texts.length * length);
    seqs.forEach((s, i) =>
      s.forEach((id, j) => {
        ids[i * length + j] = BigInt(id);
        mask[i * length + j] = 1n;
      }),
    );
    const dims = [texts.length, length];
    return { input_ids: { data: ids, dims, dtype: 'int64' }, attention_mask: { data: mask, dims: [...dims], dtype: 'int64' } };
  }

  /** The metadata entry that lets tokenizerFromModel() rebuild this tokenizer from a model file. */
  toMetadata(): Record<string, string> {
    return { [TOKENIZER_METADATA_KEY]: JSON.stringify({ kind: 'word', words: this.vocabulary.slice(3), maxLength: this.maxLength }) };
  }

  decode(ids: readonly number[]): string {
    return ids.map((i) => this.vocabulary[i]).filter((w) => w !== PAD && w !== BOS && w !== EOS).join(' ');
  }
}

/** The word tokenizer a model carries in its metadata (as written by buildOnnx with tokenizer.toMetadata()). */
export function tokenizerFromModel(model: OnnxModel): WordTokenizer {
  const entry = model.proto.metadataProps.find((p) => p.key === TOKENIZER_METADATA_KEY);
  const label = model.path ?? 'the model';
  if (!entry) throw new MmkitError('BAD_MODEL', `${label} carries no '${TOKENIZER_METADATA_KEY}' metadata.`, { file: model.path, hint: 'Tokenize with the tokenizer the model was trained with (for the shapes CLIP: shapesTokenizer()).' });
  let parsed: { kind?: string; words?: unknown; maxLength?: unknown };
  try {
    parsed = JSON.parse(entry.value) as typeof parsed;
  } catch (e) {
    throw new MmkitError('BAD_MODEL', `The '${TOKENIZER_METADATA_KEY}' metadata of ${label} is not JSON.`, { file: model.path, cause: e });
  }
  if (parsed.kind !== 'word' || !Array.isArray(parsed.words) || !parsed.words.every((w) => typeof w === 'string') || typeof parsed.maxLength !== 'number') {
    throw new MmkitError('BAD_MODEL', `The '${TOKENIZER_METADATA_KEY}' metadata of ${label} is not a word tokenizer ({ kind: 'word', words, maxLength }).`, { file: model.path });
  }
  return new WordTokenizer(parsed.words as string[], parsed.maxLength);
}
