/**
 * The server under concurrent load and at its edges, over real sockets: dynamic batching gives
 * every request exactly its own rows; the bounded queue answers 503 and the server goes on; SIGTERM
 * drains (answers what is in flight, then exits 0); a model that cannot batch is refused with a
 * reason; pipeline.serve() from the SDK; the metrics show the batching.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sliceRows, type TensorData } from '../sdk/tensor-data';
import { directRun, maxAbsDiff, mnistDigits, LOGITS_TOLERANCE } from './helpers/serve-reference';
import { startServer, VIT, type ServerProcess } from './helpers/serve-process';
import { runProcess } from './helpers/run-process';

// Worker threads load compiled JavaScript: the SDK as users import it, from dist/ (built by the global setup).
const mmkit = createRequire(__filename)('../dist/sdk/index.js') as typeof import('../sdk/index');

const json = (t: TensorData) => ({ name: 'pixel_values', shape: t.dims, datatype: 'FP32', data: Array.from(t.data as Float32Array) });

async function inferJson(url: string, t: TensorData): Promise<{ status: number; body: { outputs?: { data: number[]; shape: number[] }[]; error?: string } }> {
  const res = await fetch(`${url}/v2/models/vit/infer`, { method: 'POST', body: JSON.stringify({ inputs: [json(t)] }) });
  return { status: res.status, body: (await res.json()) as never };
}

const metric = (text: string, name: string): number => Number(new RegExp(`^${name}\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

describe('mmkit serve with dynamic batching', () => {
  let server: ServerProcess;
  let digits: TensorData;
  let expected: TensorData;

  beforeAll(async () => {
    digits = await mnistDigits(48);
    expected = (await directRun(VIT, { pixel_values: digits })).logits;
    // A short queue delay so that concurrent requests surely meet in batches.
    server = await startServer(VIT, 'vit', ['--max-batch-size', '8', '--max-queue-delay-ms', '5']);
  });
  afterAll(() => server?.stop());

  it('answers 48 concurrent requests of 1 to 3 rows, each with exactly its own rows, in shared batches', async () => {
    // Requests of mixed sizes, so a mix-up would shift rows, not just swap whole answers.
    const spans: [number, number][] = [];
    for (let start = 0; start < 48; ) {
      const rows = 1 + (spans.length % 3);
      spans.push([start, Math.min(48, start + rows)]);
      start += rows;
    }
    const answers = await Promise.all(spans.map(([a, b]) => inferJson(server.httpUrl, sliceRows(digits, a, b))));
    answers.forEach(({ status, body }, i) => {
      expect(status, body.error).toBe(200);
      const [a, b] = spans[i];
      const got: TensorData = { data: Float32Array.from(body.outputs![0].data), dims: body.outputs![0].shape, dtype: 'float32' };
      expect(maxAbsDiff(got, sliceRows(expected, a, b))).toBeLessThan(LOGITS_TOLERANCE);
    });
    const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
    const [inferences, executions] = [metric(text, 'nv_inference_count'), metric(text, 'nv_inference_exec_count')];
    expect(inferences).toBeGreaterThanOrEqual(48);
    expect(executions, 'batches formed').toBeLessThan(spans.length);
    expect(metric(text, 'nv_inference_request_success')).toBeGreaterThanOrEqual(spans.length);
    expect(text).toMatch(/^mmkit_inference_request_duration_seconds_bucket\{/m);
    expect(text).toMatch(/^nv_inference_queue_duration_us\{/m);
  });

  it('compresses the answer when the client accepts gzip, as Triton does', async () => {
    const res = await fetch(`${server.httpUrl}/v2/models/vit/infer`, { method: 'POST', headers: { 'accept-encoding': 'gzip' }, body: JSON.stringify({ inputs: [json(sliceRows(digits, 0, 2))] }) });
    expect(res.headers.get('content-encoding')).toBe('gzip');
    const body = (await res.json()) as { outputs: { data: number[]; shape: number[] }[] };
    expect(maxAbsDiff({ data: Float32Array.from(body.outputs[0].data), dims: body.outputs[0].shape, dtype: 'float32' }, sliceRows(expected, 0, 2))).toBeLessThan(LOGITS_TOLERANCE);
  });

  it('refuses a request with more rows than max_batch_size (400), and goes on serving', async () => {
    const { status, body } = await inferJson(server.httpUrl, sliceRows(digits, 0, 9));
    expect(status).toBe(400);
    expect(body.error).toMatch(/9 rows; this model takes 1 to 8 per request/);
    expect((await inferJson(server.httpUrl, sliceRows(digits, 0, 1))).status).toBe(200);
  });
});

describe('back-pressure and drain', () => {
  it('answers 503 when the queue is full, then drains on SIGTERM: what was queued is answered, the process exits 0', async () => {
    const digit = sliceRows(await mnistDigits(1), 0, 1);
    // A long queue delay holds requests in the queue, so it fills predictably.
    const server = await startServer(VIT, 'vit', ['--max-queue-delay-ms', '1500', '--max-queue-size', '3']);
    try {
      const queued = [0, 1, 2].map(() => inferJson(server.httpUrl, digit));
      await new Promise((r) => setTimeout(r, 200));
      const refused = await inferJson(server.httpUrl, digit);
      expect(refused.status).toBe(503);
      expect(refused.body.error).toMatch(/queue of model 'vit' is full \(3 requests waiting\)/);
      await server.stop(); // SIGTERM while three requests wait
      for (const { status } of await Promise.all(queued)) expect(status).toBe(200);
      expect(server.output()).toMatch(/stopped; every request was answered/);
      expect(server.exit()).toBe(0);
      await expect(fetch(`${server.httpUrl}/v2/health/live`)).rejects.toThrow();
    } finally {
      await server.stop();
    }
  });
});

describe('clients that go away', () => {
  it('a request whose client hangs up while it waits leaves the queue unrun, counted as CANCELED', async () => {
    const digit = sliceRows(await mnistDigits(1), 0, 1);
    const server = await startServer(VIT, 'vit', ['--max-queue-delay-ms', '1000']);
    try {
      const gone = new AbortController();
      const request = fetch(`${server.httpUrl}/v2/models/vit/infer`, { method: 'POST', body: JSON.stringify({ inputs: [json(digit)] }), signal: gone.signal });
      await new Promise((r) => setTimeout(r, 200));
      gone.abort();
      await expect(request).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 1200)); // past the queue delay: it would have run by now
      const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
      expect(text).toMatch(/^nv_inference_request_failure\{model="vit",version="1",reason="CANCELED"\} 1$/m);
      expect(Number.isNaN(metric(text, 'nv_inference_exec_count')) || metric(text, 'nv_inference_exec_count') === 0).toBe(true);
      expect((await inferJson(server.httpUrl, digit)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});

describe('models that cannot batch', () => {
  it('a fixed first axis with --max-batch-size > 0 fails at start with the input named and what to do (exit 2)', async () => {
    const { ModelBuilder, writeModel } = await import('../sdk/onnx');
    const os = await import('node:os');
    const path = await import('node:path');
    const { mkdtempSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mmkit-serve-fixed-'));
    try {
      const b = new ModelBuilder({ name: 'fixed', opset: 17 });
      const x = b.input('x', 'float32', [1, 4]);
      b.node('Relu', [x], {}, { outputs: ['y'] });
      b.output('y', 'float32', [1, 4]);
      const file = path.join(dir, 'fixed.onnx');
      await writeModel(b.build(), file);
      const r = await runProcess(process.execPath, ['dist/sdk/cli/main.js', 'serve', file, '--http-port', '0', '--grpc-port', 'none', '--host', '127.0.0.1', '--max-batch-size', '4', '--workers', '1'], {
        cwd: path.resolve(__dirname, '..'),
        timeoutMs: 60_000,
      });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/mmkit serve: BAD_OPTION: Model 'fixed': max_batch_size is 4, but input 'x' has a fixed first axis \(1\).*max_batch_size 0/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pipeline.serve()', () => {
  it('serves a compressed pipeline from this process; answers equal pipeline.run(); close() removes its files', async () => {
    const int8 = mmkit.mm.load(VIT).quantize({ mode: 'dynamic', check: false });
    const handle = await int8.serve({ instances: 1 });
    const digits = await mnistDigits(4);
    try {
      expect(handle.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(handle.models).toEqual(['vit-tiny-mnist']);
      const direct = (await int8.run(digits)).logits;
      for (const protocol of ['http', 'grpc'] as const) {
        const client = mmkit.mm.client(protocol === 'http' ? handle.url : handle.grpcAddress!, { protocol });
        try {
          const served = (await client.infer('vit-tiny-mnist', { pixel_values: digits })).outputs.logits;
          expect(maxAbsDiff(served, direct), protocol).toBeLessThan(LOGITS_TOLERANCE);
        } finally {
          await client.close();
        }
      }
    } finally {
      expect(await handle.close()).toBe(true);
    }
    const ready = fetch(`${handle.url}/v2/health/ready`);
    await expect(ready).rejects.toThrow();
  });

  it('leaves no temporary model behind when the model cannot be served', async () => {
    const os = await import('node:os');
    const before = new Set((await import('node:fs')).readdirSync(os.tmpdir()).filter((f) => f.startsWith('mmkit-serve-')));
    await expect(mmkit.mm.load(VIT).serve({ httpPort: -1 })).rejects.toThrow();
    const after = (await import('node:fs')).readdirSync(os.tmpdir()).filter((f) => f.startsWith('mmkit-serve-') && !before.has(f));
    expect(after).toEqual([]);
    expect(existsSync(VIT)).toBe(true);
  });
});
