/**
 * The AdaFusion evaluation protocol: repeated random train/test splits of the slides; on each,
 * every candidate configuration (AdaFusion and the baselines, all through the same fitting code)
 * is fitted on the training slides and scored on the held-out ones — ROC-AUC and balanced
 * accuracy for slide classification, mean per-gene Pearson r for tile regression — reported as
 * mean ± sample std over splits.
 *
 * Fitting and prediction come in through `FitPredictor` (default: the real fit → ONNX →
 * onnxruntime path of `fusion-fit.ts`), so this module depends only on what a fitted model can
 * do — predict a slide — not on how it is trained or exported.
 */
import { ErrorCode, WeightsmithError, invalidInput } from '@weightsmith/core';
import type { Seed } from '@weightsmith/tensor';
import type { TextEncoder } from '@weightsmith/text';
import type { AlignedSlide, Cohort, ModelSpec, TaskKind } from '../types.js';
import type { FitConfig } from '../model/config.js';
import { argmaxRows, balancedAccuracy, macroOvrAuc, meanStd, perGenePearson, rocAuc } from './metrics.js';
import { randomSplits, type Split } from './splits.js';

/** What evaluation needs from one slide's prediction. */
export interface SlideOutput {
  /** Class probabilities (C values), classification. */
  probs?: Float32Array;
  /** n × G predicted expression, regression. */
  prediction?: Float32Array;
}

/** A fitted model, ready to predict held-out slides. */
export interface SlidePredictor {
  predictSlide(slide: AlignedSlide): Promise<SlideOutput>;
  /** Releases native resources (inference sessions); called once evaluation is done with it. */
  close?(): Promise<void>;
}

export interface FitRequest {
  cohort: Cohort;
  trainIds: string[];
  config: FitConfig;
  signal?: AbortSignal;
  textEncoder?: TextEncoder;
  /** Progress of this one fit, 0..1. */
  onProgress?: (fraction: number) => void;
}

/** Fits a configuration on training slides and returns its predictor (the real one: fit → export → inference). */
export type FitPredictor = (request: FitRequest) => Promise<SlidePredictor>;

export interface Candidate {
  name: string;
  config: FitConfig;
}

export interface EvaluationProgress {
  /** Overall progress, 0..1. */
  fraction: number;
  split: number;
  candidate: string;
  stage: 'fit' | 'predict';
}

export interface EvaluateOptions {
  /** Number of random splits (default 10), or the splits themselves. */
  splits?: number | Split[];
  /** Training fraction of each split (default 0.7). */
  trainFraction?: number;
  /** Seeds the splits and the per-split fit seeds. */
  seed: Seed;
  /** How a candidate is fitted and run; default the real path (fitFusionModel → ONNX → FusionPredictor). */
  fit?: FitPredictor;
  onProgress?: (progress: EvaluationProgress) => void;
  signal?: AbortSignal;
  textEncoder?: TextEncoder;
}

export interface MetricSummary {
  mean: number;
  /** Sample std over splits (n − 1); NaN with one split. */
  std: number;
  /** One value per split, in split order. */
  values: number[];
}

export interface PearsonSummary extends MetricSummary {
  /** Per split, how many genes had an undefined r (constant prediction or truth) and were left out. */
  excludedGenes: number[];
}

export interface CandidateMetrics {
  auc?: MetricSummary;
  balancedAccuracy?: MetricSummary;
  pearson?: PearsonSummary;
}

export interface EvaluationRow {
  name: string;
  config: FitConfig;
  metrics: CandidateMetrics;
}

export interface EvaluationResult {
  task: TaskKind;
  rows: EvaluationRow[];
  splits: Split[];
}

function summarise(values: number[]): MetricSummary {
  const { mean, std } = meanStd(values);
  return { mean, std, values };
}

function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new WeightsmithError(ErrorCode.Cancelled, 'evaluation was cancelled', { cause: signal.reason });
}

/** The seed a split's fits use: shared by all candidates of the split, different across splits. */
export function fitSeedForSplit(seed: Seed, split: number): string {
  return `${String(seed)}/fit/${split}`;
}

interface SplitScores {
  auc?: number;
  balancedAccuracy?: number;
  pearson?: number;
  excludedGenes?: number;
}

