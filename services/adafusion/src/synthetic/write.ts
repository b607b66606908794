/**
 * Writes a synthetic cohort the way users' data arrives: TRIDENT-like folders
 * `<dir>/<model>/<slide>.h5` (or `.safetensors`), plus `labels.csv` (classification) or
 * `targets/<slide>.csv` (regression, `x,y,gene…`). Same options, same bytes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeH5Features } from '../features/h5-features.js';
import { writeSafetensorsFeatures } from '../features/safetensors-features.js';
import { makeSyntheticCohort, type SyntheticCohort, type SyntheticCohortOptions } from './generator.js';

export interface WriteSyntheticOptions {
  format?: 'h5' | 'safetensors';
}

export interface WrittenFile {
  /** Path relative to the cohort folder. */
  path: string;
  bytes: number;
}

export interface WrittenSyntheticCohort extends SyntheticCohort {
  files: WrittenFile[];
}

function csvField(text: string): string {
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replaceAll('"', '""')}"` : text;
}

export async function writeSyntheticCohort(
  dir: string,
  options: SyntheticCohortOptions,
  { format = 'h5' }: WriteSyntheticOptions = {},
): Promise<WrittenSyntheticCohort> {
  const made = makeSyntheticCohort(options);
  const { cohort } = made;
  const files: WrittenFile[] = [];
  for (const model of cohort.models) await mkdir(join(dir, model.name), { recursive: true });
  const patch = options.patchSize ?? 256;
  for (const id of cohort.slideIds) {
    const slide = await cohort.loadSlide(id);
    for (const [m, model] of cohort.models.entries()) {
      const features = { n: slide.n, dim: model.dim, features: slide.features[m]!, coords: slide.coords };
      const path = join(model.name, `${id}.${format === 'h5' ? 'h5' : 'safetensors'}`);
      const bytes =
        format === 'h5'
          ? await writeH5Features(join(dir, path), features, {
              coordsAttrs: { patch_size: patch, patch_size_level0: patch, level0_magnification: 20, target_magnification: 20, overlap: 0, name: id },
            })
          : await writeSafetensorsFeatures(join(dir, path), features);
      files.push({ path, bytes });
    }
  }
  if (cohort.labels.kind === 'classification') {
    const { classes, bySlide } = cohort.labels;
    const text = ['slide_id,label', ...cohort.slideIds.map((id) => `${csvField(id)},${csvField(classes[bySlide.get(id)!]!)}`)].join('\n') + '\n';
    await writeFile(join(dir, 'labels.csv'), text);
    files.push({ path: 'labels.csv', bytes: Buffer.byteLength(text) });
  } else {
    const { genes, bySlide } = cohort.labels;
    await mkdir(join(dir, 'targets'), { recursive: true });
    for (const id of cohort.slideIds) {
      const slide = await cohort.loadSlide(id);
      const values = bySlide.get(id)!;
      const G = genes.length;
      const lines = [['x', 'y', ...genes].map(csvField).join(',')];
      for (let t = 0; t < slide.n; t++) {
        lines.push([slide.coords[2 * t], slide.coords[2 * t + 1], ...Array.from(values.subarray(t * G, (t + 1) * G))].join(','));
      }
      const text = lines.join('\n') + '\n';
      const path = join('targets', `${id}.csv`);
      await writeFile(join(dir, path), text);
      files.push({ path, bytes: Buffer.byteLength(text) });
    }
  }
  return { ...made, files };
}
