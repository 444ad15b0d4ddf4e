/**
 * Sparse saving: pruned weights stored as ONNX sparse initializers (values + int64 linear indices)
 * where that makes the file smaller; onnxruntime-node (and -web's wasm backend) load such files
 * with outputs equal to the dense model's, and mmkit reads them back as ordinary initializers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { mm, isMmkitError } from '../sdk';
import { inputTensors, mnist } from '../sdk/data';
import { DataType, GraphView, SparseTensorProtoSchema, TensorProtoSchema, findLinears, makeTensor, readModel, serializeModel, tensorArray, type OnnxModel } from '../sdk/onnx';
import { denseFromSparse, sparseFromDense, toSparseInitializers } from '../sdk/onnx/sparse';
import { pruneMagnitude, PRUNE_MAGNITUDE_OP } from '../sdk/passes/prune/magnitude';
import { quantizeDynamic } from '../sdk/passes/quantize/dynamic';
import { toFloat16 } from '../sdk/passes/quantize/fp16';
import { RECIPE_METADATA_KEY } from '../sdk/step';
import { saveModelFile } from '../sdk/pipeline/save';
import { runOnce } from './helpers/onnx-models';

const VIT = 'datasets/models/vit-tiny-mnist.onnx';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mmkit-sparse-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** 64 real test digits as one [64, 1, 28, 28] batch. */
async function digitBatch(): Promise<{ data: Float32Array; dims: number[] }> {
  for await (const b of mnist({ split: 'test', batchSize: 64 }).take(64)) {
    const [x] = inputTensors(b);
    return { data: Float32Array.from(x.data as Float32Array), dims: x.dims };
  }
  throw new Error('no digits');
}

async function ortOutputs(model: string | Uint8Array): Promise<Float32Array> {
  const x = await digitBatch();
  return runOnce(model, 'pixel_values', x.data, x.dims);
}

const bitsOf = (m: OnnxModel, name: string) => new Uint32Array((tensorArray(GraphView.of(m.proto).initializer(name)!, m) as Float32Array).slice().buffer);

describe('save({ sparse: true })', () => {
  it('80% pruned ViT: file smaller by the reported bytes; onnxruntime-node loads it with the dense outputs; mmkit reads it back', async () => {
    const vit = await readModel(VIT);
    const pruned = pruneMagnitude(vit, { sparsity: 0.8 }).model;
    const densePath = path.join(dir, 'vit-80-dense.onnx');
    const sparsePath = path.join(dir, 'vit-80-sparse.onnx');
    const dense = await saveModelFile(pruned, densePath, {});
    const sparse = await saveModelFile(pruned, sparsePath, { sparse: true });
    expect(dense.sparse).toBeUndefined();
    // The 24 pruned weights (80% zeros) go sparse; biases, norms and the unpruned head stay dense.
    expect(sparse.sparse!.tensors).toHaveLength(24);
    const saved = dense.bytes - sparse.bytes;
    console.log(`vit-tiny-mnist 80% pruned: dense ${dense.bytes} B, sparse ${sparse.bytes} B (${((100 * sparse.bytes) / dense.bytes).toFixed(1)}%), ${saved} B saved`);
    expect(sparse.bytes).toBeLessThan(0.75 * dense.bytes);
    // The estimate is exact up to the graph's own length prefix, which shrinks by a byte or two.
    expect(Math.abs(sparse.sparse!.bytesSaved - saved)).toBeLessThanOrEqual(4);
    for (const t of sparse.sparse!.tensors) expect(t.nonZeros / t.elements).toBeCloseTo(0.2, 3);

    // onnxruntime-node reads the file itself, sparse initializers included: same logits to the bit.
    const fromSparse = await ortOutputs(sparsePath);
    expect(fromSparse).toEqual(await ortOutputs(densePath));
    // onnxruntime-web's wasm backend loads it too.
    const web = require('onnxruntime-web') as typeof import('onnxruntime-web');
    const x = await digitBatch();
    const session = await web.InferenceSession.create(fs.readFileSync(sparsePath));
    const out = await session.run({ [session.inputNames[0]]: new web.Tensor('float32', x.data, x.dims) });
    expect(out[session.outputNames[0]].data).toEqual(fromSparse);
    await session.release();

    // mmkit sees ordinary initializers, bit for bit the pruned ones, and passes work on them.
    const back = await readModel(sparsePath);
    expect(back.proto.graph!.sparseInitializer).toHaveLength(0);
    for (const t of sparse.sparse!.tensors) expect(bitsOf(back, t.name)).toEqual(bitsOf(pruned, t.name));
    expect(findLinears(GraphView.of(back.proto))).toHaveLength(25);
    const q = quantizeDynamic(back);
    expect(await runOnce(serializeModel(q), 'pixel_values', x.data, x.dims)).toHaveLength(64 * 10);
  });

  it('works beside external data: sparse weights stay in the .onnx file, the dense rest goes to the data file', async () => {
    const vit = await readModel(VIT);
    const pruned = pruneMagnitude(vit, { sparsity: 0.8 }).model;
    const file = path.join(dir, 'vit-80-external.onnx');
    const r = await saveModelFile(pruned, file, { sparse: true, externalData: { threshold: 256 } });
    expect(r.files).toHaveLength(2);
    expect(r.sparse!.tensors).toHaveLength(24);
    const dense = path.join(dir, 'vit-80-external-dense.onnx');
    await saveModelFile(pruned, dense, {});
    expect(await ortOutputs(file)).toEqual(await ortOutputs(dense));
    const back = await readModel(file);
    for (const t of r.sparse!.tensors) expect(bitsOf(back, t.name)).toEqual(bitsOf(pruned, t.name));
  });

  it('stores float16 weights sparse beyond 4/5 zeros (90% pruned, then toFloat16); onnxruntime runs the file like the dense one', async () => {
    const vit = await readModel(VIT);
    const half = toFloat16(pruneMagnitude(vit, { sparsity: 0.9 }).model).model;
    const dense = await saveModelFile(half, path.join(dir, 'vit-90-fp16-dense.onnx'), {});
    const sparse = await saveModelFile(half, path.join(dir, 'vit-90-fp16-sparse.onnx'), { sparse: true });
    expect(sparse.sparse!.tensors).toHaveLength(24);
    expect(sparse.bytes).toBeLessThan(dense.bytes);
    expect(await ortOutputs(sparse.path)).toEqual(await ortOutputs(dense.path));
    // At 80% zeros a float16 value plus its int64 index (10 bytes) costs as much as 5 dense values: no gain, so dense.
    const at80 = toFloat16(pruneMagnitude(vit, { sparsity: 0.8 }).model).model;
    expect(toSparseInitializers(at80).tensors).toHaveLength(0);
  });

  it('is not used where it would grow the file: 50% unstructured stays dense, byte for byte', async () => {
    const vit = await readModel(VIT);
    const pruned = pruneMagnitude(vit, { sparsity: 0.5 }).model;
    const a = await saveModelFile(pruned, path.join(dir, 'vit-50-dense.onnx'), {});
    const b = await saveModelFile(pruned, path.join(dir, 'vit-50-sparse.onnx'), { sparse: true });
    expect(b.sparse).toEqual({ tensors: [], bytesSaved: 0 });
    expect(fs.readFileSync(b.path).equals(fs.readFileSync(a.path))).toBe(true);
  });

  it('the pipeline saves sparse with its recipe in the file; mm.load runs the sparse file like the dense one', async () => {
    const p = mm.load(VIT).step(PRUNE_MAGNITUDE_OP, { sparsity: 0.9, scope: 'global' });
    const file = path.join(dir, 'pipeline-sparse.onnx');
    const r = await p.save(file, { sparse: true });
    const dense = await p.save(path.join(dir, 'pipeline-dense.onnx'));
    expect(r.sparse!.tensors.length).toBeGreaterThan(0);
    expect(r.bytes).toBeLessThan(dense.bytes);
    const meta = (await readModel(file)).proto.metadataProps.find((e) => e.key === RECIPE_METADATA_KEY);
    expect(JSON.parse(meta!.value).steps).toEqual(p.recipe.steps);
    expect(await ortOutputs(file)).toEqual(await ortOutputs(dense.path));
    // Loading the sparse file through mm.load runs it like the dense one.
    const x = await digitBatch();
    const out = await mm.load(file).run({ data: x.data, dims: x.dims, dtype: 'float32' });
    expect(Object.values(out)[0].data).toEqual(await ortOutputs(dense.path));
    await expect(p.save(path.join(dir, 'bad.onnx'), { sparse: 'yes' as unknown as boolean })).rejects.toSatisfy((e: unknown) => isMmkitError(e, 'BAD_OPTION'));
  });
});

