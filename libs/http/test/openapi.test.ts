import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  checkOpenApiFiles,
  createService,
  discoverServices,
  generateOpenApi,
  renderOpenApiYaml,
  writeOpenApiFiles,
  type OpenApiDocument,
  type Service,
} from '@weightsmith/http';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

// Component ids are global (zod's registry), so this file's ids are prefixed to stay unique.
const Adapter = z.object({ id: z.string().meta({ description: 'artifact id' }), weight: z.number().default(1) }).meta({ id: 'OaAdapter' });
const MergeRequest = z.object({ adapters: z.array(Adapter).min(1), note: z.string().optional() }).meta({ id: 'OaMergeRequest' });
const Artifact = z.object({ id: z.string(), sha256: z.string(), bytes: z.number().int() }).meta({ id: 'OaArtifact' });
const Plain = z.object({ name: z.string() }).meta({ id: 'OaPlain' });
const Strict = z.strictObject({ name: z.string() }).meta({ id: 'OaStrict' });
const Holder = z.object({ adapter: Adapter }).meta({ id: 'OaHolder' });

type Registration = (s: Service) => void;
const registrations: Registration[] = [
  (s) =>
    s.route({
      method: 'post',
      path: '/v1/merges',
      operationId: 'createMerge',
      summary: 'Merge adapters',
      tags: ['merges'],
      query: z.object({ wait: z.enum(['true', 'false']).optional().meta({ description: 'wait for it' }) }),
      body: MergeRequest,
      responses: { 200: { description: 'merged', schema: Artifact }, 404: { description: 'an adapter is missing' } },
      handler: () => ({}),
    }),
  (s) =>
    s.route({
      method: 'get',
      path: '/v1/artifacts/:id',
      operationId: 'getArtifact',
      summary: 'An artifact',
      tags: ['artifacts'],
      params: z.object({ id: z.string().regex(/^[0-9a-f]{64}$/) }),
      responses: { 200: { description: 'the artifact', schema: Artifact } },
      handler: () => ({}),
    }),
  (s) =>
    s.route({
      method: 'put',
      path: '/v1/plain/{name}',
      operationId: 'putPlain',
      summary: 'round trip',
      body: z.object({ plain: Plain, strict: Strict, holder: Holder }),
      responses: { 200: { description: 'same back', schema: z.object({ plain: Plain, strict: Strict, holder: Holder }) } },
      handler: () => ({}),
    }),
  (s) =>
    s.route({
      method: 'post',
      path: '/v1/uploads',
      operationId: 'upload',
      summary: 'Raw upload',
      bodyContentType: 'application/octet-stream',
      responses: { 201: { description: 'stored', schema: Artifact } },
      handler: () => ({}),
    }),
];

function build(order: Registration[] = registrations, version = '1.0.0'): Service {
  const service = createService({ name: 'oa-demo', version, config: { LOG_LEVEL: 'silent' } });
  for (const register of order) register(service);
  return service;
}

function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refsIn(v, out);
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

type Op = Record<string, any>;
const op = (doc: OpenApiDocument, path: string, method: string): Op => doc.paths[path]?.[method] as Op;

