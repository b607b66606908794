import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import request from 'supertest';
import { pino } from 'pino';
import { z } from 'zod';
import { ErrorCode, WeightsmithError } from '@weightsmith/core';
import { createService, reply, type Service, type ServiceOptions } from '@weightsmith/http';

const quiet = { LOG_LEVEL: 'silent' } as const;

function demoService(extra: Partial<ServiceOptions> = {}): Service {
  const service = createService({ name: 'demo', version: '1.2.3', ...extra, config: { ...quiet, ...extra.config } });
  service.route({
    method: 'post',
    path: '/v1/merges',
    operationId: 'createMerge',
    summary: 'Merge adapters',
    tags: ['merges'],
    query: z.object({ dryRun: z.enum(['true', 'false']).optional() }),
    body: z.object({
      adapters: z
        .array(z.object({ id: z.string().min(1), weight: z.number().min(0).max(1) }))
        .min(1),
      method: z.enum(['linear', 'ties']),
      seed: z.number().int().optional(),
    }),
    responses: { 200: { description: 'merged' } },
    handler: ({ body }) => ({ count: body.adapters.length, method: body.method }),
  });
  service.route({
    method: 'get',
    path: '/v1/things/{id}',
    operationId: 'getThing',
    summary: 'A thing',
    params: z.object({ id: z.string().regex(/^[a-z]+$/) }),
    responses: { 200: { description: 'the thing' } },
    handler: ({ params }) => {
      if (params.id === 'missing') throw new WeightsmithError(ErrorCode.NotFound, 'thing missing not found', { field: 'id' });
      return { id: params.id };
    },
  });
  service.route({
    method: 'delete',
    path: '/v1/things/:id',
    operationId: 'deleteThing',
    summary: 'Delete a thing',
    responses: { 204: { description: 'deleted' } },
    handler: () => undefined,
  });
  service.route({
    method: 'get',
    path: '/v1/fail/{code}',
    operationId: 'fail',
    summary: 'Throws the error named by the path',
    responses: { 200: { description: 'never' } },
    handler: ({ params }) => {
      switch (params.code) {
        case 'bug':
          throw new Error('secret internal detail at /srv/data/x');
        case 'store':
          throw new WeightsmithError(ErrorCode.StoreUnavailable, 'object store unreachable', { retryAfter: 7 });
        case 'store-default':
          throw new WeightsmithError(ErrorCode.StoreUnavailable, 'object store unreachable');
        case 'internal':
          throw new WeightsmithError(ErrorCode.Internal, 'invariant broken in /srv/secret');
        default:
          throw new WeightsmithError(params.code as ErrorCode, `failure ${params.code}`, { field: 'thing' });
      }
    },
  });
  service.route({
    method: 'post',
    path: '/v1/uploads',
    operationId: 'upload',
    summary: 'Raw upload',
    bodyContentType: 'application/octet-stream',
    responses: { 201: { description: 'stored' } },
    handler: async ({ req }) => {
      let bytes = 0;
      await pipeline(
        req,
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            bytes += chunk.length;
            cb();
          },
        }),
      );
      return reply(201, { bytes }, { Location: '/v1/uploads/1' });
    },
  });
  return service;
}

const isProblem = (res: request.Response): void => {
  assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
  assert.equal(res.body.status, res.status);
  assert.equal(typeof res.body.type, 'string');
  assert.equal(typeof res.body.title, 'string');
  assert.equal(typeof res.body.detail, 'string');
  assert.equal(typeof res.body.requestId, 'string');
  assert.ok(Array.isArray(res.body.errors));
};

