/**
 * Text-prompt fits through the API: a service with a text encoder (a tiny CLIP text tower written
 * on the fly, from a folder or from an object-store prefix) fits with `context: {kind: "text"}`,
 * records which encoder embedded the prompts, and names the phenotypes after them; the same
 * request gives the same model. Without an encoder, or with one that does not load, the service
 * says which setting to fix (400 on the fit; /readyz 503 for a broken one).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { clipFileSet, digestFiles, requiredClipFiles, writeTinyClipFolder } from '@weightsmith/text';
import { startService } from '@weightsmith/http';
import { createAdaFusionDefinition } from '../src/service.js';
import { registration, startHarness, storeFiles, TINY, TINY_CONFIG, writeAndUpload, type Harness } from './http-harness.js';

const PROMPTS = ['tumour epithelium', 'stroma', 'lymphocytes'];
/** The encoder's width differs from d (4): the fit projects E → d. */
const PROJECTION_DIM = 8;
const textConfig = (prompts: string[] = PROMPTS) => ({ ...TINY_CONFIG, context: { kind: 'text', prompts } });
/** The fields a problem document names. */
const problemFields = (body: { errors?: { field: string }[] }): string[] => (body.errors ?? []).map((e) => e.field);

let h: Harness;
let encoderRoot: string;
let encoderDir: string;
/** Computed from the encoder's files here, not taken from the service. */
let encoderId: string;
let featureSet: string;

before(async () => {
  // The encoder is configured at start-up, so it exists before the service starts.
  encoderRoot = await mkdtemp(join(tmpdir(), 'adafusion-text-'));
  encoderDir = join(encoderRoot, 'tiny-clip');
  await writeTinyClipFolder(encoderDir, { seed: 11, projectionDim: PROJECTION_DIM });
  encoderId = await digestFiles(encoderDir, requiredClipFiles(clipFileSet()));
  h = await startHarness({ ADAFUSION_TEXT_ENCODER_DIR: encoderDir });
  const cohort = await writeAndUpload(h, 'h5-cohort', TINY, 'h5');
  featureSet = (await h.api().post('/v1/feature-sets').send(registration(cohort)).expect(201)).body.id;
});
after(async () => {
  await h.close();
  await rm(encoderRoot, { recursive: true, force: true });
});

