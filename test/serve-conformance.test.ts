/**
 * `mmkit serve` against clients the project did not write: test/serve/v2_client.py (Debian's
 * python3-requests and python3-grpcio, the .proto compiled by Debian's protoc) asks the way
 * tritonclient does, and raw HTTP requests built byte by byte probe every refusal the protocol
 * calls for; after each refusal the server must still answer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TensorData } from '../sdk/tensor-data';
import { runProcess } from './helpers/run-process';
import { directRun, LOGITS_TOLERANCE, maxAbsDiff, mnistDigits } from './helpers/serve-reference';
import { PROTO, ROOT, startServer, VIT, type ServerProcess } from './helpers/serve-process';

const PYTHON = '/usr/bin/python3';
const SCRIPT = path.join(ROOT, 'test', 'serve', 'v2_client.py');
const REQUEST_ID = 'py-conformance-42';
const DIGITS = 3;
/** The body limit the server runs with here, so that the 413 test need not send 64 MiB. */
const MAX_BODY_MB = 1;

interface PyOutput {
  datatype: string;
  shape: number[];
  data: number[];
  as?: 'binary' | 'json';
}
interface PyInfer {
  status?: number;
  ok?: boolean;
  model_name: string;
  model_version: string;
  id: string;
  binary_bytes_left?: number;
  outputs: Record<string, PyOutput>;
  error?: string;
  code?: string;
  details?: string;
}
interface PyReport {
  rest: {
    live: number;
    ready: number;
    model_ready: number;
    server_metadata: { status: number; body: { name: string; version: string; extensions: string[] } };
    model_metadata: { status: number; body: { name: string; versions: string[]; platform: string; inputs: unknown[]; outputs: { name: string; datatype: string; shape: number[] }[] } };
    unknown_model_metadata: { status: number; body: { error: string } };
    infer_json: PyInfer;
    infer_binary: PyInfer;
    infer_binary_named: PyInfer;
    infer_unknown_model: PyInfer;
  };
  grpc: {
    live: boolean;
    ready: boolean;
    model_ready: boolean;
    server_metadata: { name: string; version: string; extensions: string[] };
    model_metadata: { name: string; versions: string[]; platform: string; inputs: unknown[]; outputs: { name: string; datatype: string; shape: number[] }[] };
    unknown_model_metadata: { code: string; details: string };
    infer: PyInfer;
    infer_unknown_model: PyInfer;
    infer_wrong_input: PyInfer;
    infer_raw_and_typed: PyInfer;
  };
}

const asTensor = (o: PyOutput): TensorData => ({ data: Float32Array.from(o.data), dims: o.shape, dtype: 'float32' });

