/**
 * Validation of a feature-set registration: every slide × model file is read once, checked,
 * aligned and dropped again, and every problem — request shape, model names, dims, files,
 * alignment, labels, cohort size — is collected into one error before anything is stored.
 */
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import { alignSlide } from '../features/align.js';
import { readSlideFeatures } from '../features/read-slide.js';
import type { ModelSpec, SlideFeatures } from '../types.js';
import { IssueCollector } from './issues.js';
import { labelsFromJson, parseLabelsCsv, type SlideLabels } from './labels.js';
import type { FeatureSetManifest } from './manifest.js';
import type { ResolveRef } from './refs.js';
import { featureSetRequestSchema, jsonPath, type FeatureSetRequest } from './schema.js';
import { orderTargets, readTileTargets } from './targets.js';

export interface ValidateFeatureSetOptions {
  /** Most slides in one feature set (default 10 000). */
  maxSlides?: number;
  /** Most aligned tiles per slide (default 200 000). */
  maxTilesPerSlide?: number;
  /** Cap on one file's features as f32 bytes (default 2 GiB). */
  maxFeatureBytes?: number;
  /** Slides read at the same time (default 4): overlaps store latency, bounds memory. */
  concurrency?: number;
}

/** Classes in a stable order: numerically when every label is a number, else by code point. */
export function sortClasses(labels: Iterable<string>): string[] {
  const unique = [...new Set(labels)];
  if (unique.every((l) => l.trim() !== '' && Number.isFinite(Number(l)))) return unique.sort((a, b) => Number(a) - Number(b));
  return unique.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

interface SlideResult {
  tiles?: number;
  dims: (number | undefined)[];
}

function parseRequest(request: unknown): FeatureSetRequest {
  const parsed = featureSetRequestSchema.safeParse(request);
  if (parsed.success) return parsed.data;
  const issues = new IssueCollector();
  for (const issue of parsed.error.issues) issues.add(ErrorCode.InvalidInput, jsonPath(issue.path) || 'body', `${jsonPath(issue.path) || 'body'}: ${issue.message}`);
  issues.throwIfAny('feature set request');
  throw new Error('unreachable');
}

function checkStructure(req: FeatureSetRequest, issues: IssueCollector, maxSlides: number): void {
  const modelNames = req.models.map((m) => m.name);
  const seenModels = new Set<string>();
  req.models.forEach((m, i) => {
    if (seenModels.has(m.name)) issues.add(ErrorCode.InvalidInput, `models[${i}].name`, `model ${m.name} is listed twice`);
    seenModels.add(m.name);
  });
  if (req.slides.length > maxSlides) {
    issues.add(ErrorCode.TooLarge, 'slides', `${req.slides.length} slides; the limit is ${maxSlides}`);
  }
  const seenSlides = new Set<string>();
  req.slides.forEach((slide, i) => {
    if (seenSlides.has(slide.id)) issues.add(ErrorCode.InvalidInput, `slides[${i}].id`, `slide ${slide.id} is listed twice`);
    seenSlides.add(slide.id);
    for (const key of Object.keys(slide.features)) {
      if (!seenModels.has(key)) {
        issues.add(ErrorCode.InvalidInput, jsonPath(['slides', i, 'features', key]), `slide ${slide.id}: unknown model ${key} (registered: ${modelNames.join(', ')})`);
      }
    }
    for (const name of modelNames) {
      if (!(name in slide.features)) issues.add(ErrorCode.InvalidInput, jsonPath(['slides', i, 'features', name]), `slide ${slide.id}: no features for model ${name}`);
    }
    if (req.task === 'regression' && slide.targets === undefined) {
      issues.add(ErrorCode.InvalidInput, `slides[${i}].targets`, `slide ${slide.id}: regression needs a targets file`);
    }
    if (req.task === 'classification' && slide.targets !== undefined) {
      issues.add(ErrorCode.InvalidInput, `slides[${i}].targets`, `slide ${slide.id}: targets are for regression; this feature set is classification`);
    }
  });
}

/** Labels of the registered slides, with every mismatch against the slide list reported. */
function checkLabels(req: FeatureSetRequest, issues: IssueCollector): SlideLabels | undefined {
  if (req.task === 'regression') {
    if (req.genes === undefined) issues.add(ErrorCode.InvalidInput, 'genes', 'regression needs `genes`, the names of the target columns');
    if (req.labels !== undefined) issues.add(ErrorCode.InvalidInput, 'labels', 'labels are for classification; regression takes per-slide targets');
    if (req.slides.length < 2) issues.add(ErrorCode.InvalidInput, 'slides', `${req.slides.length} slide; a 70/30 split needs at least 2`);
    return undefined;
  }
  if (req.labels === undefined) {
    issues.add(ErrorCode.InvalidInput, 'labels', 'classification needs labels ({slide_id: label} or CSV slide_id,label)');
    return undefined;
  }
  let labels: SlideLabels;
  try {
    labels = typeof req.labels === 'string' ? parseLabelsCsv(req.labels) : labelsFromJson(req.labels);
  } catch (err) {
    issues.capture(err, 'labels');
    return undefined;
  }
  const ids = new Set(req.slides.map((s) => s.id));
  for (const slide of labels.keys()) {
    if (!ids.has(slide)) issues.add(ErrorCode.InvalidInput, jsonPath(['labels', slide]), `label for unknown slide ${slide}`);
  }
  req.slides.forEach((slide) => {
    if (!labels.has(slide.id)) issues.add(ErrorCode.InvalidInput, jsonPath(['labels', slide.id]), `slide ${slide.id} has no label`);
  });
  const perClass = new Map<string, number>();
  for (const slide of req.slides) {
    const label = labels.get(slide.id);
    if (label !== undefined) perClass.set(label, (perClass.get(label) ?? 0) + 1);
  }
  if (perClass.size === 1) {
    issues.add(ErrorCode.InvalidInput, 'labels', `every slide has the same label (${[...perClass.keys()][0]}); classification needs at least two classes`);
  } else {
    for (const cls of sortClasses(perClass.keys())) {
      const count = perClass.get(cls)!;
      if (count < 2) issues.add(ErrorCode.InvalidInput, 'labels', `class ${cls} has ${count} slide; a 70/30 split needs at least 2 slides per class`);
    }
  }
  return labels;
}

async function readSlide(
  req: FeatureSetRequest,
  index: number,
  resolveRef: ResolveRef,
  issues: IssueCollector,
  options: Required<Pick<ValidateFeatureSetOptions, 'maxTilesPerSlide'>> & ValidateFeatureSetOptions,
): Promise<SlideResult> {
  const slide = req.slides[index]!;
  const fieldOf = (name: string): string => jsonPath(['slides', index, 'features', name]);
  const perModel: (SlideFeatures | undefined)[] = [];
  for (const model of req.models) {
    const ref = slide.features[model.name];
    if (ref === undefined) {
      perModel.push(undefined);
      continue;
    }
    const field = fieldOf(model.name);
    let bytes: Uint8Array;
    try {
      bytes = await resolveRef(ref);
    } catch (err) {
      issues.captureAt(err, field, `slide ${slide.id}, model ${model.name}`);
      perModel.push(undefined);
      continue;
    }
    try {
      perModel.push(await readSlideFeatures(bytes, { source: `slide ${slide.id}, model ${model.name} (${ref})`, field, maxFeatureBytes: options.maxFeatureBytes }));
    } catch (err) {
      issues.capture(err, field);
      perModel.push(undefined);
    }
  }
  const dims = perModel.map((s) => s?.dim);
  const complete = perModel.every((s): s is SlideFeatures => s !== undefined);
  if (!complete) return { dims };
  // Dims are compared across slides afterwards; alignment only needs each file's own.
  const ownModels: ModelSpec[] = req.models.map((m, i) => ({ name: m.name, dim: perModel[i]!.dim }));
  let aligned;
  try {
    aligned = alignSlide(slide.id, ownModels, perModel, { fieldOf: (m) => fieldOf(m.name) });
  } catch (err) {
    issues.capture(err, `slides[${index}]`);
    return { dims };
  }
  if (aligned.n > options.maxTilesPerSlide) {
    issues.add(ErrorCode.TooLarge, `slides[${index}]`, `slide ${slide.id} has ${aligned.n} tiles; the limit is ${options.maxTilesPerSlide}`);
  }
  if (req.task === 'regression' && slide.targets !== undefined && req.genes !== undefined) {
    const field = `slides[${index}].targets`;
    try {
      const source = `slide ${slide.id} targets (${slide.targets})`;
      let bytes: Uint8Array;
      try {
        bytes = await resolveRef(slide.targets);
      } catch (err) {
        issues.captureAt(err, field, source);
        return { tiles: aligned.n, dims };
      }
      const targets = await readTileTargets(bytes, req.genes, source, field);
      orderTargets(aligned.coords, targets, source, field);
    } catch (err) {
      issues.capture(err, field);
    }
  }
  return { tiles: aligned.n, dims };
}

/** Runs `work` over 0..n-1 with at most `limit` in flight; results in index order. */
async function mapLimited<T>(n: number, limit: number, work: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, n) }, async () => {
    while (next < n) {
      const i = next++;
      out[i] = await work(i);
    }
  });
  await Promise.all(lanes);
  return out;
}

