/**
 * The issue's check, in the suite at one split (bench/adafusion.ts runs the full 10-split table
 * against every baseline): on a synthetic cohort with known truth, AdaFusion fitted on 70 % of
 * the slides puts most of its gate weight, on the held-out slides' tiles of each true phenotype,
 * on the model that carries that phenotype's signal — and predicts the held-out labels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomSplits, rocAuc } from '../src/eval/index.js';
import { FusionPredictor, fitFusionModel, parseFitConfig } from '../src/model/index.js';
import { dominanceAgreement, truthPhenotypeAlpha, type SlideGate } from '../src/report/index.js';
import { makeSyntheticCohort } from '../src/synthetic/index.js';

test('the gate names the informative model of every phenotype on held-out slides', async () => {
  const models = [
    { name: 'UNI', dim: 64 },
    { name: 'CONCH', dim: 32 },
    { name: 'Virchow2', dim: 96 },
  ];
  const { cohort, truth } = makeSyntheticCohort({ seed: 0, slides: 200, tilesPerSlide: 128, models });
  const labels = cohort.slideIds.map((id) => truth.labels.get(id)!);
  const [split] = randomSplits(cohort.slideIds, labels, { count: 1, trainFraction: 0.7, seed: 7 });
  const config = parseFitConfig({ d: 16, context: { kind: 'centroids', count: 3 }, optimizer: { tilesPerStep: 128 } });
  const model = await fitFusionModel(cohort, split!.train, config);
  const predictor = await FusionPredictor.load(model);
  const gates: SlideGate[] = [];
  const scores: number[] = [];
  const ys: number[] = [];
  try {
    for (const id of split!.test) {
      const slide = await cohort.loadSlide(id);
      const out = await predictor.predictSlide(slide);
      gates.push({ slideId: id, n: slide.n, coords: slide.coords, alpha: out.alpha, contextWeights: out.contextWeights });
      scores.push(out.probs![1]!);
      ys.push(truth.labels.get(id)!);
    }
  } finally {
    await predictor.close();
  }
  const perPhenotype = truthPhenotypeAlpha(gates, (id) => truth.phenotypeByTile(id), models.length, 3);
  const agreement = dominanceAgreement(perPhenotype, truth.dominantModelByPhenotype);
  const table = Array.from({ length: 3 }, (_, k) => Array.from(perPhenotype.mean.subarray(3 * k, 3 * k + 3), (v) => v.toFixed(2)).join('/')).join(' | ');
  assert.equal(agreement.agreed, 3, `mean α per true phenotype: ${table}`);
  for (let k = 0; k < 3; k++) assert.ok(perPhenotype.mean[3 * k + k]! > 0.5, `phenotype ${k}: the informative model has α ${perPhenotype.mean[3 * k + k]} (${table})`);
  const auc = rocAuc(Float64Array.from(scores), Int32Array.from(ys));
  assert.ok(auc > 0.8, `held-out ROC-AUC ${auc}`);
});
