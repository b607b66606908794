import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { EventEmitter } from 'node:events';
import express, { type Application, type NextFunction, type Request, type Response, type RequestHandler } from 'express';
import { pino, type Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { z } from 'zod';
import { ErrorCode, WeightsmithError, isWeightsmithError, type BaseConfig, type FieldIssue } from '@weightsmith/core';
import { BearerAuth } from './auth.js';
import { createHttpMetrics, UNMATCHED_ROUTE, type HttpMetrics } from './metrics.js';
import { parsePathTemplate, type PathTemplate } from './path-template.js';
import { issuesFromZod, makeProblem, problemFromError, type Problem, type ProblemResponse } from './problem.js';
import { runReadinessChecks, type ReadinessCheck } from './readiness.js';
import { REQUEST_ID_HEADER, requestIdFrom } from './request-id.js';
import {
  HttpReply,
  JSON_CONTENT_TYPE,
  PROBLEM_CONTENT_TYPE,
  isJsonContentType,
  type RouteDefinition,
  type RouteSpec,
} from './route.js';
import { generateOpenApi, type OpenApiDocument } from './openapi.js';

/** The settings createService reads, named as in `BaseConfig` so a loaded config can be passed as is. */
export type ServiceConfig = Partial<
  Pick<BaseConfig, 'HOST' | 'PORT' | 'LOG_LEVEL' | 'API_TOKENS' | 'JSON_BODY_LIMIT' | 'UPLOAD_LIMIT' | 'SHUTDOWN_TIMEOUT_MS'>
>;

export interface ServiceOptions {
  name: string;
  version: string;
  /** Shown in the OpenAPI document's `info.description`. */
  description?: string;
  config?: ServiceConfig;
  /** A pino logger; default: a new one at `config.LOG_LEVEL`. */
  logger?: Logger;
  readiness?: ReadinessCheck[];
  /** Per-check bound for /readyz (default 2000 ms). */
  readinessTimeoutMs?: number;
  /**
   * On shutdown, /readyz answers 503 for this long BEFORE the listener stops accepting, so a
   * load balancer (Kubernetes endpoints) stops routing here first. Default 0.
   */
  shutdownDelayMs?: number;
  /** Runs after in-flight requests have finished (close the store, drain jobs, ...). */
  onShutdown?: () => Promise<void>;
}

export interface ListenOptions {
  port?: number;
  host?: string;
  /** Install SIGTERM/SIGINT handlers that close gracefully, then exit the process. Default true. */
  handleSignals?: boolean;
}

export interface Service {
  readonly name: string;
  readonly version: string;
  readonly description: string | undefined;
  readonly app: Application;
  readonly logger: Logger;
  /** This service's Prometheus registry (served at /metrics); add service metrics to it. */
  readonly metrics: HttpMetrics['registry'];
  readonly shuttingDown: boolean;
  /** Whether bearer auth is on (tokens configured). */
  readonly authEnabled: boolean;
  route<P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined>(
    spec: RouteSpec<P, Q, B>,
  ): void;
  /** All registered routes, built-in ones included, in registration order. */
  routes(): readonly RouteDefinition[];
  addReadinessCheck(check: ReadinessCheck): void;
  openapi(): OpenApiDocument;
  listen(options?: ListenOptions): Promise<Server>;
  /**
   * Graceful shutdown: /readyz turns 503, the listener stops accepting, in-flight requests get
   * up to SHUTDOWN_TIMEOUT_MS to finish (then their connections are cut), then `onShutdown` runs.
   * Idempotent: later calls return the same promise.
   */
  close(): Promise<void>;
}

const DEFAULTS = {
  HOST: '0.0.0.0',
  PORT: 8080,
  LOG_LEVEL: 'info',
  API_TOKENS: [] as string[],
  JSON_BODY_LIMIT: 1_000_000,
  UPLOAD_LIMIT: 4 * 1024 ** 3,
  SHUTDOWN_TIMEOUT_MS: 25_000,
} satisfies Required<ServiceConfig>;

const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const BODY_METHODS = new Set(['post', 'put', 'patch']);

/** Per-request values kept on `res.locals`. */
interface Locals {
  requestId: string;
  route?: string;
}
const locals = (res: Response): Locals => res.locals as unknown as Locals;

export function createService(opts: ServiceOptions): Service {
  const config = { ...DEFAULTS, ...definedOnly(opts.config ?? {}) };
  const logger = opts.logger ?? pino({ name: opts.name, level: config.LOG_LEVEL });
  const auth = new BearerAuth(config.API_TOKENS);
  const metrics = createHttpMetrics();
  const readinessChecks: ReadinessCheck[] = [...(opts.readiness ?? [])];
  const readinessTimeoutMs = opts.readinessTimeoutMs ?? 2000;

  const routeDefs: RouteDefinition[] = [];
  /** Methods per express path template, for 405 + Allow. */
  const methodsByPath = new Map<string, Set<string>>();
  const operationIds = new Set<string>();

  let shuttingDown = false;
  let server: Server | undefined;
  let closing: Promise<void> | undefined;
  let removeSignalHandlers: (() => void) | undefined;
  let openapiDoc: OpenApiDocument | undefined;
  let inFlight = 0;
  const drained = new EventEmitter();

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  // Request id, metrics and in-flight accounting come first so that every answer, including
  // 404s and parser errors, carries the id and is counted.
  app.use((req: Request, res: Response, next: NextFunction) => {
    const requestId = requestIdFrom(req.headers['x-request-id']);
    req.id = requestId;
    locals(res).requestId = requestId;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    if (shuttingDown) res.setHeader('Connection', 'close');
    const stopTimer = metrics.requestDuration.startTimer();
    inFlight += 1;
    res.once('close', () => {
      stopTimer({ method: req.method ?? 'UNKNOWN', route: locals(res).route ?? UNMATCHED_ROUTE, status: String(res.statusCode) });
      inFlight -= 1;
      if (inFlight === 0) drained.emit('drained');
    });
    next();
  });
  app.use(
    pinoHttp<IncomingMessage, ServerResponse>({
      logger,
      genReqId: (req) => req.id,
      quietReqLogger: true,
      customAttributeKeys: { reqId: 'requestId' },
      // Only what identifies the request: headers carry credentials.
      serializers: {
        req: (req: { method?: string; url?: string }) => ({ method: req.method, url: req.url }),
        res: (res: { statusCode?: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
      autoLogging: { ignore: (req) => OPS_PATHS.has((req.url ?? '').split('?')[0] ?? '') },
    }),
  );

  // Routes are added to `router` as they are registered; `fallback` (after it) answers 405 for
  // known paths with an unregistered method. Both are mounted now so order holds for late routes.
  const router = express.Router({ caseSensitive: true, strict: false });
  const fallback = express.Router({ caseSensitive: true, strict: false });
  app.use(router);
  app.use(fallback);
  app.use((req: Request, res: Response) => {
    sendProblem(req, res, {
      problem: makeProblem({ status: 404, code: ErrorCode.NotFound, detail: `no route for ${req.method} ${pathOf(req)}` }),
      headers: {},
    });
  });
  app.use((err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      // Too late for a problem document: log, and let express cut the connection.
      req.log.error({ err }, 'error after the response started');
      next(err);
      return;
    }
    const response = problemForRequestError(err);
    if (response.problem.status >= 500) req.log.error({ err }, 'request failed');
    sendProblem(req, res, response);
  });

  function route<P extends z.ZodType | undefined, Q extends z.ZodType | undefined, B extends z.ZodType | undefined>(
    spec: RouteSpec<P, Q, B>,
  ): void {
    const def = spec as unknown as RouteDefinition;
    const template = parsePathTemplate(def.path);
    checkRouteSpec(def, template, operationIds);
    operationIds.add(def.operationId);
    routeDefs.push(def);
    openapiDoc = undefined;

    let methods = methodsByPath.get(template.express);
    if (!methods) {
      methods = new Set();
      methodsByPath.set(template.express, methods);
      const allowed = methods;
      fallback.all(template.express, (req: Request, res: Response) => {
        locals(res).route = template.express;
        const allow = allowHeader(allowed);
        sendProblem(req, res, {
          problem: makeProblem({
            status: 405,
            code: ErrorCode.InvalidInput,
            title: 'Method not allowed',
            detail: `${req.method} is not allowed on ${template.openapi}; allowed: ${allow}`,
          }),
          headers: { Allow: allow },
        });
      });
    }
    methods.add(def.method.toUpperCase());

    const chain: RequestHandler[] = [
      (_req, res, next) => {
        locals(res).route = template.express;
        next();
      },
    ];
    if (!def.public && auth.enabled) {
      chain.push((req, _res, next) => {
        auth.check(req.headers.authorization);
        next();
      });
    }
    const contentType = def.bodyContentType ?? JSON_CONTENT_TYPE;
    const hasBody = BODY_METHODS.has(def.method);
    if (hasBody && isJsonContentType(contentType)) chain.push(jsonBodyReader(config.JSON_BODY_LIMIT));
    if (hasBody && !isJsonContentType(contentType)) chain.push(uploadLengthGuard(config.UPLOAD_LIMIT));
    chain.push(async (req, res) => {
      const input = validateRequest(def, req);
      const controller = new AbortController();
      const onClose = () => {
        if (!res.writableFinished) controller.abort(new WeightsmithError(ErrorCode.Cancelled, 'the client closed the connection'));
      };
      res.once('close', onClose);
      const result = await def.handler({
        ...input,
        req,
        res,
        requestId: locals(res).requestId,
        log: req.log,
        signal: controller.signal,
      } as Parameters<RouteDefinition['handler']>[0]);
      sendResult(def, res, result);
    });
    router[def.method](template.express, ...chain);
  }

  function routes(): readonly RouteDefinition[] {
    return routeDefs;
  }

  const service: Service = {
    name: opts.name,
    version: opts.version,
    description: opts.description,
    app,
    logger,
    metrics: metrics.registry,
    get shuttingDown() {
      return shuttingDown;
    },
    authEnabled: auth.enabled,
    route,
    routes,
    addReadinessCheck(check) {
      readinessChecks.push(check);
    },
    openapi() {
      openapiDoc ??= generateOpenApi(service);
      return openapiDoc;
    },
    listen,
    close,
  };

  registerOpsRoutes(service, {
    readiness: async () => {
      if (shuttingDown) return [{ name: 'shutdown', message: 'the service is shutting down' }];
      const result = await runReadinessChecks(readinessChecks, readinessTimeoutMs, (name, err) =>
        logger.warn({ err, check: name }, 'readiness check failed'),
      );
      return result.failures;
    },
    metricsText: () => metrics.registry.metrics(),
    metricsContentType: metrics.registry.contentType,
  });

  async function listen(options: ListenOptions = {}): Promise<Server> {
    if (server) throw new Error(`service ${opts.name} is already listening`);
    if (closing) throw new Error(`service ${opts.name} is closed`);
    const srv = createServer(app);
    // Longer than common load-balancer idle timeouts (60 s), so the balancer closes idle
    // connections first and never sends on one we are closing.
    srv.keepAliveTimeout = 65_000;
    srv.headersTimeout = 66_000;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(options.port ?? config.PORT, options.host ?? config.HOST, () => {
        srv.off('error', reject);
        resolve();
      });
    });
    server = srv;
    const address = srv.address();
    logger.info({ address, version: opts.version }, `${opts.name} listening`);
    if (options.handleSignals ?? true) installSignalHandlers();
    return srv;
  }

  function installSignalHandlers(): void {
    let received = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      received = true;
      logger.info({ signal }, 'shutting down');
      close().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    removeSignalHandlers = () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    };
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      shuttingDown = true;
      if (opts.shutdownDelayMs && server) await sleep(opts.shutdownDelayMs);
      const srv = server;
      const serverClosed = srv ? new Promise<void>((resolve) => srv.close(() => resolve())) : Promise.resolve();
      const finished = await waitForDrain(config.SHUTDOWN_TIMEOUT_MS);
      if (srv) {
        if (finished) srv.closeIdleConnections();
        else {
          logger.warn({ inFlight }, 'shutdown timeout: cutting the remaining connections');
          srv.closeAllConnections();
        }
      }
      await serverClosed;
      removeSignalHandlers?.();
      if (opts.onShutdown) await opts.onShutdown();
      logger.info(`${opts.name} stopped`);
    })();
    return closing;
  }

  function waitForDrain(timeoutMs: number): Promise<boolean> {
    if (inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onDrained = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        drained.off('drained', onDrained);
        resolve(false);
      }, timeoutMs);
      drained.once('drained', onDrained);
    });
  }

  return service;
}

