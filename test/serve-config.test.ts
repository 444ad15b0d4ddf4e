/**
 * Reading serving configurations: protobuf text format (the syntax), Triton's config.pbtxt (the
 * fields mmkit honours and the ones it says it ignores), and model repositories checked against
 * the ONNX models in them.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMmkitError, type MmkitError } from '../sdk/errors';
import { formatPbtxt, parsePbtxt, PbtxtReader } from '../sdk/serve/config/pbtxt';
import { readModelRepository } from '../sdk/serve/config/repository';
import { readTritonConfig } from '../sdk/serve/config/triton-config';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';

function thrown(fn: () => unknown): MmkitError {
  try {
    fn();
  } catch (e) {
    if (isMmkitError(e)) return e;
    throw e;
  }
  throw new Error('expected an MmkitError');
}

describe('protobuf text format', () => {
  it('parses scalars, nested messages in {} and <>, lists, escapes and comments', () => {
    const text = [
      '# a comment',
      'name: "a\\"b\\\\c\\n\\x41\\101\\u00e9" # trailing comment',
      "other: 'single' \"joined\"",
      'count: -12, ratio: 1.5e3; flag: true',
      'kind: KIND_GPU',
      'dims: [ 1, 0x10, -1 ]',
      'input [ { name: "x" }, < name: "y" > ]',
      'nested: { inner < deep { n: 1 } > }',
      'empty: []',
    ].join('\n');
    const root = new PbtxtReader(parsePbtxt(text, 'c.pbtxt'), 'c.pbtxt');
    expect(root.string('name')).toBe('a"b\\c\nAAé');
    expect(root.string('other')).toBe('singlejoined');
    expect(root.int('count', -100)).toBe(-12);
    expect(root.bool('flag')).toBe(true);
    expect(root.enumValue('kind', ['KIND_CPU', 'KIND_GPU'])).toBe('KIND_GPU');
    expect(root.ints('dims', -1)).toEqual([1, 16, -1]);
    expect(root.messages('input').map((m) => m.string('name'))).toEqual(['x', 'y']);
    expect(root.child('nested')?.child('inner')?.child('deep')?.int('n')).toBe(1);
    expect(root.has('empty')).toBe(false);
  });

  it('formats text that parses back to the same tree', () => {
    const text = 'a: "q\\"\\n\\t\\001é"\nb: [1, 2, 3]\nm {\n  k: X\n  m2 {\n  }\n}\n';
    const tree = parsePbtxt(text, 'f');
    const again = formatPbtxt(tree);
    expect(again).toBe(text);
    const strip = (m: ReturnType<typeof parsePbtxt>): unknown => m.fields.map((f) => [f.name, f.value.kind === 'message' ? strip(f.value) : f.value]);
    expect(strip(parsePbtxt(again, 'f'))).toEqual(strip(tree));
  });

  it('names the file and line of a syntax error', () => {
    const cases: Array<[string, RegExp]> = [
      ['a: 1\nb {\n  c: 2\n', /^f\.pbtxt:3: a message is not closed/],
      ['a: 1\nb: "open\n', /^f\.pbtxt:2: a string is not closed/],
      ['a: 1\n\n  : 2', /^f\.pbtxt:3: expected a field name, found ':'/],
      ['a 1', /^f\.pbtxt:1: field 'a': expected ':' or '\{'/],
      ['a: [1 2]', /^f\.pbtxt:1: expected ',' between the values of 'a'/],
      ['a: "\\q"', /^f\.pbtxt:1: bad escape/],
    ];
    for (const [text, message] of cases) {
      const e = thrown(() => parsePbtxt(text, 'f.pbtxt'));
      expect(e.code).toBe('BAD_OPTION');
      expect(e.file).toBe('f.pbtxt');
      expect(e.message).toMatch(message);
      expect(e.hint).toMatch(/text format/);
    }
  });

  it('names the line and dotted field of a value of the wrong kind', () => {
    const root = new PbtxtReader(parsePbtxt('a {\n  b {\n    n: "3"\n  }\n}\nx: 1\nx: 2\n', 'f'), 'f');
    expect(thrown(() => root.child('a')!.child('b')!.int('n')).message).toMatch(/^f:3: field 'a\.b\.n' must be a whole number ≥ 0, got "3"/);
    expect(thrown(() => root.int('x')).message).toMatch(/^f:7: field 'x' is given 2 times \(lines 6, 7\)/);
  });
});

describe("Triton's config.pbtxt", () => {
  const base = 'platform: "onnxruntime_onnx"\nmax_batch_size: 8\ninput [{ name: "pixel_values", data_type: TYPE_FP32, dims: [1, 28, 28] }]\noutput [{ name: "logits", data_type: TYPE_FP32, dims: [10] }]\n';

  it('reads batching, queue policy, instances, parameters, and notes what mmkit ignores', () => {
    const c = readTritonConfig(
      base +
        [
          'backend: "onnxruntime"',
          'dynamic_batching { preferred_batch_size: [4, 8] max_queue_delay_microseconds: 100',
          '  default_queue_policy { max_queue_size: 16 default_timeout_microseconds: 5000 timeout_action: DELAY } }',
          'instance_group [{ count: 2 kind: KIND_CPU }, { count: 1 kind: KIND_CPU }]',
          'version_policy: { latest: { num_versions: 2 } }',
          'parameters { key: "intra_op_thread_count" value: { string_value: "3" } }',
          'model_warmup [{ name: "w" batch_size: 1 }]',
          'output [{ name: "extra", data_type: TYPE_INT64, dims: [1], reshape: { shape: [] } }]',
        ].join('\n'),
      'models/vit/config.pbtxt',
    );
    expect(c.maxBatchSize).toBe(8);
    expect(c.dynamicBatching).toEqual({ maxQueueDelayMicroseconds: 100, preferredBatchSizes: [4, 8], maxQueueSize: 16, queueTimeoutMicroseconds: 5000 });
    expect([c.instanceCount, c.instanceKind, c.intraOpThreads]).toEqual([3, 'cpu', 3]);
    expect(c.outputs.map((o) => [o.name, o.dtype])).toEqual([
      ['logits', 'float32'],
      ['extra', 'int64'],
    ]);
    expect(c.notes.join('\n')).toMatch(/ignores 'model_warmup'/);
    expect(c.notes.join('\n')).toMatch(/timeout_action DELAY is served as REJECT/);
    expect(c.notes.join('\n')).toMatch(/latest 2 versions; mmkit serves the latest one/);
    expect(c.notes.join('\n')).toMatch(/ignores output\[1\]\.reshape \(extra\)/);
  });

  it('refuses misspelt fields, wrong enums and what mmkit cannot serve, naming file and line', () => {
    const bad = (extra: string) => thrown(() => readTritonConfig(base + extra, 'm/config.pbtxt'));
    let e = bad('max_batch: 4');
    expect([e.code, e.message]).toEqual(['BAD_OPTION', expect.stringMatching(/^m\/config\.pbtxt:5: field 'max_batch' is not a field of Triton's ModelConfig/)]);
    e = bad('instance_group [{ kind: CPU }]');
    expect(e.message).toMatch(/:5: field 'instance_group\.kind' must be one of KIND_AUTO, KIND_GPU, KIND_CPU, KIND_MODEL, got CPU/);
    e = bad('sequence_batching {}');
    expect(e.code).toBe('UNSUPPORTED');
    e = thrown(() => readTritonConfig('platform: "tensorrt_plan"', 'm/config.pbtxt'));
    expect([e.code, e.message]).toEqual(['UNSUPPORTED', expect.stringMatching(/:1: platform 'tensorrt_plan' is not one mmkit serves/)]);
    e = thrown(() => readTritonConfig('input [{ name: "s" data_type: TYPE_STRING dims: [1] }]', 'm/config.pbtxt'));
    expect([e.code, e.message]).toEqual(['UNSUPPORTED', expect.stringMatching(/input\.data_type TYPE_STRING \(s\)/)]);
    e = thrown(() => readTritonConfig('input [{ name: "x" data_type: TYPE_FP32 }]', 'm/config.pbtxt'));
    expect(e.message).toMatch(/input \(x\) has no dims/);
  });
});

describe('readModelRepository', () => {
  let tmp: string;
  const vitConfig = (input: string) => `name: "vit"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 4\ninput [${input}]\noutput [{ name: "logits", data_type: TYPE_FP32, dims: [10] }]\n`;
  const good = '{ name: "pixel_values", data_type: TYPE_FP32, dims: [1, 28, 28] }';

  function repo(name: string, config: string, versions = ['1']): string {
    const dir = path.join(tmp, name);
    fs.mkdirSync(path.join(dir, 'vit'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'vit', 'config.pbtxt'), config);
    for (const v of versions) {
      fs.mkdirSync(path.join(dir, 'vit', v));
      fs.copyFileSync(VIT, path.join(dir, 'vit', v, 'model.onnx'));
    }
    return dir;
  }

  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-serve-config-'));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it('serves the highest version the policy allows', async () => {
    const dir = repo('versions', vitConfig(good), ['1', '3', '10', 'notes']);
    const [c] = await readModelRepository(dir);
    expect([c.name, c.version, c.modelPath, c.maxBatchSize]).toEqual(['vit', '10', path.join(dir, 'vit', '10', 'model.onnx'), 4]);
    fs.appendFileSync(path.join(dir, 'vit', 'config.pbtxt'), 'version_policy { specific { versions: [1, 3] } }\n');
    const notices: string[] = [];
    expect((await readModelRepository(dir, { notice: (n) => notices.push(n) }))[0].version).toBe('3');
    expect(notices).toEqual([expect.stringMatching(/lists versions 1, 3; mmkit serves the latest of them/)]);
  });

  it('names the config, the model file and the field for every mismatch with the model', async () => {
    const dir = repo('mismatch', vitConfig('{ name: "pixel_values", data_type: TYPE_FP16, dims: [1, 28, 27] }, { name: "mask", data_type: TYPE_INT64, dims: [1] }'));
    const e = (await readModelRepository(dir).catch((x) => x)) as MmkitError;
    const config = path.join(dir, 'vit', 'config.pbtxt');
    const model = path.join(dir, 'vit', '1', 'model.onnx');
    expect(e.code).toBe('DTYPE_MISMATCH');
    expect(e.file).toBe(config);
    expect(e.message).toContain(`${config} says input 'pixel_values' is TYPE_FP16 but ${model} has float32`);
    expect(e.message).toContain(`says input 'pixel_values' has dims [1, 28, 27] (with max_batch_size 4: [batch, 1, 28, 27]) but ${model} has [batch, 1, 28, 28]`);
    expect(e.message).toContain(`declares input 'mask', which is not an input of ${model}`);
  });

  it('refuses a batch axis the model does not have, and an undeclared input', async () => {
    let e = (await readModelRepository(repo('rank', vitConfig('{ name: "pixel_values", data_type: TYPE_FP32, dims: [1, 1, 28, 28] }'))).catch((x) => x)) as MmkitError;
    expect(e.code).toBe('SHAPE_MISMATCH');
    e = (await readModelRepository(repo('undeclared', vitConfig(''))).catch((x) => x)) as MmkitError;
    expect([e.code, e.message]).toEqual(['UNKNOWN_INPUT', expect.stringMatching(/does not declare input 'pixel_values'/)]);
  });

  it('says what layout it expects when the repository is empty or incomplete', async () => {
    const empty = path.join(tmp, 'empty');
    fs.mkdirSync(empty);
    let e = (await readModelRepository(empty).catch((x) => x)) as MmkitError;
    expect([e.code, e.message]).toEqual(['BAD_OPTION', expect.stringMatching(/holds no models/)]);
    expect(e.hint).toMatch(/DIR\/<name>\/config\.pbtxt and DIR\/<name>\/<version>\/model\.onnx/);
    e = (await readModelRepository(path.join(tmp, 'missing')).catch((x) => x)) as MmkitError;
    expect(e.code).toBe('FILE_NOT_FOUND');
    const noVersion = repo('noversion', vitConfig(good), []);
    e = (await readModelRepository(noVersion).catch((x) => x)) as MmkitError;
    expect([e.code, e.message]).toEqual(['FILE_NOT_FOUND', expect.stringMatching(/has no version folder/)]);
    const renamed = repo('renamed', vitConfig(good).replace('name: "vit"', 'name: "other"'));
    e = (await readModelRepository(renamed).catch((x) => x)) as MmkitError;
    expect(e.message).toMatch(/name 'other' differs from its folder 'vit'/);
  });
});
