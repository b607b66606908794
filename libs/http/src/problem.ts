import { z } from 'zod';
import { ErrorCode, WeightsmithError, isWeightsmithError, type FieldIssue } from '@weightsmith/core';

/**
 * RFC 9457 problem documents, and the ONE place that maps `WeightsmithError` codes to HTTP
 * statuses. Kept free of express so the job runner can store the same problem objects it would
 * have sent.
 *
 * Status choices:
 * - `invalid_input` -> 400: the request does not follow the API's schema or rules.
 * - `invalid_format`, `shape_mismatch`, `non_finite` -> 422: the request is well-formed but the
 *   content it names or carries (a safetensors file, tensors of the wrong shape, NaN weights)
 *   cannot be processed. Clients can tell "fix your request" (400) from "fix your data" (422).
 * - `too_large` -> 413, `not_found` -> 404, `conflict` -> 409, `unauthorized` -> 401,
 * - `store_unavailable` -> 503 with `Retry-After`, `not_ready` -> 503,
 * - `cancelled` -> 409 (the resource's state, cancelled, conflicts with the request),
 * - `internal` -> 500, with a generic detail: the real message is logged, never sent.
 */
export const STATUS_BY_CODE: Readonly<Record<ErrorCode, number>> = {
  invalid_input: 400,
  invalid_format: 422,
  shape_mismatch: 422,
  non_finite: 422,
  too_large: 413,
  not_found: 404,
  conflict: 409,
  unauthorized: 401,
  store_unavailable: 503,
  not_ready: 503,
  cancelled: 409,
  internal: 500,
};

const TITLE_BY_CODE: Readonly<Record<ErrorCode, string>> = {
  invalid_input: 'Invalid input',
  invalid_format: 'Invalid format',
  shape_mismatch: 'Shape mismatch',
  non_finite: 'Non-finite value',
  too_large: 'Too large',
  not_found: 'Not found',
  conflict: 'Conflict',
  unauthorized: 'Unauthorized',
  store_unavailable: 'Store unavailable',
  not_ready: 'Not ready',
  cancelled: 'Cancelled',
  internal: 'Internal error',
};

/** Seconds a client should wait before retrying a store outage when the error does not say. */
export const DEFAULT_RETRY_AFTER_SECONDS = 5;

/** Problem `type` URIs are `urn:weightsmith:problem:<code>`: stable identifiers, not links. */
export const problemType = (code: string): string => `urn:weightsmith:problem:${code}`;

export const fieldIssueSchema = z
  .object({
    field: z.string().meta({ description: 'Dotted path of the offending field, e.g. `body.adapters.1.weight`.' }),
    message: z.string(),
  })
  .meta({ id: 'FieldIssue' });

export const problemSchema = z
  .object({
    type: z.string().meta({ description: 'Stable problem type URI, `urn:weightsmith:problem:<code>`.' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional().meta({ description: 'The request path the problem is about.' }),
    code: z.string().meta({ description: 'Machine-readable error code (invalid_input, not_found, store_unavailable, ...).' }),
    requestId: z.string().optional(),
    errors: z.array(fieldIssueSchema),
    reason: z.string().optional().meta({ description: 'Finer cause where the code alone is ambiguous (e.g. `interrupted`).' }),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details.' });

export type Problem = z.infer<typeof problemSchema>;

/** A problem plus the response headers it needs (`Retry-After`, `WWW-Authenticate`, `Allow`). */
export interface ProblemResponse {
  problem: Problem;
  headers: Record<string, string>;
}

export interface ProblemInit {
  status: number;
  code: string;
  detail: string;
  title?: string;
  errors?: FieldIssue[];
  reason?: string;
}

export function makeProblem(init: ProblemInit): Problem {
  const title = init.title ?? TITLE_BY_CODE[init.code as ErrorCode] ?? 'Error';
  const problem: Problem = {
    type: problemType(init.code),
    title,
    status: init.status,
    detail: init.detail,
    code: init.code,
    errors: init.errors ?? [],
  };
  if (init.reason !== undefined) problem.reason = init.reason;
  return problem;
}

export const INTERNAL_DETAIL = 'internal error; the details are logged under this request id';

/**
 * The problem to send for any thrown value. Non-WeightsmithErrors become a generic 500 whose
 * detail reveals nothing (the caller logs the error). `internal` WeightsmithErrors are treated
 * the same way: their message may name files, hosts or stack details.
 */
export function problemFromError(err: unknown): ProblemResponse {
  if (!isWeightsmithError(err)) {
    return { problem: makeProblem({ status: 500, code: ErrorCode.Internal, detail: INTERNAL_DETAIL }), headers: {} };
  }
  const status = STATUS_BY_CODE[err.code] ?? 500;
  const detail = err.code === ErrorCode.Internal ? INTERNAL_DETAIL : err.message;
  const errors = err.code === ErrorCode.Internal ? [] : err.issues;
  return { problem: makeProblem({ status, code: err.code, detail, errors }), headers: headersFor(err) };
}

function headersFor(err: WeightsmithError): Record<string, string> {
  switch (err.code) {
    case ErrorCode.Unauthorized:
      return { 'WWW-Authenticate': 'Bearer' };
    case ErrorCode.StoreUnavailable:
      return { 'Retry-After': String(retryAfterSeconds(err.retryAfter ?? DEFAULT_RETRY_AFTER_SECONDS)) };
    case ErrorCode.NotReady:
      return err.retryAfter === undefined ? {} : { 'Retry-After': String(retryAfterSeconds(err.retryAfter)) };
    default:
      return {};
  }
}

/** `Retry-After` takes whole, non-negative seconds. */
function retryAfterSeconds(s: number): number {
  return Number.isFinite(s) && s > 0 ? Math.ceil(s) : 0;
}

/**
 * Zod issues as field issues, prefixed with where they came from (`body`, `query`, `params`).
 * Unrecognized keys become one entry per key, so every bad field is named.
 */
export function issuesFromZod(prefix: string, error: z.ZodError): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of error.issues) {
    const base = [prefix, ...issue.path.map(String)].join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ field: `${base}.${key}`, message: 'unknown field' });
    } else {
      out.push({ field: base, message: issue.message });
    }
  }
  return out;
}
