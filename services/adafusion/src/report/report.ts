/**
 * The model report served at `GET /v1/models/{id}/report`: metrics (cross-validated evaluation
 * and the fit's own validation), per-phenotype and per-slide model weights, and the plots
 * (`?plot=contribution|dominance&slide=…&format=svg|png`). Everything here is plain JSON — NaN
 * (a phenotype without tiles, a std over one split) becomes null.
 */
import { invalidInput } from '@weightsmith/core';
import type { TaskKind } from '../types.js';
import type { EvaluationResult, MetricSummary } from '../eval/evaluate.js';
import { dominanceMap, dominantModelPerPhenotype, type PhenotypeAlpha, type SlideGate, type SlideSummary } from './interpret.js';
import { contributionByPhenotypeSvg, dominanceMapSvg } from './svg.js';
import { dominanceMapPng } from './png.js';

export interface ValidationSummary {
  loss: number;
  metric: number;
  metricName: 'balanced_accuracy' | 'pearson_r';
  epoch: number;
}

export interface ModelReportInput {
  modelId?: string;
  task: TaskKind;
  /** Cohort model names, in α's column order. */
  modelNames: string[];
  /** Names of the P phenotypes (text prompts, or "phenotype 1…P" for clusters/learned prompts). */
  phenotypeNames?: string[];
  classes?: string[];
  genes?: string[];
  /** The fit's early-stopping validation at the kept epoch. */
  validation?: ValidationSummary;
  /** Repeated-split evaluation of this configuration (and the baselines). */
  evaluation?: EvaluationResult;
  /** Mean α per phenotype (tiles by argmax context). */
  perPhenotype?: PhenotypeAlpha;
  /** Mean α per phenotype weighted by context. */
  perPhenotypeSoft?: PhenotypeAlpha;
  perSlide?: SlideSummary[];
}

/** A JSON number, or null where the value is undefined (NaN) or infinite. */
export type JsonNumber = number | null;

export interface MetricJson {
  mean: JsonNumber;
  std: JsonNumber;
  values: JsonNumber[];
}

export interface WeightsRow {
  /** Model name → mean α (null without tiles). */
  weights: Record<string, JsonNumber>;
  /** The model with the largest mean α; null without tiles. */
  dominant: string | null;
}

export interface ModelReport {
  modelId: string | null;
  task: TaskKind;
  models: string[];
  phenotypes: string[];
  classes?: string[];
  genes?: string[];
  metrics: {
    validation: (Omit<ValidationSummary, 'loss' | 'metric'> & { loss: JsonNumber; metric: JsonNumber }) | null;
    evaluation: {
      splits: number;
      /** Per split: how many slides trained and were held out. */
      splitSizes: { train: number; test: number }[];
      rows: { name: string; mode: string; model?: string; auc?: MetricJson; balancedAccuracy?: MetricJson; pearson?: MetricJson & { excludedGenes: number[] } }[];
    } | null;
  };
  contribution: {
    byPhenotype: (WeightsRow & { phenotype: string; tiles: number })[] | null;
    byPhenotypeSoft: (WeightsRow & { phenotype: string; weight: JsonNumber })[] | null;
    bySlide: (WeightsRow & { slideId: string; tiles: number })[] | null;
  };
  /** Where the plots are (relative URLs, when the report belongs to a stored model). */
  plots: {
    contribution: { formats: PlotFormat[]; href: string | null };
    dominance: { formats: PlotFormat[]; href: string | null; needs: 'slide' };
  };
}

export type PlotFormat = 'svg' | 'png';

const num = (v: number): JsonNumber => (Number.isFinite(v) ? v : null);

function metricJson(m: MetricSummary): MetricJson {
  return { mean: num(m.mean), std: num(m.std), values: m.values.map(num) };
}

function weightsRow(mean: ArrayLike<number>, offset: number, modelNames: string[], dominant: number): WeightsRow {
  const weights: Record<string, JsonNumber> = {};
  modelNames.forEach((name, m) => (weights[name] = num(mean[offset + m]!)));
  return { weights, dominant: dominant >= 0 ? modelNames[dominant]! : null };
}

function defaultPhenotypeNames(p: number): string[] {
  return Array.from({ length: p }, (_, k) => `phenotype ${k + 1}`);
}

function checkPhenotypeAlpha(pa: PhenotypeAlpha, modelNames: string[], phenotypes: string[], field: string): void {
  if (pa.numModels !== modelNames.length) {
    throw invalidInput(field, `${field} has weights for ${pa.numModels} models but ${modelNames.length} model names were given`);
  }
  if (pa.numPhenotypes !== phenotypes.length) {
    throw invalidInput(field, `${field} has ${pa.numPhenotypes} phenotypes but ${phenotypes.length} phenotype names were given`);
  }
}

