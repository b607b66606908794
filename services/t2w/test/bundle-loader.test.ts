import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile, cp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { isWeightsmithError } from '@weightsmith/core';
import { FsStore } from '@weightsmith/store';
import { writeTinyClipFolder } from '@weightsmith/text';
import { writeFixtureBundle } from '../src/bundle/fixture-bundle.js';
import { loadBundle } from '../src/bundle/load-bundle.js';
import { BundleRegistry } from '../src/bundle/bundle-registry.js';
import { buildDenoiserGraph } from '../src/bundle/denoiser-graph.js';
import { randomDenoiserWeights } from '../src/bundle/denoiser-weights.js';
import { mlpCosineHeadLayout } from '../src/bundle/bundle-schema.js';
import { editManifest, replaceDenoiser } from './bundle-helpers.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

let tmp: string;
let good: string;
before(async () => {
  tmp = await mkdtemp(join(tmpdir(), 't2w-bundle-'));
  good = join(tmp, 'good');
  await writeFixtureBundle(good, { seed: 11 });
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A copy of the good bundle, changed by `edit`. */
async function variant(name: string, edit: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(tmp, 'variants', name);
  await cp(good, dir, { recursive: true });
  await edit(dir);
  return dir;
}

async function assertRejected(dir: string, pattern: RegExp): Promise<void> {
  await assert.rejects(loadBundle({ dir }), (e) => {
    assert.ok(isWeightsmithError(e, 'invalid_format'), String(e));
    assert.match(e.message, pattern);
    assert.ok(e.message.includes(dir), `message names the bundle: ${e.message}`);
    return true;
  });
}

describe('fixture bundle', () => {
  test('same seed gives identical bytes in every file; another seed another denoiser', async () => {
    const again = join(tmp, 'again');
    const other = join(tmp, 'other');
    await writeFixtureBundle(again, { seed: 11 });
    await writeFixtureBundle(other, { seed: 12 });
    const files = await listFiles(good);
    assert.deepEqual(files, await listFiles(again));
    assert.ok(files.includes('bundle.json') && files.includes('denoiser.onnx') && files.includes('text/onnx/text_model.onnx'));
    for (const f of files) assert.deepEqual(await readFile(join(again, f)), await readFile(join(good, f)), f);
    assert.notDeepEqual(await readFile(join(other, 'denoiser.onnx')), await readFile(join(good, 'denoiser.onnx')));
  });
});

describe('loadBundle', () => {
  test('loads the fixture: manifest, blocks, text folder, digest over bundle.json + denoiser.onnx', async () => {
    const b = await loadBundle({ dir: good });
    assert.equal(b.name, 'fixture-fmnist');
    assert.equal(b.manifest.denoiser.parameterCount, 8 * 16 + 8 + 16 * 8 + 16);
    assert.equal(b.manifest.classes.length, 10);
    assert.equal(b.blocks.length, 6); // 128 → 2, 8 → 1, 128 → 2, 16 → 1 with blockSize 64
    assert.equal(b.textEncoderDir, join(good, 'text'));
    const manifestBytes = await readFile(join(good, 'bundle.json'));
    const onnx = await readFile(join(good, 'denoiser.onnx'));
    assert.deepEqual(Buffer.from(b.denoiserBytes), onnx);
    const len = (n: number): Buffer => {
      const buf = Buffer.alloc(8);
      buf.writeBigUInt64LE(BigInt(n));
      return buf;
    };
    assert.equal(b.digest, sha(Buffer.concat([len(manifestBytes.length), manifestBytes, len(onnx.length), onnx])));
  });

  test('loads the same bundle from an object-store prefix', async () => {
    const store = await new FsStore({ root: join(tmp, 'store') }).init();
    for (const f of await listFiles(good)) await store.put(`bundles/fixture/${f}`, await readFile(join(good, f)));
    const b = await loadBundle({ store, prefix: 'bundles/fixture' });
    assert.equal(b.digest, (await loadBundle({ dir: good })).digest);
    assert.deepEqual(b.textEncoder, { store, prefix: 'bundles/fixture/text/' });
    assert.equal(b.textEncoderDir, undefined);
    const missing = await loadBundle({ store, prefix: 'bundles/none' }).catch((e: unknown) => e);
    assert.ok(isWeightsmithError(missing, 'invalid_format') && /bundle\.json is missing/.test(missing.message));
  });

  test('rejects a bundle without denoiser.onnx', async () => {
    await assertRejected(await variant('no-onnx', (d) => rm(join(d, 'denoiser.onnx'))), /denoiser\.onnx .* is missing/);
  });

  test('rejects a denoiser whose sha256 does not match bundle.json', async () => {
    const dir = await variant('sha', async (d) => {
      const bytes = await readFile(join(d, 'denoiser.onnx'));
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 1;
      await writeFile(join(d, 'denoiser.onnx'), bytes);
    });
    await assertRejected(dir, /has sha256 [0-9a-f]{64} but bundle\.json\.denoiser\.sha256 says/);
  });

  test('rejects garbage bytes as ONNX', async () => {
    await assertRejected(await variant('garbage', (d) => replaceDenoiser(d, new TextEncoder().encode('not an onnx model at all'))), /not a loadable ONNX model/);
  });

  const config = { layout: mlpCosineHeadLayout(16, 8, 16), blockSize: 64, width: 16, layers: 1, heads: 2, condDim: 16 };

  test('rejects an ONNX whose input is named differently', async () => {
    const bytes = buildDenoiserGraph(randomDenoiserWeights(config, 1), { inputNames: { x: 'params' } });
    await assertRejected(await variant('input-name', (d) => replaceDenoiser(d, bytes)), /input "x" .* is missing; the model's inputs are "params", "t", "cond"/);
  });

  test('rejects an ONNX with the wrong output name', async () => {
    const bytes = buildDenoiserGraph(randomDenoiserWeights({ ...config, outputName: 'eps' }, 1));
    await assertRejected(await variant('output-name', (d) => replaceDenoiser(d, bytes)), /output "x0" .* is missing/);
  });

  test('rejects an ONNX whose t dtype differs from bundle.json', async () => {
    const bytes = buildDenoiserGraph(randomDenoiserWeights({ ...config, timestepDtype: 'int64' }, 1));
    await assertRejected(await variant('t-dtype', (d) => replaceDenoiser(d, bytes)), /input "t" has dtype int64; expected float32/);
  });

  test('rejects an ONNX built for another P', async () => {
    const bytes = buildDenoiserGraph(randomDenoiserWeights({ ...config, layout: mlpCosineHeadLayout(16, 4, 16) }, 1));
    await assertRejected(await variant('wrong-p', (d) => replaceDenoiser(d, bytes)), /input "x" has dim 1 = 148 .*expected \[batch, 280\]/);
  });

  test('rejects an ONNX built for another condDim', async () => {
    const bytes = buildDenoiserGraph(randomDenoiserWeights({ ...config, condDim: 12 }, 1));
    await assertRejected(await variant('wrong-e', (d) => replaceDenoiser(d, bytes)), /input "cond" has dim 1 = 12/);
  });

  test('rejects a text encoder whose projection dim differs from condDim', async () => {
    const dir = await variant('text-dim', async (d) => {
      await rm(join(d, 'text'), { recursive: true });
      await writeTinyClipFolder(join(d, 'text'), { seed: 1, projectionDim: 8 });
    });
    await assertRejected(dir, /projection dim is 8 but bundle\.json\.denoiser\.condDim is 16/);
  });

  test('rejects a missing text folder and an invalid bundle.json, naming the field', async () => {
    await assertRejected(await variant('no-text', (d) => rm(join(d, 'text'), { recursive: true })), /text encoder "text": .*missing config\.json/);
    const dir = await variant('bad-json', (d) => editManifest(d, (m) => (m.denoiser.parameterCount = 281)));
    await assert.rejects(loadBundle({ dir }), (e) => isWeightsmithError(e, 'invalid_format') && e.field === 'bundle.json.denoiser.parameterCount');
  });
});

describe('BundleRegistry', () => {
  test('loads the good bundle, reports the broken one, ignores folders without bundle.json', async () => {
    const root = join(tmp, 'root');
    await mkdir(root);
    await cp(good, join(root, 'a-good'), { recursive: true });
    await cp(good, join(root, 'b-broken'), { recursive: true });
    await editManifest(join(root, 'b-broken'), (m) => {
      m.name = 'broken';
      m.denoiser.sha256 = '0'.repeat(64);
    });
    await mkdir(join(root, 'c-not-a-bundle'));
    const { registry, failures } = await BundleRegistry.loadRoot({ dir: root });
    assert.deepEqual(registry.names(), ['fixture-fmnist']);
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.location, join(root, 'b-broken'));
    assert.equal(failures[0]!.error.code, 'invalid_format');
    assert.throws(() => registry.get('broken'), (e) => isWeightsmithError(e, 'not_found') && /no bundle named "broken"/.test(e.message));
    assert.equal(registry.get('fixture-fmnist').location, join(root, 'a-good'));
  });

  test('a second bundle with the same name is reported as a conflict', async () => {
    const root = join(tmp, 'dup-root');
    await mkdir(root);
    await cp(good, join(root, 'one'), { recursive: true });
    await cp(good, join(root, 'two'), { recursive: true });
    const { registry, failures } = await BundleRegistry.loadRoot({ dir: root });
    assert.equal(registry.size, 1);
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.error.code, 'conflict');
  });

  test('loads bundles under an object-store prefix', async () => {
    const store = await new FsStore({ root: join(tmp, 'reg-store') }).init();
    for (const f of await listFiles(good)) await store.put(`models/fixture/${f}`, await readFile(join(good, f)));
    await store.put('models/broken/bundle.json', new TextEncoder().encode('{'));
    const { registry, failures } = await BundleRegistry.loadRoot({ store, prefix: 'models' });
    assert.deepEqual(registry.names(), ['fixture-fmnist']);
    assert.equal(failures.length, 1);
    assert.match(failures[0]!.error.message, /not valid UTF-8 JSON/);
  });
});
