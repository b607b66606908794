/**
 * All three services against one real S3 endpoint (s3rver on loopback, or S3_ENDPOINT when set):
 * what one service stores, every other serves; a store outage is a 503 with Retry-After, never
 * a crash; bad uploads leave nothing behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { serializeSafetensors } from '@weightsmith/safetensors';
import { startService, type RunningService } from '@weightsmith/http';
import { definition as t2w } from '@weightsmith/t2w';
import { definition as loraLego } from '@weightsmith/lora-lego';
import { definition as adafusion } from '@weightsmith/adafusion';
import { startS3rver, type S3rverHandle } from '../libs/store/test/s3rver-harness.js';

const definitions = [t2w, loraLego, adafusion];

describe('services on a shared S3 store', () => {
  let s3: S3rverHandle | undefined;
  let running: RunningService[] = [];
  const prefix = `it-${process.pid}-${Date.now()}`;

  before(async () => {
    const external = process.env['S3_ENDPOINT'];
    if (!external) s3 = await startS3rver();
    const env = {
      WEIGHTSMITH_STORE: 's3',
      S3_ENDPOINT: external ?? s3!.endpoint,
      S3_ACCESS_KEY: process.env['S3_ACCESS_KEY'] ?? s3!.accessKey,
      S3_SECRET_KEY: process.env['S3_SECRET_KEY'] ?? s3!.secretKey,
      S3_BUCKET: process.env['S3_BUCKET'] ?? s3!.bucket,
      STORE_PREFIX: prefix,
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
    };
    running = [];
    for (const def of definitions) running.push(await startService(def, { env, handleSignals: false }));
  });

  after(async () => {
    for (const r of running) await r.close().catch(() => {});
    await s3?.stop();
  });

  const weights = (): Promise<Uint8Array> =>
    serializeSafetensors(
      [
        { name: 'fc.weight', dtype: 'F32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
        { name: 'fc.bias', dtype: 'F32', shape: [2], data: new Float32Array([0.5, -0.5]) },
      ],
      { format: 'pt' },
    );

  test('every service is live and ready, and names itself in its OpenAPI document', async () => {
    for (const r of running) {
      await request(r.service.app).get('/healthz').expect(200);
      await request(r.service.app).get('/readyz').expect(200);
      const doc = await request(r.service.app).get('/openapi.json').expect(200);
      assert.equal(doc.body.info.title, r.service.name);
      assert.ok(doc.body.paths['/v1/artifacts/{id}'], `${r.service.name} serves artifacts`);
    }
  });

  test('an artifact uploaded to one service is served by the others, byte for byte', async () => {
    const bytes = await weights();
    const [first, ...others] = running;
    const up = await request(first!.service.app)
      .post('/v1/artifacts')
      .set('Content-Type', 'application/octet-stream')
      .send(Buffer.from(bytes))
      .expect(201);
    assert.match(up.body.id, /^[0-9a-f]{64}$/);
    assert.equal(up.body.bytes, bytes.length);
    assert.ok(up.body.uri.startsWith('s3://'), up.body.uri);
    assert.deepEqual(
      up.body.manifest.tensors.map((t: { name: string }) => t.name).sort(),
      ['fc.bias', 'fc.weight'],
    );
    for (const r of others) {
      const got = await request(r.service.app)
        .get(`/v1/artifacts/${up.body.id}`)
        .buffer(true)
        .parse((res, cb) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => cb(null, Buffer.concat(chunks)));
        })
        .expect(200);
      assert.deepEqual(new Uint8Array(got.body as Buffer), bytes);
      assert.equal(got.headers['etag'], `"${up.body.id}"`);
    }
    // Same bytes again: same id, 200 instead of 201, still one artifact.
    const again = await request(others[0]!.service.app)
      .post('/v1/artifacts')
      .set('Content-Type', 'application/octet-stream')
      .send(Buffer.from(bytes))
      .expect(200);
    assert.equal(again.body.id, up.body.id);
    const list = await request(others[1]!.service.app).get('/v1/artifacts').expect(200);
    assert.equal(list.body.items.filter((a: { id: string }) => a.id === up.body.id).length, 1);
  });

  test('malformed uploads are refused with a problem naming the body, and nothing is stored', async () => {
    const r = running[0]!;
    const before = (await request(r.service.app).get('/v1/artifacts').expect(200)).body.items.length;
    const good = await weights();
    const truncated = Buffer.from(good.subarray(0, good.length - 4));
    const badHeader = Buffer.concat([Buffer.from([5, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a":')]);
    for (const body of [truncated, badHeader, Buffer.from('not a safetensors file at all')]) {
      const res = await request(r.service.app)
        .post('/v1/artifacts')
        .set('Content-Type', 'application/octet-stream')
        .send(body)
        .expect(422);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.body.errors[0].field, 'body');
    }
    await request(r.service.app).post('/v1/artifacts').set('Content-Type', 'application/octet-stream').send(Buffer.alloc(0)).expect(400);
    const afterCount = (await request(r.service.app).get('/v1/artifacts').expect(200)).body.items.length;
    assert.equal(afterCount, before);
  });

  test('unknown and malformed artifact ids are 404 and 400', async () => {
    const app = running[1]!.service.app;
    await request(app).get(`/v1/artifacts/${'0'.repeat(64)}`).expect(404);
    const bad = await request(app).get('/v1/artifacts/not-a-sha').expect(400);
    assert.equal(bad.body.errors[0].field, 'params.id');
    await request(app).get(`/v1/jobs/${'0'.repeat(8)}-0000-7000-8000-${'0'.repeat(12)}`).expect(404);
  });

  test('a store outage is a 503 with Retry-After on reads, writes and readiness; liveness stays up', { skip: process.env['S3_ENDPOINT'] ? 'cannot stop an external endpoint' : false }, async () => {
    await s3!.stop();
    for (const r of running) {
      const app = r.service.app;
      const ready = await request(app).get('/readyz').expect(503);
      assert.equal(ready.headers['content-type'], 'application/problem+json; charset=utf-8');
      const list = await request(app).get('/v1/artifacts').expect(503);
      assert.ok(Number(list.headers['retry-after']) > 0);
      assert.equal(list.body.code, 'store_unavailable');
      const up = await request(app)
        .post('/v1/artifacts')
        .set('Content-Type', 'application/octet-stream')
        .send(Buffer.from(await weights()))
        .expect(503);
      assert.ok(Number(up.headers['retry-after']) > 0);
      await request(app).get('/healthz').expect(200);
    }
  });
});