describe('generateOpenApi', () => {
  test('/openapi.json serves an OpenAPI 3.1 document with paths, components and resolvable refs', async () => {
    const res = await request(build().app).get('/openapi.json');
    assert.equal(res.status, 200);
    const doc = res.body as OpenApiDocument;
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.info, { title: 'oa-demo', version: '1.0.0' });
    assert.deepEqual(Object.keys(doc.paths), [
      '/healthz',
      '/metrics',
      '/openapi.json',
      '/readyz',
      '/v1/artifacts/{id}',
      '/v1/merges',
      '/v1/plain/{name}',
      '/v1/uploads',
    ]);
    for (const ref of refsIn(doc)) {
      assert.ok(ref.startsWith('#/components/schemas/'), ref);
      assert.ok(doc.components.schemas[ref.slice('#/components/schemas/'.length)], `unresolved ${ref}`);
    }
    for (const name of ['Problem', 'FieldIssue', 'OaArtifact', 'OaMergeRequest']) assert.ok(doc.components.schemas[name], name);
    assert.deepEqual(doc.tags.map((t) => t.name), ['artifacts', 'merges', 'ops']);
    assert.deepEqual(doc.components.securitySchemes['bearerAuth'], {
      type: 'http',
      scheme: 'bearer',
      description: 'Required when the deployment sets API_TOKENS; otherwise auth is off.',
    });
  });

  test('operations: parameters, request bodies, declared and standard responses', () => {
    const doc = generateOpenApi(build());
    const merge = op(doc, '/v1/merges', 'post');
    assert.equal(merge['operationId'], 'createMerge');
    assert.deepEqual(merge['parameters'], [
      { name: 'wait', in: 'query', description: 'wait for it', required: false, schema: { type: 'string', enum: ['true', 'false'] } },
    ]);
    assert.deepEqual(merge['requestBody'], {
      required: true,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/OaMergeRequest' } } },
    });
    assert.deepEqual(Object.keys(merge['responses']), ['200', '400', '401', '404', '413', '415', '503', 'default']);
    assert.deepEqual(merge['responses']['200'].content, { 'application/json': { schema: { $ref: '#/components/schemas/OaArtifact' } } });
    assert.deepEqual(merge['responses']['404'], {
      description: 'an adapter is missing',
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    });

    const get = op(doc, '/v1/artifacts/{id}', 'get');
    assert.deepEqual(get['parameters'], [{ name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[0-9a-f]{64}$' } }]);
    assert.equal(get['requestBody'], undefined);
    assert.deepEqual(Object.keys(get['responses']), ['200', '400', '401', '503', 'default']);

    const upload = op(doc, '/v1/uploads', 'post');
    assert.deepEqual(upload['requestBody'], { required: true, content: { 'application/octet-stream': {} } });
    assert.ok(!('415' in upload['responses']));

    const health = op(doc, '/healthz', 'get');
    assert.deepEqual(health['security'], []);
    assert.deepEqual(doc.security, [{ bearerAuth: [] }]);
  });

  test('request forms that differ from response forms get an <id>Input component, transitively', () => {
    const doc = generateOpenApi(build());
    const schemas = doc.components.schemas;
    // Adapter has a default: optional on input, always present on output.
    assert.deepEqual(schemas['OaAdapter']?.['required'], ['id', 'weight']);
    assert.deepEqual(schemas['OaAdapterInput']?.['required'], ['id']);
    // MergeRequest appears only in requests: its plain name, pointing at the request form of Adapter.
    assert.deepEqual(schemas['OaMergeRequest']?.['properties'], {
      adapters: { minItems: 1, type: 'array', items: { $ref: '#/components/schemas/OaAdapterInput' } },
      note: { type: 'string' },
    });
    // Holder is identical in JSON but holds an Adapter, whose forms differ: so Holder's do too.
    assert.deepEqual(schemas['OaHolderInput']?.['properties'], { adapter: { $ref: '#/components/schemas/OaAdapterInput' } });
    assert.deepEqual(schemas['OaHolder']?.['properties'], { adapter: { $ref: '#/components/schemas/OaAdapter' } });
    // Plain converts the same both ways: one shared component.
    assert.ok(schemas['OaPlain'] && !schemas['OaPlainInput']);
    // Responses allow extra fields unless the object is strict.
    assert.equal(schemas['OaPlain']?.['additionalProperties'], undefined);
    assert.equal(schemas['OaStrict']?.['additionalProperties'], false);
  });

  test('two different schemas with one id are refused', () => {
    const service = createService({ name: 'clash', version: '1', config: { LOG_LEVEL: 'silent' } });
    const a = z.object({ a: z.string() }).meta({ id: 'OaClash' });
    const b = z.object({ b: z.number() }).meta({ id: 'OaClash' });
    service.route({ method: 'post', path: '/a', operationId: 'a', summary: 'a', body: a, responses: { 200: { description: 'ok' } }, handler: () => ({}) });
    service.route({ method: 'post', path: '/b', operationId: 'b', summary: 'b', body: b, responses: { 200: { description: 'ok' } }, handler: () => ({}) });
    assert.throws(() => generateOpenApi(service), /OaClash/);
  });

  test('YAML output does not depend on registration order and has no aliases', () => {
    const a = renderOpenApiYaml(generateOpenApi(build()), 'oa-demo');
    const b = renderOpenApiYaml(generateOpenApi(build([...registrations].reverse())), 'oa-demo');
    assert.equal(a, b);
    assert.doesNotMatch(a, /^\s*[^#\n]*[&*][A-Za-z]\w*\s*$/m);
    assert.deepEqual(parseYaml(a), JSON.parse(JSON.stringify(generateOpenApi(build()))));
  });
});

describe('openapi files', () => {
  test('write, then check: up to date; a schema change is stale; a missing file and an orphan are reported', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ws-openapi-'));
    try {
      const out = join(dir, 'openapi');
      let version = '1.0.0';
      const services = [{ name: 'oa-demo', build: () => generateOpenApi(build(registrations, version)) }];

      const first = await writeOpenApiFiles(out, services);
      assert.deepEqual(first.written, [join(out, 'oa-demo.yaml')]);
      assert.deepEqual(await checkOpenApiFiles(out, services), { ok: true, stale: [], missing: [], orphaned: [] });
      const again = await writeOpenApiFiles(out, services);
      assert.deepEqual(again.written, [], 'regenerating an unchanged service rewrites nothing');

      version = '1.1.0';
      const stale = await checkOpenApiFiles(out, services);
      assert.equal(stale.ok, false);
      assert.deepEqual(stale.stale, [join(out, 'oa-demo.yaml')]);

      await writeFile(join(out, 'gone.yaml'), 'openapi: 3.1.0\n');
      await rm(join(out, 'oa-demo.yaml'));
      const broken = await checkOpenApiFiles(out, services);
      assert.deepEqual(broken, { ok: false, stale: [], missing: [join(out, 'oa-demo.yaml')], orphaned: [join(out, 'gone.yaml')] });

      const fixed = await writeOpenApiFiles(out, services);
      assert.deepEqual(fixed.removed, [join(out, 'gone.yaml')]);
      assert.equal((await checkOpenApiFiles(out, services)).ok, true);
      assert.match(await readFile(join(out, 'oa-demo.yaml'), 'utf8'), /^# Generated from the zod schemas of services\/oa-demo/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('scripts/openapi.ts: zero services pass; services/*/src/app.ts are discovered; check fails until written', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ws-openapi-root-'));
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts/openapi.ts'), ...args, '--root', root], {
        cwd: repoRoot,
        encoding: 'utf8',
      });
    try {
      const empty = run('check');
      assert.equal(empty.status, 0, empty.stderr);
      assert.match(empty.stdout, /no services found/);

      await mkdir(join(root, 'services', 'alpha', 'src'), { recursive: true });
      await mkdir(join(root, 'services', 'not-a-service'), { recursive: true });
      await writeFile(
        join(root, 'services', 'alpha', 'src', 'app.ts'),
        "export function buildOpenApi(): object { return { openapi: '3.1.0', info: { title: 'alpha', version: '1' }, paths: {} }; }\n",
      );
      assert.deepEqual((await discoverServices(root)).map((s) => s.name), ['alpha']);

      const missing = run('check');
      assert.equal(missing.status, 1);
      assert.match(missing.stderr, /missing: +openapi\/alpha\.yaml/);
      const write = run('write');
      assert.equal(write.status, 0, write.stderr);
      assert.match(write.stdout, /wrote openapi\/alpha\.yaml/);
      const ok = run('check');
      assert.equal(ok.status, 0, ok.stderr);
      assert.deepEqual(parseYaml(await readFile(join(root, 'openapi', 'alpha.yaml'), 'utf8')), {
        openapi: '3.1.0',
        info: { title: 'alpha', version: '1' },
        paths: {},
      });
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
