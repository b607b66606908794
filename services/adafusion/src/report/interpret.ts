/**
 * Interpretability aggregates of the AdaFusion gate: the per-tile model weights α (n × M,
 * softmax over models, so each row sums to 1) are the tiles' contribution scores; from them come
 * per-slide and per-phenotype mean weights, the dominance map (which model wins each tile), and
 * the check against a synthetic cohort's known dominant model per phenotype. Pure functions on
 * typed arrays; cohort-level sums go through an accumulator so slides can stream by one at a time.
 */
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';

/** What one slide's prediction contributes to interpretation. */
export interface SlideGate {
  slideId: string;
  /** Tiles. */
  n: number;
  /** n × 2 tile coordinates (x, y), row-major. */
  coords: Float64Array;
  /** n × M gate weights (per-tile contribution of each model), row-major. */
  alpha: Float32Array;
  /** n × P phenotype context weights (softmax over prompts), row-major; absent when not computed. */
  contextWeights?: Float32Array;
}

function shapeMismatch(field: string, message: string): WeightsmithError {
  return new WeightsmithError(ErrorCode.ShapeMismatch, message, { field });
}

function checkCount(value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 1) throw invalidInput(field, `${field} must be a positive integer, got ${value}`);
}

function checkMatrix(values: ArrayLike<number>, rows: number, cols: number, field: string): void {
  if (values.length !== rows * cols) {
    throw shapeMismatch(field, `${field} has ${values.length} values, expected ${rows} tiles × ${cols} = ${rows * cols}`);
  }
}

/** Index of the largest of `cols` values starting at `offset` (first one on ties). */
function argmaxAt(values: ArrayLike<number>, offset: number, cols: number): number {
  let best = 0;
  let bestValue = values[offset]!;
  for (let c = 1; c < cols; c++) {
    const v = values[offset + c]!;
    if (v > bestValue) {
      bestValue = v;
      best = c;
    }
  }
  return best;
}

/** Mean gate weight of each model over a slide's tiles: M values (summing to 1 when rows do). */
export function meanAlphaPerSlide(alpha: ArrayLike<number>, n: number, numModels: number): Float64Array {
  checkCount(n, 'n');
  checkCount(numModels, 'numModels');
  checkMatrix(alpha, n, numModels, 'alpha');
  const out = new Float64Array(numModels);
  for (let t = 0; t < n; t++) for (let m = 0; m < numModels; m++) out[m]! += alpha[t * numModels + m]!;
  for (let m = 0; m < numModels; m++) out[m]! /= n;
  return out;
}

/** Phenotype of each tile: the argmax of its context weights (n × P → n indices). */
export function phenotypeOfTiles(contextWeights: ArrayLike<number>, n: number, numPhenotypes: number): Int32Array {
  checkCount(numPhenotypes, 'numPhenotypes');
  checkMatrix(contextWeights, n, numPhenotypes, 'contextWeights');
  const out = new Int32Array(n);
  for (let t = 0; t < n; t++) out[t] = argmaxAt(contextWeights, t * numPhenotypes, numPhenotypes);
  return out;
}

export interface DominanceMap {
  n: number;
  /** n × 2 tile coordinates, as given. */
  coords: Float64Array;
  /** Winning model per tile (argmax of α; first on ties). */
  dominant: Int32Array;
  /** The winner's weight per tile, in [1/M, 1]: how clear the win is (used for opacity). */
  weight: Float32Array;
}

/** Which model dominates each tile, with its coordinates. */
export function dominanceMap(coords: Float64Array, alpha: ArrayLike<number>, n: number, numModels: number): DominanceMap {
  checkCount(numModels, 'numModels');
  checkMatrix(coords, n, 2, 'coords');
  checkMatrix(alpha, n, numModels, 'alpha');
  const dominant = new Int32Array(n);
  const weight = new Float32Array(n);
  for (let t = 0; t < n; t++) {
    const m = argmaxAt(alpha, t * numModels, numModels);
    dominant[t] = m;
    weight[t] = alpha[t * numModels + m]!;
  }
  return { n, coords, dominant, weight };
}

/** Per-phenotype mean gate weights: P × M means and the (hard: tile count, soft: summed weight) behind each row. */
export interface PhenotypeAlpha {
  numPhenotypes: number;
  numModels: number;
  /** P × M, row-major; a phenotype without tiles has a NaN row. */
  mean: Float64Array;
  /** Per phenotype: tiles counted (hard) or total context weight (soft). */
  weight: Float64Array;
}

/**
 * Sums α per phenotype over any number of slides. `addHard` puts each tile in one phenotype
 * (argmax of context, or a known true phenotype); `addSoft` spreads each tile over phenotypes
 * by its context weights, so α_pm = Σ_t w_tp α_tm / Σ_t w_tp.
 */
