/**
 * A validated feature set as a `Cohort`: slides are read and aligned on demand (a few decoded
 * slides kept in a small LRU), so a cohort of any size is never held in memory at once.
 */
import { ErrorCode, WeightsmithError, notFound } from '@weightsmith/core';
import { alignSlide } from '../features/align.js';
import { sortedTileOrder } from '../features/coord-order.js';
import { readSlideFeatures } from '../features/read-slide.js';
import type { AlignedSlide, Cohort, Labels } from '../types.js';
import type { FeatureSetManifest } from './manifest.js';
import type { ResolveRef } from './refs.js';
import { readTileTargets } from './targets.js';

export interface CohortOptions {
  /** Decoded slides kept for reuse (default 2; 0 disables). */
  cacheSlides?: number;
  maxFeatureBytes?: number;
}

/**
 * Regression targets in aligned order without reading the features: validation established that
 * a slide's target coords are exactly its aligned tiles, and aligned tiles are sorted by (y, x).
 */
async function loadTargets(manifest: FeatureSetManifest, resolveRef: ResolveRef): Promise<Map<string, Float32Array>> {
  const genes = manifest.genes ?? [];
  const G = genes.length;
  const bySlide = new Map<string, Float32Array>();
  for (const [i, slide] of manifest.slides.entries()) {
    if (slide.targets === undefined) throw notFound(`slide ${slide.id} has no targets in the manifest`, `slides[${i}].targets`);
    const field = `slides[${i}].targets`;
    const t = await readTileTargets(await resolveRef(slide.targets), genes, `slide ${slide.id} targets (${slide.targets})`, field);
    if (t.n !== slide.tiles) {
      throw new WeightsmithError(ErrorCode.Conflict, `slide ${slide.id}: targets have ${t.n} rows, the feature set recorded ${slide.tiles} tiles`, { field });
    }
    const order = sortedTileOrder(t.coords);
    const out = new Float32Array(t.n * G);
    order.forEach((row, k) => out.set(t.values.subarray(row * G, (row + 1) * G), k * G));
    bySlide.set(slide.id, out);
  }
  return bySlide;
}

export async function cohortFromManifest(manifest: FeatureSetManifest, resolveRef: ResolveRef, options: CohortOptions = {}): Promise<Cohort> {
  const models = manifest.models.map((m) => ({ ...m }));
  const byId = new Map(manifest.slides.map((s, i) => [s.id, { slide: s, index: i }]));
  let labels: Labels;
  if (manifest.task === 'classification') {
    const classes = manifest.classes ?? [];
    const index = new Map(classes.map((c, i) => [c, i]));
    labels = { kind: 'classification', classes: [...classes], bySlide: new Map(manifest.slides.map((s) => [s.id, index.get(s.label ?? '') ?? -1])) };
    const unlabelled = manifest.slides.find((s) => (labels as { bySlide: Map<string, number> }).bySlide.get(s.id) === -1);
    if (unlabelled) throw new WeightsmithError(ErrorCode.InvalidInput, `manifest: slide ${unlabelled.id} has no known class`, { field: 'slides' });
  } else {
    labels = { kind: 'regression', genes: [...(manifest.genes ?? [])], bySlide: await loadTargets(manifest, resolveRef) };
  }

  const capacity = options.cacheSlides ?? 2;
  const cache = new Map<string, Promise<AlignedSlide>>();

  async function load(id: string): Promise<AlignedSlide> {
    const entry = byId.get(id);
    if (!entry) throw notFound(`slide ${id} is not in this feature set`, 'slideId');
    const { slide, index } = entry;
    const perModel = [];
    for (const model of models) {
      const ref = slide.features[model.name]!;
      const field = `slides[${index}].features.${model.name}`;
      perModel.push(await readSlideFeatures(await resolveRef(ref), { source: `slide ${id}, model ${model.name} (${ref})`, field, maxFeatureBytes: options.maxFeatureBytes }));
    }
    const aligned = alignSlide(id, models, perModel, { fieldOf: (m) => `slides[${index}].features.${m.name}` });
    if (aligned.n !== slide.tiles) {
      // The stored files changed since registration (a key overwritten): refuse rather than mislabel tiles.
      throw new WeightsmithError(ErrorCode.Conflict, `slide ${id}: ${aligned.n} aligned tiles now, ${slide.tiles} when registered`, { field: `slides[${index}]` });
    }
    return { id: aligned.id, n: aligned.n, coords: aligned.coords, features: aligned.features };
  }

  return {
    models,
    slideIds: manifest.slides.map((s) => s.id),
    labels,
    loadSlide(id: string): Promise<AlignedSlide> {
      if (capacity <= 0) return load(id);
      const hit = cache.get(id);
      if (hit) {
        cache.delete(id); // re-insert: Map order is the recency order
        cache.set(id, hit);
        return hit;
      }
      const pending = load(id);
      cache.set(id, pending);
      pending.catch(() => cache.delete(id));
      while (cache.size > capacity) cache.delete(cache.keys().next().value!);
      return pending;
    },
  };
}
