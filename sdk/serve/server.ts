/**
 * An Open Inference Protocol server: REST (and /metrics) on one port, gRPC on another, the
 * models loading behind them. The ports open first, so liveness answers at once and readiness
 * turns 200 when every model is loaded and warmed up. close() drains: readiness turns 503, new
 * requests are refused, those in flight are answered, then the instances stop.
 */
import type * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { MmkitError, messageOf } from '../errors';
import { createGrpcFront } from './grpc-server';
import { createHttpFront } from './http-server';
import { InferenceService } from './inference-service';
import { ServerMetrics } from './metrics';
import { threadsPerInstance, validateServingConfig, type ModelServingConfig } from './model-config';
import { ServedModel } from './served-model';

export interface ServeOptions {
  models: ModelServingConfig[];
  /** Interface to listen on; default 127.0.0.1 (a container wants 0.0.0.0). */
  host?: string;
  /** REST port; 0 picks a free one. Default 8000. */
  httpPort?: number;
  /** gRPC port; 0 picks a free one, null serves no gRPC. Default 8001. */
  grpcPort?: number | null;
  /** Largest request body (REST, after decompression) and gRPC message, in bytes. Default 64 MiB. */
  maxBodyBytes?: number;
  /** How long close() waits for requests in flight. Default 30 s. */
  drainTimeoutMs?: number;
}

export interface ServerHandle {
  /** The REST base URL, e.g. http://127.0.0.1:8000 */
  readonly url: string;
  /** host:port of gRPC, when served. */
  readonly grpcAddress?: string;
  /** Resolves when every model is ready; rejects with the first model that failed to load. */
  readonly ready: Promise<void>;
  readonly models: readonly string[];
  /** Drains (see above) and stops; resolves true when nothing in flight was cut off. */
  close(): Promise<boolean>;
}

export const DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024;
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;

export async function startServer(opts: ServeOptions): Promise<ServerHandle> {
  if (opts.models.length === 0) throw new MmkitError('BAD_OPTION', 'Nothing to serve: no models given.', { hint: 'Give a model file, or a model repository that holds at least one model.' });
  const names = new Set<string>();
  for (const c of opts.models) {
    validateServingConfig(c);
    if (names.has(c.name)) throw new MmkitError('BAD_OPTION', `Two models are named '${c.name}'.`, { hint: 'Give each model its own name.' });
    names.add(c.name);
  }
  const host = opts.host ?? '127.0.0.1';
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const service = new InferenceService(new ServerMetrics());

  const httpServer = createHttpFront(service, { maxBodyBytes });
  const httpPort = await listenHttp(httpServer, host, opts.httpPort ?? 8000);
  let grpcServer: grpc.Server | undefined;
  let grpcPort: number | undefined;
  if (opts.grpcPort !== null) {
    grpcServer = createGrpcFront(service, maxBodyBytes);
    try {
      grpcPort = await bindGrpc(grpcServer, host, opts.grpcPort ?? 8001);
    } catch (e) {
      httpServer.close();
      throw e;
    }
  }

  const totalInstances = opts.models.reduce((n, c) => n + c.instanceCount, 0);
  const ready = Promise.all(
    opts.models.map((c) => service.add(ServedModel.load(c, c.intraOpThreads || threadsPerInstance(totalInstances), service.metrics))),
  ).then(() => undefined);
  ready.catch(() => {}); // the caller sees the failure through `ready`

  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  let closing: Promise<boolean> | undefined;
  return {
    url: `http://${urlHost}:${httpPort}`,
    grpcAddress: grpcPort === undefined ? undefined : `${urlHost}:${grpcPort}`,
    ready,
    models: [...names],
    close: () => (closing ??= stop(service, httpServer, grpcServer, ready, opts.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS)),
  };
}

async function stop(service: InferenceService, httpServer: http.Server, grpcServer: grpc.Server | undefined, ready: Promise<void>, drainTimeoutMs: number): Promise<boolean> {
  // New connections are refused from here; open keep-alive ones get 503s until they close.
  const httpClosed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
  const grpcClosed = grpcServer ? new Promise<void>((resolve) => grpcServer.tryShutdown(() => resolve())) : Promise.resolve();
  const drained = await service.drain(drainTimeoutMs);
  httpServer.closeIdleConnections();
  await ready.catch(() => {});
  await service.close();
  httpServer.closeAllConnections();
  grpcServer?.forceShutdown();
  await Promise.all([httpClosed, grpcClosed]);
  return drained;
}

function listenHttp(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new MmkitError('BAD_OPTION', `Cannot listen for REST on ${host}:${port}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : messageOf(e)}.`, { hint: 'Choose another --http-port (0 picks a free one).', cause: e })),
    );
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function bindGrpc(server: grpc.Server, host: string, port: number): Promise<number> {
  const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (e, bound) => {
      if (e) reject(new MmkitError('BAD_OPTION', `Cannot listen for gRPC on ${address}: ${messageOf(e)}.`, { hint: 'Choose another --grpc-port (0 picks a free one), or --grpc-port none.', cause: e }));
      else resolve(bound);
    });
  });
}
