import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { Rng } from '@weightsmith/tensor';
import { fitConfigSchema, type FitConfig } from '../src/model/config.js';
import type { AlignedSlide, Cohort, ModelSpec } from '../src/types.js';
import {
  evaluateConfigs,
  fitSeedForSplit,
  formatTable,
  primaryMetric,
  standardBaselines,
  type FitPredictor,
  type FitRequest,
} from '../src/eval/evaluate.js';

/*
 * The fitting code is not under test here, so the predictors are small real models (nearest
 * class centroid on mean-pooled features) or fixed score functions whose metrics the test
 * computes independently from the split's test ids (pair counting for AUC).
 */

const models: ModelSpec[] = [
  { name: 'good', dim: 2 },
  { name: 'noise', dim: 3 },
];
const base: FitConfig = fitConfigSchema.parse({ d: 2, seed: 5 });

/** 16 slides × 4 tiles: model "good" puts class c around (4c, 4c); "noise" is pure noise. */
function classificationCohort(): Cohort {
  const rng = new Rng('eval-cohort');
  const slideIds = Array.from({ length: 16 }, (_, i) => `slide-${i}`);
  const bySlide = new Map(slideIds.map((id, i) => [id, i % 2]));
  const slides = new Map<string, AlignedSlide>();
  for (const id of slideIds) {
    const c = bySlide.get(id)!;
    const good = rng.normalArray(8, 4 * c, 0.5);
    const noise = rng.normalArray(12, 0, 1);
    slides.set(id, { id, n: 4, coords: new Float64Array([0, 0, 1, 0, 0, 1, 1, 1]), features: [good, noise] });
  }
  return {
    models,
    slideIds,
    labels: { kind: 'classification', classes: ['responder', 'non-responder'], bySlide },
    loadSlide: async (id) => slides.get(id)!,
  };
}

function meanPool(slide: AlignedSlide, m: number, dim: number): Float64Array {
  const out = new Float64Array(dim);
  const f = slide.features[m]!;
  for (let t = 0; t < slide.n; t++) for (let k = 0; k < dim; k++) out[k]! += f[t * dim + k]! / slide.n;
  return out;
}

/** Nearest class centroid on the mean-pooled features of the configured model (`single`) or all models concatenated. */
const centroidFitter: FitPredictor = async ({ cohort, trainIds, config }) => {
  const used = config.mode === 'single' ? [cohort.models.findIndex((m) => m.name === config.model)] : cohort.models.map((_, i) => i);
  const embed = (s: AlignedSlide): number[] => used.flatMap((m) => [...meanPool(s, m, cohort.models[m]!.dim)]);
  const labels = cohort.labels;
  if (labels.kind !== 'classification') throw new Error('classification only');
  const C = labels.classes.length;
  const sums: number[][] = Array.from({ length: C }, () => []);
  const counts = new Array<number>(C).fill(0);
  for (const id of trainIds) {
    const e = embed(await cohort.loadSlide(id));
    const c = labels.bySlide.get(id)!;
    e.forEach((v, k) => (sums[c]![k] = (sums[c]![k] ?? 0) + v));
    counts[c]!++;
  }
  const centroids = sums.map((s, c) => s.map((v) => v / counts[c]!));
  return {
    predictSlide: async (slide) => {
      const e = embed(slide);
      const logits = centroids.map((cen) => -cen.reduce((acc, v, k) => acc + (v - e[k]!) ** 2, 0));
      const mx = Math.max(...logits);
      const ex = logits.map((l) => Math.exp(l - mx));
      const z = ex.reduce((a, b) => a + b, 0);
      return { probs: Float32Array.from(ex.map((v) => v / z)) };
    },
  };
};

function pairCountAuc(scores: number[], labels: number[]): number {
  let good = 0;
  let pairs = 0;
  scores.forEach((si, i) =>
    scores.forEach((sj, j) => {
      if (labels[i] === 1 && labels[j] === 0) {
        pairs++;
        good += si > sj ? 1 : si === sj ? 0.5 : 0;
      }
    }),
  );
  return good / pairs;
}

