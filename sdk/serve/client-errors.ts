/**
 * The client's errors: a server's refusal becomes the MmkitError code its HTTP status or gRPC
 * status stands for, with the server's own message; a server that cannot be reached becomes
 * FETCH_FAILED naming where the client looked.
 */
import type * as grpc from '@grpc/grpc-js';
import { MmkitError, messageOf, type MmkitErrorCode } from '../errors';

export function codeOfHttpStatus(httpStatus: number): MmkitErrorCode {
  if (httpStatus === 404) return 'UNKNOWN_MODEL';
  if (httpStatus === 413) return 'TOO_LARGE';
  if (httpStatus === 503) return 'UNAVAILABLE';
  return httpStatus >= 400 && httpStatus < 500 ? 'BAD_REQUEST' : 'SERVER_ERROR';
}

export function codeOfGrpcStatus(code: number): MmkitErrorCode {
  // Loaded here, not at import: only a gRPC client's errors need it.
  const GrpcStatus = (require('@grpc/grpc-js') as typeof grpc).status;
  switch (code) {
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.FAILED_PRECONDITION:
    case GrpcStatus.OUT_OF_RANGE:
      return 'BAD_REQUEST';
    case GrpcStatus.NOT_FOUND:
      return 'UNKNOWN_MODEL';
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return 'TOO_LARGE';
    case GrpcStatus.UNAVAILABLE:
      return 'UNAVAILABLE';
    case GrpcStatus.CANCELLED:
      return 'CANCELLED';
    default:
      return 'SERVER_ERROR';
  }
}

/** A non-2xx REST answer: the protocol's `{"error": "..."}` body, or the status and text when a proxy answered instead. */
export function httpServerError(httpStatus: number, body: string, what: string): MmkitError {
  let message: string | undefined;
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed?.error === 'string') message = parsed.error;
  } catch {
    // not the protocol's error body: reported below with the status
  }
  return new MmkitError(codeOfHttpStatus(httpStatus), message ?? `${what} answered HTTP ${httpStatus}: ${body.slice(0, 200) || '(empty body)'}`);
}

/** gRPC's DEADLINE_EXCEEDED status code, named here so that a REST client's errors never load @grpc/grpc-js. */
const GRPC_DEADLINE_EXCEEDED = 4;

export function unreachable(where: string, cause: unknown, timeoutMs: number): MmkitError {
  const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || (cause as { code?: unknown }).code === GRPC_DEADLINE_EXCEEDED);
  const why = timedOut ? `no answer within ${timeoutMs} ms` : messageOf(cause);
  return new MmkitError('FETCH_FAILED', `Cannot reach the inference server at ${where}: ${why}.`, {
    hint: timedOut ? 'Raise timeoutMs, or check that the server is not overloaded.' : 'Check that the server runs and listens on that address and port.',
    cause,
  });
}

/** A malformed answer from the server (not one the protocol allows). */
export function badAnswer(where: string, what: string): MmkitError {
  return new MmkitError('SERVER_ERROR', `The inference server at ${where} sent a malformed answer: ${what}.`, {
    hint: 'Check that the address points at an Open Inference Protocol (KServe v2) server.',
  });
}