interface OpsHooks {
  readiness: () => Promise<Array<{ name: string; message: string }>>;
  metricsText: () => Promise<string>;
  metricsContentType: string;
}

const healthSchema = z.object({ status: z.literal('ok') }).meta({ id: 'Health' });
const readySchema = z.object({ status: z.literal('ready') }).meta({ id: 'Ready' });

/**
 * /healthz, /readyz, /metrics and /openapi.json are public: probes and scrapers carry no
 * credentials, and the API description holds no data (clients and gateways fetch it to learn
 * how to authenticate in the first place).
 */
function registerOpsRoutes(service: Service, hooks: OpsHooks): void {
  const ops = { tags: ['ops'], public: true };
  service.route({
    ...ops,
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    summary: 'Liveness: 200 as long as the process serves requests',
    responses: { 200: { description: 'Alive', schema: healthSchema } },
    handler: () => ({ status: 'ok' }),
  });
  service.route({
    ...ops,
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    summary: 'Readiness: 200 when every readiness check passes, 503 (listing the failed checks) otherwise',
    responses: {
      200: { description: 'Ready', schema: readySchema },
      503: { description: 'Not ready; `errors` names the failed checks' },
    },
    handler: async () => {
      const failures = await hooks.readiness();
      if (failures.length === 0) return { status: 'ready' };
      throw new WeightsmithError(ErrorCode.NotReady, `not ready: ${failures.map((f) => f.name).join(', ')}`, {
        issues: failures.map((f) => ({ field: `readiness.${f.name}`, message: f.message })),
      });
    },
  });
  service.route({
    ...ops,
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics (text exposition format)',
    responses: { 200: { description: 'Metrics', schema: z.string(), contentType: 'text/plain' } },
    handler: async () => new HttpReply(200, await hooks.metricsText(), {}, hooks.metricsContentType),
  });
  service.route({
    ...ops,
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApi',
    summary: 'This API as an OpenAPI 3.1 document',
    responses: { 200: { description: 'OpenAPI document', schema: z.record(z.string(), z.unknown()) } },
    handler: () => service.openapi(),
  });
}

