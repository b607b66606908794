/**
 * The dominance map of one slide of a model's feature set: the slide is predicted with the
 * model's ONNX export (in a task worker, like every prediction) and drawn as SVG or PNG.
 */
import type { ArtifactStore } from '@weightsmith/store';
import { cohortFromManifest } from '../cohort/index.js';
import { FusionPredictor } from '../model/index.js';
import { renderDominancePlot, type PlotFormat } from '../report/index.js';
import { readArtifactBytes } from './artifacts.js';
import { loadFeatureSet } from './feature-sets.js';
import { loadModelRecord } from './model-record.js';
import { storeRefResolver } from './refs.js';

export interface DominancePlotInput {
  model: string;
  slide: string;
  format: PlotFormat;
  maxFeatureBytes: number;
}

export interface PlotResult {
  contentType: 'image/svg+xml' | 'image/png';
  /** SVG text or PNG bytes. */
  body: string | Uint8Array;
}

export async function runDominancePlotTask(input: DominancePlotInput, artifacts: ArtifactStore, threads: number): Promise<PlotResult> {
  const record = await loadModelRecord(artifacts, input.model, 'params.id');
  const manifest = await loadFeatureSet(artifacts, record.featureSet, 'params.id');
  const cohort = await cohortFromManifest(manifest, storeRefResolver(artifacts), { maxFeatureBytes: input.maxFeatureBytes, cacheSlides: 0 });
  const slide = await cohort.loadSlide(input.slide);
  const predictor = await FusionPredictor.load(await readArtifactBytes(artifacts, record.onnx), { intraOpNumThreads: threads });
  try {
    const out = await predictor.predictSlide(slide);
    const plot = renderDominancePlot({ slideId: slide.id, n: slide.n, coords: slide.coords, alpha: out.alpha }, record.models.map((m) => m.name), input.format);
    return { contentType: plot.contentType, body: typeof plot.body === 'string' ? plot.body : new Uint8Array(plot.body) };
  } finally {
    await predictor.close();
  }
}