export async function validateFeatureSet(
  request: unknown,
  resolveRef: ResolveRef,
  options: ValidateFeatureSetOptions = {},
): Promise<FeatureSetManifest> {
  const req = parseRequest(request);
  const maxSlides = options.maxSlides ?? 10_000;
  const maxTilesPerSlide = options.maxTilesPerSlide ?? 200_000;
  const issues = new IssueCollector();
  checkStructure(req, issues, maxSlides);
  const labels = checkLabels(req, issues);
  if (req.slides.length > maxSlides) issues.throwIfAny('feature set');

  const results = await mapLimited(req.slides.length, Math.max(1, options.concurrency ?? 4), (i) =>
    readSlide(req, i, resolveRef, issues, { ...options, maxTilesPerSlide }),
  );

  // The registered dim of a model: as declared, else the first slide (request order) that has one.
  const dims = req.models.map((m, k) => m.dim ?? results.find((r) => r.dims[k] !== undefined)?.dims[k]);
  results.forEach((r, i) => {
    req.models.forEach((m, k) => {
      const got = r.dims[k];
      const want = dims[k];
      if (got === undefined || want === undefined || got === want) return;
      const origin = m.dim !== undefined ? 'registered' : `set by the first slide (${req.slides.find((_, j) => results[j]!.dims[k] !== undefined)!.id})`;
      issues.add(ErrorCode.ShapeMismatch, jsonPath(['slides', i, 'features', m.name]), `slide ${req.slides[i]!.id}, model ${m.name}: feature dim ${got}, ${origin} dim ${want}`);
    });
  });
  issues.throwIfAny('feature set');

  const models = req.models.map((m, k) => ({ name: m.name, dim: dims[k]! }));
  const classes = labels ? sortClasses(req.slides.map((s) => labels.get(s.id)!)) : undefined;
  const perClass = classes ? Object.fromEntries(classes.map((c) => [c, req.slides.filter((s) => labels!.get(s.id) === c).length])) : undefined;
  const slides = req.slides.map((s, i) => ({
    id: s.id,
    features: Object.fromEntries(models.map((m) => [m.name, s.features[m.name]!])),
    ...(s.targets !== undefined ? { targets: s.targets } : {}),
    tiles: results[i]!.tiles!,
    ...(labels ? { label: labels.get(s.id)! } : {}),
  }));
  if (slides.some((s) => s.tiles === undefined)) {
    throw new WeightsmithError(ErrorCode.Internal, 'feature set validation finished with a slide that was never aligned');
  }
  return {
    version: 1,
    ...(req.name !== undefined ? { name: req.name } : {}),
    task: req.task,
    models,
    slides,
    ...(classes ? { classes } : {}),
    ...(req.genes ? { genes: req.genes } : {}),
    counts: { slides: slides.length, tiles: slides.reduce((a, s) => a + s.tiles, 0), ...(perClass ? { perClass } : {}) },
  };
}
