import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelBuilder } from '../sdk/onnx';
import { TextTokenizer } from '../sdk/preprocess';
import { createSession } from '../sdk/runtime';
import { BOS, CLIP_TOKENIZER_CONFIG, clipTokenizerJson, EOS } from './helpers/clip-tokenizer';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-tok-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function clipTokenizer(): Promise<TextTokenizer> {
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(clipTokenizerJson()));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(CLIP_TOKENIZER_CONFIG));
  return TextTokenizer.fromFiles(path.join(dir, 'tokenizer.json'));
}

// "a</w>" 11, "photo</w>" 26, "of</w>" 22, "cat</w>" 21, "!</w>" 10, "dog</w>" 28
const A_PHOTO_OF_A_CAT = [BOS, 11, 26, 22, 11, 21, 10, EOS];

describe('CLIP tokenizer from tokenizer.json', () => {
  it('lowercases, splits words, merges BPE pairs and adds start/end of text', async () => {
    const tok = await clipTokenizer();
    expect(tok.tokenize('A  photo of a CAT!')).toEqual(['a</w>', 'photo</w>', 'of</w>', 'a</w>', 'cat</w>', '!</w>']);
    expect(tok.ids('A  photo of a CAT!')).toEqual(A_PHOTO_OF_A_CAT);
    // "cats": c+a merge, but "ca t" (without </w>) is no merge and "s" is unknown → <|endoftext|>.
    expect(tok.ids('cats', false)).toEqual([20, 9, EOS]);
    // clean_up_tokenization_spaces (on by default, as in transformers) drops the space before "!".
    expect(tok.decode(A_PHOTO_OF_A_CAT)).toBe('a photo of a cat!');
  });

  it('pads to model_max_length with the pad token, masks the padding, and truncates keeping end of text', async () => {
    const tok = await clipTokenizer();
    expect(tok.modelMaxLength).toBe(12);
    expect(tok.padId).toBe(EOS);
    const { input_ids, attention_mask } = tok.encode(['a photo of a cat!', 'a dog']);
    expect(input_ids.dims).toEqual([2, 12]);
    expect(input_ids.dtype).toBe('int64');
    expect(Array.from(input_ids.data as BigInt64Array, Number)).toEqual([...A_PHOTO_OF_A_CAT, EOS, EOS, EOS, EOS, BOS, 11, 28, EOS, ...new Array(8).fill(EOS)]);
    expect(Array.from(attention_mask.data as BigInt64Array, Number)).toEqual([...new Array(8).fill(1), 0, 0, 0, 0, 1, 1, 1, 1, ...new Array(8).fill(0)]);

    const cut = tok.encode('a photo of a cat!', { maxLength: 5 });
    expect(Array.from(cut.input_ids.data as BigInt64Array, Number)).toEqual([BOS, 11, 26, 22, EOS]);
    const longest = tok.encode(['a dog', 'a cat'], { padding: 'longest' });
    expect(longest.input_ids.dims).toEqual([2, 4]);
  });

  it('clear errors for unusable options and files', async () => {
    const tok = await clipTokenizer();
    expect(() => tok.encode(['a', 'a photo'], { padding: false })).toThrowError(expect.objectContaining({ code: 'BAD_OPTION' }));
    expect(() => tok.encode('a', { maxLength: 1 })).toThrowError(/maxLength 1/);
    await expect(TextTokenizer.fromFiles(path.join(dir, 'missing.json'))).rejects.toThrowError(/missing\.json cannot be read/);
  });

  it('its ids feed an ONNX text model in onnxruntime (int64 ids and mask)', async () => {
    // sum over the sequence of mask · embedding[id], with embedding[i] = i: the sum of real ids.
    const b = new ModelBuilder({ opset: 17 });
    b.input('input_ids', 'int64', ['batch', 'seq']);
    b.input('attention_mask', 'int64', ['batch', 'seq']);
    const table = b.initializer('embedding', 'float32', [31], Float32Array.from({ length: 31 }, (_, i) => i));
    const emb = b.op('Gather', [table, 'input_ids']);
    const mask = b.op('Cast', ['attention_mask'], { to: 1 });
    const axes = b.initializer('axes', 'int64', [1], BigInt64Array.from([1n]));
    b.node('ReduceSum', [b.op('Mul', [emb, mask]), axes], { keepdims: 0 }, { outputs: ['id_sum'] });
    b.output('id_sum', 'float32', ['batch']);
    const session = await createSession(b.build());
    const tok = await clipTokenizer();
    const out = await session.run({ ...tok.encode(['a photo of a cat!', 'a dog']) });
    await session.dispose();
    const sum = (ids: number[]) => ids.reduce((a, v) => a + v, 0);
    expect(Array.from(out.id_sum.data as Float32Array)).toEqual([sum(A_PHOTO_OF_A_CAT), sum([BOS, 11, 28, EOS])]);
  });
});