function checkRouteSpec(def: RouteDefinition, template: PathTemplate, operationIds: Set<string>): void {
  const where = `route ${def.method.toUpperCase()} ${def.path}`;
  if (operationIds.has(def.operationId)) throw new Error(`${where}: operationId ${def.operationId} is already used`);
  const contentType = def.bodyContentType ?? JSON_CONTENT_TYPE;
  if (def.body && !isJsonContentType(contentType)) {
    throw new Error(`${where}: a body schema needs a JSON body; ${contentType} bodies are streamed to the handler`);
  }
  if (def.body && !BODY_METHODS.has(def.method)) throw new Error(`${where}: ${def.method} requests carry no body`);
  if (!Object.keys(def.responses).some((s) => Number(s) >= 200 && Number(s) < 300)) {
    throw new Error(`${where}: declare at least one 2xx response`);
  }
  if (def.params instanceof z.ZodObject) {
    const declared = Object.keys(def.params.shape).sort();
    const inPath = [...template.params].sort();
    if (declared.join() !== inPath.join()) {
      throw new Error(`${where}: params schema keys [${declared.join(', ')}] differ from path parameters [${inPath.join(', ')}]`);
    }
  }
}

/**
 * JSON bodies: refuse a non-JSON Content-Type (415) before reading anything, then parse with
 * express's parser (which answers 413 for `entity.too.large`, 400 for bad JSON).
 */
