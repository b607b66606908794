import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { z } from 'zod';
import { loadConfig, type BaseConfig } from '@weightsmith/core';
import { ArtifactStore, FsStore, createObjectStore, type ObjectStore } from '@weightsmith/store';
import pino, { type Logger } from 'pino';
import { registerArtifactRoutes } from './artifact-routes.js';
import { JobRunner } from './jobs.js';
import { registerJobRoutes } from './job-routes.js';
import { generateOpenApi, type OpenApiDocument } from './openapi.js';
import type { ReadinessCheck } from './readiness.js';
import { createService, type Service } from './service.js';

/** What a service's routes get: its configuration, the store, artifacts and jobs. */
export interface ServiceContext<C extends BaseConfig = BaseConfig> {
  config: C;
  store: ObjectStore;
  artifacts: ArtifactStore;
  jobs: JobRunner;
  logger: Logger;
}

/**
 * One Weightsmith service: its name, configuration schema (the base schema, extended) and the
 * function that registers its routes and job kinds. `startService` runs it; `serviceOpenApi`
 * builds its OpenAPI document from the same registration without touching any store.
 */
export interface ServiceDefinition<C extends BaseConfig = BaseConfig> {
  name: string;
  version: string;
  description: string;
  configSchema: z.ZodType<C>;
  /** Registers routes and job handlers; returns readiness checks (e.g. models loaded). */
  register(service: Service, ctx: ServiceContext<C>): Promise<ReadinessCheck[] | void> | ReadinessCheck[] | void;
  /** Loads what the service needs before it is ready (models, bundles). Not run for OpenAPI. */
  warmUp?(ctx: ServiceContext<C>): Promise<void>;
  /** Releases what warmUp loaded. */
  shutdown?(): Promise<void>;
}

export interface RunningService<C extends BaseConfig = BaseConfig> {
  service: Service;
  server: Server;
  ctx: ServiceContext<C>;
  /** Graceful stop: stop accepting, finish in-flight requests, drain jobs, close the store. */
  close(): Promise<void>;
}

export interface StartOptions {
  /** Environment to read the configuration from (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Install SIGTERM/SIGINT handlers (default true; tests pass false). */
  handleSignals?: boolean;
}

function assemble<C extends BaseConfig>(
  def: ServiceDefinition<C>,
  config: C,
  store: ObjectStore,
  logger: Logger,
): { service: Service; ctx: ServiceContext<C> } {
  const ctx: ServiceContext<C> = {
    config,
    store,
    logger,
    artifacts: new ArtifactStore(store, { maxBytes: config.UPLOAD_LIMIT }),
    jobs: new JobRunner({
      store,
      // Services share a store; each recovers only its own jobs.
      prefix: `jobs/${def.name}/`,
      concurrency: config.JOB_CONCURRENCY,
      staleAfterMs: config.JOB_STALE_AFTER_MS,
      logger: logger.child({ component: 'jobs' }),
    }),
  };
  const service = createService({
    name: def.name,
    version: def.version,
    description: def.description,
    config,
    logger,
    readiness: [{ name: 'store', check: () => store.ping() }],
    onShutdown: async () => {
      await ctx.jobs.close();
      await def.shutdown?.();
      await store.close();
    },
  });
  registerJobRoutes(service, ctx.jobs);
  registerArtifactRoutes(service, ctx.artifacts, { service: def.name, version: def.version, uploadLimit: config.UPLOAD_LIMIT });
  return { service, ctx };
}

/** Parses the environment, connects the store, recovers jobs, registers routes and listens. */
export async function startService<C extends BaseConfig>(def: ServiceDefinition<C>, options: StartOptions = {}): Promise<RunningService<C>> {
  const config = loadConfig(def.configSchema, options.env ?? process.env);
  const logger = pino({ name: def.name, level: config.LOG_LEVEL });
  const store = await createObjectStore(config);
  logger.info({ store: store.location }, 'store connected');
  const { service, ctx } = assemble(def, config, store, logger);
  const checks = (await def.register(service, ctx)) ?? [];
  for (const check of checks) service.addReadinessCheck(check);
  const interrupted = await ctx.jobs.recover();
  if (interrupted.length > 0) logger.warn({ jobs: interrupted }, 'jobs of a previous process were marked interrupted');
  // Listen before warming up: /healthz answers at once, /readyz says 503 until models are loaded.
  const server = await service.listen({ handleSignals: options.handleSignals ?? true });
  await def.warmUp?.(ctx);
  return { service, server, ctx, close: () => service.close() };
}

/**
 * The service's OpenAPI document, from the same route registration `startService` runs, against
 * a folder store that is never opened (registration never touches the store).
 */
export async function serviceOpenApi<C extends BaseConfig>(def: ServiceDefinition<C>): Promise<OpenApiDocument> {
  const config = loadConfig(def.configSchema, { LOG_LEVEL: 'silent' });
  const store = new FsStore({ root: join(tmpdir(), 'weightsmith-openapi-unused') });
  const { service, ctx } = assemble(def, config, store, pino({ level: 'silent' }));
  await def.register(service, ctx);
  return generateOpenApi(service);
}