export class PhenotypeAlphaAccumulator {
  private readonly sums: Float64Array;
  private readonly weights: Float64Array;

  constructor(
    readonly numModels: number,
    readonly numPhenotypes: number,
  ) {
    checkCount(numModels, 'numModels');
    checkCount(numPhenotypes, 'numPhenotypes');
    this.sums = new Float64Array(numPhenotypes * numModels);
    this.weights = new Float64Array(numPhenotypes);
  }

  /** Adds n tiles with their phenotype index each (negative: tile has no phenotype, skipped). */
  addHard(alpha: ArrayLike<number>, phenotypeByTile: ArrayLike<number>): this {
    const n = phenotypeByTile.length;
    const M = this.numModels;
    checkMatrix(alpha, n, M, 'alpha');
    for (let t = 0; t < n; t++) {
      const p = phenotypeByTile[t]!;
      if (p < 0) continue;
      if (!Number.isInteger(p) || p >= this.numPhenotypes) {
        throw invalidInput('phenotypeByTile', `phenotypeByTile[${t}] is ${p}, expected a phenotype index in 0..${this.numPhenotypes - 1}`);
      }
      this.weights[p]! += 1;
      for (let m = 0; m < M; m++) this.sums[p * M + m]! += alpha[t * M + m]!;
    }
    return this;
  }

  /** Adds n tiles, each spread over phenotypes by its n × P context weights. */
  addSoft(alpha: ArrayLike<number>, contextWeights: ArrayLike<number>, n: number): this {
    const M = this.numModels;
    const P = this.numPhenotypes;
    checkMatrix(alpha, n, M, 'alpha');
    checkMatrix(contextWeights, n, P, 'contextWeights');
    for (let t = 0; t < n; t++) {
      for (let p = 0; p < P; p++) {
        const w = contextWeights[t * P + p]!;
        if (w === 0) continue;
        this.weights[p]! += w;
        for (let m = 0; m < M; m++) this.sums[p * M + m]! += w * alpha[t * M + m]!;
      }
    }
    return this;
  }

  result(): PhenotypeAlpha {
    const M = this.numModels;
    const mean = new Float64Array(this.sums.length);
    for (let p = 0; p < this.numPhenotypes; p++) {
      const w = this.weights[p]!;
      for (let m = 0; m < M; m++) mean[p * M + m] = w > 0 ? this.sums[p * M + m]! / w : Number.NaN;
    }
    return { numPhenotypes: this.numPhenotypes, numModels: M, mean, weight: Float64Array.from(this.weights) };
  }
}

function contextOf(slide: SlideGate, numPhenotypes: number): Float32Array {
  if (!slide.contextWeights) {
    throw invalidInput('contextWeights', `slide "${slide.slideId}" has no context weights; per-phenotype weights need them`);
  }
  checkMatrix(slide.contextWeights, slide.n, numPhenotypes, 'contextWeights');
  return slide.contextWeights;
}

/**
 * Mean α per learned phenotype over slides: `hard` assigns each tile to the argmax of its context
 * weights, `soft` weights every tile by its context weights.
 */
export function perPhenotypeAlpha(
  slides: Iterable<SlideGate>,
  numModels: number,
  numPhenotypes: number,
  mode: 'hard' | 'soft' = 'hard',
): PhenotypeAlpha {
  const acc = new PhenotypeAlphaAccumulator(numModels, numPhenotypes);
  for (const slide of slides) {
    const ctx = contextOf(slide, numPhenotypes);
    if (mode === 'hard') acc.addHard(slide.alpha, phenotypeOfTiles(ctx, slide.n, numPhenotypes));
    else acc.addSoft(slide.alpha, ctx, slide.n);
  }
  return acc.result();
}

/**
 * Mean α per *true* phenotype, from a known tile → phenotype map (synthetic cohorts). Learned
 * phenotypes are unlabelled clusters/prompts, so checking the gate against the truth goes
 * through the true phenotypes' tiles directly: no matching of learned to true phenotypes needed.
 */
export function truthPhenotypeAlpha(
  slides: Iterable<SlideGate>,
  phenotypeByTile: (slideId: string) => ArrayLike<number>,
  numModels: number,
  numPhenotypes: number,
): PhenotypeAlpha {
  const acc = new PhenotypeAlphaAccumulator(numModels, numPhenotypes);
  for (const slide of slides) {
    const phenotypes = phenotypeByTile(slide.slideId);
    if (phenotypes.length !== slide.n) {
      throw shapeMismatch('phenotypeByTile', `slide "${slide.slideId}" has ${slide.n} tiles but ${phenotypes.length} true phenotypes`);
    }
    acc.addHard(slide.alpha, phenotypes);
  }
  return acc.result();
}

