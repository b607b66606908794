/**
 * The t2w HTTP API end to end on a folder store and a fixture bundle folder: bundles list/get,
 * generation with ?wait=true and as a 202 job, determinism down to artifact ids, and bad input
 * answered with a problem naming the field while nothing is written. A service with no bundle
 * folder still starts, ready, with an empty list.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startService, type RunningService } from '@weightsmith/http';
import { memorySource, openSafetensors } from '@weightsmith/safetensors';
import { writeFixtureBundle } from '../src/bundle/index.js';
import { createT2wDefinition, type T2wConfig } from '../src/service.js';
import { pollJob, storeFiles } from './http-helpers.js';

let tmp: string;
let storeDir: string;
let running: RunningService<T2wConfig>;

function env(bundles: string, store: string): Record<string, string> {
  return { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', STORE_DIR: store, T2W_BUNDLES_DIR: bundles, ORT_INTRA_OP_THREADS: '1', T2W_MAX_N: '4' };
}

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 't2w-http-'));
  storeDir = join(tmp, 'store');
  await writeFixtureBundle(join(tmp, 'bundles', 'fixture'), { seed: 21 });
  await writeFixtureBundle(join(tmp, 'bundles', 'strict'), { seed: 22, name: 'strict', requireKnownClasses: true });
  running = await startService(createT2wDefinition(), { env: env(join(tmp, 'bundles'), storeDir), handleSignals: false });
});
after(async () => {
  await running.close();
  await rm(tmp, { recursive: true, force: true });
});

const api = () => request(running.server);

const storeFilesNow = (): Promise<string[]> => storeFiles(storeDir);
const poll = (location: string): Promise<Record<string, unknown>> => pollJob(api, location);

describe('bundles', () => {
  test('ready, and the list shows both bundles with layout and digest', async () => {
    await api().get('/readyz').expect(200);
    const res = await api().get('/v1/bundles').expect(200);
    assert.deepEqual(res.body.bundles.map((b: { name: string }) => b.name), ['fixture-fmnist', 'strict']);
    const b = res.body.bundles[0];
    assert.match(b.digest, /^[0-9a-f]{64}$/);
    assert.equal(b.classes.length, 10);
    assert.equal(b.requireKnownClasses, false);
    assert.deepEqual(b.layout.tensors, [
      { name: 'fc1.weight', shape: [8, 16] },
      { name: 'fc1.bias', shape: [8] },
      { name: 'fc2.weight', shape: [16, 8] },
      { name: 'fc2.bias', shape: [16] },
    ]);
    assert.equal(b.layout.parameterCount, 280);
    assert.deepEqual(b.diffusion, { timesteps: 1000, prediction: 'x0', guidance: false });
    // Batching is on by default, and the fixture's denoiser rows are invariant to any batch.
    assert.deepEqual(b.serving, { batchInvariance: 'any', dynamicBatching: true });
  });

  test('GET /v1/bundles/{name} gives the manifest; an unknown name is 404', async () => {
    const res = await api().get('/v1/bundles/strict').expect(200);
    assert.equal(res.body.name, 'strict');
    assert.equal(res.body.manifest.requireKnownClasses, true);
    assert.equal(res.body.manifest.text.promptTemplate, 'a photo of a {class}');
    const missing = await api().get('/v1/bundles/nope').expect(404);
    assert.equal(missing.body.code, 'not_found');
    assert.equal(missing.body.errors[0].field, 'params.name');
  });
});

describe('POST /v1/generations', () => {
  const body = { bundle: 'fixture-fmnist', classes: ['sneaker', 'sandal', 'ankle boot'], n: 2, seed: 9, steps: 4 };

  test('?wait=true answers with one safetensors artifact per sample, same request same ids', async () => {
    const res = await api().post('/v1/generations?wait=true').send(body).expect(200);
    const { artifacts } = res.body;
    assert.equal(artifacts.length, 2);
    assert.notEqual(artifacts[0].id, artifacts[1].id);
    assert.deepEqual(res.body.condition, { kind: 'classes', classes: body.classes });
    assert.equal(res.body.sampler, 'ddim');
    assert.equal(res.body.steps, 4);
    for (const [i, a] of artifacts.entries()) {
      assert.equal(a.manifest.kind, 't2w-weights');
      const bytes = (await api().get(`/v1/artifacts/${a.id}`).buffer(true).parse((r, cb) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => cb(null, Buffer.concat(chunks)));
      }).expect(200)).body as Buffer;
      assert.equal(bytes.length, a.bytes);
      const file = await openSafetensors(memorySource(new Uint8Array(bytes)));
      try {
        const shapes = Object.fromEntries(file.tensors.map((t) => [t.name, [t.dtype, t.shape]]));
        assert.deepEqual(shapes, { 'fc1.weight': ['F32', [8, 16]], 'fc1.bias': ['F32', [8]], 'fc2.weight': ['F32', [16, 8]], 'fc2.bias': ['F32', [16]] });
        assert.equal(file.metadata.format, 'pt');
        assert.equal(file.metadata.bundle, 'fixture-fmnist');
        assert.equal(file.metadata.bundleDigest, res.body.bundleDigest);
        assert.equal(file.metadata.classes, JSON.stringify(body.classes));
        assert.equal(file.metadata.seed, '9');
        assert.equal(file.metadata.sampleIndex, String(i));
        assert.equal(file.metadata.sampler, 'ddim');
        assert.equal(file.metadata.steps, '4');
      } finally {
        await file.close();
      }
    }
    const again = await api().post('/v1/generations?wait=true').send(body).expect(200);
    assert.deepEqual(again.body.artifacts.map((a: { id: string }) => a.id), artifacts.map((a: { id: string }) => a.id));
    const otherSeed = await api().post('/v1/generations?wait=true').send({ ...body, seed: 10 }).expect(200);
    assert.notEqual(otherSeed.body.artifacts[0].id, artifacts[0].id);
  });

  test('without wait: 202 with the job; the result has the same artifacts as the synchronous call', async () => {
    const text = { bundle: 'fixture-fmnist', text: 'shoes for running', seed: 3, steps: 3 };
    const started = await api().post('/v1/generations').send(text).expect(202);
    const location = String(started.headers.location);
    assert.match(location, /^\/v1\/jobs\//);
    const job = await poll(location);
    assert.equal(job.status, 'succeeded');
    const result = job.result as { artifacts: { id: string }[]; condition: unknown };
    assert.deepEqual(result.condition, { kind: 'text', text: 'shoes for running' });
    assert.equal(result.artifacts.length, 1);
    const sync = await api().post('/v1/generations?wait=true').send(text).expect(200);
    assert.equal(sync.body.artifacts[0].id, result.artifacts[0]!.id);
  });

  test('unknown bundle: 404 naming body.bundle, nothing written', async () => {
    const before = await storeFilesNow();
    const res = await api().post('/v1/generations?wait=true').send({ ...body, bundle: 'nope' }).expect(404);
    assert.equal(res.body.errors[0].field, 'body.bundle');
    assert.deepEqual(await storeFilesNow(), before);
  });

  const bad: { name: string; patch: Record<string, unknown>; field: string }[] = [
    { name: 'empty classes', patch: { classes: [] }, field: 'body.classes' },
    { name: 'duplicate classes', patch: { classes: ['bag', 'bag'] }, field: 'body.classes' },
    { name: 'unknown class on a strict bundle', patch: { bundle: 'strict', classes: ['bag', 'giraffe'] }, field: 'body.classes' },
    { name: 'classes and text together', patch: { text: 'shoes' }, field: 'body.text' },
    { name: 'text over the cap', patch: { classes: undefined, text: 'y'.repeat(513) }, field: 'body.text' },
    { name: 'n over the cap', patch: { n: 5 }, field: 'body.n' },
    { name: 'steps above T', patch: { steps: 1001 }, field: 'body.steps' },
    { name: 'ddpm with a step count', patch: { sampler: 'ddpm', steps: 10 }, field: 'body.steps' },
    { name: 'unknown sampler', patch: { sampler: 'euler' }, field: 'body.sampler' },
    { name: 'guidance on a bundle without condition dropout', patch: { guidance: 2 }, field: 'body.guidance' },
    { name: 'negative seed', patch: { seed: -3 }, field: 'body.seed' },
    { name: 'unknown field', patch: { temperature: 1 }, field: 'body.temperature' },
  ];
  for (const c of bad) {
    test(`400 for ${c.name}, naming ${c.field}, nothing written`, async () => {
      const before = await storeFilesNow();
      const res = await api().post('/v1/generations?wait=true').send({ ...body, ...c.patch }).expect(400);
      assert.equal(res.headers['content-type']?.split(';')[0], 'application/problem+json');
      assert.ok(
        res.body.errors.some((e: { field: string }) => e.field === c.field),
        `errors ${JSON.stringify(res.body.errors)} name ${c.field}`,
      );
      assert.deepEqual(await storeFilesNow(), before);
    });
  }
});

describe('no bundles', () => {
  test('a missing bundle folder still starts: ready, empty list, generation 404', async () => {
    const other = await startService(createT2wDefinition(), { env: env(join(tmp, 'absent'), join(tmp, 'store2')), handleSignals: false });
    try {
      await request(other.server).get('/readyz').expect(200);
      const res = await request(other.server).get('/v1/bundles').expect(200);
      assert.deepEqual(res.body, { bundles: [] });
      const gen = await request(other.server).post('/v1/generations').send({ bundle: 'fixture-fmnist', classes: ['bag'] }).expect(404);
      assert.equal(gen.body.errors[0].field, 'body.bundle');
    } finally {
      await other.close();
    }
  });
});
