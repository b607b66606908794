import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { baseConfigSchema } from '@weightsmith/core';
import type { ServiceDefinition } from '@weightsmith/http';
import { registerAdaFusionRoutes } from './http/routes.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; description: string };

export const configSchema = baseConfigSchema.extend({
  /** Most slides one feature set may register. */
  ADAFUSION_MAX_SLIDES: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
  /** Most aligned tiles one slide may have (per request slide and per registered slide). */
  ADAFUSION_MAX_TILES_PER_SLIDE: z.coerce.number().int().min(1).max(100_000_000).default(200_000),
  /** Cap on one feature file's features, as float32 bytes (2 GiB by default). */
  ADAFUSION_MAX_FEATURE_BYTES: z.coerce.number().int().min(1).default(2 * 1024 ** 3),
});
export type AdaFusionConfig = z.infer<typeof configSchema>;

/**
 * The adafusion service. Shared routes (health, metrics, jobs, artifacts, OpenAPI) come from the
 * runtime; this definition adds feature sets, models (fit jobs), reports, predictions and
 * fusions. Fits, predictions and plots run in worker threads (tfjs-wasm and onnxruntime block
 * the thread they run on), so there is nothing to warm up.
 */
export const definition: ServiceDefinition<AdaFusionConfig> = {
  name: 'adafusion',
  version: pkg.version,
  description: pkg.description,
  configSchema,
  register: (service, ctx) => {
    registerAdaFusionRoutes(service, ctx, { service: 'adafusion', version: pkg.version });
  },
};