/** Scores one fitted candidate on the held-out slides of a split. */
async function scoreOnTest(cohort: Cohort, testIds: string[], predictor: SlidePredictor, signal: AbortSignal | undefined): Promise<SplitScores> {
  const labels = cohort.labels;
  if (labels.kind === 'classification') {
    const C = labels.classes.length;
    const probs = new Float64Array(testIds.length * C);
    const truth = new Int32Array(testIds.length);
    for (let i = 0; i < testIds.length; i++) {
      checkAborted(signal);
      const id = testIds[i]!;
      const out = await predictor.predictSlide(await cohort.loadSlide(id));
      if (!out.probs || out.probs.length !== C) {
        throw new WeightsmithError(
          ErrorCode.Internal,
          `prediction for slide "${id}" has ${out.probs ? out.probs.length : 'no'} class probabilities, expected ${C}`,
        );
      }
      probs.set(out.probs, i * C);
      truth[i] = labels.bySlide.get(id)!;
    }
    const auc = C === 2 ? rocAuc(probs.filter((_, k) => k % 2 === 1), truth) : macroOvrAuc(probs, truth, C);
    return { auc, balancedAccuracy: balancedAccuracy(argmaxRows(probs, testIds.length, C), truth, C) };
  }
  const G = labels.genes.length;
  const preds: Float32Array[] = [];
  const targets: Float32Array[] = [];
  let tiles = 0;
  for (const id of testIds) {
    checkAborted(signal);
    const slide = await cohort.loadSlide(id);
    const out = await predictor.predictSlide(slide);
    const target = labels.bySlide.get(id);
    if (!target || target.length !== slide.n * G) {
      throw invalidInput('labels', `slide "${id}" needs ${slide.n} tiles × ${G} genes of targets, has ${target?.length ?? 0} values`);
    }
    if (!out.prediction || out.prediction.length !== slide.n * G) {
      throw new WeightsmithError(
        ErrorCode.Internal,
        `prediction for slide "${id}" has ${out.prediction?.length ?? 0} values, expected ${slide.n} tiles × ${G} genes`,
      );
    }
    preds.push(out.prediction);
    targets.push(target);
    tiles += slide.n;
  }
  // Pool the held-out tiles of all test slides, then correlate per gene (as HEST reports it).
  const pooled = (parts: Float32Array[]): Float32Array => {
    const all = new Float32Array(tiles * G);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    return all;
  };
  const r = perGenePearson(pooled(preds), pooled(targets), tiles, G);
  return { pearson: r.mean, excludedGenes: r.excluded };
}

function slideLabels(cohort: Cohort): number[] | undefined {
  const labels = cohort.labels;
  if (labels.kind !== 'classification') return undefined;
  return cohort.slideIds.map((id) => {
    const c = labels.bySlide.get(id);
    if (c === undefined) throw invalidInput('labels', `slide "${id}" has no label`);
    return c;
  });
}

/**
 * Fits and scores every candidate on every split. Each split's fits share one seed, so the
 * candidates differ only in their configuration; the split's test slides are never seen by the
 * fit (its early-stopping validation set is drawn from the training slides).
 */
export async function evaluateConfigs(cohort: Cohort, candidates: Candidate[], options: EvaluateOptions): Promise<EvaluationResult> {
  if (candidates.length === 0) throw invalidInput('candidates', 'evaluation needs at least one candidate configuration');
  const names = new Set<string>();
  for (const c of candidates) {
    if (names.has(c.name)) throw invalidInput('candidates', `candidate name "${c.name}" is used twice`);
    names.add(c.name);
  }
  const splits = Array.isArray(options.splits)
    ? options.splits
    : randomSplits(cohort.slideIds, slideLabels(cohort), {
        count: options.splits ?? 10,
        trainFraction: options.trainFraction ?? 0.7,
        seed: options.seed,
      });
  if (splits.length === 0) throw invalidInput('splits', 'evaluation needs at least one split');

  // Loaded only when needed, so the metrics and table code do not pull in tfjs and onnxruntime.
  const fit = options.fit ?? (await import('./fusion-fit.js')).fitFusionPredictor;
  const task = cohort.labels.kind;
  const perCandidate: SplitScores[][] = candidates.map(() => []);
  // Two stages (fit, predict) per candidate per split, for progress.
  const totalStages = splits.length * candidates.length * 2;
  let stagesDone = 0;
  const report = (split: number, candidate: string, stage: 'fit' | 'predict', within: number): void => {
    options.onProgress?.({ fraction: Math.min(1, (stagesDone + within) / totalStages), split, candidate, stage });
  };

  for (let s = 0; s < splits.length; s++) {
    const split = splits[s]!;
    for (let c = 0; c < candidates.length; c++) {
      checkAborted(options.signal);
      const cand = candidates[c]!;
      const config: FitConfig = { ...cand.config, seed: fitSeedForSplit(options.seed, s) };
      const predictor = await fit({
        cohort,
        trainIds: split.train,
        config,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.textEncoder ? { textEncoder: options.textEncoder } : {}),
        onProgress: (f) => report(s, cand.name, 'fit', Math.min(1, Math.max(0, f))),
      });
      stagesDone++;
      try {
        report(s, cand.name, 'predict', 0);
        perCandidate[c]!.push(await scoreOnTest(cohort, split.test, predictor, options.signal));
      } finally {
        await predictor.close?.();
      }
      stagesDone++;
      report(s, cand.name, 'predict', 0);
    }
  }

  const rows: EvaluationRow[] = candidates.map((cand, c) => {
    const scores = perCandidate[c]!;
    const metrics: CandidateMetrics = {};
    if (task === 'classification') {
      metrics.auc = summarise(scores.map((x) => x.auc!));
      metrics.balancedAccuracy = summarise(scores.map((x) => x.balancedAccuracy!));
    } else {
      // A split where every gene was constant has no r; it is left out of mean ± std.
      const defined = scores.map((x) => x.pearson!).filter((v) => !Number.isNaN(v));
      const summary = defined.length > 0 ? summarise(defined) : { mean: Number.NaN, std: Number.NaN, values: [] };
      metrics.pearson = { ...summary, values: scores.map((x) => x.pearson!), excludedGenes: scores.map((x) => x.excludedGenes!) };
    }
    return { name: cand.name, config: cand.config, metrics };
  });
  return { task, rows, splits };
}

