/** How a serving failure reaches a client: one HTTP status and one gRPC status per error code. */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { MmkitError, isMmkitError, messageOf, type MmkitErrorCode } from '../errors';
import type { FailureReason } from './metrics';

const HTTP: Partial<Record<MmkitErrorCode, number>> = {
  BAD_REQUEST: 400,
  SHAPE_MISMATCH: 400,
  DTYPE_MISMATCH: 400,
  UNKNOWN_INPUT: 400,
  UNKNOWN_TENSOR: 400,
  UNSUPPORTED: 400,
  UNKNOWN_MODEL: 404,
  METHOD_NOT_ALLOWED: 405,
  TOO_LARGE: 413,
  UNAVAILABLE: 503,
  // nginx's 'client closed request': never seen by the client that left, but counted and logged as such.
  CANCELLED: 499,
};

const GRPC: Partial<Record<MmkitErrorCode, GrpcStatus>> = {
  BAD_REQUEST: GrpcStatus.INVALID_ARGUMENT,
  SHAPE_MISMATCH: GrpcStatus.INVALID_ARGUMENT,
  DTYPE_MISMATCH: GrpcStatus.INVALID_ARGUMENT,
  UNKNOWN_INPUT: GrpcStatus.INVALID_ARGUMENT,
  UNKNOWN_TENSOR: GrpcStatus.INVALID_ARGUMENT,
  UNSUPPORTED: GrpcStatus.INVALID_ARGUMENT,
  UNKNOWN_MODEL: GrpcStatus.NOT_FOUND,
  METHOD_NOT_ALLOWED: GrpcStatus.UNIMPLEMENTED,
  TOO_LARGE: GrpcStatus.RESOURCE_EXHAUSTED,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  CANCELLED: GrpcStatus.CANCELLED,
};

/** Anything thrown while serving, as an MmkitError (an unexpected one becomes SERVER_ERROR). */
export function asServingError(e: unknown): MmkitError {
  return isMmkitError(e) ? e : new MmkitError('SERVER_ERROR', `Internal error: ${messageOf(e)}`, { cause: e });
}

export function httpStatusOf(e: MmkitError): number {
  return HTTP[e.code] ?? 500;
}

export function grpcStatusOf(e: MmkitError): GrpcStatus {
  return GRPC[e.code] ?? GrpcStatus.INTERNAL;
}

/** Triton's failure reasons: refused before running (REJECTED), or failed running (BACKEND). */
export function failureReasonOf(e: MmkitError): FailureReason {
  if (e.code === 'CANCELLED') return 'CANCELED';
  const status = httpStatusOf(e);
  return status < 500 || status === 503 ? 'REJECTED' : 'BACKEND';
}