describe('evaluateConfigs, classification', () => {
  test('informative model is perfect on every split, noise is not; splits are 70/30 stratified', async () => {
    const cohort = classificationCohort();
    const seen: FitRequest[] = [];
    const fit: FitPredictor = async (req) => {
      seen.push(req);
      return centroidFitter(req);
    };
    const result = await evaluateConfigs(cohort, standardBaselines(models, base).slice(0, 3), { splits: 4, seed: 11, fit });
    assert.equal(result.task, 'classification');
    assert.equal(result.splits.length, 4);
    for (const s of result.splits) {
      assert.equal(s.train.length, 12); // round(0.7·8) = 6 per class
      assert.equal(s.test.length, 4);
    }
    const [good, noise, concat] = result.rows;
    assert.deepEqual([good!.name, noise!.name, concat!.name], ['good', 'noise', 'concat']);
    assert.deepEqual(good!.metrics.auc!.values, [1, 1, 1, 1]);
    assert.equal(good!.metrics.auc!.std, 0);
    assert.deepEqual(good!.metrics.balancedAccuracy!.values, [1, 1, 1, 1]);
    assert.ok(noise!.metrics.auc!.mean < 1);
    assert.equal(good!.metrics.pearson, undefined);

    // Each fit sees only its split's training slides, and a split's candidates share a seed.
    assert.equal(seen.length, 12);
    seen.forEach((req, k) => {
      const s = Math.floor(k / 3);
      assert.deepEqual(req.trainIds, result.splits[s]!.train);
      assert.equal(req.config.seed, fitSeedForSplit(11, s));
    });
  });

  test('metrics per split match AUC / balanced accuracy computed from the test ids', async () => {
    const cohort = classificationCohort();
    // Score = a fixed function of the slide's index: no fitting, so expectations are exact.
    const score = (id: string): number => (Number(id.split('-')[1]) * 7) % 5;
    const fit: FitPredictor = async () => ({
      predictSlide: async (slide) => {
        const p = score(slide.id) / 5;
        return { probs: Float32Array.from([1 - p, p]) };
      },
    });
    const result = await evaluateConfigs(cohort, [{ name: 'fixed', config: base }], { splits: 3, seed: 'x', fit });
    const labels = cohort.labels.kind === 'classification' ? cohort.labels.bySlide : new Map<string, number>();
    result.splits.forEach((s, k) => {
      const expected = pairCountAuc(
        s.test.map((id) => Math.fround(score(id) / 5)),
        s.test.map((id) => labels.get(id)!),
      );
      assert.ok(Math.abs(result.rows[0]!.metrics.auc!.values[k]! - expected) < 1e-12);
      // Prediction is class 1 when p > ½ (score 3 or 4); recall per class by counting.
      const pred = s.test.map((id) => (score(id) >= 3 ? 1 : 0));
      const recall = [0, 1].map((c) => {
        const ids = s.test.filter((id) => labels.get(id) === c);
        return ids.filter((id) => pred[s.test.indexOf(id)] === c).length / ids.length;
      });
      assert.ok(Math.abs(result.rows[0]!.metrics.balancedAccuracy!.values[k]! - (recall[0]! + recall[1]!) / 2) < 1e-12);
    });
  });

  test('progress reaches 1 and cancellation stops with cancelled', async () => {
    const cohort = classificationCohort();
    const fractions: number[] = [];
    await evaluateConfigs(cohort, [{ name: 'good', config: standardBaselines(models, base)[0]!.config }], {
      splits: 2,
      seed: 1,
      fit: centroidFitter,
      onProgress: (p) => fractions.push(p.fraction),
    });
    assert.equal(fractions[fractions.length - 1], 1);
    for (let i = 1; i < fractions.length; i++) assert.ok(fractions[i]! >= fractions[i - 1]!);

    const ctl = new AbortController();
    let fits = 0;
    await assert.rejects(
      evaluateConfigs(cohort, standardBaselines(models, base), {
        splits: 2,
        seed: 1,
        signal: ctl.signal,
        fit: async (req) => {
          if (++fits === 2) ctl.abort();
          return centroidFitter(req);
        },
      }),
      (e: unknown) => isWeightsmithError(e, ErrorCode.Cancelled),
    );
    assert.equal(fits, 2);
  });

  test('closes every predictor', async () => {
    let open = 0;
    await evaluateConfigs(classificationCohort(), standardBaselines(models, base).slice(0, 2), {
      splits: 2,
      seed: 1,
      fit: async (req) => {
        const p = await centroidFitter(req);
        open++;
        return { ...p, close: async () => void open-- };
      },
    });
    assert.equal(open, 0);
  });

  test('duplicate candidate names and empty lists are refused', async () => {
    const cohort = classificationCohort();
    await assert.rejects(
      evaluateConfigs(cohort, [{ name: 'a', config: base }, { name: 'a', config: base }], { seed: 1, fit: centroidFitter }),
      (e: unknown) => isWeightsmithError(e, ErrorCode.InvalidInput) && e.field === 'candidates',
    );
    await assert.rejects(evaluateConfigs(cohort, [], { seed: 1, fit: centroidFitter }), (e: unknown) => isWeightsmithError(e, ErrorCode.InvalidInput));
  });
});