/** The report as a JSON-able object; sections without input are null. */
export function buildModelReport(input: ModelReportInput): ModelReport {
  const { modelNames } = input;
  if (modelNames.length === 0) throw invalidInput('modelNames', 'a report needs the model names');
  const P = input.perPhenotype?.numPhenotypes ?? input.perPhenotypeSoft?.numPhenotypes ?? input.phenotypeNames?.length ?? 0;
  const phenotypes = input.phenotypeNames ?? defaultPhenotypeNames(P);
  if (input.perPhenotype) checkPhenotypeAlpha(input.perPhenotype, modelNames, phenotypes, 'perPhenotype');
  if (input.perPhenotypeSoft) checkPhenotypeAlpha(input.perPhenotypeSoft, modelNames, phenotypes, 'perPhenotypeSoft');

  const byPhenotype = (pa: PhenotypeAlpha) => {
    const dom = dominantModelPerPhenotype(pa);
    return phenotypes.map((phenotype, p) => ({ phenotype, ...weightsRow(pa.mean, p * pa.numModels, modelNames, dom[p]!), w: pa.weight[p]! }));
  };

  const evaluation = input.evaluation
    ? {
        splits: input.evaluation.splits.length,
        splitSizes: input.evaluation.splits.map((s) => ({ train: s.train.length, test: s.test.length })),
        rows: input.evaluation.rows.map((r) => ({
          name: r.name,
          mode: r.config.mode,
          ...(r.config.model !== undefined ? { model: r.config.model } : {}),
          ...(r.metrics.auc ? { auc: metricJson(r.metrics.auc) } : {}),
          ...(r.metrics.balancedAccuracy ? { balancedAccuracy: metricJson(r.metrics.balancedAccuracy) } : {}),
          ...(r.metrics.pearson ? { pearson: { ...metricJson(r.metrics.pearson), excludedGenes: r.metrics.pearson.excludedGenes } } : {}),
        })),
      }
    : null;

  const href = (query: string): string | null =>
    input.modelId === undefined ? null : `/v1/models/${encodeURIComponent(input.modelId)}/report?${query}`;

  return {
    modelId: input.modelId ?? null,
    task: input.task,
    models: [...modelNames],
    phenotypes,
    ...(input.classes ? { classes: [...input.classes] } : {}),
    ...(input.genes ? { genes: [...input.genes] } : {}),
    metrics: {
      validation: input.validation
        ? { ...input.validation, loss: num(input.validation.loss), metric: num(input.validation.metric) }
        : null,
      evaluation,
    },
    contribution: {
      byPhenotype: input.perPhenotype ? byPhenotype(input.perPhenotype).map(({ w, ...row }) => ({ ...row, tiles: w })) : null,
      byPhenotypeSoft: input.perPhenotypeSoft ? byPhenotype(input.perPhenotypeSoft).map(({ w, ...row }) => ({ ...row, weight: num(w) })) : null,
      bySlide: input.perSlide
        ? input.perSlide.map((s) => {
            let best = -1;
            s.meanAlpha.forEach((v, m) => {
              if (best < 0 || v > s.meanAlpha[best]!) best = m;
            });
            return { slideId: s.slideId, tiles: s.tiles, ...weightsRow(s.meanAlpha, 0, modelNames, best) };
          })
        : null,
    },
    plots: {
      contribution: { formats: ['svg'], href: input.perPhenotype ? href('plot=contribution&format=svg') : null },
      dominance: { formats: ['svg', 'png'], href: href('plot=dominance&format=svg&slide={slideId}'), needs: 'slide' },
    },
  };
}

export interface RenderedPlot {
  contentType: 'image/svg+xml' | 'image/png';
  body: string | Buffer;
}

/** Contribution-by-phenotype bars; SVG only (a bar chart without its labels would say little). */
export function renderContributionPlot(
  perPhenotype: PhenotypeAlpha,
  modelNames: string[],
  phenotypeNames: string[] | undefined,
  format: PlotFormat = 'svg',
): RenderedPlot {
  if (format !== 'svg') throw invalidInput('format', `the contribution plot is rendered as svg only, not ${String(format)}`);
  const names = phenotypeNames ?? defaultPhenotypeNames(perPhenotype.numPhenotypes);
  checkPhenotypeAlpha(perPhenotype, modelNames, names, 'perPhenotype');
  return { contentType: 'image/svg+xml', body: contributionByPhenotypeSvg(perPhenotype.mean, modelNames, names) };
}

/** One slide's dominance map from its prediction (α and coords), as SVG (with legend) or PNG (raster, legend in metadata). */
export function renderDominancePlot(slide: SlideGate, modelNames: string[], format: PlotFormat = 'svg', size = 800): RenderedPlot {
  const map = dominanceMap(slide.coords, slide.alpha, slide.n, modelNames.length);
  if (format === 'svg') {
    return {
      contentType: 'image/svg+xml',
      body: dominanceMapSvg(map.coords, map.dominant, modelNames, { alpha: map.weight, size, title: `Dominance map · ${slide.slideId}` }),
    };
  }
  if (format === 'png') return { contentType: 'image/png', body: dominanceMapPng(map.coords, map.dominant, modelNames, { alpha: map.weight, size }) };
  throw invalidInput('format', `format must be svg or png, got ${String(format)}`);
}
