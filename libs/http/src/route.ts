import { z } from 'zod';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';

/** The request and response objects handlers see (express 5's). */
export type HttpRequest = Request;
export type HttpResponse = Response;

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export const JSON_CONTENT_TYPE = 'application/json';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

export interface ResponseSpec {
  description: string;
  /** Body schema; omitted for bodies without a schema (or no body). */
  schema?: z.ZodType;
  /** Default `application/json`, or `application/problem+json` for statuses >= 400. */
  contentType?: string;
  /** Response headers worth documenting (e.g. `Location`). */
  headers?: Record<string, { description: string; schema?: z.ZodType }>;
}

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  /** The validated JSON body; `undefined` for routes without a body schema or with a raw body. */
  body: B;
  /** For raw-body routes, the request itself is the body stream. */
  req: HttpRequest;
  res: HttpResponse;
  requestId: string;
  /** Request-scoped logger (carries `requestId`). */
  log: Logger;
  /** Aborted when the client goes away before the response is finished. */
  signal: AbortSignal;
}

type Out<S, Fallback> = S extends z.ZodType ? z.output<S> : Fallback;

export interface RouteSpec<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
> {
  method: HttpMethod;
  /** `/v1/jobs/:id` or `/v1/jobs/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags?: string[];
  params?: P;
  query?: Q;
  body?: B;
  /**
   * `application/json` (default): the body is parsed (up to the JSON limit) and validated.
   * Anything else (e.g. `application/octet-stream`): the body is NOT read; the handler streams
   * `ctx.req` itself, any request Content-Type is accepted, and only a declared Content-Length
   * over the upload limit is refused up front (the handler must cap what it reads).
   */
  bodyContentType?: string;
  /** Skip bearer auth for this route (health, metrics, the OpenAPI document). */
  public?: boolean;
  responses: Record<number, ResponseSpec>;
  /**
   * Returns the body of the first declared 2xx response, an `HttpReply` for another status or
   * headers, or `undefined` after writing to `ctx.res` itself (streams).
   */
  handler: (ctx: RouteContext<Out<P, Record<string, string>>, Out<Q, Record<string, unknown>>, Out<B, undefined>>) => unknown;
}

/** A route as stored by a service, schemas erased. */
export type RouteDefinition = RouteSpec<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined>;

/** A handler's answer with an explicit status, headers or content type. */
export class HttpReply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Readonly<Record<string, string>> = {},
    readonly contentType: string = JSON_CONTENT_TYPE,
  ) {}
}

export function reply(status: number, body?: unknown, headers?: Record<string, string>): HttpReply {
  return new HttpReply(status, body, headers);
}

export const isJsonContentType = (contentType: string): boolean => {
  const base = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return base === JSON_CONTENT_TYPE || (base.startsWith('application/') && base.endsWith('+json'));
};

/**
 * A query-string boolean: `true`/`1` or `false`/`0`. (`z.coerce.boolean()` would read "false"
 * as true, and `z.stringbool()` documents itself as any string.)
 */
export const queryBoolean = () =>
  z
    .enum(['true', 'false', '1', '0'])
    .transform((v) => v === 'true' || v === '1');
