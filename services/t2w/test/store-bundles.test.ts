/**
 * Bundles kept in the object store (T2W_BUNDLES_PREFIX): the runtime loads them next to the
 * folder's, copies their text encoder to the cache folder, and generates the same bytes as from
 * a folder copy of the same bundle. A store bundle whose name a folder bundle already uses is
 * reported, not served twice.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsStore } from '@weightsmith/store';
import { writeFixtureBundle } from '../src/bundle/index.js';
import { DEFAULT_GENERATION_LIMITS, T2wRuntime } from '../src/generation/index.js';

let tmp: string;
let store: FsStore;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 't2w-store-bundles-'));
  const fixture = await writeFixtureBundle(join(tmp, 'made', 'stored'), { seed: 12, name: 'stored' });
  await writeFixtureBundle(join(tmp, 'folder', 'stored-copy'), { seed: 12, name: 'stored-copy' });
  store = new FsStore({ root: join(tmp, 'store') });
  await store.init();
  for (const rel of fixture.files) await store.put(`bundles/stored/${rel}`, await readFile(join(fixture.dir, rel)));
  // Same name as a folder bundle: must be reported.
  const clash = await writeFixtureBundle(join(tmp, 'made', 'clash'), { seed: 13, name: 'stored-copy' });
  for (const rel of clash.files) await store.put(`bundles/clash/${rel}`, await readFile(join(clash.dir, rel)));
});
after(async () => {
  await store.close();
  await rm(tmp, { recursive: true, force: true });
});

test('a bundle under the store prefix is served and generates the bytes its folder copy does', async () => {
  const rt = await T2wRuntime.load({
    bundlesDir: join(tmp, 'folder'),
    storeBundles: { store, prefix: 'bundles/', cacheDir: join(tmp, 'cache') },
    limits: DEFAULT_GENERATION_LIMITS,
    intraOpNumThreads: 1,
    workerThreads: 1,
  });
  try {
    assert.deepEqual(rt.bundles().map((b) => b.name), ['stored', 'stored-copy']);
    assert.match(rt.bundle('stored').location, /bundles\/stored\/$/);
    assert.equal(rt.failures.length, 1);
    assert.match(rt.failures[0]!.error.message, /stored-copy/);
    const req = { classes: ['bag', 'coat'], n: 2, seed: 3, sampler: 'ddim' as const, steps: 4 };
    const a = await rt.generate('stored', req);
    const b = await rt.generate('stored-copy', req);
    a.samples.forEach((s, i) => assert.deepEqual(Buffer.from(s.buffer, s.byteOffset, s.byteLength), Buffer.from(b.samples[i]!.buffer, b.samples[i]!.byteOffset, b.samples[i]!.byteLength)));
  } finally {
    await rt.close();
  }
});