describe('validation', () => {
  test('a bad body answers 400 listing every bad field with its path', async () => {
    const res = await request(demoService().app)
      .post('/v1/merges?dryRun=maybe')
      .send({ adapters: [{ id: 'a', weight: 0.5 }, { id: '', weight: 2 }, { weight: 'x' }], method: 'average', seed: 1.5, extra: 1 });
    assert.equal(res.status, 400);
    isProblem(res);
    assert.equal(res.body.code, 'invalid_input');
    assert.equal(res.body.instance, '/v1/merges');
    const fields = (res.body.errors as Array<{ field: string; message: string }>).map((e) => e.field).sort();
    assert.deepEqual(fields, [
      'body.adapters.1.id',
      'body.adapters.1.weight',
      'body.adapters.2.id',
      'body.adapters.2.weight',
      'body.method',
      'body.seed',
      'query.dryRun',
    ]);
    for (const e of res.body.errors) assert.ok(e.message.length > 0);
  });

  test('a missing body is one error on "body"', async () => {
    const res = await request(demoService().app).post('/v1/merges');
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.errors.map((e: { field: string }) => e.field), ['body']);
  });

  test('bad path parameters are named params.<name>', async () => {
    const res = await request(demoService().app).get('/v1/things/ABC');
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.errors.map((e: { field: string }) => e.field), ['params.id']);
  });

  test('a valid request reaches the handler with typed, parsed input', async () => {
    const res = await request(demoService().app)
      .post('/v1/merges')
      .send({ adapters: [{ id: 'a', weight: 0.25 }, { id: 'b', weight: 1 }], method: 'ties' });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { count: 2, method: 'ties' });
    assert.match(String(res.headers['content-type']), /^application\/json/);
  });
});

describe('HTTP-level problems', () => {
  test('unknown route: 404 problem', async () => {
    const res = await request(demoService().app).get('/v1/nope');
    assert.equal(res.status, 404);
    isProblem(res);
    assert.equal(res.body.code, 'not_found');
    assert.match(res.body.detail, /GET \/v1\/nope/);
  });

  test('known path, wrong method: 405 with Allow', async () => {
    const res = await request(demoService().app).put('/v1/things/abc').send({});
    assert.equal(res.status, 405);
    isProblem(res);
    assert.equal(res.headers['allow'], 'DELETE, GET, HEAD');
    const post = await request(demoService().app).get('/v1/merges');
    assert.equal(post.status, 405);
    assert.equal(post.headers['allow'], 'POST');
  });

  test('a JSON body over the limit: 413', async () => {
    const service = demoService({ config: { JSON_BODY_LIMIT: 1000 } });
    const big = { adapters: Array.from({ length: 100 }, (_, i) => ({ id: `adapter-${i}`, weight: 0.5 })), method: 'linear' };
    assert.ok(JSON.stringify(big).length > 1000);
    const res = await request(service.app).post('/v1/merges').send(big);
    assert.equal(res.status, 413);
    isProblem(res);
    assert.equal(res.body.code, 'too_large');
    assert.match(res.body.detail, /1000 bytes/);
  });

  test('text/plain to a JSON route: 415', async () => {
    const res = await request(demoService().app).post('/v1/merges').set('Content-Type', 'text/plain').send('{"method":"linear"}');
    assert.equal(res.status, 415);
    isProblem(res);
    assert.deepEqual(res.body.errors.map((e: { field: string }) => e.field), ['header.content-type']);
  });

  test('unparseable JSON: 400 on "body"', async () => {
    const res = await request(demoService().app).post('/v1/merges').set('Content-Type', 'application/json').send('{"adapters": [');
    assert.equal(res.status, 400);
    isProblem(res);
    assert.deepEqual(res.body.errors.map((e: { field: string }) => e.field), ['body']);
    assert.match(res.body.detail, /not valid JSON/);
  });

  test('an unexpected error: 500 without the message or a stack', async () => {
    const res = await request(demoService().app).get('/v1/fail/bug').set('X-Request-Id', 'trace-500');
    assert.equal(res.status, 500);
    isProblem(res);
    assert.equal(res.body.code, 'internal');
    assert.equal(res.body.requestId, 'trace-500');
    assert.doesNotMatch(res.text, /secret|\/srv|at .*\.ts/);
    const internal = await request(demoService().app).get('/v1/fail/internal');
    assert.equal(internal.status, 500);
    assert.doesNotMatch(internal.text, /secret|invariant/);
  });

  test('WeightsmithError codes map to their statuses', async () => {
    const expected: Record<string, number> = {
      invalid_input: 400,
      invalid_format: 422,
      shape_mismatch: 422,
      non_finite: 422,
      too_large: 413,
      not_found: 404,
      conflict: 409,
      unauthorized: 401,
      not_ready: 503,
      cancelled: 409,
    };
    const app = demoService().app;
    for (const [code, status] of Object.entries(expected)) {
      const res = await request(app).get(`/v1/fail/${code}`);
      assert.equal(res.status, status, code);
      isProblem(res);
      assert.equal(res.body.code, code);
      assert.equal(res.body.detail, `failure ${code}`);
      assert.deepEqual(res.body.errors, [{ field: 'thing', message: `failure ${code}` }]);
    }
    const unauthorized = await request(app).get('/v1/fail/unauthorized');
    assert.equal(unauthorized.headers['www-authenticate'], 'Bearer');
  });

  test('store_unavailable: 503 with Retry-After (from the error, else a default)', async () => {
    const app = demoService().app;
    const res = await request(app).get('/v1/fail/store');
    assert.equal(res.status, 503);
    isProblem(res);
    assert.equal(res.headers['retry-after'], '7');
    const dflt = await request(app).get('/v1/fail/store-default');
    assert.equal(dflt.status, 503);
    assert.match(String(dflt.headers['retry-after']), /^[1-9]\d*$/);
  });

  test('a handler returning nothing on a 204 route answers 204', async () => {
    const res = await request(demoService().app).delete('/v1/things/abc');
    assert.equal(res.status, 204);
  });

  test('raw uploads are streamed to the handler, whatever their size within the upload limit', async () => {
    const service = demoService({ config: { JSON_BODY_LIMIT: 100, UPLOAD_LIMIT: 1 << 20 } });
    const bytes = Buffer.alloc(200_000, 7);
    const res = await request(service.app).post('/v1/uploads').set('Content-Type', 'application/octet-stream').send(bytes);
    assert.equal(res.status, 201);
    assert.deepEqual(res.body, { bytes: 200_000 });
    assert.equal(res.headers['location'], '/v1/uploads/1');
    const tooBig = await request(service.app)
      .post('/v1/uploads')
      .set('Content-Type', 'application/octet-stream')
      .send(Buffer.alloc((1 << 20) + 1));
    assert.equal(tooBig.status, 413);
  });
});

