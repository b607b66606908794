import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferencePool } from '@weightsmith/onnx';
import { ClipTextEncoder, writeTinyClipFolder } from '@weightsmith/text';
import {
  exportFusionOnnx,
  fitFusionModel,
  FusionPredictor,
  loadFusionModel,
  referenceForward,
  serializeFusionModel,
  type FitConfigInput,
  type FittedFusionModel,
} from '../src/model/index.js';
import { compressTf, forwardTf, type GraphSpec } from '../src/model/tf-graph.js';
import { tf, tfReady } from '../src/model/tf-backend.js';
import type { AlignedSlide } from '../src/types.js';
import { makeToyCohort } from './model-fixtures.js';

const TOL = 1e-4;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, what: string): number {
  assert.equal(a.length, b.length, `${what}: lengths ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  assert.ok(Number.isFinite(m), `${what}: non-finite values`);
  return m;
}

/** The tfjs forward (the training graph) on a whole slide, as one bag; alpha spread over all M models. */
async function tfjsForward(model: FittedFusionModel, slide: AlignedSlide): Promise<Record<string, Float32Array>> {
  await tfReady();
  const { config, usedModels: used, models } = model;
  const spec: GraphSpec = {
    mode: config.mode,
    gate: config.gate,
    task: model.task,
    used,
    d: config.d,
    tau: config.tau,
    textPrompts: config.context.kind === 'text',
    learnedCompression: config.compression === 'learned',
  };
  return tf.tidy(() => {
    const lookup = (name: string) => tf.tensor(model.params[name]!.data, model.params[name]!.shape);
    const xs = used.map((m) => tf.tensor2d(slide.features[m]!, [slide.n, models[m]!.dim]));
    const out = forwardTf(spec, lookup, compressTf(spec, lookup, xs).z);
    const M = models.length;
    const Mu = used.length;
    const alphaUsed = out.alpha.dataSync();
    const alpha = new Float32Array(slide.n * M);
    for (let t = 0; t < slide.n; t++) used.forEach((m, i) => (alpha[t * M + m] = alphaUsed[t * Mu + i]!));
    const res: Record<string, Float32Array> = {
      fused: out.fused.dataSync() as Float32Array,
      alpha,
      contextWeights: out.contextWeights.dataSync() as Float32Array,
    };
    if (out.alphaChannels) res['alphaChannels'] = out.alphaChannels.dataSync() as Float32Array;
    if (out.attention) res['attention'] = out.attention.dataSync() as Float32Array;
    if (out.logits) res['logits'] = out.logits.dataSync() as Float32Array;
    if (out.prediction) res['prediction'] = out.prediction.dataSync() as Float32Array;
    return res;
  });
}

const base = (over: FitConfigInput): FitConfigInput => ({
  d: 6,
  context: { kind: 'centroids', count: 3 },
  head: { hidden: 8 },
  poolTilesPerSlide: 32,
  seed: 5,
  ...over,
  optimizer: { lr: 1e-2, maxEpochs: 2, tilesPerStep: 32 },
});

describe('ONNX export parity', () => {
  const cls = makeToyCohort({ slides: 12, tiles: 40, dims: [12, 10, 8] });
  const reg = makeToyCohort({ slides: 12, tiles: 40, dims: [12, 10, 8], task: 'regression', seed: 9 });
  let clipDir = '';
  let encoder: ClipTextEncoder;
  before(async () => {
    clipDir = await mkdtemp(join(tmpdir(), 'adafusion-clip-'));
    await writeTinyClipFolder(clipDir, { seed: 3 });
    encoder = await ClipTextEncoder.fromFolder(clipDir);
  });
  after(async () => {
    await encoder.close();
    await rm(clipDir, { recursive: true, force: true });
  });

  const cases: { name: string; task: 'classification' | 'regression'; config: FitConfigInput; text?: boolean }[] = [
    { name: 'adafusion, per-model gate, centroids, classification', task: 'classification', config: base({}) },
    { name: 'adafusion, per-channel gate, learned prompts, regression', task: 'regression', config: base({ gate: 'channel', context: { kind: 'learned', count: 4 } }) },
    { name: 'adafusion, per-channel gate, classification, whitened, anchor model2', task: 'classification', config: base({ gate: 'channel', whiten: true, anchor: 'model2' }) },
    { name: 'adafusion, text prompts, classification', task: 'classification', config: base({ context: { kind: 'text', prompts: ['a photo of a cat', 'a photo of a dog', 'a photo of a ship'] } }), text: true },
    { name: 'adafusion, learned compression, regression', task: 'regression', config: base({ compression: 'learned', tau: 2 }) },
    { name: 'single model1, classification', task: 'classification', config: base({ mode: 'single', model: 'model1' }) },
    { name: 'concat, regression', task: 'regression', config: base({ mode: 'concat', head: { regression: 'ridge', lambda: 0.1, hidden: 8 } }) },
    { name: 'mean, classification', task: 'classification', config: base({ mode: 'mean' }) },
  ];

  for (const c of cases) {
    test(`${c.name}: ONNX = tfjs = float64 reference (≤ ${TOL})`, async () => {
      const cohort = c.task === 'classification' ? cls : reg;
      const model = await fitFusionModel(cohort, cohort.slideIds, c.config, c.text ? { textEncoder: encoder } : {});
      const slide = cohort.slidesById.get(cohort.slideIds[1]!)!;
      const predictor = await FusionPredictor.load(model);
      try {
        const onnx = await predictor.predictSlide(slide);
        const tfOut = await tfjsForward(model, slide);
        const ref = referenceForward(model, slide);
        const M = cohort.models.length;
        assert.equal(onnx.alpha.length, slide.n * M);
        assert.equal(onnx.fusedWidth, model.config.mode === 'concat' ? model.usedModels.length * 6 : 6);
        const pairs: [string, ArrayLike<number> | undefined, ArrayLike<number> | undefined, ArrayLike<number> | undefined][] = [
          ['fused', onnx.fused, tfOut['fused'], ref.fused],
          ['alpha', onnx.alpha, tfOut['alpha'], ref.alpha],
          ['contextWeights', onnx.contextWeights, tfOut['contextWeights'], ref.contextWeights],
          ['attention', onnx.attention, tfOut['attention'], ref.attention],
          ['logits', onnx.logits, tfOut['logits'], ref.logits],
          ['prediction', onnx.prediction, tfOut['prediction'], ref.prediction],
        ];
        for (const [name, o, t, r] of pairs) {
          assert.equal(o === undefined, r === undefined, `${name}: present in ONNX and reference alike`);
          if (o === undefined) continue;
          const dt = maxAbsDiff(o, t!, `${name} onnx/tfjs`);
          const dr = maxAbsDiff(o, r!, `${name} onnx/reference`);
          assert.ok(dt <= TOL, `${name}: max |ONNX − tfjs| = ${dt}`);
          assert.ok(dr <= TOL, `${name}: max |ONNX − reference| = ${dr}`);
        }
        if (model.config.gate === 'channel' && model.config.mode === 'adafusion') {
          // tfjs gives [T, Mu, d] = [T, M, d] here (all models used).
          assert.ok(maxAbsDiff(onnx.alphaChannels!, tfOut['alphaChannels']!, 'alphaChannels') <= TOL);
          assert.ok(maxAbsDiff(onnx.alphaChannels!, ref.alphaChannels!, 'alphaChannels ref') <= TOL);
        } else {
          assert.equal(onnx.alphaChannels, undefined);
        }
        // Weights per tile sum to 1; baselines carry their fixed weights.
        for (let t = 0; t < slide.n; t++) {
          let s = 0;
          for (let m = 0; m < M; m++) s += onnx.alpha[t * M + m]!;
          assert.ok(Math.abs(s - 1) < 1e-5);
        }
        if (model.config.mode === 'single') assert.deepEqual(Array.from(onnx.alpha.slice(0, M)), [0, 1, 0]);
        if (model.config.mode === 'mean' || model.config.mode === 'concat') assert.ok(Math.abs(onnx.alpha[0]! - 1 / 3) < 1e-7);
        if (onnx.probs) assert.ok(Math.abs(onnx.probs.reduce((a, b) => a + b, 0) - 1) < 1e-6);
      } finally {
        await predictor.close();
      }
    });
  }

  test('serialise → load round-trips parameters, config and the ONNX bytes; the predictor runs on a pool', async () => {
    const model = await fitFusionModel(cls, cls.slideIds, base({ gate: 'channel' }));
    const { weights, onnx } = await serializeFusionModel(model);
    const loaded = await loadFusionModel(weights);
    assert.deepEqual(loaded.config, model.config);
    assert.deepEqual(loaded.models, model.models);
    assert.deepEqual(loaded.history, model.history);
    assert.deepEqual(loaded.split, model.split);
    assert.deepEqual(Object.keys(loaded.params).sort(), Object.keys(model.params).sort());
    for (const [k, p] of Object.entries(model.params)) {
      assert.deepEqual(loaded.params[k]!.shape, p.shape);
      assert.deepEqual(loaded.params[k]!.data, p.data);
    }
    assert.deepEqual(exportFusionOnnx(loaded), onnx);

    const pool = new InferencePool({ threads: 1 });
    try {
      const predictor = await FusionPredictor.load(onnx, { pool });
      const slide = cls.slidesById.get(cls.slideIds[0]!)!;
      const viaPool = await predictor.predictSlide(slide);
      const local = await FusionPredictor.load(model);
      const inThread = await local.predictSlide(slide);
      await local.close();
      assert.deepEqual(viaPool.logits, inThread.logits);
      assert.deepEqual(viaPool.alpha, inThread.alpha);
      assert.deepEqual(predictor.models, model.models);
      await assert.rejects(predictor.predictSlide({ ...slide, features: slide.features.slice(0, 2) }), /fitted on 3/);
    } finally {
      await pool.close();
    }
  });

  test('loading rejects bytes that are not an AdaFusion weights file', async () => {
    const model = await fitFusionModel(cls, cls.slideIds, base({ mode: 'mean' }));
    const { weights } = await serializeFusionModel(model);
    await assert.rejects(loadFusionModel(weights.slice(0, 20)), (err: unknown) => (err as { code?: string }).code === 'invalid_format');
    await assert.rejects(FusionPredictor.load(new Uint8Array([1, 2, 3, 4])), (err: unknown) => (err as { code?: string }).code === 'invalid_format');
  });
});
