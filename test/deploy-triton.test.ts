/**
 * `exportTritonRepository` checked against Triton's own schema: every generated config.pbtxt is
 * parsed by protobuf's text_format with Triton's real model_config.proto (test/schemas/triton),
 * and the parsed fields are compared with what onnxruntime reports for the model.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportTritonRepository } from '../sdk/deploy/triton';
import { isMmkitError } from '../sdk/errors';
import { ModelBuilder, writeModel } from '../sdk/onnx';
import { mm } from '../sdk';
import { readModelRepository } from '../sdk/serve/config/repository';
import { readTritonConfig, RECIPE_PARAMETER } from '../sdk/serve/config/triton-config';
import { DEFAULT_MAX_BATCH_SIZE } from '../sdk/serve/single-model';
import { seeded } from './helpers/onnx-models';
import { expectUsageError, mmkit } from './helpers/cli-run';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';
const SCHEMA_DIR = path.resolve('test/schemas/triton');
const PYTHON = '/usr/bin/python3';

let tmp: string;
let pyOut: string;

interface TritonParse {
  config: Record<string, any>;
  text: string;
}

/** config.pbtxt as Triton's ModelConfig message sees it (throws where Triton's parser would reject it). */
function parseWithTriton(file: string): TritonParse {
  return JSON.parse(execFileSync(PYTHON, [path.join(SCHEMA_DIR, 'parse_config.py'), pyOut, file], { encoding: 'utf8' }));
}

/** The model's inputs and outputs as onnxruntime reports them: an independent reading of the graph. */
async function ortSignature(file: string) {
  const s = await ort.InferenceSession.create(file, { logSeverityLevel: 3 });
  try {
    const describe = (m: readonly ort.InferenceSession.ValueMetadata[]) => m.map((v) => ({ name: v.name, ...(v.isTensor ? { type: v.type, shape: v.shape } : {}) }));
    return { inputs: describe(s.inputMetadata), outputs: describe(s.outputMetadata) };
  } finally {
    await s.release();
  }
}

const TRITON_TYPE: Record<string, string> = { float32: 'TYPE_FP32', float16: 'TYPE_FP16', int64: 'TYPE_INT64', int32: 'TYPE_INT32', uint8: 'TYPE_UINT8' };

/** Triton dims for a tensor as ORT reports it: open axes -1, the batch axis dropped when batching. */
function expectedDims(shape: readonly (number | string)[], batched: boolean): string[] {
  const dims = shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1));
  return (batched ? dims.slice(1) : dims).map(String); // MessageToDict writes int64 as strings
}

