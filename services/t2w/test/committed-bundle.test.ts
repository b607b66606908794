/**
 * The fixture bundle committed under models/t2w is what its documented command rebuilds, byte for
 * byte (models/README.md), and the service loads it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBundle, writeFixtureBundle } from '../src/bundle/index.js';

const committed = new URL('../../../models/t2w/fixture-fmnist/', import.meta.url).pathname;

test('models/t2w/fixture-fmnist is the seed-0 fixture, byte for byte, and loads', async () => {
  const tmp = await mkdtemp(join(tmpdir(), 't2w-committed-'));
  try {
    const rebuilt = await writeFixtureBundle(tmp, { seed: 0, evaluationPerClass: 50 });
    for (const rel of rebuilt.files) {
      const [a, b] = await Promise.all([readFile(join(tmp, rel)), readFile(join(committed, rel))]);
      assert.ok(a.equals(b), `${rel} differs from a fresh rebuild`);
    }
    const bundle = await loadBundle({ dir: committed });
    assert.equal(bundle.name, 'fixture-fmnist');
    assert.ok(bundle.manifest.evaluation);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
});
