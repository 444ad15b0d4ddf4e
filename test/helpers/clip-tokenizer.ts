/** Shared by the tokenizer and hub tests; not a test file itself. */
/**
 * A tokenizer.json in CLIP's exact format (normalizer, split + byte-level pre-tokenizer, BPE with
 * "</w>" word ends, RobertaProcessing with start/end of text) over a ten-letter vocabulary.
 * Ids: the letters "!acdfghopt" are 0–9, the same letters ending a word ("a</w>") 10–19,
 * merged tokens 20–28 in merge order, <|startoftext|> 29, <|endoftext|> 30.
 */
const LETTERS = [...'!acdfghopt'];
const MERGES = ['c a', 'ca t</w>', 'o f</w>', 'p h', 'ph o', 'pho t', 'phot o</w>', 'd o', 'do g</w>'];
export const BOS = 29;
export const EOS = 30;

export function clipTokenizerJson(): Record<string, unknown> {
  const vocab: Record<string, number> = {};
  for (const l of LETTERS) vocab[l] = Object.keys(vocab).length;
  for (const l of LETTERS) vocab[`${l}</w>`] = Object.keys(vocab).length;
  for (const m of MERGES) vocab[m.replace(' ', '')] = Object.keys(vocab).length;
  vocab['<|startoftext|>'] = BOS;
  vocab['<|endoftext|>'] = EOS;
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(BOS, '<|startoftext|>'), special(EOS, '<|endoftext|>')],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+" }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: ['<|endoftext|>', EOS], cls: ['<|startoftext|>', BOS], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'BPEDecoder', suffix: '</w>' },
    model: { type: 'BPE', dropout: null, unk_token: '<|endoftext|>', continuing_subword_prefix: '', end_of_word_suffix: '</w>', fuse_unk: false, byte_fallback: false, vocab, merges: MERGES },
  };
}

export const CLIP_TOKENIZER_CONFIG = {
  bos_token: '<|startoftext|>',
  eos_token: '<|endoftext|>',
  pad_token: '<|endoftext|>',
  unk_token: '<|endoftext|>',
  model_max_length: 12,
  do_lower_case: true,
  tokenizer_class: 'CLIPTokenizer',
};
