/**
 * POST /v1/enhancements and POST /v1/fusions end to end on a folder store and a fixture bundle:
 * input weights uploaded as safetensors artifacts, tiny strength returning them, determinism by
 * seed down to artifact ids, provenance (metadata and manifest inputs), the job path, fusion of
 * permuted experts with and without alignment, strength 1 = generation from the description, and
 * bad input answered with a problem naming the field while nothing is written.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startService, type RunningService } from '@weightsmith/http';
import { memorySource, openSafetensors } from '@weightsmith/safetensors';
import { Rng } from '@weightsmith/tensor';
import { writeFixtureBundle } from '../src/bundle/index.js';
import { createT2wDefinition, type T2wConfig } from '../src/service.js';
import { HEAD_NAMES as NAMES, pollJob, storeFiles, uploadHead } from './http-helpers.js';

let tmp: string;
let storeDir: string;
let running: RunningService<T2wConfig>;

const F = 16;
const H = 8;
const E = 16;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 't2w-http-enh-'));
  storeDir = join(tmp, 'store');
  await writeFixtureBundle(join(tmp, 'bundles', 'fixture'), { seed: 31 });
  const env = { PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent', STORE_DIR: storeDir, T2W_BUNDLES_DIR: join(tmp, 'bundles'), ORT_INTRA_OP_THREADS: '1', T2W_MAX_N: '4' };
  running = await startService(createT2wDefinition(), { env, handleSignals: false });
});
after(async () => {
  await running.close();
  await rm(tmp, { recursive: true, force: true });
});

const api = () => request(running.server);

const storeFilesNow = (): Promise<string[]> => storeFiles(storeDir);
const poll = (location: string): Promise<Record<string, unknown>> => pollJob(api, location);

function randomHead(seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return [rng.normalArray(H * F, 0, 0.3), rng.normalArray(H, 0, 0.1), rng.normalArray(E * H, 0, 0.3), rng.normalArray(E, 0, 0.1)];
}

/** Hidden unit i of the result is unit perm[i] of `t` (fc1 rows, fc1 bias, fc2 columns). */
function permuted(t: Float32Array[], perm: number[]): Float32Array[] {
  const [w1, b1, w2, b2] = t as [Float32Array, Float32Array, Float32Array, Float32Array];
  const pw1 = new Float32Array(H * F);
  const pb1 = new Float32Array(H);
  const pw2 = new Float32Array(E * H);
  perm.forEach((src, i) => {
    for (let k = 0; k < F; k++) pw1[i * F + k] = w1[src * F + k]!;
    pb1[i] = b1[src]!;
    for (let o = 0; o < E; o++) pw2[o * H + i] = w2[o * H + src]!;
  });
  return [pw1, pb1, pw2, b2.slice()];
}

const upload = (tensors: Float32Array[], shapes?: number[][]): Promise<string> => uploadHead(api, tensors, shapes);

async function download(id: string): Promise<{ tensors: Map<string, Float32Array>; metadata: Readonly<Record<string, string>> }> {
  const res = await api()
    .get(`/v1/artifacts/${id}`)
    .buffer(true)
    .parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    })
    .expect(200);
  const file = await openSafetensors(memorySource(new Uint8Array(res.body as Buffer)));
  try {
    const tensors = new Map<string, Float32Array>();
    for (const name of NAMES) {
      const t = await file.read(name);
      assert.equal(t.dtype, 'F32');
      tensors.set(name, Float32Array.from(t.data as Float32Array));
    }
    return { tensors, metadata: { ...file.metadata } };
  } finally {
    await file.close();
  }
}

function maxRelDiff(got: Map<string, Float32Array>, want: Float32Array[]): number {
  let worst = 0;
  NAMES.forEach((name, k) => {
    const g = got.get(name)!;
    const w = want[k]!;
    assert.equal(g.length, w.length);
    for (let i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(g[i]! - w[i]!) / Math.max(1, Math.abs(w[i]!)));
  });
  return worst;
}

