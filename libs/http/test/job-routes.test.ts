import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { z } from 'zod';
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import { FsStore } from '@weightsmith/store';
import { createService, JobRunner, jobStartQuery, jobStartResponses, registerJobRoutes, startJob, type Service } from '@weightsmith/http';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

interface Harness {
  service: Service;
  runner: JobRunner;
  release: () => void;
}

/** A service with a job-starting POST /v1/sums; `slow` jobs wait until `release()`. */
async function harness(waitCapMs?: number): Promise<Harness> {
  const root = await mkdtemp(join(tmpdir(), 'ws-job-routes-'));
  const store = await new FsStore({ root }).init();
  const runner = new JobRunner({ store, concurrency: 2 });
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  runner.register('sum', async (input: { values: number[]; mode: 'fast' | 'slow' | 'bad' }, ctx) => {
    if (input.mode === 'bad') throw new WeightsmithError(ErrorCode.NonFinite, 'values.1 is NaN after scaling', { field: 'values.1' });
    if (input.mode === 'slow') {
      ctx.progress(0.5, 'half way');
      await Promise.race([released, new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)))]);
    }
    return { sum: input.values.reduce((a, b) => a + b, 0) };
  });
  const service = createService({ name: 'jobs-demo', version: '1', config: { LOG_LEVEL: 'silent' }, onShutdown: () => runner.close() });
  service.route({
    method: 'post',
    path: '/v1/sums',
    operationId: 'createSum',
    summary: 'Sum numbers as a job',
    query: jobStartQuery,
    body: z.object({ values: z.array(z.number()).max(100), mode: z.enum(['fast', 'slow', 'bad']).default('fast') }),
    responses: jobStartResponses(z.object({ sum: z.number() })),
    handler: ({ body, query, signal, requestId }) =>
      startJob(runner, 'sum', body, { wait: query.wait ?? false, signal, requestId, ...(waitCapMs === undefined ? {} : { waitCapMs }) }),
  });
  registerJobRoutes(service, runner);
  cleanups.push(async () => {
    release();
    await service.close();
    await rm(root, { recursive: true, force: true });
  });
  return { service, runner, release };
}

describe('job routes', () => {
  test('POST answers 202 + Location + the job; the Location shows progress, then the result', async () => {
    const { service, release } = await harness();
    const res = await request(service.app).post('/v1/sums').send({ values: [1, 2, 3], mode: 'slow' });
    assert.equal(res.status, 202);
    assert.equal(res.body.status, 'queued');
    assert.equal(res.headers['location'], `/v1/jobs/${res.body.id}`);
    assert.deepEqual(res.body.input, { values: [1, 2, 3], mode: 'slow' });

    const location = String(res.headers['location']);
    let job = (await request(service.app).get(location)).body;
    for (let i = 0; i < 200 && job.progress !== 0.5; i++) {
      await new Promise((r) => setTimeout(r, 10));
      job = (await request(service.app).get(location)).body;
    }
    assert.equal(job.status, 'running');
    assert.equal(job.message, 'half way');
    release();
    for (let i = 0; i < 200 && job.status !== 'succeeded'; i++) {
      await new Promise((r) => setTimeout(r, 10));
      job = (await request(service.app).get(location)).body;
    }
    assert.equal(job.status, 'succeeded');
    assert.deepEqual(job.result, { sum: 6 });
  });

  test('?wait=true answers 200 with the result, or the job\'s problem when it fails', async () => {
    const { service } = await harness();
    const ok = await request(service.app).post('/v1/sums?wait=true').send({ values: [0.5, 0.25] });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, { sum: 0.75 });
    assert.match(String(ok.headers['content-location']), /^\/v1\/jobs\/[0-9a-f-]{36}$/);

    const bad = await request(service.app).post('/v1/sums?wait=1').set('X-Request-Id', 'wait-req').send({ values: [1], mode: 'bad' });
    assert.equal(bad.status, 422);
    assert.match(String(bad.headers['content-type']), /^application\/problem\+json/);
    assert.equal(bad.body.code, 'non_finite');
    assert.equal(bad.body.detail, 'values.1 is NaN after scaling');
    assert.equal(bad.body.requestId, 'wait-req');
    assert.equal(bad.body.instance, bad.headers['content-location']);

    const invalid = await request(service.app).post('/v1/sums?wait=perhaps').send({ values: [1] });
    assert.equal(invalid.status, 400);
    assert.deepEqual(invalid.body.errors.map((e: { field: string }) => e.field), ['query.wait']);
  });

  test('?wait=true falls back to 202 + Location when the job outlasts the cap', async () => {
    const { service } = await harness(50);
    const res = await request(service.app).post('/v1/sums?wait=true').send({ values: [1], mode: 'slow' });
    assert.equal(res.status, 202);
    assert.equal(res.body.status, 'running');
    assert.equal(res.headers['location'], `/v1/jobs/${res.body.id}`);
  });

  test('GET /v1/jobs lists newest first with a status filter; bad and unknown ids', async () => {
    const { service } = await harness();
    const a = await request(service.app).post('/v1/sums?wait=true').send({ values: [1] });
    await new Promise((r) => setTimeout(r, 2));
    const b = await request(service.app).post('/v1/sums?wait=true').send({ values: [1], mode: 'bad' });
    const list = await request(service.app).get('/v1/jobs');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body.items.map((j: { status: string }) => j.status), ['failed', 'succeeded']);
    assert.equal(list.body.items[1].id, String(a.headers['content-location']).split('/').pop());
    assert.equal(list.body.items[0].id, String(b.headers['content-location']).split('/').pop());
    const failed = await request(service.app).get('/v1/jobs?status=failed&limit=5');
    assert.deepEqual(failed.body.items.map((j: { status: string }) => j.status), ['failed']);
    const badQuery = await request(service.app).get('/v1/jobs?status=done&limit=0');
    assert.equal(badQuery.status, 400);
    assert.deepEqual(badQuery.body.errors.map((e: { field: string }) => e.field).sort(), ['query.limit', 'query.status']);

    assert.equal((await request(service.app).get('/v1/jobs/not-a-uuid')).status, 400);
    const unknown = await request(service.app).get('/v1/jobs/0190a5c4-7d1e-7abc-8def-0123456789ab');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 'not_found');
  });

  test('DELETE cancels: 202 while a running job stops, then cancelled; 409 once finished', async () => {
    const { service } = await harness();
    const started = await request(service.app).post('/v1/sums').send({ values: [1], mode: 'slow' });
    const location = String(started.headers['location']);
    let job = started.body;
    for (let i = 0; i < 200 && job.status !== 'running'; i++) {
      await new Promise((r) => setTimeout(r, 10));
      job = (await request(service.app).get(location)).body;
    }
    const del = await request(service.app).delete(location);
    assert.equal(del.status, 202);
    assert.equal(del.body.cancelRequested, true);
    for (let i = 0; i < 200 && job.status !== 'cancelled'; i++) {
      await new Promise((r) => setTimeout(r, 10));
      job = (await request(service.app).get(location)).body;
    }
    assert.equal(job.status, 'cancelled');
    const again = await request(service.app).delete(location);
    assert.equal(again.status, 409);
    assert.equal(again.body.code, 'conflict');
  });
});
