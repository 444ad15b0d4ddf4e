/**
 * The inference client over REST: Node's fetch (undici, which keeps connections alive between
 * calls), binary tensors by default as tritonclient sends them.
 */
import type { TensorData } from '../data/tensor-data';
import { httpServerError, unreachable } from './client-errors';
import { decodeInferResponse, encodeInferRequest, HEADER_LENGTH_HEADER } from './client-http-body';
import type { InferenceClient, InferOptions, InferResult, ModelMetadata, ServerMetadata } from './client-types';

function modelPath(name: string, version?: string): string {
  return `/v2/models/${encodeURIComponent(name)}${version ? `/versions/${encodeURIComponent(version)}` : ''}`;
}

export class HttpInferenceClient implements InferenceClient {
  private readonly base: string;

  constructor(
    url: string,
    private readonly timeoutMs: number,
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  private async request(method: 'GET' | 'POST', path: string, init: { body?: Buffer; headers?: Record<string, string> } = {}): Promise<Response> {
    const url = this.base + path;
    try {
      return await fetch(url, { method, body: init.body, headers: init.headers, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (e) {
      throw unreachable(url, e, this.timeoutMs);
    }
  }

  private async status(path: string): Promise<boolean> {
    const res = await this.request('GET', path);
    await res.arrayBuffer(); // drain, so the connection goes back to the pool
    return res.status === 200;
  }

  private async getJson<T>(path: string): Promise<T> {
    const res = await this.request('GET', path);
    const text = await res.text();
    if (!res.ok) throw httpServerError(res.status, text, `GET ${this.base + path}`);
    return JSON.parse(text) as T;
  }

  live(): Promise<boolean> {
    return this.status('/v2/health/live');
  }

  ready(): Promise<boolean> {
    return this.status('/v2/health/ready');
  }

  serverMetadata(): Promise<ServerMetadata> {
    return this.getJson<ServerMetadata>('/v2');
  }

  modelMetadata(name: string, version?: string): Promise<ModelMetadata> {
    return this.getJson<ModelMetadata>(modelPath(name, version));
  }

  modelReady(name: string, version?: string): Promise<boolean> {
    return this.status(`${modelPath(name, version)}/ready`);
  }

  async infer(name: string, inputs: Record<string, TensorData>, opts: InferOptions = {}): Promise<InferResult> {
    const { body, headerLength } = encodeInferRequest(inputs, opts);
    const headers: Record<string, string> =
      headerLength === undefined
        ? { 'Content-Type': 'application/json' }
        : { 'Content-Type': 'application/octet-stream', [HEADER_LENGTH_HEADER]: String(headerLength) };
    const path = `${modelPath(name, opts.version)}/infer`;
    const res = await this.request('POST', path, { body, headers });
    let answer: Uint8Array;
    try {
      answer = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw unreachable(this.base + path, e, this.timeoutMs);
    }
    if (!res.ok) throw httpServerError(res.status, Buffer.from(answer).toString('utf8'), `POST ${this.base + path}`);
    const headerValue = res.headers.get(HEADER_LENGTH_HEADER);
    return decodeInferResponse(answer, headerValue === null ? undefined : Number(headerValue), this.base + path);
  }

  close(): void {
    // fetch's connections belong to Node's global pool; idle ones close by themselves and do not hold the process.
  }
}
