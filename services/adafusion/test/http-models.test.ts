/**
 * The AdaFusion API end to end on a folder store: a tiny synthetic cohort (h5 and safetensors)
 * uploaded as artifacts and registered, a fit with ?wait=true (and again as a 202 job: the same
 * request gives the same artifact ids), the record, the report and its plots, predictions and
 * fusions with their safetensors artifacts checked against each other and against the α they
 * carry.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { memorySource, openSafetensors } from '@weightsmith/safetensors';
import { readFusionOnnxMetadata } from '../src/model/index.js';
import { pollJob, registration, startHarness, TINY, TINY_CONFIG, writeAndUpload, type Harness, type UploadedCohort } from './http-harness.js';

let h: Harness;
/** The cohort as TRIDENT-style h5 files, and the same cohort as safetensors files. */
let cohort: UploadedCohort;
let stCohort: UploadedCohort;
/** The safetensors registration, which the fits use (the h5 path is covered by registration and predictions). */
let featureSet: string;
let h5FeatureSet: string;
let fit: { model: string; weights: { id: string; manifest: { kind: string; mediaType: string } }; onnx: { id: string; manifest: { kind: string; mediaType: string } } } & Record<string, unknown>;

const FIT_REQUEST = () => ({ featureSet, config: TINY_CONFIG, evaluation: { splits: 2 } });

async function getBytes(path: string): Promise<{ body: Buffer; type: string }> {
  const res = await h
    .api()
    .get(path)
    .buffer(true)
    .parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    })
    .expect(200);
  return { body: res.body as Buffer, type: res.headers['content-type'] as string };
}

async function download(id: string): Promise<Uint8Array> {
  return new Uint8Array((await getBytes(`/v1/artifacts/${id}`)).body);
}

async function tensorsOf(id: string): Promise<Map<string, { dtype: string; shape: number[]; data: ArrayLike<number> }>> {
  const file = await openSafetensors(memorySource(await download(id)));
  const out = new Map<string, { dtype: string; shape: number[]; data: ArrayLike<number> }>();
  try {
    for await (const t of file) out.set(t.name, { dtype: t.dtype, shape: [...t.shape], data: t.data as ArrayLike<number> });
  } finally {
    await file.close();
  }
  return out;
}

before(async () => {
  h = await startHarness();
  cohort = await writeAndUpload(h, 'h5-cohort', TINY, 'h5');
  stCohort = await writeAndUpload(h, 'st-cohort', TINY, 'safetensors');
});
after(async () => {
  await h.close();
});

describe('feature sets', () => {
  test('an h5 cohort registers: 201 with the summary; GET gives the manifest; the same request again is 200 with the same id', async () => {
    const res = await h.api().post('/v1/feature-sets').send(registration(cohort)).expect(201);
    h5FeatureSet = res.body.id;
    assert.match(h5FeatureSet, /^[0-9a-f]{64}$/);
    assert.deepEqual(res.body.models, [
      { name: 'A', dim: 16 },
      { name: 'B', dim: 12 },
    ]);
    assert.equal(res.body.task, 'classification');
    assert.deepEqual(res.body.classes, ['negative', 'positive']);
    const perClass = res.body.counts.perClass as Record<string, number>;
    assert.equal(res.body.counts.slides, 8);
    assert.equal(res.body.counts.tiles, 8 * 24);
    assert.equal(perClass['negative']! + perClass['positive']!, 8);

    const manifest = await h.api().get(`/v1/feature-sets/${h5FeatureSet}`).expect(200);
    assert.equal(manifest.body.slides.length, 8);
    assert.equal(manifest.body.slides[0].features.A, cohort.ids.get('A')!.get('slide-000'));
    assert.equal(manifest.body.slides[0].tiles, 24);

    const again = await h.api().post('/v1/feature-sets').send(registration(cohort)).expect(200);
    assert.equal(again.body.id, h5FeatureSet);
  });

  test('the same cohort as safetensors files registers with the same models and counts', async () => {
    const res = await h.api().post('/v1/feature-sets').send(registration(stCohort, 'tiny-st')).expect(201);
    featureSet = res.body.id;
    assert.notEqual(featureSet, h5FeatureSet);
    assert.equal(res.body.name, 'tiny-st');
    assert.deepEqual(res.body.models.map((m: { dim: number }) => m.dim), [16, 12]);
    assert.equal(res.body.counts.tiles, 8 * 24);
  });
});

