/**
 * The REST front end of the Open Inference Protocol on node:http: health, metadata, inference
 * (JSON and binary tensors), and /metrics. It only parses and routes; inference runs in the
 * models' worker threads. Every failure is answered `{"error": "..."}` with a fitting status.
 */
import * as http from 'node:http';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { MmkitError, messageOf } from '../errors';
import type { InferenceService } from './inference-service';
import { encodeInferResponse, parseInferRequest } from './rest-codec';
import { asServingError, httpStatusOf } from './status';

export interface HttpFrontOptions {
  /** Largest request body, after decompression. */
  maxBodyBytes: number;
}

const HEADER_LENGTH = 'inference-header-content-length';
const MODEL_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(?:\/(ready|infer))?$/;

const inflaters: Record<string, (b: Buffer, o: zlib.ZlibOptions) => Promise<Buffer>> = {
  gzip: promisify(zlib.gunzip),
  deflate: promisify(zlib.inflate),
};
const deflaters: Record<'gzip' | 'deflate', (b: Buffer) => Promise<Buffer>> = {
  gzip: promisify(zlib.gzip),
  deflate: promisify(zlib.deflate),
};

export function createHttpFront(service: InferenceService, opts: HttpFrontOptions): http.Server {
  const server = http.createServer((req, res) => {
    void service.track(() => handle(service, opts, req, res).catch((e: unknown) => sendError(res, asServingError(e), opts.maxBodyBytes)));
  });
  // Longer than the 60 s idle timeout of cloud load balancers, so they never reuse a connection we just closed (a 502).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  return server;
}

async function handle(service: InferenceService, opts: HttpFrontOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const route = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  const get = (): void => {
    if (method !== 'GET' && method !== 'HEAD') throw methodNotAllowed(route, method, 'GET');
  };

  if (route === '/v2/health/live') return get(), void sendStatus(res, service.live ? 200 : 503);
  if (route === '/v2/health/ready') return get(), void sendStatus(res, service.ready ? 200 : 503);
  if (route === '/v2') return get(), void sendJson(res, 200, service.metadata);
  if (route === '/metrics') {
    get();
    const text = await service.metrics.text();
    res.writeHead(200, { 'content-type': service.metrics.contentType, 'content-length': Buffer.byteLength(text) }).end(text);
    return;
  }
  const m = MODEL_PATH.exec(route);
  if (!m) throw new MmkitError('UNKNOWN_MODEL', `No endpoint ${method} ${route}.`, { hint: 'Endpoints: /v2, /v2/health/{live,ready}, /v2/models/{name}[/versions/{v}][/ready|/infer], /metrics.' });
  const [name, version] = [decodeURIComponent(m[1]), m[2] === undefined ? undefined : decodeURIComponent(m[2])];
  const action = m[3];
  if (action === 'ready') return get(), void sendStatus(res, service.modelReady(name, version) ? 200 : 503);
  if (action === undefined) return get(), void sendJson(res, 200, service.model(name, version).metadata);

  if (method !== 'POST') throw methodNotAllowed(route, method, 'POST');
  service.model(name, version); // an unknown model is a 404 before the body is read
  const body = await readBody(req, opts.maxBodyBytes);
  const request = parseInferRequest(body, headerLength(req), name);
  // A client that hangs up while its request waits frees its place in the queue.
  const gone = new AbortController();
  res.once('close', () => res.writableFinished || gone.abort());
  const { model, outputs } = await service.infer(name, version, { ...request, signal: gone.signal }, 'http');
  const encoded = encodeInferResponse({ name, version: model.config.version }, request, outputs);
  const headers: http.OutgoingHttpHeaders = {};
  if (encoded.headerLength === undefined) headers['content-type'] = 'application/json';
  else Object.assign(headers, { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: encoded.headerLength });
  const encoding = responseEncoding(req.headers['accept-encoding']);
  const payload = encoding ? await deflaters[encoding](encoded.body) : encoded.body;
  if (encoding) headers['content-encoding'] = encoding;
  headers['content-length'] = payload.length;
  res.writeHead(200, headers).end(payload);
}

function headerLength(req: http.IncomingMessage): number | undefined {
  const value = req.headers[HEADER_LENGTH];
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(String(value))) {
    throw new MmkitError('BAD_REQUEST', `Inference-Header-Content-Length is '${value}', not a byte count.`, { hint: 'Give the byte length of the JSON header at the start of the body.' });
  }
  return Number(value);
}

/** The compression a client accepts for the response (as Triton honours Accept-Encoding), if any. */
function responseEncoding(accept: string | undefined): 'gzip' | 'deflate' | undefined {
  const offered = (accept ?? '').split(',').map((e) => e.split(';')[0].trim().toLowerCase());
  return offered.includes('gzip') ? 'gzip' : offered.includes('deflate') ? 'deflate' : undefined;
}

function methodNotAllowed(route: string, method: string, allowed: string): MmkitError {
  return new MmkitError('METHOD_NOT_ALLOWED', `${route} takes ${allowed}, not ${method}.`, { hint: `Send ${allowed} ${route}.` });
}

/** The request body, inflated when it is compressed, refused (413) past the limit. */
async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = (size: string): MmkitError =>
    new MmkitError('TOO_LARGE', `The request body (${size}) is over the server's limit of ${limit} bytes.`, { hint: 'Send fewer rows per request, or raise the limit with --max-body-mb.' });
  const declared = Number(req.headers['content-length']);
  if (declared > limit) throw tooLarge(`${declared} bytes`);
  const raw = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      // Stop reading but keep the socket: the 413 still has to reach the client.
      req.off('data', onData).pause();
      reject(tooLarge(`over ${limit} bytes`));
    };
    req.on('data', onData).once('end', () => resolve(Buffer.concat(chunks, size))).once('error', reject);
  });
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (encoding === 'identity') return raw;
  const inflate = inflaters[encoding];
  if (!inflate) throw new MmkitError('BAD_REQUEST', `Content-Encoding '${encoding}' is not supported.`, { hint: 'Send the body as is, gzip or deflate.' });
  try {
    return await inflate(raw, { maxOutputLength: limit });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLarge(`over ${limit} bytes once inflated`);
    throw new MmkitError('BAD_REQUEST', `The ${encoding} body cannot be inflated: ${messageOf(e)}.`, { hint: `Send a valid ${encoding} stream, or an uncompressed body.` });
  }
}

function sendStatus(res: http.ServerResponse, status: number): void {
  res.writeHead(status, { 'content-length': 0 }).end();
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
}

/**
 * Reads and drops the rest of a refused body, so that a client still sending it can finish and
 * read the 413 (closing at once resets the connection under its upload, and the client sees only
 * a network error); the connection stays usable. Past `cap` more bytes the connection is cut.
 */
function discardRest(req: http.IncomingMessage, cap: number): void {
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > cap) req.socket.destroy();
  });
  req.resume();
}

/** `bodyLimit`: the server's body limit, which is also how much of a refused body it reads and drops. */
function sendError(res: http.ServerResponse, e: MmkitError, bodyLimit: number): void {
  if (res.headersSent || res.destroyed) return void res.destroy();
  const status = httpStatusOf(e);
  const body = JSON.stringify({ error: e.message });
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  if (status === 405) headers.allow = /infer$/.test(res.req.url ?? '') ? 'POST' : 'GET, HEAD';
  if (status === 413 && !res.req.readableEnded) discardRest(res.req, bodyLimit);
  res.writeHead(status, headers).end(body);
}
