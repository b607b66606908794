/**
 * The LoRA-LEGO HTTP API end to end on a folder store: upload adapters (tar and multipart),
 * download them, merge (job and ?wait=true), analyse, and every bad input answered with a
 * problem naming the field while nothing is written.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { startService, type RunningService } from '@weightsmith/http';
import { serializeSafetensors } from '@weightsmith/safetensors';
import { Rng } from '@weightsmith/tensor';
import { definition } from '../src/service.js';
import { openPeftAdapterTar } from '../src/adapter/index.js';
import { memorySource } from '@weightsmith/safetensors';

const MODULES = [
  { name: 'model.layers.0.self_attn.q_proj', dIn: 16, dOut: 16 },
  { name: 'model.layers.0.self_attn.v_proj', dIn: 16, dOut: 8 },
];

interface TestAdapter {
  dir: string;
  tar: string;
  r: number;
  alpha: number;
  factors: Map<string, { A: Float32Array; B: Float32Array }>;
}

async function makeAdapter(root: string, name: string, seed: number, r: number, alpha: number, opts: { nan?: boolean; dOutOverride?: number } = {}): Promise<TestAdapter> {
  const rng = new Rng(seed);
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  const factors = new Map<string, { A: Float32Array; B: Float32Array }>();
  const tensors = [];
  for (const m of MODULES) {
    const dOut = m.name.endsWith('v_proj') && opts.dOutOverride ? opts.dOutOverride : m.dOut;
    const A = rng.normalArray(r * m.dIn, 0, 0.5);
    const B = rng.normalArray(dOut * r, 0, 0.5);
    if (opts.nan) B[3] = Number.NaN;
    factors.set(m.name, { A, B });
    tensors.push({ name: `base_model.model.${m.name}.lora_A.weight`, dtype: 'F32' as const, shape: [r, m.dIn], data: A });
    tensors.push({ name: `base_model.model.${m.name}.lora_B.weight`, dtype: 'F32' as const, shape: [dOut, r], data: B });
  }
  const config = { peft_type: 'LORA', r, lora_alpha: alpha, target_modules: ['q_proj', 'v_proj'], base_model_name_or_path: 'tiny/base', task_type: 'CAUSAL_LM' };
  await writeFile(join(dir, 'adapter_config.json'), JSON.stringify(config));
  await writeFile(join(dir, 'adapter_model.safetensors'), await serializeSafetensors(tensors, { format: 'pt' }));
  const tar = join(root, `${name}.tar`);
  execFileSync('tar', ['cf', tar, '-C', dir, 'adapter_config.json', 'adapter_model.safetensors']);
  return { dir, tar, r, alpha, factors };
}

/** ΔW = scale·B·A in float64, row-major dOut×dIn. */
function deltaW(A: Float32Array, B: Float32Array, r: number, dIn: number, dOut: number, scale: number): Float64Array {
  const out = new Float64Array(dOut * dIn);
  for (let o = 0; o < dOut; o++) for (let j = 0; j < r; j++) for (let i = 0; i < dIn; i++) out[o * dIn + i]! += scale * B[o * r + j]! * A[j * dIn + i]!;
  return out;
}

const binary = (res: request.Response, cb: (err: Error | null, body: Buffer) => void): void => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => cb(null, Buffer.concat(chunks)));
};

