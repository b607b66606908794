import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isWeightsmithError } from '@weightsmith/core';
import { fitFusionModel, referenceForward, type FitConfigInput } from '../src/model/index.js';
import { mm } from '../src/model/tf-graph.js';
import { tf, tfReady } from '../src/model/tf-backend.js';
import { makeToyCohort, meanAlpha } from './model-fixtures.js';

const small = (over: FitConfigInput = {}): FitConfigInput => ({
  d: 6,
  context: { kind: 'centroids', count: 2 },
  head: { hidden: 16 },
  poolTilesPerSlide: 48,
  seed: 1,
  ...over,
  optimizer: { lr: 1e-2, maxEpochs: 3, tilesPerStep: 32, ...over.optimizer },
});

function paramBytes(params: Record<string, { data: Float32Array }>): Buffer {
  return Buffer.concat(Object.keys(params).sort().map((k) => Buffer.from(params[k]!.data.buffer, params[k]!.data.byteOffset, params[k]!.data.byteLength)));
}

describe('fitFusionModel', () => {
  const cohort = makeToyCohort({ slides: 20, tiles: 48 });

  test('fits an adafusion classifier with the documented parameter shapes', async () => {
    const progress: number[] = [];
    const model = await fitFusionModel(cohort, cohort.slideIds, small(), { onProgress: (p) => progress.push(p.epoch) });
    assert.deepEqual(progress, [1, 2, 3]);
    assert.equal(model.task, 'classification');
    assert.deepEqual(model.classes, ['neg', 'pos']);
    assert.deepEqual(model.usedModels, [0, 1]);
    const shapes = Object.fromEntries(Object.entries(model.params).map(([k, v]) => [k, v.shape]));
    assert.deepEqual(shapes, {
      'compress.0.weight': [12, 6],
      'compress.0.bias': [6],
      'compress.1.weight': [10, 6],
      'compress.1.bias': [6],
      'context.prompts': [2, 6],
      'context.q.weight': [6, 6],
      'context.q.bias': [6],
      'gate.wq': [6, 6],
      'gate.wk': [6, 6],
      'gate.bias': [2],
      'gate.key_offset': [2, 6],
      'head.attn.v.weight': [6, 16],
      'head.attn.v.bias': [16],
      'head.attn.u.weight': [6, 16],
      'head.attn.u.bias': [16],
      'head.attn.w': [16],
      'head.classifier.weight': [6, 2],
      'head.classifier.bias': [2],
    });
    for (const [k, v] of Object.entries(model.params)) assert.equal(v.data.length, v.shape.reduce((a, b) => a * b, 1), k);
    // Split: disjoint, covers trainIds, stratified (both classes in validation).
    assert.equal(model.split.train.length + model.split.val.length, 20);
    assert.equal(new Set([...model.split.train, ...model.split.val]).size, 20);
    assert.equal(model.split.val.length, 4);
    const valClasses = new Set(model.split.val.map((id) => (cohort.labels.kind === 'classification' ? cohort.labels.bySlide.get(id) : -1)));
    assert.equal(valClasses.size, 2);
    assert.equal(model.history.length, 3);
    const best = model.history.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
    assert.equal(model.validation.loss, best.valLoss);
    assert.equal(model.validation.epoch, best.epoch);
  });

  test('same cohort, config and seed give identical parameter bytes; another seed does not', async () => {
    const a = await fitFusionModel(cohort, cohort.slideIds, small());
    const b = await fitFusionModel(cohort, cohort.slideIds, small());
    const c = await fitFusionModel(cohort, cohort.slideIds, small({ seed: 2 }));
    assert.ok(paramBytes(a.params).equals(paramBytes(b.params)));
    assert.deepEqual(a.history, b.history);
    assert.ok(!paramBytes(a.params).equals(paramBytes(c.params)));
  });

  test('gradients flow: the loss falls and the gate learns which model carries the signal on which phenotype', async () => {
    const toy = makeToyCohort({ slides: 24, tiles: 64, task: 'regression' });
    const model = await fitFusionModel(toy, toy.slideIds, small({ poolTilesPerSlide: 64, optimizer: { lr: 1e-2, maxEpochs: 60, patience: 60, tilesPerStep: 64 } }));
    assert.ok(model.history.at(-1)!.trainLoss < 0.8 * model.history[0]!.trainLoss, `train loss ${model.history[0]!.trainLoss} → ${model.history.at(-1)!.trainLoss}`);
    let onInformative = 0;
    let elsewhere = 0;
    for (const id of toy.slideIds) {
      const out = referenceForward(model, toy.slidesById.get(id)!);
      const ph = toy.phenotypes.get(id)!;
      // Model 0 carries the target on phenotype 0, model 1 on phenotype 1.
      onInformative += meanAlpha(out.alpha, 2, 0, ph, 0) + meanAlpha(out.alpha, 2, 1, ph, 1);
      elsewhere += meanAlpha(out.alpha, 2, 0, ph, 1) + meanAlpha(out.alpha, 2, 1, ph, 0);
    }
    onInformative /= 2 * toy.slideIds.length;
    elsewhere /= 2 * toy.slideIds.length;
    assert.ok(onInformative > elsewhere + 0.1, `mean α of the informative model ${onInformative.toFixed(3)} vs the other ${elsewhere.toFixed(3)}`);
  });

  test('early stopping keeps the best epoch when validation stops improving', async () => {
    const noise = makeToyCohort({ slides: 20, tiles: 48, randomLabels: true, seed: 3 });
    const model = await fitFusionModel(noise, noise.slideIds, small({ optimizer: { lr: 3e-2, maxEpochs: 60, patience: 3 } }));
    const n = model.history.length;
    assert.ok(n < 60, `ran all ${n} epochs`);
    const best = model.history.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
    assert.equal(n, best.epoch + 3, 'stops exactly `patience` epochs after the best');
    assert.equal(model.validation.epoch, best.epoch);
    // The kept weights are those of the best epoch: re-evaluating them is not the last epoch's loss.
    assert.equal(model.validation.loss, best.valLoss);
  });

  test('an abort signal cancels the fit', async () => {
    const ac = new AbortController();
    await assert.rejects(
      fitFusionModel(cohort, cohort.slideIds, small({ optimizer: { maxEpochs: 50 } }), { signal: ac.signal, onProgress: () => ac.abort() }),
      (err) => isWeightsmithError(err, 'cancelled'),
    );
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(fitFusionModel(cohort, cohort.slideIds, small(), { signal: pre.signal }), (err) => isWeightsmithError(err, 'cancelled'));
  });

  test('a diverging loss stops with an error naming optimizer.lr', async () => {
    // lr·weightDecay = 10 turns the decoupled decay into ×(−9) per step: the weights blow up.
    await assert.rejects(
      fitFusionModel(cohort, cohort.slideIds, small({ optimizer: { lr: 10, weightDecay: 1, maxEpochs: 100, stepsPerEpoch: 10 } })),
      (err) => isWeightsmithError(err, 'non_finite') && err.field === 'optimizer.lr' && /optimizer\.lr/.test(err.message),
    );
  });

  test('bad inputs are rejected with the offending field', async () => {
    await assert.rejects(fitFusionModel(cohort, cohort.slideIds, small({ mode: 'single', model: 'nope' })), (err) => isWeightsmithError(err, 'invalid_input') && err.field === 'config.model');
    await assert.rejects(fitFusionModel(cohort, [...cohort.slideIds, 'ghost'], small()), (err) => isWeightsmithError(err, 'invalid_input') && err.field === 'trainIds' && /ghost/.test(err.message));
    await assert.rejects(fitFusionModel(cohort, [cohort.slideIds[0]!], small()), (err) => isWeightsmithError(err, 'invalid_input') && err.field === 'trainIds');
    await assert.rejects(fitFusionModel(cohort, cohort.slideIds, small({ d: 11 })), (err) => isWeightsmithError(err, 'invalid_input') && err.field === 'config.d');
    await assert.rejects(fitFusionModel(cohort, cohort.slideIds, { ...small(), tau: -1 }), (err) => isWeightsmithError(err, 'invalid_input') && err.field === 'config.tau');
    await assert.rejects(fitFusionModel(cohort, cohort.slideIds, small({ context: { kind: 'text', prompts: ['tumour', 'stroma'] } })), (err) => isWeightsmithError(err, 'invalid_input') && err.field === 'context.prompts');
  });

  test("mm's explicit-transpose gradient equals tfjs's built-in matMul gradient", async () => {
    await tfReady();
    const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tf.tensor2d([0.5, -1, 2, 0.25, -0.75, 3], [3, 2]);
    const w = tf.tensor2d([1, -2, 0.5, 3], [2, 2]);
    const loss = (f: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor) => (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.sin(f(x, y)), w));
    const ours = tf.grads(loss((x, y) => mm(x, y)))([a, b]);
    const builtin = tf.grads(loss((x, y) => tf.matMul(x as tf.Tensor2D, y as tf.Tensor2D)))([a, b]);
    for (let i = 0; i < 2; i++) {
      const o = ours[i]!.dataSync();
      const r = builtin[i]!.dataSync();
      for (let j = 0; j < o.length; j++) assert.ok(Math.abs(o[j]! - r[j]!) < 1e-6);
    }
  });
});
