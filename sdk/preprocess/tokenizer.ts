import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import type { TensorData } from '../tensor-data';
import { MmkitError, messageOf } from '../errors';

export interface EncodeOptions {
  /** Longest sequence, special tokens included; default the tokenizer's model_max_length (77 for CLIP). */
  maxLength?: number;
  /** 'max_length' (default, what CLIP's ONNX text models are exported with), 'longest' in the batch, or none (single text only). */
  padding?: 'max_length' | 'longest' | false;
  /** Cut longer texts to maxLength, keeping the special tokens (default true). */
  truncation?: boolean;
}

/** Inputs for a text encoder: int64 [N, L] ids and attention mask. */
export interface TextInputs {
  input_ids: TensorData;
  attention_mask: TensorData;
}

type Json = Record<string, unknown>;

/**
 * A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json) from local files, e.g. the
 * CLIP byte-level BPE tokenizer of a CLIP repo; tokenization itself is done by
 * @huggingface/tokenizers. Padding and truncation for model inputs are added here.
 */
export class TextTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** The id padding uses; undefined when the tokenizer has no pad token. */
    readonly padId: number | undefined,
    readonly modelMaxLength: number | undefined,
  ) {}

  static fromJson(tokenizerJson: Json, tokenizerConfig: Json = {}, source = 'tokenizer.json'): TextTokenizer {
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (e) {
      throw new MmkitError('BAD_OPTION', `${source} is not a tokenizer this build understands (${messageOf(e)}).`, {
        file: source,
        hint: 'Pass the tokenizer.json saved by transformers/tokenizers (not vocab.json + merges.txt).',
        cause: e,
      });
    }
    const padding = tokenizerJson.padding as { pad_id?: number } | null | undefined;
    const padToken = tokenText(tokenizerConfig.pad_token);
    const padId = padToken !== undefined ? tokenizer.token_to_id(padToken) : padding?.pad_id;
    const max = tokenizerConfig.model_max_length;
    // transformers writes a huge sentinel (1e30) for "no limit".
    const modelMaxLength = typeof max === 'number' && max > 0 && max < 1e9 ? max : undefined;
    return new TextTokenizer(tokenizer, padId, modelMaxLength);
  }

  /** From tokenizer.json and, when given or found beside it, tokenizer_config.json. */
  static async fromFiles(tokenizerPath: string, configPath?: string): Promise<TextTokenizer> {
    const json = await readJson(tokenizerPath);
    const besideIt = path.join(path.dirname(tokenizerPath), 'tokenizer_config.json');
    const config = configPath ? await readJson(configPath) : (await fs.stat(besideIt).catch(() => undefined)) ? await readJson(besideIt) : {};
    return TextTokenizer.fromJson(json, config, tokenizerPath);
  }

  /** The token strings of a text, without special tokens. */
  tokenize(text: string): string[] {
    return this.tokenizer.tokenize(text);
  }

  /** Token ids of one text, special tokens included unless told otherwise. */
  ids(text: string, addSpecialTokens = true): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: addSpecialTokens }).ids;
  }

  decode(ids: readonly number[], skipSpecialTokens = true): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: skipSpecialTokens });
  }

  /** Texts to padded int64 [N, L] input_ids and attention_mask. */
  encode(texts: string | readonly string[], opts: EncodeOptions = {}): TextInputs {
    const list = typeof texts === 'string' ? [texts] : texts;
    const { padding = 'max_length', truncation = true } = opts;
    const maxLength = opts.maxLength ?? this.modelMaxLength;
    if (maxLength !== undefined && !(Number.isInteger(maxLength) && maxLength >= 2)) {
      throw new MmkitError('BAD_OPTION', `Tokenizer maxLength ${maxLength} is not a whole number ≥ 2.`, { hint: 'CLIP text models take 77.' });
    }
    if (padding === 'max_length' && maxLength === undefined) {
      throw new MmkitError('BAD_OPTION', 'Padding to max_length needs a maxLength, and the tokenizer config has no model_max_length.', { hint: "Pass { maxLength } or { padding: 'longest' }." });
    }
    const sequences = list.map((t) => (truncation && maxLength !== undefined ? this.truncated(t, maxLength) : this.ids(t)));
    const longest = Math.max(...sequences.map((s) => s.length));
    const width = padding === 'max_length' ? Math.max(maxLength!, longest) : longest;
    if (padding === false && sequences.some((s) => s.length !== width)) {
      throw new MmkitError('BAD_OPTION', 'Texts of different token lengths need padding to share a batch.', { hint: "Use padding: 'longest' or 'max_length'." });
    }
    if (sequences.some((s) => s.length < width) && this.padId === undefined) {
      throw new MmkitError('BAD_OPTION', 'This tokenizer has no pad token, so texts of different lengths cannot be batched.', {
        hint: 'Set pad_token in tokenizer_config.json, or encode one text at a time with padding: false.',
      });
    }
    const ids = new BigInt64Array(list.length * width).fill(BigInt(this.padId ?? 0));
    const mask = new BigInt64Array(list.length * width);
    sequences.forEach((s, n) => {
      s.forEach((id, i) => {
        ids[n * width + i] = BigInt(id);
        mask[n * width + i] = 1n;
      });
    });
    const dims = [list.length, width];
    return { input_ids: { data: ids, dims, dtype: 'int64' }, attention_mask: { data: mask, dims: [...dims], dtype: 'int64' } };
  }

  /**
   * Ids cut to maxLength the way transformers truncates: the text's tokens are cut, the special
   * tokens the post-processor puts around them (CLIP's start/end of text) are kept.
   */
  private truncated(text: string, maxLength: number): number[] {
    const full = this.ids(text);
    if (full.length <= maxLength) return full;
    const content = this.ids(text, false);
    const at = findRun(full, content);
    const head = full.slice(0, at);
    const tail = full.slice(at + content.length);
    const room = maxLength - head.length - tail.length;
    if (at < 0 || room < 0) return full.slice(0, maxLength);
    return [...head, ...content.slice(0, room), ...tail];
  }
}

function findRun(haystack: readonly number[], needle: readonly number[]): number {
  for (let i = 0; i + needle.length <= haystack.length; i++) {
    if (needle.every((v, k) => haystack[i + k] === v)) return i;
  }
  return -1;
}

/** A special token in tokenizer_config.json: a string or an AddedToken object. */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

async function readJson(file: string): Promise<Json> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as Json;
  } catch (e) {
    throw new MmkitError('FILE_NOT_FOUND', `Tokenizer file ${file} cannot be read (${messageOf(e)}).`, { file, hint: 'Pass the tokenizer.json that came with the model.', cause: e });
  }
}