/**
 * The comparison the paper makes, in one code path: each model alone, concatenation and the
 * mean of the aligned features, and AdaFusion's gate — all from the same base configuration.
 */
export function standardBaselines(models: readonly (ModelSpec | string)[], base: FitConfig): Candidate[] {
  if (models.length === 0) throw invalidInput('models', 'baselines need at least one model');
  const { model: _unused, ...rest } = base;
  // A per-channel gate only exists in AdaFusion; the baselines have no gate.
  const plain: FitConfig = { ...rest, gate: 'model' };
  const names = models.map((m) => (typeof m === 'string' ? m : m.name));
  return [
    ...names.map((name) => ({ name, config: { ...plain, mode: 'single' as const, model: name } })),
    { name: 'concat', config: { ...plain, mode: 'concat' } },
    { name: 'mean', config: { ...plain, mode: 'mean' } },
    { name: 'adafusion', config: { ...rest, mode: 'adafusion' } },
  ];
}

/** The metric candidates are ranked by: ROC-AUC for classification, Pearson r for regression. */
export function primaryMetric(result: EvaluationResult, row: EvaluationRow): MetricSummary {
  const m = result.task === 'classification' ? row.metrics.auc : row.metrics.pearson;
  if (!m) throw new WeightsmithError(ErrorCode.Internal, `row "${row.name}" has no ${result.task} metric`);
  return m;
}

function cell(m: MetricSummary | undefined): string {
  if (!m) return '';
  if (Number.isNaN(m.mean)) return 'n/a';
  return Number.isNaN(m.std) ? m.mean.toFixed(3) : `${m.mean.toFixed(3)} ± ${m.std.toFixed(3)}`;
}

/**
 * A fixed-width text table, one row per candidate: "name | ROC-AUC | bal. acc" (classification)
 * or "name | Pearson r" (regression), mean ± std over splits; the best mean of each column is
 * marked with `*`.
 */
export function formatTable(result: EvaluationResult): string {
  const columns: { title: string; get: (r: EvaluationRow) => MetricSummary | undefined }[] =
    result.task === 'classification'
      ? [
          { title: 'ROC-AUC', get: (r) => r.metrics.auc },
          { title: 'bal. acc', get: (r) => r.metrics.balancedAccuracy },
        ]
      : [{ title: 'Pearson r', get: (r) => r.metrics.pearson }];
  const best = columns.map((col) => Math.max(...result.rows.map((r) => col.get(r)?.mean ?? Number.NEGATIVE_INFINITY).filter((v) => !Number.isNaN(v))));
  const header = ['name', ...columns.map((c) => c.title)];
  const body = result.rows.map((r) => [
    r.name,
    ...columns.map((col, k) => {
      const m = col.get(r);
      return cell(m) + (m && m.mean === best[k] ? ' *' : '  ');
    }),
  ]);
  const widths = header.map((h, k) => Math.max(h.length, ...body.map((row) => row[k]!.length)));
  const line = (cells: string[]): string => cells.map((c, k) => (k === 0 ? c.padEnd(widths[k]!) : c.padStart(widths[k]!))).join(' | ');
  const rule = widths.map((w) => '-'.repeat(w)).join('-+-');
  const n = result.splits.length;
  return [
    line(header),
    rule,
    ...body.map(line),
    `(mean ± sample std over ${n} random split${n === 1 ? '' : 's'}; * = best mean)`,
  ].join('\n');
}
