import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseFitConfig } from '../src/model/config.js';
import { makeSyntheticCohort } from '../src/synthetic/index.js';
import { evaluateConfigs, formatTable, standardBaselines } from '../src/eval/evaluate.js';

/*
 * The default fitter is the real path (fitFusionModel → ONNX export → onnxruntime). At this tiny
 * size the numbers say nothing about quality; the test checks that every candidate of the
 * standard comparison goes through that path and is scored on its held-out slides.
 */
describe('evaluateConfigs with the real fit → ONNX → predict path', () => {
  const models = [
    { name: 'A', dim: 8 },
    { name: 'B', dim: 6 },
  ];
  const base = parseFitConfig({ d: 4, context: { kind: 'centroids', count: 2 }, optimizer: { maxEpochs: 3, patience: 2, tilesPerStep: 16 } });

  test('classification: every candidate scored on every split', async () => {
    const { cohort } = makeSyntheticCohort({ seed: 3, slides: 14, tilesPerSlide: 16, models });
    const result = await evaluateConfigs(cohort, standardBaselines(models, base), { splits: 2, seed: 1 });
    assert.deepEqual(
      result.rows.map((r) => r.name),
      ['A', 'B', 'concat', 'mean', 'adafusion'],
    );
    for (const row of result.rows) {
      assert.equal(row.metrics.auc!.values.length, 2);
      for (const v of [...row.metrics.auc!.values, ...row.metrics.balancedAccuracy!.values]) assert.ok(v >= 0 && v <= 1, `${row.name}: ${v}`);
    }
    assert.equal(formatTable(result).split('\n').length, 2 + 5 + 1);
  });

  test('regression: mean per-gene Pearson per split', async () => {
    const { cohort } = makeSyntheticCohort({ seed: 4, slides: 6, tilesPerSlide: 16, models, genes: 3 });
    const result = await evaluateConfigs(cohort, [{ name: 'adafusion', config: base }], { splits: 1, seed: 1 });
    const r = result.rows[0]!.metrics.pearson!;
    assert.equal(r.values.length, 1);
    assert.ok(r.values[0]! >= -1 && r.values[0]! <= 1);
  });
});
