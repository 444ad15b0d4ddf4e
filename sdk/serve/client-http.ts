/**
 * The inference client over REST: Node's fetch (undici, which keeps connections alive between
 * calls), binary tensors by default as tritonclient sends them.
 */
import type { TensorData } from '../tensor-data';
import { badAnswer, httpServerError, unreachable } from './client-errors';
import { decodeInferResponse, encodeInferRequest, HEADER_LENGTH_HEADER } from './client-http-body';
import type { InferenceClient, InferOptions, InferResult, ModelMetadata, ServerMetadata } from './client-types';

function modelPath(name: string, version?: string): string {
  return `/v2/models/${encodeURIComponent(name)}${version ? `/versions/${encodeURIComponent(version)}` : ''}`;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Uint8Array;
  /** 'POST http://…/infer', for error messages. */
  what: string;
}

export class HttpInferenceClient implements InferenceClient {
  private readonly base: string;

  constructor(
    url: string,
    private readonly timeoutMs: number,
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  /** One call, its body read whole: a timeout or a dropped connection while reading is a failure to reach the server too. */
  private async request(method: 'GET' | 'POST', path: string, init: { body?: Buffer; headers?: Record<string, string> } = {}): Promise<Answer> {
    const url = this.base + path;
    try {
      const res = await fetch(url, { method, body: init.body, headers: init.headers, signal: AbortSignal.timeout(this.timeoutMs) });
      return { status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()), what: `${method} ${url}` };
    } catch (e) {
      throw unreachable(url, e, this.timeoutMs);
    }
  }

  private async status(path: string): Promise<boolean> {
    return (await this.request('GET', path)).status === 200;
  }

  private async getJson<T>(path: string): Promise<T> {
    const answer = await this.request('GET', path);
    const text = Buffer.from(answer.body).toString('utf8');
    if (answer.status !== 200) throw httpServerError(answer.status, text, answer.what);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw badAnswer(answer.what, `the body is not JSON: ${text.slice(0, 200)}`);
    }
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
    const answer = await this.request('POST', path, { body, headers });
    if (answer.status !== 200) throw httpServerError(answer.status, Buffer.from(answer.body).toString('utf8'), answer.what);
    const headerValue = answer.headers.get(HEADER_LENGTH_HEADER);
    return decodeInferResponse(answer.body, headerValue === null ? undefined : Number(headerValue), answer.what);
  }

  close(): void {
    // fetch's connections belong to Node's global pool; idle ones close by themselves and do not hold the process.
  }
}