const classes = ['pullover', 'coat', 'shirt'];

describe('POST /v1/enhancements', () => {
  test('a tiny strength returns the input weights; provenance names strength and input', async () => {
    const head = randomHead(1);
    const id = await upload(head);
    const res = await api().post('/v1/enhancements?wait=true').send({ bundle: 'fixture-fmnist', weights: id, classes, strength: 1e-4, n: 2, seed: 5, steps: 4 }).expect(200);
    assert.equal(res.body.tStart, -1);
    assert.equal(res.body.inputWeights, id);
    assert.equal(res.body.artifacts.length, 2);
    for (const a of res.body.artifacts) {
      assert.equal(a.manifest.kind, 't2w-weights');
      assert.equal(a.manifest.parameters.strength, 1e-4);
      assert.equal(a.manifest.parameters.inputWeights, id);
      assert.deepEqual(a.manifest.inputs.map((x: { id: string; role: string }) => [x.id, x.role]), [[id, 'weights']]);
      const { tensors, metadata } = await download(a.id);
      assert.ok(maxRelDiff(tensors, head) <= 1e-6, `within 1e-6 (${maxRelDiff(tensors, head)})`);
      assert.equal(metadata.strength, '0.0001');
      assert.equal(metadata.inputWeights, id);
      assert.equal(metadata.classes, JSON.stringify(classes));
    }
  });

  test('strength 0.5: same seed same artifacts, another seed others, and the weights move', async () => {
    const head = randomHead(2);
    const id = await upload(head);
    const body = { bundle: 'fixture-fmnist', weights: id, text: 'warm clothes', strength: 0.5, seed: 8, steps: 5 };
    const a = await api().post('/v1/enhancements?wait=true').send(body).expect(200);
    const b = await api().post('/v1/enhancements?wait=true').send(body).expect(200);
    const c = await api().post('/v1/enhancements?wait=true').send({ ...body, seed: 9 }).expect(200);
    assert.equal(a.body.tStart, 499);
    assert.equal(a.body.artifacts[0].id, b.body.artifacts[0].id);
    assert.notEqual(a.body.artifacts[0].id, c.body.artifacts[0].id);
    const { tensors } = await download(a.body.artifacts[0].id);
    assert.ok(maxRelDiff(tensors, head) > 1e-3);
  });

  test('without wait: 202 with the job, whose result matches the synchronous call', async () => {
    const id = await upload(randomHead(3));
    const body = { bundle: 'fixture-fmnist', weights: id, classes: ['bag'], strength: 0.3, seed: 1, steps: 3 };
    const started = await api().post('/v1/enhancements').send(body).expect(202);
    const job = await poll(String(started.headers.location));
    assert.equal(job.status, 'succeeded');
    const sync = await api().post('/v1/enhancements?wait=true').send(body).expect(200);
    assert.equal((job.result as { artifacts: { id: string }[] }).artifacts[0]!.id, sync.body.artifacts[0].id);
  });
});

describe('POST /v1/fusions', () => {
  test('two permutations of one head, tiny strength: aligned gives that head back, unaligned does not', async () => {
    const head = randomHead(4);
    const first = await upload(head);
    const second = await upload(permuted(head, [5, 2, 7, 0, 1, 6, 4, 3]));
    const body = { bundle: 'fixture-fmnist', experts: [first, second], classes, strength: 1e-4, seed: 2, steps: 4 };
    const aligned = await api().post('/v1/fusions?wait=true').send(body).expect(200);
    assert.equal(aligned.body.aligned, true);
    assert.deepEqual(aligned.body.experts, [first, second]);
    const art = aligned.body.artifacts[0];
    assert.deepEqual(art.manifest.inputs.map((x: { id: string; role: string }) => [x.id, x.role]), [[first, 'expert'], [second, 'expert']]);
    assert.ok(maxRelDiff((await download(art.id)).tensors, head) <= 1e-6);

    const plain = await api().post('/v1/fusions?wait=true').send({ ...body, align: false }).expect(200);
    assert.equal(plain.body.aligned, false);
    assert.ok(maxRelDiff((await download(plain.body.artifacts[0].id)).tensors, head) > 0.05);
  });

  test('strength 1 (default) samples from the description alone: the same weights as a generation', async () => {
    const first = await upload(randomHead(5));
    const second = await upload(randomHead(6));
    const cond = { bundle: 'fixture-fmnist', classes, seed: 12, steps: 4 };
    const fused = await api().post('/v1/fusions?wait=true').send({ ...cond, experts: [first, second] }).expect(200);
    const generated = await api().post('/v1/generations?wait=true').send(cond).expect(200);
    const a = (await download(fused.body.artifacts[0].id)).tensors;
    const b = (await download(generated.body.artifacts[0].id)).tensors;
    for (const name of NAMES) assert.deepEqual(a.get(name), b.get(name), name);
    assert.equal(fused.body.strength, 1);
  });
});