describe('models', () => {
  test('a fit with ?wait=true answers with the model, its weights and ONNX artifacts, validation and the evaluation', async () => {
    const res = await h.api().post('/v1/models?wait=true').send(FIT_REQUEST()).expect(200);
    fit = res.body;
    assert.equal(fit.weights.manifest.kind, 'adafusion-weights');
    assert.equal(fit.onnx.manifest.kind, 'adafusion-onnx');
    assert.equal(fit.onnx.manifest.mediaType, 'application/onnx');
    const validation = res.body.validation as { metricName: string; metric: number };
    assert.equal(validation.metricName, 'balanced_accuracy');
    assert.ok(validation.metric >= 0 && validation.metric <= 1);
    const evaluation = res.body.evaluation as { splits: number; rows: { name: string; auc: { values: number[] } }[]; table: string };
    assert.equal(evaluation.splits, 2);
    assert.deepEqual(evaluation.rows.map((r) => r.name), ['A', 'B', 'concat', 'mean', 'adafusion']);
    for (const row of evaluation.rows) assert.equal(row.auc.values.length, 2);
    assert.match(evaluation.table, /adafusion/);

    const weights = await tensorsOf(fit.weights.id);
    assert.deepEqual(weights.get('compress.0.weight')!.shape, [16, 4]);
    assert.deepEqual(weights.get('compress.1.weight')!.shape, [12, 4]);
    const meta = readFusionOnnxMetadata(await download(fit.onnx.id));
    assert.deepEqual(meta.models, [
      { name: 'A', dim: 16 },
      { name: 'B', dim: 12 },
    ]);
    assert.equal(meta.d, 4);
  });

  test('the same request as a 202 job gives the same model, weights and ONNX ids', async () => {
    const res = await h.api().post('/v1/models').send(FIT_REQUEST()).expect(202);
    const job = await pollJob(h.api, res.headers.location as string);
    assert.equal(job.status, 'succeeded');
    const result = job.result as typeof fit;
    assert.equal(result.model, fit.model);
    assert.equal(result.weights.id, fit.weights.id);
    assert.equal(result.onnx.id, fit.onnx.id);
    assert.equal(job.progress, 1);
  });

  test('GET /v1/models/{id} gives the record: config as run, artifacts, history, interpretation', async () => {
    const res = await h.api().get(`/v1/models/${fit.model}`).expect(200);
    const r = res.body;
    assert.equal(r.featureSet, featureSet);
    assert.equal(r.weights, fit.weights.id);
    assert.equal(r.onnx, fit.onnx.id);
    assert.equal(r.config.d, 4);
    assert.equal(r.config.mode, 'adafusion');
    assert.equal(r.config.optimizer.maxEpochs, 3);
    assert.ok(r.history.epochs >= 1 && r.history.epochs <= 3);
    assert.equal(r.history.trainLoss.length, r.history.epochs);
    assert.equal(r.split.train + r.split.val, 8);
    assert.deepEqual(r.interpretation.phenotypes, ['phenotype 1', 'phenotype 2']);
    assert.equal(r.interpretation.bySlide.length, 8);
    for (const s of r.interpretation.bySlide as { tiles: number; meanAlpha: number[] }[]) {
      assert.equal(s.tiles, 24);
      // α is a softmax over models per tile, so its per-slide mean sums to 1 too.
      assert.ok(Math.abs(s.meanAlpha[0]! + s.meanAlpha[1]! - 1) < 1e-5);
    }
    assert.equal(r.evaluation.rows.length, 5);
  });

  test('the report: metrics with evaluation mean ± std, per-phenotype and per-slide weights, plot links', async () => {
    const res = await h.api().get(`/v1/models/${fit.model}/report`).expect(200);
    const report = res.body;
    assert.equal(report.modelId, fit.model);
    assert.deepEqual(report.models, ['A', 'B']);
    assert.equal(report.metrics.validation.metricName, 'balanced_accuracy');
    const row = report.metrics.evaluation.rows.find((x: { name: string }) => x.name === 'adafusion');
    const [a, b] = row.auc.values as number[];
    assert.ok(Math.abs(row.auc.mean - (a! + b!) / 2) < 1e-12);
    assert.equal(report.contribution.byPhenotype.length, 2);
    const tiles = (report.contribution.byPhenotype as { tiles: number }[]).reduce((s, p) => s + p.tiles, 0);
    assert.equal(tiles, 8 * 24);
    assert.equal(report.contribution.bySlide.length, 8);
    assert.equal(report.plots.contribution.href, `/v1/models/${fit.model}/report?plot=contribution&format=svg`);
  });

  test('plots: contribution as SVG, a slide dominance map as PNG', async () => {
    const svg = await getBytes(`/v1/models/${fit.model}/report?plot=contribution&format=svg`);
    assert.match(svg.type, /^image\/svg\+xml/);
    const text = svg.body.toString('utf8');
    assert.match(text, /^(<\?xml[^>]*>\s*)?<svg[\s>]/);
    assert.match(text, /<\/svg>\s*$/);
    assert.match(text, />A</);

    const png = await getBytes(`/v1/models/${fit.model}/report?plot=dominance&slide=slide-003&format=png`);
    assert.equal(png.type, 'image/png');
    assert.deepEqual([...png.body.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });
});

describe('predictions and fusions', () => {
  let featureSetSlide0: { meanAlpha: Record<string, number>; classification: { probs: Record<string, number> } };
  let tileAlpha0: ArrayLike<number>;

  test('predicting a feature set: per slide probabilities, mean α, dominant counts and a tile-scores artifact that agrees with them', async () => {
    const res = await h.api().post('/v1/predictions?wait=true').send({ model: fit.model, featureSet }).expect(200);
    assert.equal(res.body.slides.length, 8);
    const s = res.body.slides[0];
    featureSetSlide0 = s;
    assert.equal(s.slide, 'slide-000');
    const probs = Object.values(s.classification.probs as Record<string, number>);
    assert.ok(Math.abs(probs[0]! + probs[1]! - 1) < 1e-5);
    assert.equal(s.classification.predicted, probs[0]! >= probs[1]! ? 'negative' : 'positive');
    assert.equal(s.tileScores.manifest.kind, 'adafusion-tile-scores');

    const t = await tensorsOf(s.tileScores.id);
    assert.deepEqual([...t.keys()].sort(), ['alpha', 'attention', 'coords', 'dominant']);
    assert.deepEqual(t.get('coords')!.shape, [24, 2]);
    assert.equal(t.get('coords')!.dtype, 'F64');
    assert.deepEqual(t.get('alpha')!.shape, [24, 2]);
    assert.deepEqual(t.get('dominant')!.shape, [24]);
    assert.equal(t.get('dominant')!.dtype, 'I32');
    const alpha = t.get('alpha')!.data;
    tileAlpha0 = alpha;
    const dominant = t.get('dominant')!.data;
    const counts = [0, 0];
    let meanA = 0;
    for (let i = 0; i < 24; i++) {
      const winner = alpha[2 * i + 1]! > alpha[2 * i]! ? 1 : 0;
      assert.equal(dominant[i], winner);
      counts[winner]!++;
      meanA += alpha[2 * i]! / 24;
    }
    assert.deepEqual(s.dominantCounts, { A: counts[0], B: counts[1] });
    assert.ok(Math.abs(s.meanAlpha.A - meanA) < 1e-6);
    const attention = t.get('attention')!.data;
    let sum = 0;
    for (let i = 0; i < 24; i++) sum += attention[i]!;
    assert.ok(Math.abs(sum - 1) < 1e-4, `ABMIL attention sums to 1 over the slide, got ${sum}`);
  });

  test('predicting slides given by their h5 files (tiles: false) gives the same answers as their safetensors twins and stores no tile scores', async () => {
    const slides = registration(cohort).slides.slice(0, 2);
    const res = await h.api().post('/v1/predictions?wait=true').send({ model: fit.model, slides, tiles: false }).expect(200);
    assert.equal(res.body.slides.length, 2);
    const s = res.body.slides[0];
    assert.equal(s.tileScores, undefined);
    assert.deepEqual(s.meanAlpha, featureSetSlide0.meanAlpha);
    assert.deepEqual(s.classification.probs, featureSetSlide0.classification.probs);
  });

  test('fusions: per slide a safetensors artifact of fused features [n, d], coords and α', async () => {
    const slides = registration(stCohort).slides.slice(0, 1);
    const res = await h.api().post('/v1/fusions?wait=true').send({ model: fit.model, slides }).expect(200);
    const s = res.body.slides[0];
    assert.equal(s.slide, 'slide-000');
    assert.equal(s.fusedWidth, 4);
    assert.equal(s.features.manifest.kind, 'adafusion-fused-features');
    const t = await tensorsOf(s.features.id);
    assert.deepEqual(t.get('features')!.shape, [24, 4]);
    assert.equal(t.get('features')!.dtype, 'F32');
    assert.deepEqual(t.get('coords')!.shape, [24, 2]);
    assert.deepEqual(t.get('alpha')!.shape, [24, 2]);
    assert.deepEqual(Array.from(t.get('alpha')!.data), Array.from(tileAlpha0));
  });
});
