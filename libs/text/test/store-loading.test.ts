import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FsStore } from '@weightsmith/store';
import { ClipTextEncoder, copyStorePrefix, writeTinyClipFolder, type TinyClipFolder } from '../src/index.js';
import { tempDir } from './helpers/temp-dir.js';

const PREFIX = 'models/tiny-clip';

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('loading a CLIP text model from an object-store prefix', () => {
  let fixture: TinyClipFolder;
  let store: FsStore;

  before(async () => {
    fixture = await writeTinyClipFolder(await tempDir('store-src'), { seed: 21, layers: 1 });
    store = await new FsStore({ root: await tempDir('store-root') }).init();
    for (const rel of fixture.files) await store.put(`${PREFIX}/${rel}`, await readFile(join(fixture.dir, rel)));
    // A full export also holds files the text encoder never reads.
    await store.put(`${PREFIX}/onnx/vision_model.onnx`, new TextEncoder().encode('vision tower, not needed'));
  });

  test('gives the same id and bit-identical embeddings as the folder, copying only the needed files', async () => {
    const cacheDir = await tempDir('cache');
    const fromStore = await ClipTextEncoder.fromStore(store, PREFIX, { cacheDir });
    const fromFolder = await ClipTextEncoder.fromFolder(fixture.dir);
    try {
      assert.equal(fromStore.id, fromFolder.id);
      const texts = ['a photo of a sneaker', 'an image of the digits zero one'];
      const [a, b] = [await fromStore.encode(texts), await fromFolder.encode(texts)];
      a.forEach((v, i) => assert.deepEqual([...v], [...b[i]!]));
    } finally {
      await Promise.all([fromStore.close(), fromFolder.close()]);
    }
    const copies = await readdir(cacheDir);
    assert.equal(copies.length, 1, `one finished copy, no partial folders: ${copies.join(', ')}`);
    assert.deepEqual(await listFiles(join(cacheDir, copies[0]!)), [...fixture.files].sort());
  });

  test('an unchanged prefix reuses its copy; a changed object gets a new copy', async () => {
    const cacheDir = await tempDir('cache-reuse');
    const select = (rels: readonly string[]) => rels.filter((r) => r !== 'onnx/vision_model.onnx');
    const first = await copyStorePrefix(store, PREFIX, { cacheDir, select });
    const second = await copyStorePrefix(store, `${PREFIX}/`, { cacheDir, select });
    assert.equal(first.downloaded, true);
    assert.equal(second.downloaded, false);
    assert.equal(second.dir, first.dir);

    const other = await new FsStore({ root: await tempDir('store-changed') }).init();
    for (const rel of fixture.files) await other.put(`${PREFIX}/${rel}`, await readFile(join(fixture.dir, rel)));
    await other.put(`${PREFIX}/tokenizer_config.json`, new TextEncoder().encode('{"model_max_length": 8}'));
    const changed = await copyStorePrefix(other, PREFIX, { cacheDir, select });
    assert.notEqual(changed.dir, first.dir);
    assert.equal(await readFile(join(changed.dir, 'tokenizer_config.json'), 'utf8'), '{"model_max_length": 8}');
  });

  test('concurrent copies of one prefix end with one complete folder', async () => {
    const cacheDir = await tempDir('cache-race');
    const select = (rels: readonly string[]) => rels;
    const [x, y] = await Promise.all([
      copyStorePrefix(store, PREFIX, { cacheDir, select }),
      copyStorePrefix(store, PREFIX, { cacheDir, select }),
    ]);
    assert.equal(x.dir, y.dir);
    assert.deepEqual(await readdir(cacheDir), [x.dir.slice(cacheDir.length + 1)]);
    assert.equal((await listFiles(x.dir)).length, fixture.files.length + 1);
  });

  test('a prefix missing a required file is invalid_format naming it, and leaves nothing in the cache', async () => {
    const partial = await new FsStore({ root: await tempDir('store-partial') }).init();
    for (const rel of fixture.files.filter((f) => f !== 'tokenizer_config.json')) {
      await partial.put(`${PREFIX}/${rel}`, await readFile(join(fixture.dir, rel)));
    }
    const cacheDir = await tempDir('cache-partial');
    await assert.rejects(ClipTextEncoder.fromStore(partial, PREFIX, { cacheDir }), {
      code: 'invalid_format',
      field: 'tokenizer_config.json',
      message: /missing tokenizer_config\.json/,
    });
    assert.deepEqual(await readdir(cacheDir).catch(() => []), []);
  });

  test('an empty prefix reports every required file missing', async () => {
    await assert.rejects(ClipTextEncoder.fromStore(store, 'models/nothing-here', { cacheDir: await tempDir('cache-empty') }), {
      code: 'invalid_format',
      field: 'config.json',
      message: /config\.json, tokenizer\.json, tokenizer_config\.json, onnx\/text_model\.onnx/,
    });
  });

  test('rejects prefixes that escape and a missing cacheDir', async () => {
    await assert.rejects(ClipTextEncoder.fromStore(store, '../x', { cacheDir: await tempDir('cache-bad') }), { code: 'invalid_input', field: 'prefix' });
    await assert.rejects(ClipTextEncoder.fromStore(store, PREFIX, { cacheDir: '' }), { code: 'invalid_input', field: 'cacheDir' });
  });
});
