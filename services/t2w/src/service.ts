import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { baseConfigSchema, env, ErrorCode, WeightsmithError } from '@weightsmith/core';
import type { ServiceDefinition } from '@weightsmith/http';
import { T2wRuntime, type GenerationLimits } from './generation/index.js';
import { registerT2wRoutes } from './http/routes.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; description: string };

export const configSchema = baseConfigSchema.extend({
  /** A folder of bundle folders (each with bundle.json); absent or empty = no bundles, still ready. */
  T2W_BUNDLES_DIR: z.string().min(1).default('models/t2w'),
  /** Also serve the bundles under this prefix of the object store (e.g. `bundles/`); empty = none. */
  T2W_BUNDLES_PREFIX: z.string().default(''),
  /** Where text encoders of store bundles are copied (transformers.js reads folders). */
  T2W_CACHE_DIR: z.string().min(1).default(join(tmpdir(), 'weightsmith-t2w-cache')),
  /** Most samples one generation request may ask for. */
  T2W_MAX_N: z.coerce.number().int().min(1).max(1024).default(16),
  /** Longest description or class name, in characters. */
  T2W_MAX_TEXT_CHARS: z.coerce.number().int().min(1).max(100_000).default(512),
  /** Run concurrent requests' denoiser steps for one bundle as one batched call. */
  T2W_BATCHING: env.bool.default(true),
  /** Most rows in one batched denoiser call (a request contributes n rows, 2n with guidance). */
  T2W_BATCH_MAX_ROWS: z.coerce.number().int().min(1).max(4096).default(64),
  /** How long a step waits for others to join its batch, in milliseconds (0: only the current event-loop turn, so a lone request never waits). */
  T2W_BATCH_MAX_WAIT_MS: z.coerce.number().min(0).max(1000).default(0),
});
export type T2wConfig = z.infer<typeof configSchema>;

const limitsOf = (c: T2wConfig): GenerationLimits => ({ maxN: c.T2W_MAX_N, maxTextChars: c.T2W_MAX_TEXT_CHARS });

/**
 * A t2w service definition with its own runtime slot (so tests can run several in one process).
 * Shared routes (health, metrics, jobs, artifacts, OpenAPI) come from the runtime; this adds the
 * bundles and generation endpoints. warmUp loads the bundles, their text encoders and the
 * denoisers (into an InferencePool); /readyz says 'bundles loaded' until that is done.
 */
export function createT2wDefinition(): ServiceDefinition<T2wConfig> {
  let runtime: T2wRuntime | undefined;
  let loading: string | undefined = 'bundles are loading';
  return {
    name: 't2w',
    version: pkg.version,
    description: pkg.description,
    configSchema,
    register: (service, ctx) => {
      const holder = {
        current: (): T2wRuntime => {
          if (runtime === undefined) throw new WeightsmithError(ErrorCode.NotReady, `the service is not ready: ${loading ?? 'bundles are not loaded'}`, { retryAfter: 5 });
          return runtime;
        },
      };
      registerT2wRoutes(service, ctx, holder, limitsOf(ctx.config), { service: 't2w', version: pkg.version });
      return [
        {
          name: 'bundles loaded',
          check: async () => {
            holder.current();
          },
        },
      ];
    },
    warmUp: async (ctx) => {
      try {
        const rt = await T2wRuntime.load({
          bundlesDir: ctx.config.T2W_BUNDLES_DIR,
          limits: limitsOf(ctx.config),
          intraOpNumThreads: ctx.config.ORT_INTRA_OP_THREADS,
          workerThreads: ctx.config.WORKER_THREADS,
          ...(ctx.config.T2W_BUNDLES_PREFIX ? { storeBundles: { store: ctx.store, prefix: ctx.config.T2W_BUNDLES_PREFIX, cacheDir: ctx.config.T2W_CACHE_DIR } } : {}),
          ...(ctx.config.T2W_BATCHING ? { batching: { maxRows: ctx.config.T2W_BATCH_MAX_ROWS, maxWaitMs: ctx.config.T2W_BATCH_MAX_WAIT_MS } } : {}),
        });
        for (const f of rt.failures) ctx.logger.error({ bundle: f.location, err: f.error.message, field: f.error.field }, 'bundle not served');
        for (const b of rt.bundles()) {
          const serving = rt.serving(b.name);
          if (ctx.config.T2W_BATCHING && !serving.dynamicBatching) {
            ctx.logger.warn({ bundle: b.name, batchInvariance: serving.batchInvariance }, "dynamic batching off for this bundle: its denoiser's rows depend on the other rows of a call");
          }
        }
        ctx.logger.info({ dir: ctx.config.T2W_BUNDLES_DIR, prefix: ctx.config.T2W_BUNDLES_PREFIX || undefined, bundles: rt.bundles().map((b) => ({ name: b.name, ...rt.serving(b.name) })) }, 'bundles loaded');
        runtime = rt;
        loading = undefined;
      } catch (err) {
        loading = `loading bundles from ${ctx.config.T2W_BUNDLES_DIR} failed: ${(err as Error).message}`;
        throw err;
      }
    },
    shutdown: async () => {
      const rt = runtime;
      runtime = undefined;
      loading = 'the service is shutting down';
      await rt?.close();
    },
  };
}

export const definition = createT2wDefinition();