/** x[2, 8] → MatMul → y[2, 4]: a model whose first axis is fixed, not a batch axis. */
function fixedModel(): ReturnType<ModelBuilder['build']> {
  const b = new ModelBuilder({ name: 'fixed' });
  const x = b.input('x', 'float32', [2, 8]);
  const w = b.initializer('w', 'float32', [8, 4], seeded(32, 7));
  const y = b.op('MatMul', [x, w]);
  b.output(y, 'float32', [2, 4]);
  return b.build();
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-deploy-triton-'));
  pyOut = path.join(tmp, 'py');
  fs.mkdirSync(pyOut);
  execFileSync('protoc', [`-I${SCHEMA_DIR}`, `--python_out=${pyOut}`, path.join(SCHEMA_DIR, 'model_config.proto')]);
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('exportTritonRepository', () => {
  it('writes a config Triton parses, with the model batch axis folded into max_batch_size', async () => {
    const out = path.join(tmp, 'repo');
    const result = await exportTritonRepository(VIT, { name: 'vit', out, instances: 2, maxQueueDelayMs: 0.5, preferredBatchSizes: [2, 4] });
    expect(result.files).toEqual([path.join(out, 'vit', 'config.pbtxt'), path.join(out, 'vit', '1', 'model.onnx')]);
    // The model is a byte-for-byte copy.
    expect(fs.readFileSync(result.modelPath).equals(fs.readFileSync(VIT))).toBe(true);

    const { config } = parseWithTriton(result.configPath);
    const model = await ortSignature(result.modelPath);
    expect(model.inputs[0].shape?.[0]).toBe('batch'); // the premise: a symbolic first axis
    expect(config.name).toBe('vit');
    expect(config.platform).toBe('onnxruntime_onnx');
    expect(config.max_batch_size).toBe(DEFAULT_MAX_BATCH_SIZE);
    for (const [declared, actual] of [
      [config.input, model.inputs],
      [config.output, model.outputs],
    ] as const) {
      expect(declared.map((t: any) => t.name)).toEqual(actual.map((t) => t.name));
      actual.forEach((t, i) => {
        expect(declared[i].data_type).toBe(TRITON_TYPE[t.type!]);
        expect(declared[i].dims).toEqual(expectedDims(t.shape!, true));
      });
    }
    expect(config.dynamic_batching).toEqual({
      preferred_batch_size: [2, 4],
      max_queue_delay_microseconds: '500',
      default_queue_policy: { max_queue_size: 1024 },
    });
    expect(config.instance_group).toEqual([{ count: 2, kind: 'KIND_CPU' }]);
  });

  it('writes max_batch_size 0 and the full dims for a model whose first axis is fixed', async () => {
    const file = path.join(tmp, 'fixed.onnx');
    await writeModel(fixedModel(), file);
    const result = await exportTritonRepository(file, { name: 'fixed', out: path.join(tmp, 'repo-fixed'), kind: 'gpu' });
    const { config } = parseWithTriton(result.configPath);
    const model = await ortSignature(file);
    expect(config.max_batch_size ?? 0).toBe(0); // proto3 leaves zero out
    expect(config.input[0].dims).toEqual(expectedDims(model.inputs[0].shape!, false));
    expect(config.output[0].dims).toEqual(['2', '4']);
    expect(config.dynamic_batching).toBeUndefined();
    expect(config.instance_group).toEqual([{ count: 1, kind: 'KIND_GPU' }]);

    // Asking to batch a model without a batch axis is refused, naming the tensor.
    const err = await exportTritonRepository(file, { name: 'fixed2', out: path.join(tmp, 'repo-fixed'), maxBatchSize: 8 }).catch((e) => e);
    expect(isMmkitError(err, 'BAD_OPTION')).toBe(true);
    expect(err.message).toMatch(/first axis of 'x'/);
    expect(fs.existsSync(path.join(tmp, 'repo-fixed', 'fixed2'))).toBe(false);
  });

  it('round-trips: our reader reads what our writer wrote and what text_format prints', async () => {
    const result = await exportTritonRepository(VIT, { name: 'rt', out: path.join(tmp, 'repo-rt'), maxBatchSize: 8, preferredBatchSizes: [8], maxQueueDelayMs: 2 });
    const ours = fs.readFileSync(result.configPath, 'utf8');
    const printed = parseWithTriton(result.configPath).text;
    const printedFile = path.join(tmp, 'printed.pbtxt');
    fs.writeFileSync(printedFile, printed);
    const a = readTritonConfig(ours, result.configPath);
    const b = readTritonConfig(printed, printedFile);
    expect(b).toEqual(a);
    expect(a.maxBatchSize).toBe(8);
    expect(a.dynamicBatching?.maxQueueDelayMicroseconds).toBe(2000);
  });

  it("carries the model's mmkit recipe as a parameter, and copies external data beside the model", async () => {
    const src = path.join(tmp, 'src');
    await mm.load(VIT).save(path.join(src, 'vit.onnx'), { externalData: { threshold: 1024 } });
    const saved = fs.readdirSync(src).sort();
    expect(saved).toEqual(['vit.onnx', 'vit.onnx.data']);
    const result = await exportTritonRepository(path.join(src, 'vit.onnx'), { name: 'vitx', out: path.join(tmp, 'repo-x') });
    expect(result.files.map((f) => path.relative(result.modelDir, f)).sort()).toEqual(['1/model.onnx', '1/vit.onnx.data', 'config.pbtxt']);
    const { config } = parseWithTriton(result.configPath);
    const recipe = JSON.parse(config.parameters[RECIPE_PARAMETER].string_value);
    expect(recipe.source.uri).toBe(VIT);
    // The exported folder loads: onnxruntime finds the data file beside model.onnx.
    const model = await ortSignature(result.modelPath);
    expect(model.inputs[0].name).toBe('pixel_values');
    // The source files are untouched.
    expect(fs.readdirSync(src).sort()).toEqual(saved);
  });

  it('replaces its own export, refuses files it did not write unless overwrite, never the source', async () => {
    const out = path.join(tmp, 'repo-own');
    await exportTritonRepository(VIT, { name: 'vit', out });
    await exportTritonRepository(VIT, { name: 'vit', out, instances: 3 });
    expect(parseWithTriton(path.join(out, 'vit', 'config.pbtxt')).config.instance_group[0].count).toBe(3);

    const foreign = path.join(out, 'mine');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'config.pbtxt'), 'name: "mine"\n');
    const err = await exportTritonRepository(VIT, { name: 'mine', out }).catch((e) => e);
    expect(isMmkitError(err, 'FILE_EXISTS')).toBe(true);
    expect(fs.readFileSync(path.join(foreign, 'config.pbtxt'), 'utf8')).toBe('name: "mine"\n');
    expect(fs.existsSync(path.join(foreign, '1'))).toBe(false);
    await exportTritonRepository(VIT, { name: 'mine', out, overwrite: true });
    expect(parseWithTriton(path.join(foreign, 'config.pbtxt')).config.name).toBe('mine');

    const self = await exportTritonRepository(path.join(out, 'vit', '1', 'model.onnx'), { name: 'vit', out, overwrite: true }).catch((e) => e);
    expect(isMmkitError(self, 'OVERWRITE_SOURCE')).toBe(true);
    // No temp files are left behind.
    expect(fs.readdirSync(path.join(out, 'vit', '1'))).toEqual(['model.onnx']);
  });

  it('runs as `mmkit export triton`: --json lists the files; bad input exits 2 with one line, writing nothing', async () => {
    const out = path.join(tmp, 'repo-cli');
    const run = await mmkit(['export', 'triton', VIT, '--name', 'vit', '--out', out, '--max-batch-size', '16', '--instances', '2', '--max-queue-delay-ms', '1.5', '--preferred-batch-size', '4,8', '--json']);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout).files).toEqual([path.join(out, 'vit', 'config.pbtxt'), path.join(out, 'vit', '1', 'model.onnx')]);
    expect(parseWithTriton(path.join(out, 'vit', 'config.pbtxt')).config.dynamic_batching).toMatchObject({ preferred_batch_size: [4, 8], max_queue_delay_microseconds: '1500' });

    const fixed = path.join(tmp, 'fixed-cli.onnx');
    await writeModel(fixedModel(), fixed);
    const bad = path.join(tmp, 'repo-cli-bad');
    expectUsageError(await mmkit(['export', 'triton', fixed, '--name', 'f', '--out', bad, '--max-batch-size', '4']), 'export triton', 'BAD_OPTION');
    expectUsageError(await mmkit(['export', 'triton', VIT, '--name', 'v', '--out', bad, '--kind', 'tpu']), 'export triton', 'BAD_OPTION');
    expectUsageError(await mmkit(['export', 'triton', 'missing.onnx', '--name', 'v', '--out', bad]), 'export triton', 'FILE_NOT_FOUND');
    expect(fs.existsSync(bad)).toBe(false);
  });

  it('serves what it exports: readModelRepository reads the exported repository', async () => {
    const out = path.join(tmp, 'repo-serve');
    await exportTritonRepository(VIT, { name: 'vit', out, instances: 2, maxBatchSize: 16, maxQueueDelayMs: 1 });
    await writeModel(fixedModel(), path.join(tmp, 'fixed-serve.onnx'));
    await exportTritonRepository(path.join(tmp, 'fixed-serve.onnx'), { name: 'fixed', out });
    const configs = await readModelRepository(out);
    expect(configs.map((c) => [c.name, c.version, c.maxBatchSize, c.instanceCount, c.dynamicBatching?.maxQueueDelayMicroseconds])).toEqual([
      ['fixed', '1', 0, 1, undefined],
      ['vit', '1', 16, 2, 1000],
    ]);
    expect(configs[1].modelPath).toBe(path.join(out, 'vit', '1', 'model.onnx'));
  });
});
