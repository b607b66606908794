/**
 * Synthetic cohorts with known truth, the check AdaFusion is held to without real slides.
 *
 * Generative model (all draws from one seeded `Rng`, forked by purpose so each slide can be
 * generated alone, in any order, with the same result):
 * - K phenotypes; each tile has one, drawn from the slide's own phenotype mix.
 * - Every model m embeds phenotype k as a random vector E_m[k], so every model can tell tissue
 *   type (the gate's context needs that).
 * - Phenotype k has one informative model m*(k) = k mod M (every model dominates ≥ 1 phenotype
 *   when K ≥ M). On a tile of phenotype k, m*(k) carries the slide's activation a[s,k] (+ tile
 *   noise) along its own random unit direction u_m; every other model carries, in the same
 *   place, a slide-level decoy b[s,m,k] of the same scale — noise that looks exactly like signal
 *   and does not average out over tiles — plus a weak trace of the activation (`crossTalk`, as
 *   every real encoder sees the same tissue, only some see it well). The trace is what lets the
 *   closed-form alignment match the models' signal directions (with their signs): without any
 *   shared signal, Procrustes would map them onto each other arbitrarily.
 * - The label is a function of all K activations: score = Σ_k a[s,k] / √K + label noise; binary
 *   by sign, or 3 classes by terciles. A single model sees only its phenotypes' share of the
 *   evidence; averaging models mixes decoys into every tile; concatenation carries M× the
 *   decoy dims. Only a per-tile, phenotype-aware choice of model sees all of it.
 * - Regression option: gene g of a tile of phenotype k = β[k,g] · activation + small noise.
 */
import { invalidInput } from '@weightsmith/core';
import { Rng, type Seed } from '@weightsmith/tensor';
import type { AlignedSlide, Cohort, Labels, ModelSpec } from '../types.js';

export interface SyntheticCohortOptions {
  seed: Seed;
  /** Number of slides. */
  slides: number;
  tilesPerSlide: number;
  models: ModelSpec[];
  /** K (default: one per model); must be ≥ the number of models. */
  phenotypes?: number;
  /** Classes of the slide label (default 2). Ignored when `genes` > 0. */
  classes?: 2 | 3;
  /** When > 0, a regression cohort with this many tile-level genes instead of slide labels. */
  genes?: number;
  /** Scale of the activation along u_m, in units of the per-dim feature noise (default 5). */
  signal?: number;
  /** Tile-to-tile spread of the activation around the slide's level (default 0.5). */
  tileNoise?: number;
  /** Per-dim isotropic feature noise (default 1). */
  featureNoise?: number;
  /** Per-dim std of the phenotype embeddings (default 1). */
  phenotypeScale?: number;
  /** Noise added to the label score, relative to its unit std (default 0.1). */
  labelNoise?: number;
  /** Fraction of the activation the non-informative models also carry (default 0.3). */
  crossTalk?: number;
  /** Tile size in level-0 pixels: coords are multiples of it (default 256). */
  patchSize?: number;
}

export interface SyntheticTruth {
  /** m*(k): the informative model of each phenotype. */
  dominantModelByPhenotype: number[];
  /** slide id → class index (classification cohorts). */
  labels: Map<string, number>;
  /** The phenotype of each tile, in aligned (y, x) order. */
  phenotypeByTile(slideId: string): Int32Array;
  /** The label-relevant activation of each tile (what m*(k) carries), aligned order. */
  activationByTile(slideId: string): Float32Array;
  /** a[s, k]: the slide's activation level per phenotype. */
  slideActivation(slideId: string): Float64Array;
  /** β, K × genes (regression cohorts). */
  geneWeights?: Float32Array;
}

export interface SyntheticCohort {
  cohort: Cohort;
  truth: SyntheticTruth;
}

interface SlidePlan {
  n: number;
  coords: Float64Array;
  phenotype: Int32Array;
  activation: Float32Array;
  /** M × K slide-level decoys (the informative entries unused). */
  decoy: Float64Array;
  slideActivation: Float64Array;
  score: number;
}

const CLASS_NAMES: Record<2 | 3, string[]> = { 2: ['negative', 'positive'], 3: ['low', 'mid', 'high'] };
/** Standard-normal terciles (Φ⁻¹(1/3) = −0.43073). */
const TERCILE = 0.430727299295457;

function checkCount(value: number, field: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) throw invalidInput(field, `${field} must be an integer ≥ ${min}, got ${value}`);
}

export function slideIdOf(index: number, total: number): string {
  return `slide-${String(index).padStart(Math.max(3, String(total - 1).length), '0')}`;
}

