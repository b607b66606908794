/**
 * The one error type of Weightsmith. Every library throws `WeightsmithError` with a code from
 * `ErrorCode`; the HTTP layer maps the code to a status and an RFC 9457 problem document, so
 * domain code never knows about HTTP and clients always get a stable, machine-readable code.
 */
export const ErrorCode = {
  /** A request field is missing, malformed or out of range. */
  InvalidInput: 'invalid_input',
  /** An uploaded or stored file does not follow its format (safetensors, ONNX, PEFT, h5…). */
  InvalidFormat: 'invalid_format',
  /** Array shapes or dtypes do not fit together. */
  ShapeMismatch: 'shape_mismatch',
  /** A value is NaN or infinite where finite numbers are required. */
  NonFinite: 'non_finite',
  /** A size limit was exceeded (header length, body size, k, n…). */
  TooLarge: 'too_large',
  /** The named thing (artifact, job, bundle, object key) does not exist. */
  NotFound: 'not_found',
  /** The request conflicts with the current state (job already finished, …). */
  Conflict: 'conflict',
  /** Authentication is missing or wrong. */
  Unauthorized: 'unauthorized',
  /** The object store cannot be reached or answered with a server error. */
  StoreUnavailable: 'store_unavailable',
  /** The service is not ready (models still loading, shutting down). */
  NotReady: 'not_ready',
  /** The work was cancelled by the caller. */
  Cancelled: 'cancelled',
  /** A bug or an unexpected failure; details are logged, not sent. */
  Internal: 'internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface FieldIssue {
  /** Dotted path of the offending field, e.g. `body.adapters.1.weight` or `header.dtype`. */
  field: string;
  message: string;
}

export interface WeightsmithErrorOptions {
  /** The field (request field, tensor name, file part) the error is about. */
  field?: string;
  /** Several field problems at once (validation). */
  issues?: FieldIssue[];
  /** Seconds after which a retry may succeed (store outages). */
  retryAfter?: number;
  cause?: unknown;
}

export class WeightsmithError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  readonly issues: FieldIssue[];
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode, message: string, options: WeightsmithErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WeightsmithError';
    this.code = code;
    this.field = options.field;
    this.issues = options.issues ?? (options.field ? [{ field: options.field, message }] : []);
    this.retryAfter = options.retryAfter;
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, field: this.field, issues: this.issues };
  }
}

export function isWeightsmithError(err: unknown, code?: ErrorCode): err is WeightsmithError {
  return err instanceof WeightsmithError && (code === undefined || err.code === code);
}

/** Shorthands for the common cases, so call sites read as sentences. */
export const invalidInput = (field: string, message: string): WeightsmithError =>
  new WeightsmithError(ErrorCode.InvalidInput, message, { field });
export const invalidFormat = (message: string, field?: string): WeightsmithError =>
  new WeightsmithError(ErrorCode.InvalidFormat, message, field === undefined ? {} : { field });
export const notFound = (message: string, field?: string): WeightsmithError =>
  new WeightsmithError(ErrorCode.NotFound, message, field === undefined ? {} : { field });
