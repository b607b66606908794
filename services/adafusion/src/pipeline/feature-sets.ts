/**
 * Feature-set registration as the service runs it: validate the whole cohort (every file read
 * once, every problem collected), and only then store the manifest as a JSON artifact — a
 * request with any problem leaves nothing in the store.
 */
import { featureSetManifestSchema, validateFeatureSet, type FeatureSetManifest, type ResolveRef } from '../cohort/index.js';
import type { ArtifactStore } from '@weightsmith/store';
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import { KINDS, jsonBytes, readJsonArtifact, type Producer } from './artifacts.js';
import { underField } from './fields.js';

export interface FeatureSetLimits {
  maxSlides: number;
  maxTilesPerSlide: number;
  maxFeatureBytes: number;
}

/** What `POST /v1/feature-sets` answers: the id and what was registered, not every slide. */
export interface FeatureSetSummary {
  id: string;
  name?: string;
  task: 'classification' | 'regression';
  models: { name: string; dim: number }[];
  classes?: string[];
  genes?: string[];
  counts: FeatureSetManifest['counts'];
}

export function featureSetSummary(id: string, m: FeatureSetManifest): FeatureSetSummary {
  return {
    id,
    ...(m.name !== undefined ? { name: m.name } : {}),
    task: m.task,
    models: m.models,
    ...(m.classes ? { classes: m.classes } : {}),
    ...(m.genes ? { genes: m.genes } : {}),
    counts: m.counts,
  };
}

export async function registerFeatureSet(
  request: unknown,
  artifacts: ArtifactStore,
  resolveRef: ResolveRef,
  limits: FeatureSetLimits,
  producer: Producer,
): Promise<{ created: boolean; summary: FeatureSetSummary }> {
  const manifest = await validateFeatureSet(request, resolveRef, limits).catch(underField('body'));
  // Inputs that are artifacts here are recorded by id, so lineage survives; others by URI/key.
  const refs = new Set(manifest.slides.flatMap((s) => [...Object.values(s.features), ...(s.targets !== undefined ? [s.targets] : [])]));
  const inputs = [...refs].map((ref) => (/^[0-9a-f]{64}$/.test(ref) ? { id: ref, sha256: ref, role: 'features' } : { uri: ref, role: 'features' }));
  const put = await artifacts.put(jsonBytes(manifest), {
    kind: KINDS.featureSet,
    mediaType: 'application/json',
    producer,
    parameters: { ...(manifest.name !== undefined ? { name: manifest.name } : {}), task: manifest.task },
    // A manifest of 10 000 slides lists up to 160 000 refs; keep the artifact manifest small.
    inputs: inputs.length <= 1000 ? inputs : [],
    metadata: { models: manifest.models, counts: manifest.counts, ...(manifest.classes ? { classes: manifest.classes } : {}), ...(manifest.genes ? { genes: manifest.genes } : {}) },
  });
  return { created: put.created, summary: featureSetSummary(put.id, manifest) };
}

/** A stored feature set's manifest; 404 naming `field` when `id` is not a feature set. */
export async function loadFeatureSet(artifacts: ArtifactStore, id: string, field: string): Promise<FeatureSetManifest> {
  const json = await readJsonArtifact(artifacts, id, KINDS.featureSet, field, 'feature set');
  const parsed = featureSetManifestSchema.safeParse(json);
  if (!parsed.success) throw new WeightsmithError(ErrorCode.Internal, `feature set ${id} has a malformed manifest: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}
