/**
 * Every failure the SDK reports on purpose is an MmkitError: a stable `code` to branch on,
 * a message that names the file, node or tensor at fault and says what to do about it.
 */
export type MmkitErrorCode =
  | 'FILE_NOT_FOUND'
  | 'NOT_ONNX'
  | 'TRUNCATED'
  | 'EXTERNAL_DATA'
  | 'BAD_MODEL'
  | 'UNSUPPORTED'
  | 'SHAPE_MISMATCH'
  | 'DTYPE_MISMATCH'
  | 'UNKNOWN_INPUT'
  | 'UNKNOWN_TENSOR'
  | 'UNKNOWN_DEVICE'
  | 'BAD_OPTION'
  | 'BAD_DATASET'
  | 'BAD_RECIPE'
  | 'OVERWRITE_SOURCE'
  | 'FILE_EXISTS'
  | 'WRITE_FAILED'
  | 'FETCH_FAILED'
  | 'RUNTIME'
  | 'CANCELLED'
  /** A compression step changed nothing, and the user asked for that to be an error (strict). */
  | 'NO_EFFECT'
  // Serving (sdk/serve): each maps to one HTTP status and one gRPC status code.
  | 'BAD_REQUEST'
  | 'UNKNOWN_MODEL'
  | 'METHOD_NOT_ALLOWED'
  | 'TOO_LARGE'
  | 'UNAVAILABLE'
  | 'SERVER_ERROR';

export interface MmkitErrorDetails {
  /** The file the error is about, when there is one. */
  file?: string;
  /** The graph node, tensor or input the error is about. */
  node?: string;
  tensor?: string;
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
}

export class MmkitError extends Error {
  readonly code: MmkitErrorCode;
  readonly file?: string;
  readonly node?: string;
  readonly tensor?: string;
  readonly hint?: string;

  constructor(code: MmkitErrorCode, message: string, details: MmkitErrorDetails = {}) {
    super(details.hint ? `${message} ${details.hint}` : message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'MmkitError';
    this.code = code;
    this.file = details.file;
    this.node = details.node;
    this.tensor = details.tensor;
    this.hint = details.hint;
  }
}

export function isMmkitError(e: unknown, code?: MmkitErrorCode): e is MmkitError {
  return e instanceof MmkitError && (code === undefined || e.code === code);
}

/** The message of anything thrown, for wrapping foreign errors. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