function jsonBodyReader(limit: number): RequestHandler {
  const parse = express.json({ limit, strict: false, type: () => true });
  return (req, res, next) => {
    if (!requestHasBody(req)) {
      next();
      return;
    }
    const type = req.headers['content-type'];
    if (type === undefined || !isJsonContentType(type)) {
      sendProblem(req, res, {
        problem: makeProblem({
          status: 415,
          code: ErrorCode.InvalidInput,
          title: 'Unsupported media type',
          detail: `request body must be ${JSON_CONTENT_TYPE}, got ${type ?? 'no Content-Type'}`,
          errors: [{ field: 'header.content-type', message: `expected ${JSON_CONTENT_TYPE}` }],
        }),
        headers: { 'Accept-Post': JSON_CONTENT_TYPE },
      });
      return;
    }
    parse(req, res, next);
  };
}

/** Raw uploads are streamed by the handler; a declared length over the limit is refused up front. */
function uploadLengthGuard(limit: number): RequestHandler {
  return (req, _res, next) => {
    const length = Number(req.headers['content-length']);
    if (Number.isFinite(length) && length > limit) {
      throw new WeightsmithError(ErrorCode.TooLarge, `upload of ${length} bytes exceeds the limit of ${limit} bytes`, {
        field: 'body',
      });
    }
    next();
  };
}