describe('logging', () => {
  test('a 500 is logged with its request id and the error; credentials are not logged', async () => {
    const lines: Array<Record<string, any>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(JSON.parse(line));
        cb();
      },
    });
    const service = demoService({ logger: pino({ level: 'info' }, sink), config: { API_TOKENS: ['tok-123'] } });
    const res = await request(service.app).get('/v1/fail/bug').set('X-Request-Id', 'log-500').set('Authorization', 'Bearer tok-123');
    assert.equal(res.status, 500);
    await new Promise((r) => setImmediate(r));
    const failure = lines.find((l) => l['msg'] === 'request failed');
    assert.ok(failure, JSON.stringify(lines));
    assert.equal(failure['requestId'], 'log-500');
    assert.equal(failure['level'], 50);
    assert.match(failure['err']['message'], /secret internal detail/);
    assert.match(failure['err']['stack'], /service\.test\.ts/);
    const completed = lines.find((l) => typeof l['responseTime'] === 'number');
    assert.equal(completed?.['requestId'], 'log-500');
    assert.equal(completed?.['res']?.['statusCode'], 500);
    assert.ok(!JSON.stringify(lines).includes('tok-123'));
  });
});

describe('request ids', () => {
  test('a sane client id is echoed; a missing or odd one is replaced by a generated one', async () => {
    const app = demoService().app;
    const mine = await request(app).get('/healthz').set('X-Request-Id', 'abc-123.def');
    assert.equal(mine.headers['x-request-id'], 'abc-123.def');
    const none = await request(app).get('/healthz');
    assert.match(String(none.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const odd = await request(app).get('/healthz').set('X-Request-Id', 'has spaces <script>');
    assert.notEqual(odd.headers['x-request-id'], 'has spaces <script>');
    assert.match(String(odd.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const problem = await request(app).get('/v1/nope').set('X-Request-Id', 'req-404');
    assert.equal(problem.headers['x-request-id'], 'req-404');
    assert.equal(problem.body.requestId, 'req-404');
  });
});

describe('metrics', () => {
  test('/metrics labels requests with the route template, never the raw URL', async () => {
    const app = demoService().app;
    await request(app).get('/v1/things/abc');
    await request(app).get('/v1/things/xyz');
    await request(app).get('/v1/nope/12345');
    const res = await request(app).get('/metrics');
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    const lines = res.text.split('\n');
    const count = (labels: string): number => {
      const line = lines.find((l) => l.startsWith('http_request_duration_seconds_count{') && l.includes(labels));
      return line ? Number(line.split(' ').pop()) : 0;
    };
    assert.equal(count('method="GET",route="/v1/things/:id",status="200"'), 2);
    assert.equal(count('method="GET",route="unmatched",status="404"'), 1);
    assert.ok(!res.text.includes('/v1/things/abc') && !res.text.includes('12345'));
    assert.match(res.text, /^process_cpu_user_seconds_total/m);
  });

  test('each service has its own registry', async () => {
    const a = demoService();
    const b = demoService();
    await request(a.app).get('/v1/things/abc');
    const text = await b.metrics.metrics();
    assert.ok(!text.includes('route="/v1/things/:id"'));
  });
});

describe('health and readiness', () => {
  test('/healthz is 200; /readyz is 200 when checks pass and 503 naming the failed ones', async () => {
    let storeUp = true;
    const service = demoService({
      readiness: [
        { name: 'store', check: async () => {
          if (!storeUp) throw new WeightsmithError(ErrorCode.StoreUnavailable, 'store ping failed');
        } },
        { name: 'models', check: async () => {} },
      ],
    });
    const health = await request(service.app).get('/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(health.body, { status: 'ok' });
    assert.equal((await request(service.app).get('/readyz')).status, 200);
    storeUp = false;
    const res = await request(service.app).get('/readyz');
    assert.equal(res.status, 503);
    isProblem(res);
    assert.equal(res.body.code, 'not_ready');
    assert.deepEqual(res.body.errors, [{ field: 'readiness.store', message: 'store ping failed' }]);
    assert.equal((await request(service.app).get('/healthz')).status, 200);
  });

  test('a hung check times out; a non-WeightsmithError does not leak its message', async () => {
    const service = demoService({
      readinessTimeoutMs: 50,
      readiness: [
        { name: 'hung', check: () => new Promise<void>(() => {}) },
        { name: 'crashy', check: async () => { throw new Error('password=hunter2'); } },
      ],
    });
    const res = await request(service.app).get('/readyz');
    assert.equal(res.status, 503);
    assert.deepEqual(res.body.errors.map((e: { field: string }) => e.field), ['readiness.crashy', 'readiness.hung']);
    assert.match(res.body.errors[1].message, /timed out after 50 ms/);
    assert.doesNotMatch(res.text, /hunter2/);
  });
});

describe('bearer auth', () => {
  const withAuth = () => demoService({ config: { API_TOKENS: ['s3cret-token', 'second-token'] } });

  test('protected routes need a configured token', async () => {
    const app = withAuth().app;
    const missing = await request(app).get('/v1/things/abc');
    assert.equal(missing.status, 401);
    isProblem(missing);
    assert.equal(missing.headers['www-authenticate'], 'Bearer');
    const wrong = await request(app).get('/v1/things/abc').set('Authorization', 'Bearer s3cret-tokem');
    assert.equal(wrong.status, 401);
    const prefix = await request(app).get('/v1/things/abc').set('Authorization', 'Bearer s3cret');
    assert.equal(prefix.status, 401);
    const basic = await request(app).get('/v1/things/abc').set('Authorization', 'Basic czNjcmV0LXRva2Vu');
    assert.equal(basic.status, 401);
    const right = await request(app).get('/v1/things/abc').set('Authorization', 'Bearer s3cret-token');
    assert.equal(right.status, 200);
    const second = await request(app).get('/v1/things/abc').set('Authorization', 'bearer second-token');
    assert.equal(second.status, 200);
  });

  test('health, readiness, metrics and the OpenAPI document stay open', async () => {
    const app = withAuth().app;
    for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
      assert.equal((await request(app).get(path)).status, 200, path);
    }
  });

  test('without tokens, auth is off', async () => {
    assert.equal((await request(demoService().app).get('/v1/things/abc')).status, 200);
  });
});

describe('graceful shutdown', () => {
  test('a slow request in flight completes; new connections are refused; onShutdown runs after', async () => {
    const events: string[] = [];
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let started!: () => void;
    const slowStarted = new Promise<void>((r) => (started = r));
    const service = createService({
      name: 'slow',
      version: '0',
      config: { ...quiet, SHUTDOWN_TIMEOUT_MS: 5000 },
      onShutdown: async () => {
        events.push('onShutdown');
      },
    });
    service.route({
      method: 'get',
      path: '/slow',
      operationId: 'slow',
      summary: 'slow',
      responses: { 200: { description: 'ok' } },
      handler: async () => {
        started();
        await released;
        events.push('slow done');
        return { slow: true };
      },
    });
    const server = await service.listen({ port: 0, host: '127.0.0.1', handleSignals: false });
    const { port } = server.address() as AddressInfo;

    const slow = get(port, '/slow');
    await slowStarted;
    const closed = service.close().then(() => events.push('closed'));
    // Give close() a moment to stop the listener, then try a new connection.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(service.shuttingDown, true);
    await assert.rejects(get(port, '/healthz'), (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED');
    release();
    const res = await slow;
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { slow: true });
    await closed;
    assert.deepEqual(events, ['slow done', 'onShutdown', 'closed']);
  });

  test('SIGTERM: the process finishes the request in flight, runs onShutdown and exits 0', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/signal-service.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (out += chunk));
    const seen = async (pattern: RegExp): Promise<RegExpMatchArray> => {
      for (let i = 0; i < 1000; i++) {
        const m = out.match(pattern);
        if (m) return m;
        if (child.exitCode !== null) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`never saw ${pattern}: ${out}`);
    };
    // 'close' (not 'exit'): fires after the child's stdout has been read to the end.
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    const port = Number((await seen(/port (\d+)\n/))[1]);
    const slow = get(port, '/slow');
    await seen(/slow started\n/);
    child.kill('SIGTERM');
    const res = await slow;
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { slow: true });
    assert.equal(await exited, 0);
    await seen(/onShutdown\n/);
  });

  test('a request that outlives SHUTDOWN_TIMEOUT_MS is cut, and shutdown completes', async () => {
    let shutdownRan = false;
    const service = createService({
      name: 'hung',
      version: '0',
      config: { ...quiet, SHUTDOWN_TIMEOUT_MS: 100 },
      onShutdown: async () => {
        shutdownRan = true;
      },
    });
    service.route({
      method: 'get',
      path: '/hang',
      operationId: 'hang',
      summary: 'never answers',
      responses: { 200: { description: 'never' } },
      handler: () => new Promise(() => {}),
    });
    const server = await service.listen({ port: 0, host: '127.0.0.1', handleSignals: false });
    const { port } = server.address() as AddressInfo;
    const hung = get(port, '/hang');
    await new Promise((r) => setTimeout(r, 30));
    await service.close();
    assert.equal(shutdownRan, true);
    await assert.rejects(hung, (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || /socket hang up/.test(err.message));
  });

  test('/readyz answers 503 during the shutdown delay while requests are still served', async () => {
    const service = createService({ name: 'delay', version: '0', config: quiet, shutdownDelayMs: 300 });
    const server: Server = await service.listen({ port: 0, host: '127.0.0.1', handleSignals: false });
    const { port } = server.address() as AddressInfo;
    const closed = service.close();
    const ready = await get(port, '/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.body, /shutting down/);
    assert.equal((await get(port, '/healthz')).status, 200);
    await closed;
  });
});

/** A plain GET on a fresh connection (no keep-alive agent, so refusals are observable). */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
