/**
 * Bad input to the AdaFusion API: every case answers a problem+json naming the offending field,
 * and the store holds exactly what it held before (feature sets and fits are checked before
 * anything is stored or queued). Files with problems are built here by hand — h5 without
 * `features`, an empty slide, NaN features, dims that differ — and uploaded as artifacts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import h5wasm from 'h5wasm/node';
import { serializeSafetensors } from '@weightsmith/safetensors';
import { encodeSafetensorsFeatures } from '../src/features/index.js';
import { registration, startHarness, storeFiles, TINY, TINY_CONFIG, uploadBytes, writeAndUpload, type Harness, type UploadedCohort } from './http-harness.js';

let h: Harness;
let cohort: UploadedCohort;
let featureSet: string;
let model: string;

const UNKNOWN = 'f'.repeat(64);

before(async () => {
  h = await startHarness();
  cohort = await writeAndUpload(h, 'cohort', TINY, 'safetensors');
  featureSet = (await h.api().post('/v1/feature-sets').send(registration(cohort)).expect(201)).body.id;
  const fit = await h.api().post('/v1/models?wait=true').send({ featureSet, config: TINY_CONFIG }).expect(200);
  model = fit.body.model;
});
after(async () => {
  await h.close();
});

interface Expected {
  status: number;
  code?: string;
  /** A field every matching problem must name (in `errors`). */
  field: string;
}

/** Sends the request, checks the problem, and that the store is as it was. */
async function refused(send: () => Promise<{ status: number; headers: Record<string, string>; body: unknown }>, want: Expected): Promise<{ detail: string; errors: { field: string; message: string }[] }> {
  const before = await storeFiles(h.storeDir);
  const res = await send();
  assert.equal(res.status, want.status, `status ${res.status}: ${JSON.stringify(res.body)}`);
  assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
  const problem = res.body as { code: string; detail: string; errors: { field: string; message: string }[] };
  if (want.code) assert.equal(problem.code, want.code);
  assert.ok(
    problem.errors.some((e) => e.field === want.field),
    `expected a problem naming ${want.field}, got ${JSON.stringify(problem.errors)}`,
  );
  assert.deepEqual(await storeFiles(h.storeDir), before);
  return problem;
}

const register = (body: unknown) => () => h.api().post('/v1/feature-sets').send(body as object);
const firstSlideWith = (features: Record<string, string>) => {
  const body = registration(cohort);
  body.slides[0]!.features = features;
  return body;
};
const idOf = (model: string, slide: string): string => cohort.ids.get(model)!.get(slide)!;

async function h5Bytes(name: string, fill: (f: InstanceType<typeof h5wasm.File>) => void): Promise<Uint8Array> {
  await h5wasm.ready;
  const path = join(h.tmp, name);
  const file = new h5wasm.File(path, 'w');
  try {
    fill(file);
  } finally {
    file.close();
  }
  return new Uint8Array(await readFile(path));
}

