/**
 * A small synthetic cohort with known truth for the model tests (independent of the ingest
 * engineers' generator): tiles belong to one of two phenotypes; every model sees the phenotype,
 * but only model 0 carries the slide's label (or the tile's target) on phenotype-0 tiles and only
 * model 1 on phenotype-1 tiles; elsewhere the same direction holds a random sign (noise). A gate
 * that prefers model 0 on phenotype 0 and model 1 on phenotype 1 is what solves it best.
 */
import { Rng } from '@weightsmith/tensor';
import type { AlignedSlide, Cohort, ModelSpec } from '../src/types.js';

export interface ToyCohortOptions {
  slides?: number;
  tiles?: number;
  dims?: number[];
  latent?: number;
  strength?: number;
  noise?: number;
  task?: 'classification' | 'regression';
  /** Labels independent of the features (nothing to learn). */
  randomLabels?: boolean;
  seed?: number;
}

export interface ToyCohort extends Cohort {
  /** slide id → phenotype of each tile. */
  phenotypes: Map<string, Uint8Array>;
  slidesById: Map<string, AlignedSlide>;
}

export function makeToyCohort(opts: ToyCohortOptions = {}): ToyCohort {
  const S = opts.slides ?? 24;
  const n = opts.tiles ?? 64;
  const dims = opts.dims ?? [12, 10];
  const r = opts.latent ?? 6;
  const strength = opts.strength ?? 2;
  const noise = opts.noise ?? 0.3;
  const task = opts.task ?? 'classification';
  const rng = new Rng(opts.seed ?? 7);
  const M = dims.length;
  const models: ModelSpec[] = dims.map((dim, m) => ({ name: `model${m}`, dim }));
  // Latent layout: dims 0..1 phenotype, dim 2 the signal direction, the rest background.
  const mixes = dims.map((dim) => rng.normalArray(r * dim, 0, 1 / Math.sqrt(r)));
  const phenoMeans = [rng.normalArray(r, 0, 0), rng.normalArray(r, 0, 0)];
  phenoMeans[0]![0] = 6;
  phenoMeans[1]![1] = 6;
  const slideIds: string[] = [];
  const slidesById = new Map<string, AlignedSlide>();
  const phenotypes = new Map<string, Uint8Array>();
  const bySlideClass = new Map<string, number>();
  const bySlideTargets = new Map<string, Float32Array>();
  for (let s = 0; s < S; s++) {
    const id = `slide-${String(s).padStart(3, '0')}`;
    slideIds.push(id);
    const y = s % 2;
    const labelSign = opts.randomLabels ? (rng.uniform() < 0.5 ? -1 : 1) : 2 * y - 1;
    const ph = new Uint8Array(n);
    const features = dims.map((dim) => new Float32Array(n * dim));
    const targets = new Float32Array(n);
    for (let t = 0; t < n; t++) {
      ph[t] = rng.uniform() < 0.5 ? 0 : 1;
      const tileValue = task === 'regression' ? rng.normal() : labelSign;
      targets[t] = tileValue;
      // The tissue (background latent) is the same for every model: the models see the same tile.
      const background = rng.normalArray(r);
      for (let m = 0; m < M; m++) {
        const informative = m === ph[t] || m >= 2;
        // The informative model sees the phenotype clearly, the others faintly.
        const h = Float32Array.from(phenoMeans[ph[t]!]!, (v) => v * (informative ? 1 : 0.3));
        for (let k = 3; k < r; k++) h[k] = background[k]!;
        h[2] = strength * (informative ? tileValue : rng.normal() * (task === 'regression' ? 1 : Math.sign(rng.uniform() - 0.5)));
        const x = features[m]!;
        const mix = mixes[m]!;
        const dim = dims[m]!;
        for (let j = 0; j < dim; j++) {
          let v = noise * rng.normal();
          for (let k = 0; k < r; k++) v += h[k]! * mix[k * dim + j]!;
          x[t * dim + j] = v;
        }
      }
    }
    const coords = new Float64Array(n * 2);
    for (let t = 0; t < n; t++) {
      coords[t * 2] = (t % 8) * 256;
      coords[t * 2 + 1] = Math.floor(t / 8) * 256;
    }
    slidesById.set(id, { id, n, coords, features });
    phenotypes.set(id, ph);
    bySlideClass.set(id, y);
    bySlideTargets.set(id, targets);
  }
  const labels =
    task === 'classification'
      ? { kind: 'classification' as const, classes: ['neg', 'pos'], bySlide: bySlideClass }
      : { kind: 'regression' as const, genes: ['g0'], bySlide: bySlideTargets };
  return {
    models,
    slideIds,
    labels,
    phenotypes,
    slidesById,
    async loadSlide(id: string): Promise<AlignedSlide> {
      const s = slidesById.get(id);
      if (!s) throw new Error(`no slide ${id}`);
      return s;
    },
  };
}

/** Mean alpha of `model` over tiles of phenotype `ph`. */
export function meanAlpha(alpha: ArrayLike<number>, M: number, model: number, ph: Uint8Array, which: number): number {
  let s = 0;
  let c = 0;
  for (let t = 0; t < ph.length; t++) {
    if (ph[t] !== which) continue;
    s += alpha[t * M + model]!;
    c++;
  }
  return s / c;
}