export function makeSyntheticCohort(options: SyntheticCohortOptions): SyntheticCohort {
  const M = options.models.length;
  checkCount(M, 'models', 1);
  checkCount(options.slides, 'slides', 1);
  checkCount(options.tilesPerSlide, 'tilesPerSlide', 1);
  const K = options.phenotypes ?? M;
  checkCount(K, 'phenotypes', M);
  for (const [i, m] of options.models.entries()) checkCount(m.dim, `models[${i}].dim`, 1);
  const G = options.genes ?? 0;
  checkCount(G, 'genes', 0);
  const classes = options.classes ?? 2;
  if (classes !== 2 && classes !== 3) throw invalidInput('classes', `classes must be 2 or 3, got ${String(classes)}`);
  const signal = options.signal ?? 5;
  const tileNoise = options.tileNoise ?? 0.5;
  const featureNoise = options.featureNoise ?? 1;
  const phenotypeScale = options.phenotypeScale ?? 1;
  const labelNoise = options.labelNoise ?? 0.1;
  const crossTalk = options.crossTalk ?? 0.3;
  const patch = options.patchSize ?? 256;
  const n = options.tilesPerSlide;

  const root = new Rng(options.seed);
  const dominant = Array.from({ length: K }, (_, k) => k % M);
  const modelParams = options.models.map((model, m) => {
    const rng = root.fork(`model/${m}`);
    const embeddings = rng.normalArray(K * model.dim, 0, phenotypeScale);
    const direction = rng.normalArray(model.dim);
    let norm = 0;
    for (const v of direction) norm += v * v;
    norm = Math.sqrt(norm);
    for (let j = 0; j < direction.length; j++) direction[j] = direction[j]! / norm;
    return { embeddings, direction };
  });
  const geneWeights = G > 0 ? root.fork('genes').normalArray(K * G) : undefined;

  const ids = Array.from({ length: options.slides }, (_, i) => slideIdOf(i, options.slides));
  const idSet = new Set(ids);

  function plan(id: string): SlidePlan {
    if (!idSet.has(id)) throw invalidInput('slideId', `slide ${id} is not in this synthetic cohort`);
    const slideRng = root.fork(`slide/${id}`);
    const latent = slideRng.fork('latent');
    const slideActivation = Float64Array.from({ length: K }, () => latent.normal());
    const mixLogits = Float64Array.from({ length: K }, () => 0.5 * latent.normal());
    const decoy = Float64Array.from({ length: M * K }, () => latent.normal());
    let score = 0;
    for (const a of slideActivation) score += a;
    score = score / Math.sqrt(K) + labelNoise * latent.normal();

    const tiles = slideRng.fork('tiles');
    const side = Math.ceil(Math.sqrt(2 * n));
    // Ascending cell index = row-major = sorted by (y, x): the aligned order, by construction.
    const cells = tiles.sampleWithoutReplacement(side * side, n).sort((a, b) => a - b);
    const coords = new Float64Array(2 * n);
    cells.forEach((cell, t) => {
      coords[2 * t] = (cell % side) * patch;
      coords[2 * t + 1] = Math.floor(cell / side) * patch;
    });
    const cumulative = new Float64Array(K);
    let total = 0;
    for (let k = 0; k < K; k++) {
      total += Math.exp(mixLogits[k]!);
      cumulative[k] = total;
    }
    const phenotype = new Int32Array(n);
    const activation = new Float32Array(n);
    for (let t = 0; t < n; t++) {
      const u = tiles.uniform() * total;
      let k = 0;
      while (k < K - 1 && u >= cumulative[k]!) k++;
      phenotype[t] = k;
      activation[t] = slideActivation[k]! + tileNoise * tiles.normal();
    }
    return { n, coords, phenotype, activation, decoy, slideActivation, score };
  }

  function classOf(score: number): number {
    if (classes === 2) return score > 0 ? 1 : 0;
    const cut = TERCILE * Math.sqrt(1 + labelNoise * labelNoise);
    return score < -cut ? 0 : score > cut ? 2 : 1;
  }

  function features(id: string, p: SlidePlan, m: number): Float32Array {
    const d = options.models[m]!.dim;
    const { embeddings, direction } = modelParams[m]!;
    const rng = root.fork(`slide/${id}`).fork(`model/${m}`);
    const out = rng.normalArray(p.n * d, 0, featureNoise);
    for (let t = 0; t < p.n; t++) {
      const k = p.phenotype[t]!;
      // The decoy gets its own tile noise so it is distributed exactly like the signal.
      const level = dominant[k] === m ? p.activation[t]! : crossTalk * p.activation[t]! + p.decoy[m * K + k]! + tileNoise * rng.normal();
      const c = signal * level;
      const row = t * d;
      const e = k * d;
      for (let j = 0; j < d; j++) out[row + j] = out[row + j]! + embeddings[e + j]! + c * direction[j]!;
    }
    return out;
  }

  function targets(p: SlidePlan, id: string): Float32Array {
    const rng = root.fork(`slide/${id}`).fork('targets');
    const out = new Float32Array(p.n * G);
    for (let t = 0; t < p.n; t++) {
      const k = p.phenotype[t]!;
      for (let g = 0; g < G; g++) out[t * G + g] = geneWeights![k * G + g]! * p.activation[t]! + 0.1 * rng.normal();
    }
    return out;
  }

  const labelsBySlide = new Map<string, number>();
  let labels: Labels;
  if (G > 0) {
    labels = { kind: 'regression', genes: Array.from({ length: G }, (_, g) => `gene${g}`), bySlide: new Map(ids.map((id) => [id, targets(plan(id), id)])) };
  } else {
    for (const id of ids) labelsBySlide.set(id, classOf(plan(id).score));
    labels = { kind: 'classification', classes: [...CLASS_NAMES[classes]], bySlide: new Map(labelsBySlide) };
  }

  const cohort: Cohort = {
    models: options.models.map((m) => ({ ...m })),
    slideIds: [...ids],
    labels,
    async loadSlide(id: string): Promise<AlignedSlide> {
      const p = plan(id);
      return { id, n: p.n, coords: p.coords, features: options.models.map((_, m) => features(id, p, m)) };
    },
  };
  const truth: SyntheticTruth = {
    dominantModelByPhenotype: dominant,
    labels: labelsBySlide,
    phenotypeByTile: (id) => plan(id).phenotype,
    activationByTile: (id) => plan(id).activation,
    slideActivation: (id) => plan(id).slideActivation,
    ...(geneWeights ? { geneWeights } : {}),
  };
  return { cohort, truth };
}