/** The model with the largest mean weight in each phenotype; −1 for a phenotype without tiles. */
export function dominantModelPerPhenotype(perPhenotype: PhenotypeAlpha): Int32Array {
  const { numPhenotypes: P, numModels: M, mean } = perPhenotype;
  const out = new Int32Array(P);
  for (let p = 0; p < P; p++) out[p] = Number.isNaN(mean[p * M]!) ? -1 : argmaxAt(mean, p * M, M);
  return out;
}

export interface PhenotypeAgreement {
  phenotype: number;
  /** Argmax model of the mean α, −1 without tiles. */
  predicted: number;
  /** The true dominant model, −1 when the phenotype has none (not scored). */
  truth: number;
  /** Whether this phenotype counted in the score (has tiles and a true dominant model). */
  scored: boolean;
  agrees: boolean;
}

export interface DominanceAgreement {
  /** agreed / scored; NaN when nothing could be scored. */
  fraction: number;
  agreed: number;
  scored: number;
  perPhenotype: PhenotypeAgreement[];
}

/**
 * Fraction of phenotypes whose highest-mean-α model is the true dominant one. `perPhenotype`
 * must be indexed by the same (true) phenotypes as `truthDominant` — see `truthPhenotypeAlpha`.
 * Phenotypes with no true dominant model (negative/null entry) or no tiles are not scored.
 */
export function dominanceAgreement(perPhenotype: PhenotypeAlpha, truthDominant: ArrayLike<number | null>): DominanceAgreement {
  if (truthDominant.length !== perPhenotype.numPhenotypes) {
    throw shapeMismatch(
      'truthDominant',
      `truthDominant has ${truthDominant.length} phenotypes but the per-phenotype weights have ${perPhenotype.numPhenotypes}`,
    );
  }
  const predictedAll = dominantModelPerPhenotype(perPhenotype);
  const rows: PhenotypeAgreement[] = [];
  let agreed = 0;
  let scored = 0;
  for (let p = 0; p < perPhenotype.numPhenotypes; p++) {
    const raw = truthDominant[p];
    const truth = raw === null || raw === undefined || raw < 0 ? -1 : raw;
    if (truth >= perPhenotype.numModels || !Number.isInteger(truth)) {
      throw invalidInput('truthDominant', `truthDominant[${p}] is ${raw}, expected a model index in 0..${perPhenotype.numModels - 1}`);
    }
    const predicted = predictedAll[p]!;
    const isScored = truth >= 0 && predicted >= 0;
    const agrees = isScored && predicted === truth;
    if (isScored) scored++;
    if (agrees) agreed++;
    rows.push({ phenotype: p, predicted, truth, scored: isScored, agrees });
  }
  return { fraction: scored === 0 ? Number.NaN : agreed / scored, agreed, scored, perPhenotype: rows };
}

export interface SlideSummary {
  slideId: string;
  tiles: number;
  /** Mean α per model over the slide's tiles. */
  meanAlpha: Float64Array;
}

export interface CohortInterpretation {
  perSlide: SlideSummary[];
  /** Tiles assigned to the argmax phenotype of their context. */
  perPhenotype: PhenotypeAlpha;
  /** Tiles spread over phenotypes by their context weights. */
  perPhenotypeSoft: PhenotypeAlpha;
}

/**
 * Collects everything a report shows about the gate, one slide at a time (predictions of a whole
 * cohort need not be held at once): per-slide mean α and hard and soft per-phenotype α.
 */
export class InterpretationAccumulator {
  private readonly slides: SlideSummary[] = [];
  private readonly hard: PhenotypeAlphaAccumulator;
  private readonly soft: PhenotypeAlphaAccumulator;

  constructor(
    readonly numModels: number,
    readonly numPhenotypes: number,
  ) {
    this.hard = new PhenotypeAlphaAccumulator(numModels, numPhenotypes);
    this.soft = new PhenotypeAlphaAccumulator(numModels, numPhenotypes);
  }

  add(slide: SlideGate): this {
    const ctx = contextOf(slide, this.numPhenotypes);
    const meanAlpha = meanAlphaPerSlide(slide.alpha, slide.n, this.numModels);
    this.hard.addHard(slide.alpha, phenotypeOfTiles(ctx, slide.n, this.numPhenotypes));
    this.soft.addSoft(slide.alpha, ctx, slide.n);
    this.slides.push({ slideId: slide.slideId, tiles: slide.n, meanAlpha });
    return this;
  }

  result(): CohortInterpretation {
    return { perSlide: [...this.slides], perPhenotype: this.hard.result(), perPhenotypeSoft: this.soft.result() };
  }
}
