/**
 * What the SDK's inference client offers, whichever protocol carries it (client-http.ts for REST,
 * client-grpc.ts for gRPC): the Open Inference Protocol's health, metadata and infer calls.
 */
import type { TensorData } from '../tensor-data';
import type { ModelMetadata, ServerMetadata } from './protocol-types';

export type { ModelMetadata, ServerMetadata, TensorMetadata } from './protocol-types';

export type ClientProtocol = 'http' | 'grpc';

export interface ClientOptions {
  /** 'http' (REST, the default) or 'grpc'; a `grpc://` URL picks gRPC. */
  protocol?: ClientProtocol;
  /** How long one call may take before it fails with FETCH_FAILED (default 60 s). */
  timeoutMs?: number;
}

export interface InferOptions {
  /** Outputs to return (default: every output of the model). */
  outputs?: string[];
  /**
   * REST: send inputs and ask for outputs as binary data after the JSON header (Triton's binary
   * tensor extension; the default, as tritonclient); false sends and asks for JSON numbers.
   * gRPC: raw_input_contents (default), or typed InferTensorContents when false (FP16 always raw:
   * it has no typed field).
   */
  binary?: boolean;
  /** A request id the server echoes in its answer. */
  id?: string;
  /** The model version (default: the one the server picks). */
  version?: string;
}

export interface InferResult {
  modelName: string;
  modelVersion: string;
  /** The request's id, echoed; absent when the request had none. */
  id?: string;
  outputs: Record<string, TensorData>;
}

export interface InferenceClient {
  /** The server answers at all (REST: /v2/health/live is 200). */
  live(): Promise<boolean>;
  /** Every model is loaded and warmed up (REST: /v2/health/ready is 200; 503 reads false). */
  ready(): Promise<boolean>;
  serverMetadata(): Promise<ServerMetadata>;
  /** Throws UNKNOWN_MODEL for a model the server does not serve. */
  modelMetadata(name: string, version?: string): Promise<ModelMetadata>;
  /** False for a model that is not ready or not served (the spec: a 4xx status reads false). */
  modelReady(name: string, version?: string): Promise<boolean>;
  /**
   * Runs the model on named inputs. Server errors throw MmkitError with the server's message:
   * BAD_REQUEST (400 / INVALID_ARGUMENT), UNKNOWN_MODEL (404 / NOT_FOUND), TOO_LARGE
   * (413 / RESOURCE_EXHAUSTED), UNAVAILABLE (503 / UNAVAILABLE), SERVER_ERROR (500 / INTERNAL);
   * a server that cannot be reached throws FETCH_FAILED naming the URL.
   */
  infer(name: string, inputs: Record<string, TensorData>, opts?: InferOptions): Promise<InferResult>;
  /** Releases connections; the client cannot be used afterwards. */
  close(): void;
}
