import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isWeightsmithError } from '@weightsmith/core';
import { parseFitConfig } from '../src/model/config.js';

function issueFields(input: unknown): string[] {
  try {
    parseFitConfig(input);
  } catch (err) {
    assert.ok(isWeightsmithError(err, 'invalid_input'), String(err));
    return err.issues.map((i) => i.field);
  }
  assert.fail('expected the configuration to be rejected');
}

describe('fit config', () => {
  test('defaults follow the spec', () => {
    const c = parseFitConfig({});
    assert.equal(c.mode, 'adafusion');
    assert.equal(c.d, 256);
    assert.equal(c.whiten, false);
    assert.equal(c.compression, 'closed_form');
    assert.deepEqual(c.context, { kind: 'centroids', count: 8 });
    assert.equal(c.tau, 1);
    assert.equal(c.gate, 'model');
    assert.equal(c.head.hidden, 128);
    assert.deepEqual(
      { lr: c.optimizer.lr, wd: c.optimizer.weightDecay, e: c.optimizer.maxEpochs, p: c.optimizer.patience, t: c.optimizer.tilesPerStep, s: c.optimizer.slidesPerStep },
      { lr: 3e-3, wd: 1e-2, e: 200, p: 20, t: 512, s: 8 },
    );
    assert.equal(c.optimizer.stepsPerEpoch, undefined);
    assert.equal(c.valFraction, 0.2);
    assert.equal(c.poolTilesPerSlide, 2048);
  });

  test('partial nested objects keep the other defaults', () => {
    const c = parseFitConfig({ optimizer: { lr: 0.01 }, context: { kind: 'learned' } });
    assert.equal(c.optimizer.lr, 0.01);
    assert.equal(c.optimizer.patience, 20);
    assert.deepEqual(c.context, { kind: 'learned', count: 8 });
  });

  test('out-of-range and inconsistent values name their field', () => {
    assert.deepEqual(issueFields({ d: -4 }), ['config.d']);
    assert.deepEqual(issueFields({ d: 2.5 }), ['config.d']);
    assert.deepEqual(issueFields({ mode: 'best' }), ['config.mode']);
    assert.deepEqual(issueFields({ mode: 'single' }), ['config.model']);
    assert.deepEqual(issueFields({ mode: 'mean', model: 'UNI' }), ['config.model']);
    assert.deepEqual(issueFields({ mode: 'concat', gate: 'channel' }), ['config.gate']);
    assert.deepEqual(issueFields({ tau: 0 }), ['config.tau']);
    assert.deepEqual(issueFields({ optimizer: { lr: 0 } }), ['config.optimizer.lr']);
    // Misspelt fields are refused at every level, not silently ignored.
    assert.deepEqual(issueFields({ optimizer: { lrr: 0.1 } }), ['config.optimizer']);
    assert.deepEqual(issueFields({ head: { hiden: 64 } }), ['config.head']);
    assert.deepEqual(issueFields({ context: { kind: 'centroids', cout: 4 } }), ['config.context']);
    assert.deepEqual(issueFields({ dd: 4 }), ['config']);
    assert.deepEqual(issueFields({ optimizer: { patience: 0 } }), ['config.optimizer.patience']);
    assert.deepEqual(issueFields({ valFraction: 0.9 }), ['config.valFraction']);
    assert.deepEqual(issueFields({ context: { kind: 'text', prompts: ['tumour'] } }), ['config.context.prompts']);
    assert.deepEqual(issueFields({ context: { kind: 'centroids', count: 1 } }), ['config.context.count']);
    assert.deepEqual(issueFields({ head: { regression: 'lasso' } }), ['config.head.regression']);
  });
});
