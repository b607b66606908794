/** The feature-set registration request: what `POST /v1/feature-sets` accepts. */
import { z } from 'zod';
import { refKind } from './refs.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const fileRefSchema = z
  .string()
  .min(1)
  .max(1024)
  .refine((ref) => refKind(ref) !== undefined, {
    message: 'must be an artifact id (64 hex), an s3://bucket/key URI or a store key',
  })
  .describe('Where a file lives: an artifact id (sha256), an s3://bucket/key URI, or an object-store key.');

export const modelNameSchema = z.string().regex(NAME, 'model names are 1-64 of A-Z a-z 0-9 . _ - (starting alphanumeric)');
export const slideIdSchema = z.string().min(1).max(256).regex(/^[^\u0000-\u001f]+$/, 'slide ids must not contain control characters');

export const featureSetRequestSchema = z
  .object({
    name: z.string().min(1).max(200).optional(),
    task: z.enum(['classification', 'regression']),
    models: z
      .array(z.object({ name: modelNameSchema, dim: z.int().positive().max(1 << 16).optional() }).strict())
      .min(1)
      .max(16)
      .describe('The foundation models, in the order the fitted model uses them; `dim` defaults to the first slide’s.'),
    slides: z
      .array(
        z
          .object({
            id: slideIdSchema,
            features: z.record(z.string(), fileRefSchema).describe('model name → the slide’s feature file (h5 or safetensors)'),
            targets: fileRefSchema.optional().describe('regression: tile targets, safetensors {targets, coords} or CSV x,y,gene…'),
          })
          .strict(),
      )
      .min(1),
    labels: z
      .union([z.record(z.string(), z.union([z.string(), z.number()])), z.string()])
      .optional()
      .describe('classification: {slide_id: label} or CSV text with header slide_id,label'),
    genes: z.array(z.string().min(1).max(128)).min(1).max(4096).optional().describe('regression: target column names'),
  })
  .strict();

export type FeatureSetRequest = z.infer<typeof featureSetRequestSchema>;

/** `["slides", 3, "features", "UNI"]` → `slides[3].features.UNI`. */
export function jsonPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$-]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}