function requestHasBody(req: Request): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/** Validates params, query and body together, so one 400 lists every bad field. */
function validateRequest(def: RouteDefinition, req: Request): { params: unknown; query: unknown; body: unknown } {
  const issues: FieldIssue[] = [];
  const parse = (prefix: string, schema: z.ZodType | undefined, value: unknown): unknown => {
    if (!schema) return value;
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    issues.push(...issuesFromZod(prefix, result.error));
    return undefined;
  };
  const params = parse('params', def.params, { ...req.params });
  const query = parse('query', def.query, { ...req.query });
  const body = def.body ? parse('body', def.body, req.body) : undefined;
  if (issues.length > 0) {
    const fields = issues.map((i) => i.field);
    throw new WeightsmithError(
      ErrorCode.InvalidInput,
      `${issues.length} invalid field${issues.length === 1 ? '' : 's'}: ${[...new Set(fields)].join(', ')}`,
      { issues },
    );
  }
  return { params, query, body };
}

function sendResult(def: RouteDefinition, res: Response, result: unknown): void {
  if (res.headersSent || res.writableEnded) return;
  if (result instanceof HttpReply) {
    res.status(result.status);
    for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value);
    if (result.body === undefined) res.end();
    else if (isJsonContentType(result.contentType)) res.type(result.contentType).send(JSON.stringify(result.body));
    else res.type(result.contentType).send(result.body);
    return;
  }
  const statuses = Object.keys(def.responses).map(Number).filter((s) => s >= 200 && s < 300).sort((a, b) => a - b);
  if (result === undefined) {
    if (statuses.includes(204)) {
      res.status(204).end();
      return;
    }
    throw new WeightsmithError(ErrorCode.Internal, `handler of ${def.operationId} returned no response`);
  }
  res.status(statuses[0] ?? 200).json(result);
}

function sendProblem(req: Request, res: Response, { problem, headers }: ProblemResponse): void {
  const body: Problem = { ...problem, instance: pathOf(req), requestId: locals(res).requestId };
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.status(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

/** Maps express/body-parser errors (which carry `type` and `status`) and everything else. */
function problemForRequestError(err: unknown): ProblemResponse {
  if (isWeightsmithError(err)) return problemFromError(err);
  const e = err as { type?: unknown; status?: unknown; expose?: unknown; limit?: unknown; length?: unknown; message?: unknown };
  if (typeof e?.type === 'string' && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    switch (e.type) {
      case 'entity.too.large':
        return {
          problem: makeProblem({
            status: 413,
            code: ErrorCode.TooLarge,
            detail: `request body${typeof e.length === 'number' ? ` of ${e.length} bytes` : ''} exceeds the limit of ${String(e.limit)} bytes`,
            errors: [{ field: 'body', message: `larger than ${String(e.limit)} bytes` }],
          }),
          headers: {},
        };
      case 'entity.parse.failed':
        return {
          problem: makeProblem({
            status: 400,
            code: ErrorCode.InvalidInput,
            detail: `request body is not valid JSON: ${String(e.message)}`,
            errors: [{ field: 'body', message: 'not valid JSON' }],
          }),
          headers: {},
        };
      default:
        return {
          problem: makeProblem({
            status: e.status,
            code: e.status === 413 ? ErrorCode.TooLarge : ErrorCode.InvalidInput,
            detail: e.expose === true ? String(e.message) : 'the request could not be read',
          }),
          headers: {},
        };
    }
  }
  return problemFromError(err);
}

function allowHeader(methods: Set<string>): string {
  const all = new Set(methods);
  if (all.has('GET')) all.add('HEAD');
  return [...all].sort().join(', ');
}

const pathOf = (req: Request): string => (req.originalUrl ?? req.url ?? '').split('?')[0] ?? '';

function definedOnly<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
