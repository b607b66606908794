import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, isWeightsmithError } from '@weightsmith/core';
import { fitConfigSchema } from '../src/model/config.js';
import { InterpretationAccumulator, type SlideGate } from '../src/report/interpret.js';
import { buildModelReport, renderContributionPlot, renderDominancePlot } from '../src/report/report.js';

const models = ['UNI', 'CONCH'];
// Same hand-worked slide as in report-interpret: hard phenotypes [0, 0, 1, 1] →
// phenotype 0 = (0.7, 0.3), phenotype 1 = (0.2, 0.8); slide mean (0.45, 0.55).
const slideA: SlideGate = {
  slideId: 'A',
  n: 4,
  coords: new Float64Array([0, 0, 256, 0, 0, 256, 256, 256]),
  alpha: new Float32Array([0.8, 0.2, 0.6, 0.4, 0.3, 0.7, 0.1, 0.9]),
  contextWeights: new Float32Array([0.9, 0.1, 0.7, 0.3, 0.2, 0.8, 0.4, 0.6]),
};

function interpretation(numPhenotypes: number) {
  const ctx = new Float32Array(4 * numPhenotypes);
  // Tiles 0, 1 → phenotype 0; tiles 2, 3 → phenotype 1; phenotype 2 (if any) gets none.
  [0, 0, 1, 1].forEach((p, t) => (ctx[t * numPhenotypes + p] = 1));
  return new InterpretationAccumulator(2, numPhenotypes).add({ ...slideA, contextWeights: ctx }).result();
}

const close = (a: number | null, e: number): void => assert.ok(a !== null && Math.abs(a - e) < 1e-6, `expected ${e}, got ${a}`);

describe('buildModelReport', () => {
  test('weights by phenotype and slide, dominant model named, NaN → null, JSON round trip', () => {
    const interp = interpretation(3);
    const config = fitConfigSchema.parse({});
    const report = buildModelReport({
      modelId: 'm 1',
      task: 'classification',
      modelNames: models,
      phenotypeNames: ['tumour', 'stroma', 'necrosis'],
      classes: ['r', 'nr'],
      validation: { loss: 0.3, metric: 0.8, metricName: 'balanced_accuracy', epoch: 7 },
      evaluation: {
        task: 'classification',
        splits: [{ train: ['a', 'b'], test: ['c'] }],
        rows: [{ name: 'adafusion', config, metrics: { auc: { mean: 0.9, std: Number.NaN, values: [0.9] } } }],
      },
      perPhenotype: interp.perPhenotype,
      perPhenotypeSoft: interp.perPhenotypeSoft,
      perSlide: interp.perSlide,
    });
    assert.deepEqual(JSON.parse(JSON.stringify(report)), report, 'report must survive JSON unchanged');

    const [tumour, stroma, necrosis] = report.contribution.byPhenotype!;
    close(tumour!.weights.UNI!, 0.7);
    close(tumour!.weights.CONCH!, 0.3);
    assert.equal(tumour!.dominant, 'UNI');
    assert.equal(tumour!.tiles, 2);
    assert.equal(stroma!.dominant, 'CONCH');
    assert.deepEqual(necrosis, { phenotype: 'necrosis', weights: { UNI: null, CONCH: null }, dominant: null, tiles: 0 });
    // Soft with one-hot context equals hard.
    close(report.contribution.byPhenotypeSoft![1]!.weights.CONCH!, 0.8);

    const [slide] = report.contribution.bySlide!;
    assert.equal(slide!.slideId, 'A');
    close(slide!.weights.UNI!, 0.45);
    assert.equal(slide!.dominant, 'CONCH');

    assert.deepEqual(report.metrics.evaluation!.rows[0], { name: 'adafusion', mode: 'adafusion', auc: { mean: 0.9, std: null, values: [0.9] } });
    assert.deepEqual(report.metrics.evaluation!.splitSizes, [{ train: 2, test: 1 }]);
    assert.equal(report.metrics.validation!.epoch, 7);
    assert.equal(report.plots.contribution.href, '/v1/models/m%201/report?plot=contribution&format=svg');
    assert.deepEqual(report.plots.dominance.formats, ['svg', 'png']);
  });

  test('sections without input are null; default phenotype names', () => {
    const interp = interpretation(2);
    const report = buildModelReport({ task: 'regression', modelNames: models, perPhenotype: interp.perPhenotype });
    assert.deepEqual(report.phenotypes, ['phenotype 1', 'phenotype 2']);
    assert.equal(report.metrics.evaluation, null);
    assert.equal(report.metrics.validation, null);
    assert.equal(report.contribution.bySlide, null);
    assert.equal(report.plots.contribution.href, null);
  });

  test('names that do not match the weights are refused', () => {
    const interp = interpretation(2);
    assert.throws(
      () => buildModelReport({ task: 'classification', modelNames: ['only'], perPhenotype: interp.perPhenotype }),
      (e: unknown) => isWeightsmithError(e, ErrorCode.InvalidInput) && e.field === 'perPhenotype',
    );
    assert.throws(
      () => buildModelReport({ task: 'classification', modelNames: models, phenotypeNames: ['a'], perPhenotype: interp.perPhenotype }),
      (e: unknown) => isWeightsmithError(e, ErrorCode.InvalidInput) && e.field === 'perPhenotype',
    );
  });
});

describe('plots', () => {
  test('contribution plot is SVG with one bar per phenotype × model; PNG refused', () => {
    const interp = interpretation(2);
    const plot = renderContributionPlot(interp.perPhenotype, models, ['tumour', 'stroma']);
    assert.equal(plot.contentType, 'image/svg+xml');
    assert.equal((plot.body as string).match(/class="bar"/g)?.length, 4);
    assert.throws(
      () => renderContributionPlot(interp.perPhenotype, models, undefined, 'png'),
      (e: unknown) => isWeightsmithError(e, ErrorCode.InvalidInput) && e.field === 'format',
    );
  });

  test('dominance plot of a slide in SVG and PNG', () => {
    const svg = renderDominancePlot(slideA, models, 'svg');
    assert.equal(svg.contentType, 'image/svg+xml');
    assert.equal((svg.body as string).match(/class="tile"/g)?.length, 4);
    assert.match(svg.body as string, /Dominance map · A/);
    const png = renderDominancePlot(slideA, models, 'png', 64);
    assert.equal(png.contentType, 'image/png');
    assert.deepEqual([...(png.body as Buffer).subarray(1, 4)], [0x50, 0x4e, 0x47]);
  });
});
