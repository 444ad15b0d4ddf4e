/**
 * The SDK's Open Inference Protocol (KServe v2) client: `createClient(url)` talks REST with
 * binary tensors (as tritonclient), `createClient(address, { protocol: 'grpc' })` talks gRPC.
 * It works against mmkit's server and any other that follows the protocol (Triton, KServe, MLServer).
 */
import { MmkitError } from '../errors';
import { GrpcInferenceClient } from './client-grpc';
import { HttpInferenceClient } from './client-http';
import type { ClientOptions, InferenceClient } from './client-types';

export type * from './client-types';

const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * A client for the server at `url`: 'http://host:8000' for REST; 'host:8001' or 'grpc://host:8001'
 * for gRPC (a grpc:// URL picks gRPC without the option).
 */
export function createClient(url: string, opts: ClientOptions = {}): InferenceClient {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new MmkitError('BAD_OPTION', `createClient: timeoutMs must be > 0, got ${opts.timeoutMs}.`, { hint: 'Give the longest time one call may take, in milliseconds.' });
  if (opts.protocol !== undefined && opts.protocol !== 'http' && opts.protocol !== 'grpc') {
    throw new MmkitError('BAD_OPTION', `createClient: protocol must be 'http' or 'grpc', got ${JSON.stringify(opts.protocol)}.`, { hint: "Use { protocol: 'grpc' } with the server's gRPC port." });
  }
  const protocol = opts.protocol ?? (url.startsWith('grpc://') ? 'grpc' : 'http');
  if (protocol === 'grpc') return new GrpcInferenceClient(url.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, ''), timeoutMs);
  return new HttpInferenceClient(/^https?:\/\//.test(url) ? url : `http://${url}`, timeoutMs);
}
