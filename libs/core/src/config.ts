import { z } from 'zod';
import { ErrorCode, WeightsmithError } from './errors.js';

/**
 * The one configuration loader: every service parses `process.env` once at start-up with a zod
 * schema. Shared settings live in `baseConfigSchema`; a service extends it with its own keys.
 * Unknown variables are ignored; invalid ones fail start-up with every problem listed.
 */
const boolFromEnv = z
  .enum(['1', '0', 'true', 'false', 'yes', 'no', 'on', 'off'])
  .transform((v) => v === '1' || v === 'true' || v === 'yes' || v === 'on');

const csv = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter((x) => x.length > 0));

export const env = { bool: boolFromEnv, csv } as const;

export const baseConfigSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Comma-separated bearer tokens; empty = auth off. */
  API_TOKENS: csv.default([]),
  /** Maximum JSON body size, in bytes. */
  JSON_BODY_LIMIT: z.coerce.number().int().positive().default(1_000_000),
  /** Maximum upload size (octet-stream, tar, multipart), in bytes. */
  UPLOAD_LIMIT: z.coerce.number().int().positive().default(4 * 1024 ** 3),
  /** Graceful-shutdown grace period for in-flight requests, in milliseconds. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(25_000),

  WEIGHTSMITH_STORE: z.enum(['fs', 's3']).default('fs'),
  /** Root folder of the embedded folder store. */
  STORE_DIR: z.string().default('./data'),
  S3_ENDPOINT: z.string().url().optional(),
  S3_REGION: z.string().default('us-east-1'),
  S3_BUCKET: z.string().default('weightsmith'),
  S3_ACCESS_KEY: z.string().optional(),
  S3_SECRET_KEY: z.string().optional(),
  S3_PATH_STYLE: boolFromEnv.default(true),
  /** Create the bucket at start-up when it does not exist. */
  S3_CREATE_BUCKET: boolFromEnv.default(true),
  /** Key prefix inside the bucket (or folder), so several deployments can share one bucket. */
  STORE_PREFIX: z.string().default(''),

  /** Concurrent jobs per service instance. */
  JOB_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  /**
   * Several replicas on one store: a live job whose heartbeat is older than this is taken as
   * dead and marked failed. 0 (default) = one instance per store.
   */
  JOB_STALE_AFTER_MS: z.coerce.number().int().min(0).default(0),
  /** Threads per onnxruntime session (the default ignores container CPU limits). */
  ORT_INTRA_OP_THREADS: z.coerce.number().int().min(1).max(256).default(2),
  /** worker_threads running inference and heavy numeric work. */
  WORKER_THREADS: z.coerce.number().int().min(1).max(64).default(1),
  /** Allow @huggingface/transformers to download from a model hub (off: local folders only). */
  ALLOW_REMOTE_MODELS: boolFromEnv.default(false),
});
export type BaseConfig = z.infer<typeof baseConfigSchema>;

export function loadConfig<S extends z.ZodType>(
  schema: S,
  source: Record<string, string | undefined> = process.env,
): z.infer<S> {
  // Empty strings mean "unset" in env files and k8s manifests.
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(source)) if (v !== undefined && v !== '') cleaned[k] = v;
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({
      field: i.path.map(String).join('.') || '(env)',
      message: i.message,
    }));
    throw new WeightsmithError(
      ErrorCode.InvalidInput,
      `invalid configuration: ${issues.map((i) => `${i.field}: ${i.message}`).join('; ')}`,
      { issues },
    );
  }
  const cfg = parsed.data as Record<string, unknown>;
  if (cfg['WEIGHTSMITH_STORE'] === 's3') {
    const missing = ['S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY'].filter((k) => cfg[k] === undefined);
    if (missing.length > 0) {
      throw new WeightsmithError(
        ErrorCode.InvalidInput,
        `invalid configuration: WEIGHTSMITH_STORE=s3 needs ${missing.join(', ')}`,
        { issues: missing.map((field) => ({ field, message: 'required when WEIGHTSMITH_STORE=s3' })) },
      );
    }
  }
  return parsed.data;
}
