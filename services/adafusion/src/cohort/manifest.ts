/** What a validated feature set records: enough to rebuild the cohort without re-validating. */
import { z } from 'zod';
import { fileRefSchema, modelNameSchema, slideIdSchema } from './schema.js';

export const featureSetManifestSchema = z.object({
  version: z.literal(1),
  name: z.string().optional(),
  task: z.enum(['classification', 'regression']),
  models: z.array(z.object({ name: modelNameSchema, dim: z.int().positive() })),
  slides: z.array(
    z.object({
      id: slideIdSchema,
      /** model name → ref, for every model. */
      features: z.record(z.string(), fileRefSchema),
      targets: fileRefSchema.optional(),
      /** Aligned tiles (shared by all models). */
      tiles: z.int().positive(),
      /** Class name (classification). */
      label: z.string().optional(),
    }),
  ),
  /** Sorted class names (classification). */
  classes: z.array(z.string()).optional(),
  genes: z.array(z.string()).optional(),
  counts: z.object({
    slides: z.int(),
    tiles: z.int(),
    /** Slides per class (classification). */
    perClass: z.record(z.string(), z.int()).optional(),
  }),
});

export type FeatureSetManifest = z.infer<typeof featureSetManifestSchema>;