describe('evaluateConfigs, regression', () => {
  test('per-gene Pearson pooled over test tiles; constant genes excluded and counted', async () => {
    const rng = new Rng('reg');
    const slideIds = Array.from({ length: 6 }, (_, i) => `r${i}`);
    const targets = new Map(slideIds.map((id) => [id, rng.normalArray(5 * 3)]));
    const cohort: Cohort = {
      models,
      slideIds,
      labels: { kind: 'regression', genes: ['A', 'B', 'C'], bySlide: targets },
      loadSlide: async (id) => ({ id, n: 5, coords: new Float64Array(10), features: [new Float32Array(10), new Float32Array(15)] }),
    };
    // Gene A predicted exactly (r = 1), gene B negated (r = −1), gene C constant (undefined).
    const fit: FitPredictor = async () => ({
      predictSlide: async (slide) => {
        const t = targets.get(slide.id)!;
        const out = new Float32Array(t.length);
        for (let i = 0; i < 5; i++) {
          out[i * 3] = 2 * t[i * 3]! + 1;
          out[i * 3 + 1] = -t[i * 3 + 1]!;
          out[i * 3 + 2] = 0.5;
        }
        return { prediction: out };
      },
    });
    const result = await evaluateConfigs(cohort, [{ name: 'oracle', config: base }], { splits: 3, seed: 2, fit });
    assert.equal(result.task, 'regression');
    for (const s of result.splits) assert.equal(s.test.length, 2); // unstratified: round(0.7·6) = 4 train
    const p = result.rows[0]!.metrics.pearson!;
    for (const v of p.values) assert.ok(Math.abs(v) < 1e-6, `mean of (1, −1) should be 0, got ${v}`);
    assert.deepEqual(p.excludedGenes, [1, 1, 1]);
    assert.equal(result.rows[0]!.metrics.auc, undefined);
    assert.match(formatTable(result), /Pearson r/);
  });
});

describe('standardBaselines and formatTable', () => {
  test('one single per model, then concat, mean, adafusion', () => {
    const cands = standardBaselines(['UNI', 'CONCH'], { ...base, gate: 'channel' });
    assert.deepEqual(
      cands.map((c) => [c.name, c.config.mode, c.config.model, c.config.gate]),
      [
        ['UNI', 'single', 'UNI', 'model'],
        ['CONCH', 'single', 'CONCH', 'model'],
        ['concat', 'concat', undefined, 'model'],
        ['mean', 'mean', undefined, 'model'],
        ['adafusion', 'adafusion', undefined, 'channel'],
      ],
    );
    // Every candidate is a valid configuration.
    for (const c of cands) fitConfigSchema.parse(c.config);
  });

  test('table: header, one aligned line per row, mean ± std, best marked', () => {
    const mk = (mean: number, std: number) => ({ mean, std, values: [] });
    const table = formatTable({
      task: 'classification',
      splits: [
        { train: [], test: [] },
        { train: [], test: [] },
      ],
      rows: [
        { name: 'UNI', config: base, metrics: { auc: mk(0.81234, 0.0456), balancedAccuracy: mk(0.7, 0.05) } },
        { name: 'adafusion', config: base, metrics: { auc: mk(0.9, 0.02), balancedAccuracy: mk(0.65, 0.1) } },
      ],
    });
    const lines = table.split('\n');
    assert.match(lines[0]!, /^name\s+\| +ROC-AUC \| +bal\. acc$/);
    assert.ok(lines[2]!.startsWith('UNI       | 0.812 ± 0.046   | 0.700 ± 0.050 *'));
    assert.ok(lines[3]!.startsWith('adafusion | 0.900 ± 0.020 * | 0.650 ± 0.100  '));
    assert.equal(new Set(lines.slice(0, 4).map((l) => l.length)).size, 1, 'columns aligned');
    assert.match(lines[4]!, /2 random splits/);
    assert.equal(primaryMetric({ task: 'classification', splits: [], rows: [] }, { name: 'x', config: base, metrics: { auc: mk(1, 0) } }).mean, 1);
  });
});