describe('lora-lego HTTP API', () => {
  let root: string;
  let svc: RunningService;
  let app: RunningService['service']['app'];
  let a1: TestAdapter;
  let a2: TestAdapter;
  let id1: string;
  let id2: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'lora-lego-http-'));
    a1 = await makeAdapter(root, 'a1', 1, 4, 8);
    a2 = await makeAdapter(root, 'a2', 2, 4, 4);
    svc = await startService(definition, { env: { STORE_DIR: join(root, 'store'), PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent' }, handleSignals: false });
    app = svc.service.app;
  });
  after(async () => {
    await svc.close();
    await rm(root, { recursive: true, force: true });
  });

  const artifactCount = async (): Promise<number> => (await request(app).get('/v1/artifacts').expect(200)).body.items.length;

  test('uploads a tar (201) and the same files as multipart give the same id (200)', async () => {
    const up = await request(app).post('/v1/adapters').set('Content-Type', 'application/x-tar').send(await readFile(a1.tar)).expect(201);
    assert.equal(up.body.manifest.kind, 'peft-adapter');
    assert.deepEqual(up.body.manifest.metadata.ranks, [4]);
    id1 = up.body.id;
    const again = await request(app)
      .post('/v1/adapters')
      .attach('adapter_config.json', join(a1.dir, 'adapter_config.json'))
      .attach('adapter_model.safetensors', join(a1.dir, 'adapter_model.safetensors'))
      .expect(200);
    assert.equal(again.body.id, id1);
    id2 = (await request(app).post('/v1/adapters').set('Content-Type', 'application/x-tar').send(await readFile(a2.tar)).expect(201)).body.id;
  });

  test('downloads an adapter as a tar that extracts to the uploaded files', async () => {
    const res = await request(app).get(`/v1/adapters/${id1}`).buffer(true).parse(binary).expect(200);
    assert.equal(res.headers['content-type'], 'application/x-tar');
    const out = join(root, 'download');
    await mkdir(out);
    await writeFile(join(out, 'a.tar'), res.body as Buffer);
    execFileSync('tar', ['xf', join(out, 'a.tar'), '-C', out]);
    assert.deepEqual(await readFile(join(out, 'adapter_model.safetensors')), await readFile(join(a1.dir, 'adapter_model.safetensors')));
    assert.deepEqual(await readFile(join(out, 'adapter_config.json')), await readFile(join(a1.dir, 'adapter_config.json')));
  });

  test('cat merge with ?wait=true returns an adapter whose ΔW is Σ w_i s_i B_i A_i', async () => {
    const res = await request(app)
      .post('/v1/merges?wait=true')
      .send({ adapters: [{ ref: id1, weight: 0.7 }, { ref: id2, weight: 0.3 }], method: 'cat' })
      .expect(200);
    assert.equal(res.body.report.k, 8);
    assert.equal(res.body.report.modules.length, 2);
    const tar = await request(app).get(`/v1/adapters/${res.body.adapter.id}`).buffer(true).parse(binary).expect(200);
    const merged = await openPeftAdapterTar(memorySource(new Uint8Array(tar.body as Buffer)));
    assert.equal(merged.config.r, 8);
    assert.equal(merged.config.lora_alpha, 8);
    for (const m of MODULES) {
      const got = merged.module(m.name);
      const { A, B } = await merged.readModule(m.name);
      const actual = deltaW(A, B, got.r, m.dIn, m.dOut, got.scale);
      const e1 = a1.factors.get(m.name)!;
      const e2 = a2.factors.get(m.name)!;
      const want1 = deltaW(e1.A, e1.B, 4, m.dIn, m.dOut, 0.7 * (8 / 4));
      const want2 = deltaW(e2.A, e2.B, 4, m.dIn, m.dOut, 0.3 * (4 / 4));
      let err = 0;
      let norm = 0;
      for (let i = 0; i < actual.length; i++) {
        const want = want1[i]! + want2[i]!;
        err += (actual[i]! - want) ** 2;
        norm += want ** 2;
      }
      assert.ok(Math.sqrt(err / norm) < 1e-5, `${m.name}: relative error ${Math.sqrt(err / norm)}`);
    }
    await merged.close();
  });

  test('a lego merge runs as a job: 202 + Location, progress to 1, same seed gives the same artifact', async () => {
    const body = { adapters: [{ ref: id1 }, { ref: id2 }], method: 'lego', k: 4, seed: 7 };
    const started = await request(app).post('/v1/merges').send(body).expect(202);
    assert.match(started.headers['location']!, /^\/v1\/jobs\//);
    let job = started.body;
    for (let i = 0; i < 600 && job.status !== 'succeeded' && job.status !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      job = (await request(app).get(started.headers['location']!).expect(200)).body;
    }
    assert.equal(job.status, 'succeeded', JSON.stringify(job.error));
    assert.equal(job.progress, 1);
    assert.equal(job.result.report.method, 'lego');
    assert.ok(job.result.report.modules.every((m: { clusterSizes: number[] }) => m.clusterSizes.reduce((s, x) => s + x, 0) === 8));
    const again = await request(app).post('/v1/merges?wait=true').send(body).expect(200);
    assert.equal(again.body.adapter.id, job.result.adapter.id);
    const manifest = (await request(app).get(`/v1/artifacts/${again.body.adapter.id}/manifest`).expect(200)).body.manifest;
    assert.deepEqual(manifest.inputs.map((i: { id: string }) => i.id), [id1, id2]);
    assert.equal(manifest.parameters.seed, 7);
  });

  test('an analysis reports norms, alignment and energy kept at candidate ranks', async () => {
    const res = await request(app).post('/v1/analyses?wait=true').send({ adapters: [{ ref: id1 }, { ref: id2 }], ks: [2, 8] }).expect(200);
    assert.equal(res.body.modules.length, 2);
    const q = res.body.modules[0];
    assert.equal(q.cosine.length, 4);
    assert.ok(Math.abs(q.cosine[0] - 1) < 1e-5);
    const [k2, k8] = res.body.summary;
    assert.ok(k2.meanRetainedEnergy < k8.meanRetainedEnergy);
    assert.ok(Math.abs(k8.meanRetainedEnergy - 1) < 1e-4, 'rank R keeps everything');
  });

  test('bad merge requests are 400s naming each field, and queue nothing', async () => {
    const before = await artifactCount();
    const cases: [unknown, string][] = [
      [{ adapters: [], method: 'lego' }, 'body.adapters'],
      [{ adapters: [{ ref: id1 }], method: 'average' }, 'body.method'],
      [{ adapters: [{ ref: id1 }], k: 0 }, 'body.k'],
      [{ adapters: [{ ref: id1 }], k: 5000 }, 'body.k'],
      [{ adapters: [{ ref: id1 }], options: { density: 1.5 } }, 'body.options.density'],
      [{ adapters: [{ ref: id1, weight: 'x' }] }, 'body.adapters.0.weight'],
      [{ adapters: [{ ref: id1 }], surprise: true }, 'body'],
    ];
    for (const [body, field] of cases) {
      const res = await request(app).post('/v1/merges').send(body as object).expect(400);
      assert.ok(res.body.errors.some((e: { field: string }) => e.field.startsWith(field)), `${JSON.stringify(body)} → ${JSON.stringify(res.body.errors)}`);
    }
    const missing = await request(app).post('/v1/merges').send({ adapters: [{ ref: 'f'.repeat(64) }] }).expect(404);
    assert.equal(missing.body.errors[0].field, 'adapters.0.ref');
    const notUri = await request(app).post('/v1/merges?wait=true').send({ adapters: [{ ref: 'my-adapter' }] }).expect(400);
    assert.equal(notUri.body.errors[0].field, 'adapters.0.ref');
    assert.equal(await artifactCount(), before);
  });

  test('a non-adapter artifact, mismatched shapes and unequal ranks for linear are refused, nothing stored', async () => {
    const weightsOnly = await request(app)
      .post('/v1/artifacts')
      .set('Content-Type', 'application/octet-stream')
      .send(await readFile(join(a1.dir, 'adapter_model.safetensors')))
      .expect(201);
    const before = await artifactCount();
    const wrongKind = await request(app).post('/v1/merges').send({ adapters: [{ ref: weightsOnly.body.id }] }).expect(400);
    assert.equal(wrongKind.body.errors[0].field, 'adapters.0.ref');

    const other = await makeAdapter(root, 'other', 3, 4, 8, { dOutOverride: 12 });
    const otherId = (await request(app).post('/v1/adapters').set('Content-Type', 'application/x-tar').send(await readFile(other.tar)).expect(201)).body.id;
    const mismatch = await request(app).post('/v1/merges?wait=true').send({ adapters: [{ ref: id1 }, { ref: otherId }], method: 'svd' }).expect(422);
    assert.equal(mismatch.body.code, 'shape_mismatch');
    assert.match(mismatch.body.detail, /v_proj/);

    const rank2 = await makeAdapter(root, 'rank2', 4, 2, 2);
    const rank2Id = (await request(app).post('/v1/adapters').set('Content-Type', 'application/x-tar').send(await readFile(rank2.tar)).expect(201)).body.id;
    const linear = await request(app).post('/v1/merges?wait=true').send({ adapters: [{ ref: id1 }, { ref: rank2Id }], method: 'linear' }).expect(400);
    assert.equal(linear.body.errors[0].field, 'method');
    assert.equal(await artifactCount(), before + 2, 'only the two uploads were stored');
  });

  test('bad uploads are refused with a problem and leave nothing behind', async () => {
    const before = await artifactCount();
    const nan = await makeAdapter(root, 'nan', 5, 4, 8, { nan: true });
    const r1 = await request(app).post('/v1/adapters').set('Content-Type', 'application/x-tar').send(await readFile(nan.tar)).expect(422);
    assert.equal(r1.body.code, 'non_finite');
    await request(app).post('/v1/adapters').set('Content-Type', 'text/plain').send('hello').expect(400);
    const notTar = await request(app).post('/v1/adapters').set('Content-Type', 'application/x-tar').send(Buffer.alloc(1024, 7)).expect(422);
    assert.equal(notTar.body.code, 'invalid_format');
    const configOnly = await request(app).post('/v1/adapters').attach('adapter_config.json', join(a1.dir, 'adapter_config.json')).expect(400);
    assert.ok(configOnly.body.detail.includes('adapter_model.safetensors'));
    await request(app).get(`/v1/adapters/${'0'.repeat(64)}`).expect(404);
    assert.equal(await artifactCount(), before);
  });
});