describe('sparse tensors', () => {
  it('round-trips a tensor bit for bit: -0 and NaN stay values, indices are ascending int64', () => {
    const w = new Float32Array([0, 1.5, 0, 0, -0, 0, Number.NaN, 0, 0, 2]);
    const t = makeTensor('w', 'float32', [2, 5], w);
    const s = sparseFromDense(t);
    expect(s.values!.name).toBe('w');
    expect(s.indices!.dataType).toBe(DataType.INT64);
    expect(Array.from(tensorArray(s.indices!) as BigInt64Array)).toEqual([1n, 4n, 6n, 9n]);
    expect(s.dims).toEqual([2n, 5n]);
    const back = denseFromSparse(s);
    expect(back.dims).toEqual([2n, 5n]);
    expect(new Uint32Array((tensorArray(back) as Float32Array).slice().buffer)).toEqual(new Uint32Array(w.slice().buffer));
  });

  it('reads the spec’s [NNZ, rank] coordinate form too, and rejects indices outside the tensor (BAD_MODEL)', () => {
    const values = makeTensor('c', 'float32', [2], new Float32Array([3, 4]));
    const coo = (idx: bigint[]) =>
      create(SparseTensorProtoSchema, { values, dims: [2n, 3n], indices: create(TensorProtoSchema, { dataType: DataType.INT64, dims: [2n, 2n], rawData: new Uint8Array(new BigInt64Array(idx).buffer) }) });
    expect(Array.from(tensorArray(denseFromSparse(coo([0n, 2n, 1n, 1n]))) as Float32Array)).toEqual([0, 0, 3, 0, 4, 0]);
    expect(() => denseFromSparse(coo([0n, 2n, 2n, 1n]))).toThrow(/Sparse initializer 'c' is invalid: index 7/);
  });

  it('models older than IR 6 stay dense, with a notice', async () => {
    const vit = await readModel(VIT);
    const pruned = pruneMagnitude(vit, { sparsity: 0.9 }).model;
    const old = { ...pruned, proto: { ...pruned.proto, irVersion: 5n } };
    const r = toSparseInitializers(old);
    expect(r.tensors).toHaveLength(0);
    expect(r.notice).toMatch(/IR version 5 predates sparse initializers/);
    expect(toSparseInitializers(pruned).tensors).toHaveLength(24);
  });
});
