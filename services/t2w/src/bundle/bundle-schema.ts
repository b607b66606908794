/**
 * The `bundle.json` of a T2W bundle (formatVersion 1): everything the service needs to generate
 * weights for one target network besides the denoiser ONNX itself. Cross-field rules (layout
 * sizes sum to the denoiser's P, condDim = text embedding dim, a well-formed β schedule, unique
 * names) are part of the schema, so a manifest that parses is one the samplers can trust.
 */
import { z } from 'zod';
import { WeightsmithError, ErrorCode, type FieldIssue } from '@weightsmith/core';

export const BUNDLE_FORMAT_VERSION = 1;
export const MLP_COSINE_HEAD = 'mlp-gelu-cosine-head';

const slug = z
  .string()
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/, 'must be a slug: lowercase letters, digits and inner hyphens, 1 to 64 characters');

/** A plain file name inside the bundle (no folders, no `..`). */
const fileName = z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'must be a plain file name inside the bundle').refine((s) => s !== '..', 'must not be ".."');

const positiveInt = z.number().int().min(1);

export const tensorLayoutEntrySchema = z.strictObject({
  name: z.string().min(1),
  /** Dims in state-dict order; [] is a scalar (one value). */
  shape: z.array(positiveInt),
});
export type TensorLayoutEntry = z.infer<typeof tensorLayoutEntrySchema>;

/** `Linear(f→h) – GELU – Linear(h→e)`, logits = tau · cos(head(feature), text embedding). */
export const mlpCosineHeadSchema = z.strictObject({
  type: z.literal(MLP_COSINE_HEAD),
  f: positiveInt,
  h: positiveInt,
  e: positiveInt,
  tau: z.number().positive().finite(),
});
/**
 * `type` names the target network; known types have their fields checked (errors point at the
 * field), others are kept as written — the service only needs their layout.
 */
export const architectureSchema = z.looseObject({ type: z.string().min(1) }).superRefine((arch, ctx) => {
  if (arch.type !== MLP_COSINE_HEAD) return;
  const r = mlpCosineHeadSchema.safeParse(arch);
  if (!r.success) for (const i of r.error.issues) ctx.addIssue({ code: 'custom', path: i.path, message: i.message });
});

export const diffusionSchema = z.strictObject({
  timesteps: positiveInt,
  betaSchedule: z.literal('linear'),
  betaStart: z.number().gt(0).lt(1),
  betaEnd: z.number().gt(0).lt(1),
  /** What the denoiser outputs: the clean sample, the noise, or v = √ᾱ·ε − √(1−ᾱ)·x0. */
  prediction: z.enum(['x0', 'eps', 'v']),
  /** Probability the condition was replaced by `nullCond` in training; > 0 allows guidance. */
  condDropout: z.number().min(0).lt(1).optional(),
  /** The condition used for "no condition" (classifier-free guidance). */
  nullCond: z.enum(['zeros']).optional(),
});

