import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { ErrorCode } from '@weightsmith/core';
import {
  ArtifactStore,
  artifactDataKey,
  artifactManifestKey,
  type ArtifactManifestFields,
} from '../src/artifact-store.js';
import { FsStore } from '../src/fs-store.js';
import type { ObjectStore } from '../src/object-store.js';
import type { StoreFixture } from './contract.js';
import { collect, patternBytes, rejectsWith, streamOf } from './helpers.js';
import { makeS3Fixture, s3TargetName } from './s3-fixture.js';

const fields = (overrides: Partial<ArtifactManifestFields> = {}): ArtifactManifestFields => ({
  kind: 'safetensors',
  mediaType: 'application/x-safetensors',
  producer: { service: 'lora-lego', version: '0.1.0' },
  parameters: { method: 'msu', k: 4, seed: 7 },
  inputs: [{ uri: 's3://models/adapter-a', role: 'adapter' }],
  tensors: [{ name: 'w', dtype: 'F32', shape: [2, 3] }],
  ...overrides,
});

/** SHA-256 of "abc" from FIPS 180-2, appendix B.1: an id not computed by the code under test. */
const ABC_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

function runArtifactSuite(name: string, makeFixture: () => Promise<StoreFixture>): void {
  describe(`ArtifactStore on ${name}`, () => {
    let fx: StoreFixture;
    let store: ObjectStore;
    let spoolDir: string;
    let artifacts: ArtifactStore;

    before(async () => {
      fx = await makeFixture();
      store = fx.store;
      spoolDir = await mkdtemp(join(tmpdir(), 'ws-artifact-spool-'));
      artifacts = new ArtifactStore(store, { tempDir: spoolDir, maxBytes: 8 * 1024 * 1024 });
    });
    after(async () => {
      await fx?.cleanup();
      await rm(spoolDir, { recursive: true, force: true });
    });

    const storedKeys = async (id: string): Promise<string[]> =>
      (await store.list({ prefix: `artifacts/${id.slice(0, 2)}/${id}/` })).items.map((i) => i.key);

    test('put bytes: id is the sha256, laid out as data + manifest, manifest filled in', async () => {
      const before = Date.now();
      const result = await artifacts.put(Buffer.from('abc'), fields());
      assert.equal(result.id, ABC_SHA256);
      assert.equal(result.sha256, ABC_SHA256);
      assert.equal(result.bytes, 3);
      assert.equal(result.created, true);
      assert.equal(result.uri, store.uri(`artifacts/ba/${ABC_SHA256}/data`));
      assert.deepEqual(await storedKeys(ABC_SHA256), [`artifacts/ba/${ABC_SHA256}/data`, `artifacts/ba/${ABC_SHA256}/manifest.json`]);
      const m = result.manifest;
      assert.equal(m.id, ABC_SHA256);
      assert.equal(m.kind, 'safetensors');
      assert.deepEqual(m.producer, { service: 'lora-lego', version: '0.1.0' });
      assert.deepEqual(m.parameters, { method: 'msu', k: 4, seed: 7 });
      assert.deepEqual(m.tensors, [{ name: 'w', dtype: 'F32', shape: [2, 3] }]);
      assert.ok(Math.abs(Date.parse(m.created) - before) < 60_000);
      // The manifest on the store is the same document get() returns.
      const stored = JSON.parse(Buffer.from(await store.getBytes(artifactManifestKey(ABC_SHA256))).toString());
      assert.deepEqual(stored, m);
      assert.deepEqual(await artifacts.get(ABC_SHA256), { id: result.id, sha256: result.sha256, bytes: 3, uri: result.uri, manifest: m });
      assert.equal(Buffer.from(await store.getBytes(artifactDataKey(ABC_SHA256))).toString(), 'abc');
    });

    test('same bytes from a stream or a file: same id, one copy, original manifest, created:false', async () => {
      const data = patternBytes(3 * 1024 * 1024 + 5, 21);
      const id = createHash('sha256').update(data).digest('hex');
      const first = await artifacts.put(streamOf([data.subarray(0, 1000), data.subarray(1000)]), fields({ kind: 'peft-adapter' }));
      assert.equal(first.id, id);
      assert.equal(first.created, true);
      const file = join(spoolDir, 'input.bin');
      await writeFile(file, data);
      const fromFile = await artifacts.put({ path: file }, fields({ kind: 'other-kind', parameters: { different: true } }));
      const fromBytes = await artifacts.put(data, fields());
      for (const again of [fromFile, fromBytes]) {
        assert.equal(again.created, false);
        assert.equal(again.id, id);
        assert.deepEqual(again.manifest, first.manifest, 'the first manifest stands');
      }
      assert.equal((await storedKeys(id)).length, 2);
      const back = await collect(await artifacts.open(id));
      assert.equal(back.bytes.length, data.length);
      assert.ok(back.bytes.equals(data));
      assert.deepEqual(await readdir(spoolDir), ['input.bin'], 'spool files are removed');
    });

    test('concurrent puts of the same bytes store one copy and agree on the artifact', async () => {
      const data = patternBytes(200_000, 31);
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          i % 2 === 0 ? artifacts.put(data, fields({ parameters: { writer: i } })) : artifacts.put(streamOf([data]), fields({ parameters: { writer: i } })),
        ),
      );
      assert.equal(results.filter((r) => r.created).length, 1);
      const winner = results.find((r) => r.created);
      for (const r of results) assert.deepEqual(r.manifest, winner?.manifest);
      assert.equal((await storedKeys(results[0]!.id)).length, 2);
    });

    test('open reads the data or a range of it', async () => {
      const data = patternBytes(50_000, 41);
      const { id } = await artifacts.put(data, fields());
      assert.ok((await collect(await artifacts.open(id))).bytes.equals(data));
      assert.ok((await collect(await artifacts.open(id, { offset: 100, length: 1000 }))).bytes.equals(data.subarray(100, 1100)));
      await rejectsWith(artifacts.open(id, { offset: 49_999, length: 2 }), ErrorCode.InvalidInput, 'length');
    });

    test('ids are validated; unknown ids are not_found', async () => {
      for (const bad of ['', 'abc', ABC_SHA256.toUpperCase(), `${ABC_SHA256}0`, '../../etc/passwd', 'g'.repeat(64)]) {
        await rejectsWith(artifacts.get(bad), ErrorCode.InvalidInput, 'id');
        await rejectsWith(artifacts.open(bad), ErrorCode.InvalidInput, 'id');
        await rejectsWith(artifacts.delete(bad), ErrorCode.InvalidInput, 'id');
        await rejectsWith(() => artifacts.uri(bad), ErrorCode.InvalidInput, 'id');
      }
      const unknown = 'f'.repeat(64);
      await rejectsWith(artifacts.get(unknown), ErrorCode.NotFound, 'id');
      await rejectsWith(artifacts.open(unknown), ErrorCode.NotFound, 'id');
    });

    test('data without a manifest is invisible, and a later put completes it', async () => {
      const data = patternBytes(10_000, 51);
      const id = createHash('sha256').update(data).digest('hex');
      await store.put(artifactDataKey(id), data); // as if a put died before its manifest
      await rejectsWith(artifacts.get(id), ErrorCode.NotFound, 'id');
      await rejectsWith(artifacts.open(id), ErrorCode.NotFound, 'id');
      assert.ok(!(await artifacts.list({ limit: 1000 })).items.some((a) => a.id === id));
      const result = await artifacts.put(data, fields());
      assert.equal(result.created, true);
      assert.ok((await collect(await artifacts.open(id))).bytes.equals(data));
    });

    test('a leftover data object of the wrong size is replaced', async () => {
      const data = patternBytes(10_000, 61);
      const id = createHash('sha256').update(data).digest('hex');
      await store.put(artifactDataKey(id), patternBytes(77, 1));
      await artifacts.put(data, fields());
      assert.ok((await collect(await artifacts.open(id))).bytes.equals(data));
    });

    test('a body that fails mid-stream leaves nothing visible and no spool file', async () => {
      const before = (await store.list({ prefix: 'artifacts/', limit: 1000 })).items.length;
      const broken = Readable.from(
        (async function* () {
          yield patternBytes(100_000, 71);
          throw new Error('upload interrupted');
        })(),
      );
      await rejectsWith(artifacts.put(broken, fields()), ErrorCode.InvalidInput, 'body');
      await rejectsWith(artifacts.put(streamOf([patternBytes(9 * 1024 * 1024, 72)]), fields()), ErrorCode.TooLarge, 'body');
      await rejectsWith(artifacts.put(patternBytes(9 * 1024 * 1024, 73), fields()), ErrorCode.TooLarge, 'body');
      assert.equal((await store.list({ prefix: 'artifacts/', limit: 1000 })).items.length, before);
      assert.deepEqual((await readdir(spoolDir)).filter((n) => n.startsWith('weightsmith-artifact-')), []);
    });

    test('manifest fields are validated before anything is stored', async () => {
      const data = patternBytes(1000, 81);
      const id = createHash('sha256').update(data).digest('hex');
      await rejectsWith(artifacts.put(data, fields({ kind: 'Not A Kind' })), ErrorCode.InvalidInput, 'manifest.kind');
      await rejectsWith(
        artifacts.put(data, { ...fields(), producer: { service: '', version: '1' } }),
        ErrorCode.InvalidInput,
        'manifest.producer.service',
      );
      await rejectsWith(artifacts.put(data, fields({ inputs: [{ id: 'nope' }] })), ErrorCode.InvalidInput, 'manifest.inputs.0.id');
      await rejectsWith(
        artifacts.put(data, fields({ tensors: [{ name: 'w', dtype: 'F32', shape: [-1] }] })),
        ErrorCode.InvalidInput,
        'manifest.tensors.0.shape.0',
      );
      await rejectsWith(artifacts.put(data, fields({ parameters: { n: 10n } })), ErrorCode.InvalidInput, 'manifest');
      assert.deepEqual(await storedKeys(id), []);
      // Defaults: mediaType, parameters and inputs may be left out.
      const minimal = await artifacts.put(data, { kind: 't2w-weights', producer: { service: 't2w', version: '1' } });
      assert.equal(minimal.manifest.mediaType, 'application/octet-stream');
      assert.deepEqual(minimal.manifest.parameters, {});
      assert.deepEqual(minimal.manifest.inputs, []);
      assert.equal(minimal.manifest.tensors, undefined);
    });

    test('list pages through artifacts in id order and filters by kind', async () => {
      // A separate ArtifactStore namespace is not possible (fixed layout), so compare against
      // everything listed, computed independently from the ids this suite stored.
      const made: Array<{ id: string; kind: string }> = [];
      for (let i = 0; i < 5; i++) {
        const kind = i % 2 === 0 ? 'list-even' : 'list-odd';
        const r = await artifacts.put(patternBytes(100 + i, 900 + i), fields({ kind }));
        made.push({ id: r.id, kind });
      }
      const all: string[] = [];
      let token: string | undefined;
      const pageSizes: number[] = [];
      do {
        const page = await artifacts.list({ limit: 2, ...(token === undefined ? {} : { token }) });
        pageSizes.push(page.items.length);
        all.push(...page.items.map((a) => a.id));
        token = page.nextToken;
      } while (token !== undefined);
      assert.deepEqual(all, [...all].sort(), 'id order');
      assert.equal(new Set(all).size, all.length, 'no duplicates across pages');
      for (const m of made) assert.ok(all.includes(m.id));
      assert.ok(pageSizes.slice(0, -1).every((n) => n === 2));

      const even = (await artifacts.list({ kind: 'list-even', limit: 1000 })).items.map((a) => a.id);
      assert.deepEqual(even, made.filter((m) => m.kind === 'list-even').map((m) => m.id).sort());
      const evenPage1 = await artifacts.list({ kind: 'list-even', limit: 2 });
      assert.equal(evenPage1.items.length, 2);
      const evenPage2 = await artifacts.list({ kind: 'list-even', limit: 2, ...(evenPage1.nextToken ? { token: evenPage1.nextToken } : {}) });
      assert.deepEqual([...evenPage1.items, ...evenPage2.items].map((a) => a.id), even);
      assert.equal(evenPage2.nextToken, undefined);

      await rejectsWith(artifacts.list({ token: 'bogus!' }), ErrorCode.InvalidInput, 'token');
      await rejectsWith(artifacts.list({ limit: 0 }), ErrorCode.InvalidInput, 'limit');
      await rejectsWith(artifacts.list({ kind: 'Bad Kind' }), ErrorCode.InvalidInput, 'kind');
    });

    test('delete removes manifest and data; a second delete is not_found', async () => {
      const data = patternBytes(5000, 91);
      const { id } = await artifacts.put(data, fields());
      await artifacts.delete(id);
      assert.deepEqual(await storedKeys(id), []);
      await rejectsWith(artifacts.get(id), ErrorCode.NotFound, 'id');
      await rejectsWith(artifacts.delete(id), ErrorCode.NotFound, 'id');
      // And it can be stored again.
      assert.equal((await artifacts.put(data, fields())).created, true);
    });

    test('a corrupt manifest is invalid_format for get and skipped by list', async () => {
      const data = patternBytes(3000, 95);
      const { id } = await artifacts.put(data, fields({ kind: 'corrupt-me' }));
      await store.put(artifactManifestKey(id), Buffer.from('{"id": "not the right shape"'));
      await rejectsWith(artifacts.get(id), ErrorCode.InvalidFormat, 'manifest');
      assert.deepEqual((await artifacts.list({ kind: 'corrupt-me' })).items, []);
      const other = patternBytes(3000, 96);
      const otherId = createHash('sha256').update(other).digest('hex');
      await store.put(artifactManifestKey(id), Buffer.from(JSON.stringify({ ...(await artifacts.put(other, fields())).manifest })));
      await rejectsWith(artifacts.get(id), ErrorCode.InvalidFormat, 'manifest');
      assert.notEqual(otherId, id);
    });
  });
}

runArtifactSuite('FsStore', async () => {
  const root = await mkdtemp(join(tmpdir(), 'ws-artifacts-fs-'));
  const store = await new FsStore({ root }).init();
  return { store, cleanup: () => rm(root, { recursive: true, force: true }) };
});

runArtifactSuite(s3TargetName, () => makeS3Fixture());