describe('POST /v1/feature-sets', () => {
  test('an unknown model name in a slide', async () => {
    const body = registration(cohort);
    body.slides[0]!.features['C'] = idOf('A', 'slide-000');
    await refused(register(body), { status: 400, code: 'invalid_input', field: 'body.slides[0].features.C' });
  });

  test('feature dims that differ from the registered ones name every slide', async () => {
    const body = { ...registration(cohort), models: [{ name: 'A', dim: 20 }, { name: 'B' }] };
    const problem = await refused(register(body), { status: 422, code: 'shape_mismatch', field: 'body.slides[0].features.A' });
    assert.equal(problem.errors.filter((e) => e.field.endsWith('.features.A')).length, 8);
  });

  test('an h5 file without features', async () => {
    const bytes = await h5Bytes('no-features.h5', (f) => {
      f.create_dataset({ name: 'coords', data: new Float64Array(48), shape: [24, 2] });
    });
    const id = await uploadBytes(h, bytes, 'h5');
    await refused(register(firstSlideWith({ A: id, B: idOf('B', 'slide-000') })), { status: 422, field: 'body.slides[0].features.A' });
  });

  test('an empty slide', async () => {
    const bytes = await serializeSafetensors([
      { name: 'features', dtype: 'F32', shape: [0, 16], data: new Float32Array(0) },
      { name: 'coords', dtype: 'F64', shape: [0, 2], data: new Float64Array(0) },
    ]);
    const id = await uploadBytes(h, bytes, 'safetensors');
    const problem = await refused(register(firstSlideWith({ A: id, B: idOf('B', 'slide-000') })), { status: 400, field: 'body.slides[0].features.A' });
    assert.match(problem.detail, /empty slide/);
  });

  test('labels for unknown slides', async () => {
    const body = { ...registration(cohort), labels: { ...Object.fromEntries(cohort.written.cohort.slideIds.map((id, i) => [id, i % 2 ? 'x' : 'y'])), ghost: 'x' } };
    await refused(register(body), { status: 400, code: 'invalid_input', field: 'body.labels.ghost' });
  });

  test('a single class', async () => {
    const body = { ...registration(cohort), labels: Object.fromEntries(cohort.written.cohort.slideIds.map((id) => [id, 'tumour'])) };
    const problem = await refused(register(body), { status: 400, code: 'invalid_input', field: 'body.labels' });
    assert.match(problem.detail, /same label/);
  });

  test('NaN features', async () => {
    const features = new Float32Array(24 * 16).fill(0.5);
    features[5 * 16 + 3] = Number.NaN;
    const coords = new Float64Array(48);
    for (let t = 0; t < 24; t++) coords.set([256 * t, 0], 2 * t);
    const id = await uploadBytes(h, await encodeSafetensorsFeatures({ n: 24, dim: 16, features, coords }), 'safetensors');
    await refused(register(firstSlideWith({ A: id, B: idOf('B', 'slide-000') })), { status: 422, code: 'non_finite', field: 'body.slides[0].features.A' });
  });

  test('a cohort too small to split (one slide in a class)', async () => {
    const body = registration(cohort);
    body.slides = body.slides.slice(0, 3);
    body.labels = Object.fromEntries(body.slides.map((s, i) => [s.id, i === 0 ? 'rare' : 'common'])) as unknown as string;
    const problem = await refused(register(body), { status: 400, code: 'invalid_input', field: 'body.labels' });
    assert.match(problem.detail, /class rare has 1 slide/);
  });

  test('an unknown file ref', async () => {
    await refused(register(firstSlideWith({ A: UNKNOWN, B: idOf('B', 'slide-000') })), { status: 404, field: 'body.slides[0].features.A' });
  });
});

describe('unknown ids', () => {
  test('GET a feature set or model that does not exist, or is another kind, is 404 naming params.id', async () => {
    await refused(() => h.api().get(`/v1/feature-sets/${UNKNOWN}`), { status: 404, code: 'not_found', field: 'params.id' });
    await refused(() => h.api().get(`/v1/feature-sets/${model}`), { status: 404, code: 'not_found', field: 'params.id' });
    await refused(() => h.api().get(`/v1/models/${UNKNOWN}`), { status: 404, code: 'not_found', field: 'params.id' });
    await refused(() => h.api().get(`/v1/models/${featureSet}/report`), { status: 404, code: 'not_found', field: 'params.id' });
  });

  test('a fit on an unknown feature set, predictions with an unknown model', async () => {
    await refused(() => h.api().post('/v1/models?wait=true').send({ featureSet: UNKNOWN }), { status: 404, code: 'not_found', field: 'body.featureSet' });
    await refused(() => h.api().post('/v1/predictions?wait=true').send({ model: UNKNOWN, featureSet }), { status: 404, code: 'not_found', field: 'body.model' });
    await refused(() => h.api().post('/v1/fusions?wait=true').send({ model, featureSet: UNKNOWN }), { status: 404, code: 'not_found', field: 'body.featureSet' });
  });
});