describe('mmkit serve against an independent Python v2 client and raw HTTP', () => {
  let tmp: string | undefined;
  let server: ServerProcess | undefined;
  let digits: TensorData;
  let expected: TensorData;
  let report: PyReport;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'mmkit-serve-conformance-'));
    digits = await mnistDigits(DIGITS);
    expected = (await directRun(VIT, { pixel_values: digits })).logits;
    server = await startServer(VIT, 'vit', ['--max-body-mb', String(MAX_BODY_MB)]);
    const raw = path.join(tmp, 'digits.bin');
    writeFileSync(raw, new Uint8Array(digits.data.buffer, digits.data.byteOffset, digits.data.byteLength));
    const spec = path.join(tmp, 'input.json');
    writeFileSync(spec, JSON.stringify({ name: 'pixel_values', datatype: 'FP32', shape: digits.dims, file: raw, outputs: ['logits'] }));
    const py = await runProcess(PYTHON, [SCRIPT, '--http', server.httpUrl, '--grpc', server.grpcAddress, '--proto', PROTO, '--model', 'vit', '--input', spec, '--id', REQUEST_ID], {
      cwd: tmp,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
      timeoutMs: 120_000,
    });
    if (py.status !== 0) throw new Error(`v2_client.py failed (${py.status}):\n${py.stderr}\nserver:\n${server.output()}`);
    report = JSON.parse(py.stdout) as PyReport;
  });

  afterAll(async () => {
    await server?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('health and metadata: REST and gRPC agree, pixel_values [-1,1,28,28] FP32 in, logits FP32 out', () => {
    const { rest, grpc } = report;
    expect([rest.live, rest.ready, rest.model_ready]).toEqual([200, 200, 200]);
    expect([grpc.live, grpc.ready, grpc.model_ready]).toEqual([true, true, true]);
    expect(rest.server_metadata.status).toBe(200);
    expect(rest.server_metadata.body.extensions).toContain('binary_tensor_data');
    expect(grpc.server_metadata).toEqual(rest.server_metadata.body);
    expect(rest.model_metadata.status).toBe(200);
    const meta = rest.model_metadata.body;
    expect(meta.name).toBe('vit');
    expect(meta.inputs).toEqual([{ name: 'pixel_values', datatype: 'FP32', shape: [-1, 1, 28, 28] }]);
    expect(meta.outputs.map((o) => [o.name, o.datatype, o.shape[0], o.shape.at(-1)])).toEqual([['logits', 'FP32', -1, 10]]);
    expect(grpc.model_metadata).toEqual(meta);
  });

  it(`REST JSON, REST binary (binary_data_output and per-output binary_data) and gRPC raw contents equal a direct onnxruntime run within ${LOGITS_TOLERANCE}`, () => {
    const answers: [string, PyInfer, 'binary' | 'json' | undefined][] = [
      ['REST JSON', report.rest.infer_json, 'json'],
      ['REST binary', report.rest.infer_binary, 'binary'],
      ['REST binary, named output', report.rest.infer_binary_named, 'binary'],
      ['gRPC', report.grpc.infer, undefined],
    ];
    for (const [way, a, as] of answers) {
      expect(a.status ?? (a.ok ? 200 : a.code), way).toBe(200);
      expect(a.model_name, way).toBe('vit');
      expect(a.id, `${way} echoes the request id`).toBe(REQUEST_ID);
      expect(Object.keys(a.outputs), way).toEqual(['logits']);
      expect(a.outputs.logits.datatype, way).toBe('FP32');
      expect(a.outputs.logits.as, way).toBe(as);
      expect(maxAbsDiff(asTensor(a.outputs.logits), expected), way).toBeLessThanOrEqual(LOGITS_TOLERANCE);
      if (a.binary_bytes_left !== undefined) expect(a.binary_bytes_left, `${way}: the body ends with the last output`).toBe(0);
    }
  });

  it('unknown models: REST 404 and gRPC NOT_FOUND, each with an error message naming the model; bad gRPC input: INVALID_ARGUMENT', () => {
    const { rest, grpc } = report;
    expect(rest.unknown_model_metadata.status).toBe(404);
    expect(rest.unknown_model_metadata.body.error).toContain('no-such-model');
    expect(rest.infer_unknown_model).toMatchObject({ status: 404, error: expect.stringContaining('no-such-model') });
    expect(grpc.unknown_model_metadata).toMatchObject({ code: 'NOT_FOUND', details: expect.stringContaining('no-such-model') });
    expect(grpc.infer_unknown_model).toMatchObject({ ok: false, code: 'NOT_FOUND' });
    expect(grpc.infer_wrong_input).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT', details: expect.stringContaining('pixels') });
    expect(grpc.infer_raw_and_typed).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT', details: expect.stringContaining('raw_input_contents') });
  });

  describe('every bad REST request gets its status and {"error": "..."}; the server answers afterwards', () => {
    const infer = (model = 'vit') => `${server!.httpUrl}/v2/models/${model}/infer`;
    const pixels = () => Buffer.from(digits.data.buffer, digits.data.byteOffset, digits.data.byteLength);
    const header = (inputs: object[], extra: object = {}) => Buffer.from(JSON.stringify({ inputs, ...extra }));
    const binaryInput = (over: object = {}) => ({ name: 'pixel_values', shape: digits.dims, datatype: 'FP32', parameters: { binary_data_size: digits.data.byteLength }, ...over });
    /** A binary-extension request: JSON header, Inference-Header-Content-Length (default: the header's true length), then `binary`. */
    const binaryRequest = (json: Buffer, binary: Buffer, headerLength = json.byteLength): RequestInit => ({
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(headerLength) },
      body: Buffer.concat([json, binary]),
    });
    const jsonRequest = (body: string): RequestInit => ({ method: 'POST', headers: { 'Content-Type': 'application/json' }, body });

    const cases: [string, number, () => [string, RequestInit], string?][] = [
      ['unknown model', 404, () => [infer('no-such-model'), binaryRequest(header([binaryInput()]), pixels())], 'no-such-model'],
      ['unknown version', 404, () => [`${server!.httpUrl}/v2/models/vit/versions/7/infer`, binaryRequest(header([binaryInput()]), pixels())], '7'],
      ['wrong input name', 400, () => [infer(), binaryRequest(header([binaryInput({ name: 'pixels' })]), pixels())], 'pixels'],
      ['wrong shape (same byte count)', 400, () => [infer(), binaryRequest(header([binaryInput({ shape: [DIGITS, 28, 28, 1] })]), pixels())], 'pixel_values'],
      ['wrong datatype', 400, () => [infer(), binaryRequest(header([binaryInput({ datatype: 'INT32' })]), pixels())], 'pixel_values'],
      ['unknown datatype', 400, () => [infer(), jsonRequest(JSON.stringify({ inputs: [{ name: 'pixel_values', shape: [1, 1, 28, 28], datatype: 'FP8', data: new Array(784).fill(0) }] }))], 'FP8'],
      ['JSON data of the wrong size', 400, () => [infer(), jsonRequest(JSON.stringify({ inputs: [{ name: 'pixel_values', shape: [1, 1, 28, 28], datatype: 'FP32', data: new Array(783).fill(0) }] }))], 'pixel_values'],
      ['JSON data that is not numbers', 400, () => [infer(), jsonRequest(JSON.stringify({ inputs: [{ name: 'pixel_values', shape: [1, 1, 28, 28], datatype: 'FP32', data: new Array(784).fill('x') }] }))], 'pixel_values'],
      ['binary_data_size that does not fit the shape', 400, () => [infer(), binaryRequest(header([binaryInput({ parameters: { binary_data_size: 100 } })]), pixels().subarray(0, 100))], 'pixel_values'],
      ['malformed JSON', 400, () => [infer(), jsonRequest('{"inputs": [')]],
      ['a JSON body that is not an object', 400, () => [infer(), jsonRequest('[1, 2, 3]')]],
      ['no inputs', 400, () => [infer(), jsonRequest('{"inputs": []}')]],
      ['Inference-Header-Content-Length larger than the body', 400, () => [infer(), binaryRequest(header([binaryInput()]), pixels(), header([binaryInput()]).byteLength + pixels().byteLength + 1)]],
      ['Inference-Header-Content-Length cutting the JSON short', 400, () => [infer(), binaryRequest(header([binaryInput()]), pixels(), 10)]],
      ['binary_data_size summing to less than the binary part', 400, () => [infer(), binaryRequest(header([binaryInput()]), Buffer.concat([pixels(), Buffer.alloc(16)]))]],
      ['binary_data_size summing to more than the binary part', 400, () => [infer(), binaryRequest(header([binaryInput()]), pixels().subarray(0, pixels().byteLength - 4))]],
      ['binary data without Inference-Header-Content-Length', 400, () => [infer(), { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: Buffer.concat([header([binaryInput()]), pixels()]) }]],
      ['an unknown requested output', 400, () => [infer(), binaryRequest(header([binaryInput()], { outputs: [{ name: 'no-such-output' }] }), pixels())], 'no-such-output'],
      ['Inference-Header-Content-Length that is not a number', 400, () => [infer(), binaryRequest(header([binaryInput()]), pixels(), NaN)], 'Inference-Header-Content-Length'],
      ['GET on the infer endpoint (405, Allow: POST)', 405, () => [infer(), { method: 'GET' }], 'POST'],
      [`a body over --max-body-mb ${MAX_BODY_MB}`, 413, () => [infer(), binaryRequest(header([binaryInput()]), Buffer.alloc(MAX_BODY_MB * 1024 * 1024 + 1))]],
    ];

    for (const [what, status, request, named] of cases) {
      it(`${what} → ${status}`, async () => {
        const [url, init] = request();
        const res = await fetch(url, init);
        const text = await res.text();
        expect(res.status, text).toBe(status);
        expect(res.headers.get('content-type')).toMatch(/^application\/json/);
        const body = JSON.parse(text) as { error?: unknown };
        expect(Object.keys(body)).toEqual(['error']);
        expect(typeof body.error).toBe('string');
        if (named) expect(body.error).toContain(named);
        // Still serving, and still right.
        const ok = await fetch(infer(), binaryRequest(header([binaryInput()], { parameters: { binary_data_output: false } }), pixels()));
        const answer = (await ok.json()) as { outputs: { name: string; shape: number[]; data: number[] }[] };
        expect(ok.status).toBe(200);
        expect(maxAbsDiff({ data: Float32Array.from(answer.outputs[0].data), dims: answer.outputs[0].shape, dtype: 'float32' }, expected)).toBeLessThanOrEqual(LOGITS_TOLERANCE);
      });
    }
  });
});
