import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { baseConfigSchema } from '@weightsmith/core';
import { runTaskInWorker, type ServiceDefinition } from '@weightsmith/http';
import { registerAdaFusionRoutes } from './http/routes.js';
import { TextEncoderStatus } from './http/text-encoder-status.js';
import { textEncoderSourceOf, type TextEncoderInfo } from './pipeline/text-encoder.js';
import { TASK_WORKER_MODULE, TASKS } from './worker/tasks.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; description: string };

export const configSchema = baseConfigSchema
  .extend({
    /** Most slides one feature set may register. */
    ADAFUSION_MAX_SLIDES: z.coerce.number().int().min(1).max(1_000_000).default(10_000),
    /** Most aligned tiles one slide may have (per request slide and per registered slide). */
    ADAFUSION_MAX_TILES_PER_SLIDE: z.coerce.number().int().min(1).max(100_000_000).default(200_000),
    /** Cap on one feature file's features, as float32 bytes (2 GiB by default). */
    ADAFUSION_MAX_FEATURE_BYTES: z.coerce.number().int().min(1).default(2 * 1024 ** 3),
    /**
     * A local folder with a CLIP-style text tower in the layout libs/text reads (e.g. CONCH's or
     * PLIP's text encoder exported to ONNX), for `context: {kind: "text"}` fits; empty = none.
     */
    ADAFUSION_TEXT_ENCODER_DIR: z.string().default(''),
    /** The same, under this object-store prefix (copied once to ADAFUSION_CACHE_DIR); empty = none. */
    ADAFUSION_TEXT_ENCODER_PREFIX: z.string().default(''),
    /** Where a text encoder from the object store is copied (transformers.js reads folders). */
    ADAFUSION_CACHE_DIR: z.string().min(1).default(join(tmpdir(), 'weightsmith-adafusion-cache')),
  })
  .superRefine((c, ctx) => {
    if (c.ADAFUSION_TEXT_ENCODER_DIR !== '' && c.ADAFUSION_TEXT_ENCODER_PREFIX !== '') {
      ctx.addIssue({
        code: 'custom',
        path: ['ADAFUSION_TEXT_ENCODER_PREFIX'],
        message: 'set either ADAFUSION_TEXT_ENCODER_DIR or ADAFUSION_TEXT_ENCODER_PREFIX, not both: the service has one text encoder',
      });
    }
  });
export type AdaFusionConfig = z.infer<typeof configSchema>;

/**
 * An adafusion service definition with its own text-encoder state (so tests can run several in
 * one process). Shared routes (health, metrics, jobs, artifacts, OpenAPI) come from the runtime;
 * this adds feature sets, models (fit jobs), reports, predictions and fusions. Fits, predictions
 * and plots run in worker threads (tfjs-wasm and onnxruntime block the thread they run on); the
 * only warm-up is checking, in a worker too, that a configured text encoder loads (/readyz says
 * 'text encoder' until it has; see TextEncoderStatus for why a broken one leaves the service
 * running but not ready).
 */
export function createAdaFusionDefinition(): ServiceDefinition<AdaFusionConfig> {
  let textEncoder: TextEncoderStatus | undefined;
  return {
    name: 'adafusion',
    version: pkg.version,
    description: pkg.description,
    configSchema,
    register: (service, ctx) => {
      const { config } = ctx;
      textEncoder = new TextEncoderStatus({
        source: textEncoderSourceOf(config),
        probe: (source, signal) =>
          runTaskInWorker<TextEncoderInfo>(
            TASK_WORKER_MODULE,
            { store: config, intraOpNumThreads: config.ORT_INTRA_OP_THREADS, task: TASKS.textEncoderProbe, input: source },
            { signal },
          ),
        logger: ctx.logger,
      });
      registerAdaFusionRoutes(service, ctx, { service: 'adafusion', version: pkg.version }, textEncoder);
      return [textEncoder.readinessCheck()];
    },
    warmUp: async () => {
      await textEncoder?.load();
    },
    shutdown: async () => {
      textEncoder?.close();
    },
  };
}

export const definition = createAdaFusionDefinition();