describe('POST /v1/models', () => {
  const fit = (config: unknown) => () => h.api().post('/v1/models?wait=true').send({ featureSet, config });

  test('bad config fields are named under body.config', async () => {
    await refused(fit({ d: 0 }), { status: 400, code: 'invalid_input', field: 'body.config.d' });
    await refused(fit({ optimizer: { lr: -1 } }), { status: 400, code: 'invalid_input', field: 'body.config.optimizer.lr' });
    await refused(fit({ mode: 'single' }), { status: 400, code: 'invalid_input', field: 'body.config.model' });
    await refused(fit({ nope: 1 }), { status: 400, code: 'invalid_input', field: 'body.config.nope' });
  });

  test('config that does not fit the feature set: d above a model dim, an unknown model, text prompts without an encoder', async () => {
    await refused(fit({ d: 13 }), { status: 400, code: 'invalid_input', field: 'body.config.d' });
    await refused(fit({ d: 4, mode: 'single', model: 'C' }), { status: 400, code: 'invalid_input', field: 'body.config.model' });
    await refused(fit({ d: 4, anchor: 'C' }), { status: 400, code: 'invalid_input', field: 'body.config.anchor' });
    await refused(fit({ d: 4, context: { kind: 'text', prompts: ['tumour', 'stroma'] } }), { status: 400, code: 'invalid_input', field: 'body.config.context.kind' });
  });

  test('evaluation splits out of range', async () => {
    await refused(() => h.api().post('/v1/models').send({ featureSet, evaluation: { splits: 21 } }), { status: 400, field: 'body.evaluation.splits' });
  });
});

describe('POST /v1/predictions and /v1/fusions', () => {
  const slides = () => registration(cohort).slides.slice(0, 2);

  test('a slide missing a model, or with an unknown one', async () => {
    const missing = slides();
    delete missing[1]!.features['B'];
    await refused(() => h.api().post('/v1/predictions?wait=true').send({ model, slides: missing }), { status: 400, code: 'invalid_input', field: 'body.slides[1].features.B' });
    const extra = slides();
    extra[0]!.features['C'] = idOf('A', 'slide-000');
    await refused(() => h.api().post('/v1/fusions?wait=true').send({ model, slides: extra }), { status: 400, code: 'invalid_input', field: 'body.slides[0].features.C' });
  });

  test('both or neither of featureSet and slides', async () => {
    await refused(() => h.api().post('/v1/predictions').send({ model, featureSet, slides: slides() }), { status: 400, field: 'body.featureSet' });
    await refused(() => h.api().post('/v1/predictions').send({ model }), { status: 400, field: 'body.slides' });
  });

  test("dims that differ from the model's fail the job with 422 naming the file, and store no artifact", async () => {
    const bad = slides();
    bad[1]!.features['A'] = idOf('B', 'slide-001');
    const before = (await storeFiles(h.storeDir)).filter((f) => f.startsWith('artifacts/'));
    const res = await h.api().post('/v1/predictions?wait=true').send({ model, slides: bad });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
    assert.equal(res.body.code, 'shape_mismatch');
    assert.equal(res.body.errors[0].field, 'body.slides[1].features.A');
    // The job's own record is written (it is the job); no artifact is.
    assert.deepEqual((await storeFiles(h.storeDir)).filter((f) => f.startsWith('artifacts/')), before);
  });
});

describe('GET /v1/models/{id}/report', () => {
  test('contribution as png is 400 naming query.format; an unknown slide is 404 naming query.slide; dominance needs a slide', async () => {
    await refused(() => h.api().get(`/v1/models/${model}/report?plot=contribution&format=png`), { status: 400, code: 'invalid_input', field: 'query.format' });
    await refused(() => h.api().get(`/v1/models/${model}/report?plot=dominance&slide=ghost&format=svg`), { status: 404, code: 'not_found', field: 'query.slide' });
    await refused(() => h.api().get(`/v1/models/${model}/report?plot=dominance`), { status: 400, code: 'invalid_input', field: 'query.slide' });
    await refused(() => h.api().get(`/v1/models/${model}/report?plot=dominance&slide=slide-000&format=jpg`), { status: 400, code: 'invalid_input', field: 'query.format' });
  });
});
