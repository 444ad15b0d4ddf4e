/**
 * The SDK's inference client: its REST bodies and gRPC tensors follow the protocol documents
 * (checked without a server), its errors carry the right codes, and against a real `mmkit serve`
 * every way of asking (REST binary, REST JSON, gRPC raw, gRPC typed contents) answers what a
 * direct onnxruntime run answers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TensorData } from '../sdk/tensor-data';
import { createClient, type InferenceClient, type InferOptions } from '../sdk/serve/client';
import { codeOfGrpcStatus, codeOfHttpStatus, httpServerError } from '../sdk/serve/client-errors';
import { encodeInputs } from '../sdk/serve/client-grpc-tensors';
import { decodeInferResponse, encodeInferRequest } from '../sdk/serve/client-http-body';
import { inferenceProtoPath } from '../sdk/serve/proto-path';
import { directRun, LOGITS_TOLERANCE, maxAbsDiff, mnistDigits, writeHalfModel } from './helpers/serve-reference';
import { freePort, PROTO, ROOT, startServer, VIT, type ServerProcess } from './helpers/serve-process';
import { mmkitRejectionOf } from './helpers/errors';

const f32 = (dims: number[], values: number[]): TensorData => ({ data: Float32Array.from(values), dims, dtype: 'float32' });

describe('REST bodies (Triton binary tensor extension)', () => {
  const x = f32([2, 2], [1, 2, 3, 4]);
  const flags: TensorData = { data: Uint8Array.from([1, 0, 1]), dims: [3], dtype: 'bool' };

  it('binary by default: JSON header, then each input\'s bytes in order; binary_data_output when no output is named', () => {
    const { body, headerLength } = encodeInferRequest({ input0: x, input1: flags }, { id: 'r1' });
    const header = JSON.parse(body.subarray(0, headerLength).toString('utf8'));
    expect(header).toEqual({
      id: 'r1',
      inputs: [
        { name: 'input0', shape: [2, 2], datatype: 'FP32', parameters: { binary_data_size: 16 } },
        { name: 'input1', shape: [3], datatype: 'BOOL', parameters: { binary_data_size: 3 } },
      ],
      parameters: { binary_data_output: true },
    });
    expect(body.byteLength).toBe(headerLength! + 19);
    expect(new Float32Array(body.buffer.slice(body.byteOffset + headerLength!, body.byteOffset + headerLength! + 16))).toEqual(x.data);
    expect([...body.subarray(headerLength! + 16)]).toEqual([1, 0, 1]);
  });

  it('named outputs carry binary_data each; binary: false sends JSON values and no header length', () => {
    const bin = encodeInferRequest({ x }, { outputs: ['y'] });
    expect(JSON.parse(bin.body.subarray(0, bin.headerLength).toString()).outputs).toEqual([{ name: 'y', parameters: { binary_data: true } }]);
    const json = encodeInferRequest({ x, h: { data: Uint16Array.from([0x3c00, 0xc000]), dims: [2], dtype: 'float16' } }, { binary: false, outputs: ['y'] });
    expect(json.headerLength).toBeUndefined();
    expect(JSON.parse(json.body.toString())).toEqual({
      inputs: [
        { name: 'x', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] },
        { name: 'h', shape: [2], datatype: 'FP16', data: [1, -2] },
      ],
      outputs: [{ name: 'y', parameters: { binary_data: false } }],
    });
  });

  it('reads the spec\'s binary answer, JSON answers (nested data too) and a mix of both', () => {
    const header = Buffer.from(JSON.stringify({ model_name: 'm', model_version: '1', id: 'r1', outputs: [{ name: 'output0', shape: [3, 2], datatype: 'FP32', parameters: { binary_data_size: 24 } }, { name: 'n', shape: [2, 2], datatype: 'INT64', data: [[1, 2], [3, -4]] }] }));
    const values = Float32Array.from([0.5, 1, 1.5, 2, 2.5, 3]);
    const body = Buffer.concat([header, Buffer.from(values.buffer)]);
    const r = decodeInferResponse(body, header.byteLength, 'test');
    expect(r).toMatchObject({ modelName: 'm', modelVersion: '1', id: 'r1' });
    expect(r.outputs.output0).toEqual({ data: values, dims: [3, 2], dtype: 'float32' });
    expect(r.outputs.n).toEqual({ data: BigInt64Array.from([1n, 2n, 3n, -4n]), dims: [2, 2], dtype: 'int64' });
    const json = decodeInferResponse(Buffer.from(JSON.stringify({ model_name: 'm', model_version: '1', outputs: [{ name: 'h', shape: [2], datatype: 'FP16', data: [1, -2] }] })), undefined, 'test');
    expect(json.id).toBeUndefined();
    expect(json.outputs.h.data).toEqual(Uint16Array.from([0x3c00, 0xc000]));
  });

  it('refuses answers whose binary sizes do not add up, naming the server', async () => {
    const header = Buffer.from(JSON.stringify({ outputs: [{ name: 'y', shape: [2], datatype: 'FP32', parameters: { binary_data_size: 8 } }] }));
    const short = Buffer.concat([header, Buffer.alloc(4)]);
    expect(await mmkitRejectionOf(Promise.resolve().then(() => decodeInferResponse(short, header.byteLength, 'http://s')))).toMatchObject({ code: 'SERVER_ERROR', message: expect.stringContaining('http://s') });
    const long = Buffer.concat([header, Buffer.alloc(12)]);
    expect(await mmkitRejectionOf(Promise.resolve().then(() => decodeInferResponse(long, header.byteLength, 'http://s')))).toMatchObject({ code: 'SERVER_ERROR' });
  });
});

describe('gRPC tensors', () => {
  it('raw contents by default; typed contents on request, int64 exact; one FP16 input sends all raw', () => {
    const big: TensorData = { data: BigInt64Array.from([2n ** 60n + 1n, -3n]), dims: [2], dtype: 'int64' };
    const raw = encodeInputs({ big }, true);
    expect(raw.tensors).toEqual([{ name: 'big', datatype: 'INT64', shape: [2] }]);
    expect(Buffer.from(raw.raw[0]).equals(Buffer.from(big.data.buffer))).toBe(true);
    const typed = encodeInputs({ big, x: f32([1], [0.25]) }, false);
    expect(typed.raw).toEqual([]);
    expect(typed.tensors[0].contents).toEqual({ int64_contents: ['1152921504606846977', '-3'] });
    expect(typed.tensors[1].contents).toEqual({ fp32_contents: [0.25] });
    const mixed = encodeInputs({ x: f32([1], [0.25]), h: { data: Uint16Array.from([0x3c00]), dims: [1], dtype: 'float16' } }, false);
    expect(mixed.raw).toHaveLength(2);
    expect(mixed.tensors.every((t) => t.contents === undefined)).toBe(true);
  });
});

describe('client errors and options', () => {
  it('maps statuses to codes and keeps the server\'s message', () => {
    expect([400, 404, 413, 503, 500, 422].map(codeOfHttpStatus)).toEqual(['BAD_REQUEST', 'UNKNOWN_MODEL', 'TOO_LARGE', 'UNAVAILABLE', 'SERVER_ERROR', 'BAD_REQUEST']);
    expect([3, 5, 8, 14, 13].map(codeOfGrpcStatus)).toEqual(['BAD_REQUEST', 'UNKNOWN_MODEL', 'TOO_LARGE', 'UNAVAILABLE', 'SERVER_ERROR']);
    expect(httpServerError(404, '{"error":"Model \'x\' is not served."}', 'GET u')).toMatchObject({ code: 'UNKNOWN_MODEL', message: "Model 'x' is not served." });
    expect(httpServerError(502, '<html>Bad gateway</html>', 'GET u').message).toMatch(/GET u answered HTTP 502: <html>Bad gateway/);
  });

  it('refuses bad options', () => {
    expect(() => createClient('http://x', { timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    expect(() => createClient('http://x', { protocol: 'ws' as 'http' })).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
  });

  it('reports a server that is not there as FETCH_FAILED naming the address, over both protocols', async () => {
    const port = await freePort();
    const http = createClient(`http://127.0.0.1:${port}`);
    expect(await mmkitRejectionOf(http.live())).toMatchObject({ code: 'FETCH_FAILED', message: expect.stringContaining(`127.0.0.1:${port}/v2/health/live`) });
    const grpc = createClient(`127.0.0.1:${port}`, { protocol: 'grpc', timeoutMs: 5000 });
    try {
      expect(await mmkitRejectionOf(grpc.infer('m', { x: f32([1], [1]) }))).toMatchObject({ code: 'FETCH_FAILED', message: expect.stringContaining(`grpc://127.0.0.1:${port}`) });
    } finally {
      grpc.close();
    }
  });

  it('gives up on a server that never answers after timeoutMs, with FETCH_FAILED, over both protocols', async () => {
    // Accepts connections and says nothing: neither HTTP nor HTTP/2.
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const clients = [createClient(`http://127.0.0.1:${port}`, { timeoutMs: 300 }), createClient(`127.0.0.1:${port}`, { protocol: 'grpc', timeoutMs: 300 })];
    try {
      for (const c of clients) expect(await mmkitRejectionOf(c.ready())).toMatchObject({ code: 'FETCH_FAILED', message: expect.stringMatching(new RegExp(`127\\.0\\.0\\.1:${port}.*no answer within 300 ms`)) });
    } finally {
      for (const c of clients) c.close();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('finds the .proto from sources and from dist/', async () => {
    expect(inferenceProtoPath()).toBe(PROTO);
    const compiled = (await import(path.join(ROOT, 'dist', 'sdk', 'serve', 'proto-path.js'))) as { inferenceProtoPath(): string };
    expect(compiled.inferenceProtoPath()).toBe(PROTO);
  });
});

describe('against mmkit serve', () => {
  let tmp: string | undefined;
  let halfModel: string;
  let vit: ServerProcess | undefined;
  let half: ServerProcess | undefined;
  let rest: InferenceClient;
  let grpc: InferenceClient;
  let digits: TensorData;
  let expected: TensorData;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'mmkit-serve-client-'));
    halfModel = path.join(tmp, 'half.onnx');
    digits = await mnistDigits(4);
    expected = (await directRun(VIT, { pixel_values: digits })).logits;
    await writeHalfModel(halfModel);
    vit = await startServer(VIT, 'vit');
    // No batching: the half model takes requests of any number of rows, whatever the batch limit.
    half = await startServer(halfModel, 'half', ['--max-batch-size', '0']);
    rest = createClient(vit.httpUrl);
    grpc = createClient(vit.grpcAddress, { protocol: 'grpc' });
  });

  afterAll(async () => {
    rest?.close();
    grpc?.close();
    await Promise.all([vit?.stop(), half?.stop()]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('answers health and metadata alike over REST and gRPC', async () => {
    for (const c of [rest, grpc]) {
      expect(await c.live()).toBe(true);
      expect(await c.ready()).toBe(true);
      expect(await c.modelReady('vit')).toBe(true);
      expect(await c.modelReady('no-such-model')).toBe(false);
      const server = await c.serverMetadata();
      expect(server.name).toBe('mmkit');
      expect(server.extensions).toContain('binary_tensor_data');
      const meta = await c.modelMetadata('vit');
      expect(meta).toMatchObject({ name: 'vit', versions: ['1'], platform: 'onnxruntime_onnx' });
      expect(meta.inputs).toEqual([{ name: 'pixel_values', datatype: 'FP32', shape: [-1, 1, 28, 28] }]);
      expect(meta.outputs.map((o) => [o.name, o.datatype, o.shape.length])).toEqual([['logits', 'FP32', 2]]);
      expect(await mmkitRejectionOf(c.modelMetadata('no-such-model'))).toMatchObject({ code: 'UNKNOWN_MODEL', message: expect.stringContaining('no-such-model') });
    }
  });

  const ways: [string, () => InferenceClient, InferOptions][] = [
    ['REST binary', () => rest, {}],
    ['REST JSON', () => rest, { binary: false }],
    ['gRPC raw contents', () => grpc, {}],
    ['gRPC typed contents', () => grpc, { binary: false }],
  ];
  for (const [way, client, opts] of ways) {
    it(`${way}: logits of 4 MNIST digits equal a direct onnxruntime run within ${LOGITS_TOLERANCE}, id echoed`, async () => {
      const r = await client().infer('vit', { pixel_values: digits }, { ...opts, id: `req-${way}` });
      expect(r).toMatchObject({ modelName: 'vit', modelVersion: '1', id: `req-${way}` });
      expect(Object.keys(r.outputs)).toEqual(['logits']);
      expect(r.outputs.logits.dims).toEqual([4, 10]);
      expect(maxAbsDiff(r.outputs.logits, expected)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
      const named = await client().infer('vit', { pixel_values: digits }, { ...opts, outputs: ['logits'] });
      expect(named.id).toBeUndefined();
      expect(maxAbsDiff(named.outputs.logits, expected)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    });
  }

  it('turns every refusal into the right code with the server\'s message, and the server answers afterwards', async () => {
    const wrongShape: TensorData = { data: digits.data.subarray(0, 27 * 28), dims: [1, 1, 27, 28], dtype: 'float32' };
    const wrongType: TensorData = { data: Float64Array.from((digits.data as Float32Array).subarray(0, 784)), dims: [1, 1, 28, 28], dtype: 'float64' };
    for (const c of [rest, grpc]) {
      expect(await mmkitRejectionOf(c.infer('no-such-model', { pixel_values: digits }))).toMatchObject({ code: 'UNKNOWN_MODEL', message: expect.stringContaining('no-such-model') });
      expect(await mmkitRejectionOf(c.infer('vit', { pixels: digits }))).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('pixels') });
      expect(await mmkitRejectionOf(c.infer('vit', { pixel_values: wrongShape }))).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('pixel_values') });
      expect(await mmkitRejectionOf(c.infer('vit', { pixel_values: wrongType }))).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('FP64') });
      expect(await mmkitRejectionOf(c.infer('vit', { pixel_values: digits }, { outputs: ['no-such-output'] }))).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('no-such-output') });
      const after = await c.infer('vit', { pixel_values: digits });
      expect(maxAbsDiff(after.outputs.logits, expected)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
    }
  });

  it('asks for a version by number', async () => {
    for (const c of [rest, grpc]) {
      expect(await c.modelReady('vit', '1')).toBe(true);
      expect((await c.modelMetadata('vit', '1')).versions).toEqual(['1']);
      const r = await c.infer('vit', { pixel_values: digits }, { version: '1' });
      expect(maxAbsDiff(r.outputs.logits, expected)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
      expect(await mmkitRejectionOf(c.infer('vit', { pixel_values: digits }, { version: '7' }))).toMatchObject({ code: 'UNKNOWN_MODEL' });
    }
  });

  it('reads a full queue as UNAVAILABLE over both protocols (a refusal, not a lost connection), and the server recovers', async () => {
    const small = await startServer(VIT, 'vit', ['--max-batch-size', '1', '--max-queue-size', '1']);
    const one: TensorData = { data: digits.data.subarray(0, 784), dims: [1, 1, 28, 28], dtype: 'float32' };
    const clients = [createClient(small.httpUrl), createClient(small.grpcAddress, { protocol: 'grpc' })];
    try {
      for (const c of clients) {
        const results = await Promise.allSettled(Array.from({ length: 40 }, () => c.infer('vit', { pixel_values: one })));
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as { code?: string; message: string });
        expect(refused.length).toBeGreaterThan(0);
        expect(results.length - refused.length).toBeGreaterThan(0);
        for (const e of refused) expect(e).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('vit') });
        expect(maxAbsDiff((await c.infer('vit', { pixel_values: one })).outputs.logits, { ...expected, data: expected.data.subarray(0, 10), dims: [1, 10] })).toBeLessThanOrEqual(LOGITS_TOLERANCE);
      }
    } finally {
      for (const c of clients) c.close();
      await small.stop();
    }
  });

  it('round-trips FP16 exactly (bits) over REST binary, REST JSON and gRPC', async () => {
    // 0, 1, -2, 0.5 | 0.5, 32, -2^-14 (smallest normal), 3.140625: every product is a finite half.
    const input: TensorData = { data: Uint16Array.from([0x0000, 0x3c00, 0xc000, 0x3800, 0x3800, 0x5000, 0x8400, 0x4248]), dims: [2, 4], dtype: 'float16' };
    const direct = (await directRun(halfModel, { half: input })).scaled;
    const restHalf = createClient(half!.httpUrl);
    const grpcHalf = createClient(half!.grpcAddress, { protocol: 'grpc' });
    try {
      for (const [c, opts] of [[restHalf, {}], [restHalf, { binary: false }], [grpcHalf, {}]] as const) {
        const r = await c.infer('half', { half: input }, opts);
        expect(r.outputs.scaled).toEqual({ data: direct.data, dims: [2, 4], dtype: 'float16' });
      }
    } finally {
      restHalf.close();
      grpcHalf.close();
    }
  });

  it('carries a 6 MiB gRPC message each way (above gRPC\'s 4 MiB default)', async () => {
    const rows = (6 * 1024 * 1024) / 8;
    const data = new Uint16Array(rows * 4).map((_, i) => 0x3c00 + (i % 256));
    const grpcHalf = createClient(half!.grpcAddress, { protocol: 'grpc' });
    try {
      const r = await grpcHalf.infer('half', { half: { data, dims: [rows, 4], dtype: 'float16' } });
      expect(r.outputs.scaled.dims).toEqual([rows, 4]);
      expect(r.outputs.scaled.data.byteLength).toBe(6 * 1024 * 1024);
    } finally {
      grpcHalf.close();
    }
  });
});