export const denoiserSchema = z.strictObject({
  file: fileName.default('denoiser.onnx'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits'),
  /** Input names of the ONNX contract: x [B, P] f32, t [B] tDtype, cond [B, E] f32. */
  inputs: z.strictObject({
    x: z.string().min(1).default('x'),
    t: z.string().min(1).default('t'),
    cond: z.string().min(1).default('cond'),
    tDtype: z.enum(['float32', 'int64']).default('float32'),
  }),
  /** Output name; [B, P] f32 holding what `diffusion.prediction` says. */
  output: z.string().min(1),
  parameterCount: positiveInt,
  condDim: positiveInt,
  width: positiveInt,
  layers: positiveInt,
  heads: positiveInt,
});

export const textSchema = z.strictObject({
  /**
   * The CLIP text model: a folder relative to the bundle (`text`), or `store:<prefix>` for a
   * prefix of the object store shared by several bundles.
   */
  encoder: z
    .string()
    .min(1)
    .refine((s) => !s.startsWith('/') && !s.split('/').includes('..'), 'must be relative to the bundle, without ".." segments'),
  promptTemplate: z.string().refine((s) => s.includes('{class}'), 'must contain "{class}"'),
  embeddingDim: positiveInt,
});

export const evaluationSchema = z.strictObject({
  /** The frozen feature extractor the head sits on (images → f features), for users' own data; optional. */
  backbone: fileName.optional(),
  /** safetensors with `features` [N, f] (the backbone's output) and `labels` [N] (indices into `classes`); what POST /v1/evaluations scores. */
  data: fileName.default('eval.safetensors'),
  classes: z.array(z.string().min(1)).min(1),
});

export const provenanceSchema = z.looseObject({
  trainer: z.string().min(1),
  seed: z.number().int().min(0).optional(),
  /** ISO 8601 timestamp. */
  created: z.iso.datetime({ offset: true }),
  dataset: z.string().min(1),
});

const baseManifestSchema = z.strictObject({
  formatVersion: z.literal(BUNDLE_FORMAT_VERSION),
  name: slug,
  version: z.string().min(1),
  description: z.string().default(''),
  target: z.strictObject({
    layout: z.array(tensorLayoutEntrySchema).min(1),
    architecture: architectureSchema,
  }),
  blockSize: positiveInt,
  /** Flat parameters are multiplied by this before diffusion and divided after. */
  scale: z.number().positive().finite(),
  diffusion: diffusionSchema,
  denoiser: denoiserSchema,
  text: textSchema,
  classes: z.array(z.string().min(1)).min(1),
  /** Reject generation requests naming classes outside `classes`. */
  requireKnownClasses: z.boolean().default(false),
  evaluation: evaluationSchema.optional(),
  provenance: provenanceSchema,
});

export const bundleManifestSchema = baseManifestSchema.superRefine((m, ctx) => {
  const issue = (path: (string | number)[], message: string): void => {
    ctx.addIssue({ code: 'custom', path, message });
  };
  duplicates(m.target.layout.map((t) => t.name)).forEach((i) => issue(['target', 'layout', i, 'name'], `duplicate tensor name "${m.target.layout[i]!.name}"`));
  duplicates(m.classes).forEach((i) => issue(['classes', i], `duplicate class "${m.classes[i]}"`));
  if (m.evaluation) {
    const ev = m.evaluation.classes;
    duplicates(ev).forEach((i) => issue(['evaluation', 'classes', i], `duplicate class "${ev[i]}"`));
    if (m.evaluation.backbone === m.evaluation.data) issue(['evaluation', 'data'], 'must differ from evaluation.backbone');
  }
  const { x, t, cond } = m.denoiser.inputs;
  const names = [x, t, cond, m.denoiser.output];
  duplicates(names).forEach((i) => issue(i === 3 ? ['denoiser', 'output'] : ['denoiser', 'inputs', ['x', 't', 'cond'][i]!], `name "${names[i]}" is used twice`));

  const total = layoutSize(m.target.layout);
  if (total !== m.denoiser.parameterCount) {
    issue(['denoiser', 'parameterCount'], `is ${m.denoiser.parameterCount} but the layout's sizes sum to ${total}`);
  }
  if (!(m.diffusion.betaStart < m.diffusion.betaEnd)) {
    issue(['diffusion', 'betaEnd'], `must be greater than betaStart (${m.diffusion.betaStart}), got ${m.diffusion.betaEnd}`);
  }
  if (m.denoiser.condDim !== m.text.embeddingDim) {
    issue(['denoiser', 'condDim'], `is ${m.denoiser.condDim} but text.embeddingDim is ${m.text.embeddingDim}`);
  }
  if (m.denoiser.width % m.denoiser.heads !== 0) {
    issue(['denoiser', 'heads'], `width ${m.denoiser.width} is not divisible by ${m.denoiser.heads} heads`);
  }
  const arch = m.target.architecture;
  const head = mlpCosineHeadSchema.safeParse(arch);
  if (head.success) {
    const { f, h, e } = head.data;
    const expected = mlpCosineHeadLayout(f, h, e);
    const same =
      expected.length === m.target.layout.length &&
      expected.every((x, i) => x.name === m.target.layout[i]!.name && sameShape(x.shape, m.target.layout[i]!.shape));
    if (!same) {
      issue(['target', 'layout'], `must be ${expected.map((x) => `${x.name} [${x.shape.join(', ')}]`).join(', ')} for ${MLP_COSINE_HEAD} f=${f} h=${h} e=${e}`);
    }
    if (e !== m.text.embeddingDim) {
      issue(['target', 'architecture', 'e'], `is ${e} but the cosine head compares with text embeddings of dim ${m.text.embeddingDim}`);
    }
  }
});

export type BundleManifest = z.infer<typeof bundleManifestSchema>;
/** What a bundle.json author writes (defaults may be left out). */
export type BundleManifestInput = z.input<typeof bundleManifestSchema>;

/** The state-dict layout of `Linear(f→h) – GELU – Linear(h→e)` (PyTorch: weight [out, in]). */
export function mlpCosineHeadLayout(f: number, h: number, e: number): TensorLayoutEntry[] {
  return [
    { name: 'fc1.weight', shape: [h, f] },
    { name: 'fc1.bias', shape: [h] },
    { name: 'fc2.weight', shape: [e, h] },
    { name: 'fc2.bias', shape: [e] },
  ];
}

export function tensorSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function layoutSize(layout: readonly TensorLayoutEntry[]): number {
  return layout.reduce((sum, t) => sum + tensorSize(t.shape), 0);
}

/**
 * Parses a bundle.json value; every problem becomes one issue whose field is
 * `bundle.json.<path>`, all in one invalid_format error naming the bundle.
 */
export function parseBundleManifest(value: unknown, bundleLabel: string): BundleManifest {
  const result = bundleManifestSchema.safeParse(value);
  if (result.success) return result.data;
  const issues: FieldIssue[] = result.error.issues.map((i) => ({
    field: ['bundle.json', ...i.path.map(String)].join('.'),
    message: i.message,
  }));
  const summary = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  throw new WeightsmithError(ErrorCode.InvalidFormat, `bundle ${bundleLabel}: bundle.json is invalid: ${summary}`, {
    field: issues[0]?.field ?? 'bundle.json',
    issues,
  });
}

function duplicates(values: readonly string[]): number[] {
  const seen = new Set<string>();
  const out: number[] = [];
  values.forEach((v, i) => {
    if (seen.has(v)) out.push(i);
    seen.add(v);
  });
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