describe('bad input: problem naming the field, nothing written', () => {
  let good: string;
  let wrongShape: string;
  let withNaN: string;
  const missingId = 'f'.repeat(64);
  before(async () => {
    const head = randomHead(7);
    good = await upload(head);
    wrongShape = await upload([head[0]!, head[1]!, head[2]!, head[3]!.slice(0, 8)], [[H, F], [H], [E, H], [8]]);
    const nan = head.map((t) => t.slice());
    nan[0]![3] = Number.NaN;
    withNaN = await upload(nan);
  });

  const cases: { name: string; path: string; body: () => Record<string, unknown>; status: number; field: string }[] = [
    { name: 'unknown weights artifact', path: '/v1/enhancements', body: () => ({ weights: missingId, strength: 0.5 }), status: 404, field: 'body.weights' },
    { name: 'wrong tensor shape', path: '/v1/enhancements', body: () => ({ weights: wrongShape, strength: 0.5 }), status: 422, field: 'body.weights.fc2.bias' },
    { name: 'NaN weights', path: '/v1/enhancements', body: () => ({ weights: withNaN, strength: 0.5 }), status: 422, field: 'body.weights.fc1.weight' },
    { name: 'strength 0', path: '/v1/enhancements', body: () => ({ weights: good, strength: 0 }), status: 400, field: 'body.strength' },
    { name: 'strength 1.5', path: '/v1/enhancements', body: () => ({ weights: good, strength: 1.5 }), status: 400, field: 'body.strength' },
    { name: 'missing strength', path: '/v1/enhancements', body: () => ({ weights: good }), status: 400, field: 'body.strength' },
    { name: 'weights not an id', path: '/v1/enhancements', body: () => ({ weights: 'model.safetensors', strength: 0.5 }), status: 400, field: 'body.weights' },
    { name: 'one expert', path: '/v1/fusions', body: () => ({ experts: [good] }), status: 400, field: 'body.experts' },
    { name: 'unknown expert', path: '/v1/fusions', body: () => ({ experts: [good, missingId] }), status: 404, field: 'body.experts.1' },
    { name: 'expert of the wrong shape', path: '/v1/fusions', body: () => ({ experts: [wrongShape, good] }), status: 422, field: 'body.experts.0.fc2.bias' },
    { name: 'fusion strength 0', path: '/v1/fusions', body: () => ({ experts: [good, good], strength: 0 }), status: 400, field: 'body.strength' },
  ];
  for (const c of cases) {
    test(`${c.status} for ${c.name}, naming ${c.field}`, async () => {
      const before = await storeFilesNow();
      const res = await api().post(`${c.path}?wait=true`).send({ bundle: 'fixture-fmnist', classes, steps: 3, ...c.body() }).expect(c.status);
      assert.equal(res.headers['content-type']?.split(';')[0], 'application/problem+json');
      assert.ok(res.body.errors.some((e: { field: string }) => e.field === c.field), `errors ${JSON.stringify(res.body.errors)} name ${c.field}`);
      assert.deepEqual(await storeFilesNow(), before);
    });
  }
});