/** Another service on the harness's store, with its own settings. */
async function startOther(env: Record<string, string>) {
  return startService(createAdaFusionDefinition(), {
    env: { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', STORE_DIR: h.storeDir, ORT_INTRA_OP_THREADS: '1', ...env },
    handleSignals: false,
  });
}

describe('a service with a text encoder folder', () => {
  let model: string;

  test('is ready once the encoder loaded', async () => {
    await h.api().get('/readyz').expect(200);
  });

  test('fits with three text prompts: the record names the encoder and the prompts, the report labels phenotypes with them', async () => {
    const res = await h.api().post('/v1/models?wait=true').send({ featureSet, config: textConfig() }).expect(200);
    model = res.body.model;
    assert.match(encoderId, /^sha256:[0-9a-f]{64}$/);

    const record = (await h.api().get(`/v1/models/${model}`).expect(200)).body;
    assert.deepEqual(record.textEncoder, { id: encoderId, dim: PROJECTION_DIM });
    assert.deepEqual(record.config.context, { kind: 'text', prompts: PROMPTS });
    assert.deepEqual(record.interpretation.phenotypes, PROMPTS);
    // The weights and ONNX artifacts are traceable to the encoder too.
    assert.deepEqual(res.body.weights.manifest.parameters.textEncoder, { id: encoderId, dim: PROJECTION_DIM });
    assert.deepEqual(res.body.onnx.manifest.parameters.textEncoder, { id: encoderId, dim: PROJECTION_DIM });

    const report = (await h.api().get(`/v1/models/${model}/report`).expect(200)).body;
    assert.deepEqual(report.phenotypes, PROMPTS);
    assert.deepEqual(report.contribution.byPhenotype.map((p: { phenotype: string }) => p.phenotype), PROMPTS);
    const svg = await h.api().get(`/v1/models/${model}/report?plot=contribution&format=svg`).buffer(true).parse((r, cb) => {
      let text = '';
      r.on('data', (c: Buffer) => (text += c.toString('utf8')));
      r.on('end', () => cb(null, text));
    });
    assert.equal(svg.status, 200);
    for (const prompt of PROMPTS) assert.ok((svg.body as string).includes(prompt), `the contribution plot labels '${prompt}'`);
  });

  test('the same request again gives the same model id', async () => {
    const again = await h.api().post('/v1/models?wait=true').send({ featureSet, config: textConfig() }).expect(200);
    assert.equal(again.body.model, model);
  });

  test('one prompt is refused before any job: 400 naming body.config.context.prompts', async () => {
    const before = await storeFiles(h.storeDir);
    const res = await h.api().post('/v1/models?wait=true').send({ featureSet, config: textConfig(['tumour epithelium']) }).expect(400);
    assert.equal(res.body.code, 'invalid_input');
    assert.deepEqual(problemFields(res.body), ['body.config.context.prompts']);
    assert.deepEqual(await storeFiles(h.storeDir), before);
  });
});

describe('a service without a text encoder', () => {
  test('answers text prompts with 400 naming body.config.context.kind and the setting to set', async () => {
    const bare = await startOther({});
    try {
      await request(bare.server).get('/readyz').expect(200);
      const res = await request(bare.server).post('/v1/models?wait=true').send({ featureSet, config: textConfig() }).expect(400);
      assert.deepEqual(problemFields(res.body), ['body.config.context.kind']);
      assert.match(res.body.detail, /ADAFUSION_TEXT_ENCODER_DIR/);
    } finally {
      await bare.close();
    }
  });
});

describe('the encoder from an object-store prefix, and a broken one', () => {
  test('an encoder under ADAFUSION_TEXT_ENCODER_PREFIX loads from the store, with the same id as the folder', async () => {
    // FsStore keeps objects as plain files under its root: write the model under a prefix.
    await writeTinyClipFolder(join(h.storeDir, 'encoders', 'tiny-clip'), { seed: 11, projectionDim: PROJECTION_DIM });
    const cacheDir = join(h.tmp, 'cache');
    const fromStore = await startOther({ ADAFUSION_TEXT_ENCODER_PREFIX: 'encoders/tiny-clip', ADAFUSION_CACHE_DIR: cacheDir });
    try {
      await request(fromStore.server).get('/readyz').expect(200);
      // The probe copied the model files into the cache: the same bytes as the folder's.
      const copies = (await readdir(cacheDir)).filter((name) => !name.startsWith('.'));
      assert.equal(copies.length, 1);
      assert.equal(await digestFiles(join(cacheDir, copies[0]!), requiredClipFiles(clipFileSet())), encoderId);
    } finally {
      await fromStore.close();
      await rm(join(h.storeDir, 'encoders'), { recursive: true, force: true });
    }
  });

  test('a folder that is not a loadable encoder: the service runs, /readyz is 503 naming the setting and the problem, text fits get 503', async () => {
    const broken = join(h.tmp, 'broken-clip');
    await mkdir(broken, { recursive: true });
    await writeTinyClipFolder(broken, { seed: 2, projectionDim: PROJECTION_DIM });
    await rm(join(broken, 'tokenizer_config.json'));
    const running = await startOther({ ADAFUSION_TEXT_ENCODER_DIR: broken });
    try {
      await request(running.server).get('/healthz').expect(200);
      const ready = await request(running.server).get('/readyz').expect(503);
      const text = JSON.stringify(ready.body);
      assert.match(text, /text encoder/);
      assert.match(text, /ADAFUSION_TEXT_ENCODER_DIR=/);
      assert.match(text, /tokenizer_config\.json/);
      const fit = await request(running.server).post('/v1/models?wait=true').send({ featureSet, config: textConfig() }).expect(503);
      assert.equal(fit.body.code, 'not_ready');
      assert.match(fit.body.detail, /tokenizer_config\.json/);
    } finally {
      await running.close();
    }
  });

  test('setting both the folder and the prefix is a start-up error naming them', async () => {
    await assert.rejects(
      startService(createAdaFusionDefinition(), {
        env: { LOG_LEVEL: 'silent', STORE_DIR: h.storeDir, ADAFUSION_TEXT_ENCODER_DIR: encoderDir, ADAFUSION_TEXT_ENCODER_PREFIX: 'encoders/x' },
        handleSignals: false,
      }),
      /ADAFUSION_TEXT_ENCODER_PREFIX/,
    );
  });
});
