import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isWeightsmithError, notFound } from '@weightsmith/core';
import { cohortFromManifest, validateFeatureSet, type ResolveRef } from '../src/cohort/index.js';
import { encodeH5Features, encodeSafetensorsFeatures } from '../src/features/index.js';
import type { SlideFeatures } from '../src/types.js';

/** A slide of n tiles on a 4-wide grid, rows in reverse order, value = 100·tile + column + offset. */
function slide(n: number, dim: number, offset: number): SlideFeatures {
  const features = new Float32Array(n * dim);
  const coords = new Float64Array(n * 2);
  for (let r = 0; r < n; r++) {
    const t = n - 1 - r;
    coords[2 * r] = (t % 4) * 256;
    coords[2 * r + 1] = Math.floor(t / 4) * 256;
    for (let j = 0; j < dim; j++) features[r * dim + j] = 100 * t + j + offset;
  }
  return { n, dim, features, coords };
}

class MemoryRefs {
  readonly files = new Map<string, Uint8Array>();
  reads = 0;
  resolve: ResolveRef = async (ref) => {
    this.reads += 1;
    const bytes = this.files.get(ref);
    if (!bytes) throw notFound(`no object ${ref}`, ref);
    return bytes;
  };
}

async function cohortFiles(ids: string[], refs: MemoryRefs, tweak: (id: string, model: string, s: SlideFeatures) => void = () => {}): Promise<void> {
  for (const id of ids) {
    const uni = slide(6, 3, 0);
    const conch = slide(6, 2, 0.5);
    tweak(id, 'UNI', uni);
    tweak(id, 'CONCH', conch);
    refs.files.set(`feat/UNI/${id}.h5`, await encodeH5Features(uni));
    refs.files.set(`feat/CONCH/${id}.safetensors`, await encodeSafetensorsFeatures(conch));
  }
}

const models = [{ name: 'UNI' }, { name: 'CONCH' }];
const slideEntry = (id: string) => ({ id, features: { UNI: `feat/UNI/${id}.h5`, CONCH: `feat/CONCH/${id}.safetensors` } });

describe('validateFeatureSet', () => {
  test('a valid cohort: manifest with dims from the first slide, counts, classes; the cohort loads aligned slides', async () => {
    const refs = new MemoryRefs();
    const ids = ['s0', 's1', 's2', 's3'];
    await cohortFiles(ids, refs);
    const manifest = await validateFeatureSet(
      { name: 'demo', task: 'classification', models, slides: ids.map(slideEntry), labels: 'slide_id,label\ns0,b\ns1,a\ns2,a\ns3,b\n' },
      refs.resolve,
    );
    assert.equal(refs.reads, 8, 'every slide × model file read exactly once');
    assert.deepEqual(manifest.models, [
      { name: 'UNI', dim: 3 },
      { name: 'CONCH', dim: 2 },
    ]);
    assert.deepEqual(manifest.classes, ['a', 'b']);
    assert.deepEqual(manifest.counts, { slides: 4, tiles: 24, perClass: { a: 2, b: 2 } });
    assert.deepEqual(manifest.slides[0], { id: 's0', features: slideEntry('s0').features, tiles: 6, label: 'b' });

    const cohort = await cohortFromManifest(manifest, refs.resolve);
    assert.equal(cohort.labels.kind, 'classification');
    assert.deepEqual([...(cohort.labels.kind === 'classification' ? cohort.labels.bySlide : [])], [
      ['s0', 1],
      ['s1', 0],
      ['s2', 0],
      ['s3', 1],
    ]);
    const s2 = await cohort.loadSlide('s2');
    assert.equal(s2.n, 6);
    // Aligned order is tile order (sorted by y then x); values follow the tile, not the file row.
    assert.deepEqual([...s2.features[0]!.subarray(0, 6)], [0, 1, 2, 100, 101, 102]);
    assert.deepEqual([...s2.features[1]!.subarray(0, 4)], [0.5, 1.5, 100.5, 101.5]);
    assert.equal(await cohort.loadSlide('s2'), s2, 'cached');
    await assert.rejects(cohort.loadSlide('nope'), /not in this feature set/);
  });

  test('every problem at once, each with its JSON path', async () => {
    const refs = new MemoryRefs();
    const ids = ['s0', 's1', 's2', 's3', 's4'];
    await cohortFiles(ids, refs, (id, model, s) => {
      if (id === 's2' && model === 'UNI') s.features[4 * 3 + 2] = Number.NaN;
      if (id === 's3' && model === 'CONCH') Object.assign(s, { dim: 3, features: new Float32Array(6 * 3) });
    });
    const slides = ids.map(slideEntry);
    slides[1] = { id: 's1', features: { UNI: 'feat/UNI/s1.h5', Virchow: 'feat/CONCH/s1.safetensors' } as never };
    slides[4]!.features.CONCH = 'feat/CONCH/missing.safetensors';
    const err = await validateFeatureSet(
      { task: 'classification', models: [{ name: 'UNI', dim: 3 }, { name: 'CONCH' }], slides, labels: { s0: 'a', s1: 'b', s2: 'a', s3: 'b', ghost: 'a' } },
      refs.resolve,
    ).catch((e: unknown) => e);
    assert.ok(isWeightsmithError(err, 'invalid_input'));
    const byField = new Map(err.issues.map((i) => [i.field, i.message]));
    assert.match(byField.get('slides[1].features.Virchow')!, /unknown model Virchow \(registered: UNI, CONCH\)/);
    assert.match(byField.get('slides[1].features.CONCH')!, /slide s1: no features for model CONCH/);
    assert.match(byField.get('slides[2].features.UNI')!, /NaN at tile 4, column 2/);
    assert.match(byField.get('slides[3].features.CONCH')!, /feature dim 3, set by the first slide \(s0\) dim 2/);
    assert.match(byField.get('slides[4].features.CONCH')!, /no object feat\/CONCH\/missing\.safetensors/);
    assert.match(byField.get('labels.ghost')!, /label for unknown slide ghost/);
    assert.match(byField.get('labels.s4')!, /slide s4 has no label/);
    assert.equal(err.issues.length, 7, JSON.stringify(err.issues, null, 1));
  });

  test('misaligned coords between models are reported per model', async () => {
    const refs = new MemoryRefs();
    await cohortFiles(['s0', 's1', 's2', 's3'], refs, (id, model, s) => {
      if (id === 's1' && model === 'CONCH') s.coords[0] = 9999;
    });
    const err = await validateFeatureSet(
      { task: 'classification', models, slides: ['s0', 's1', 's2', 's3'].map(slideEntry), labels: { s0: 'a', s1: 'a', s2: 'b', s3: 'b' } },
      refs.resolve,
    ).catch((e: unknown) => e);
    assert.ok(isWeightsmithError(err, 'invalid_input'));
    assert.deepEqual(err.issues.map((i) => i.field), ['slides[1].features.UNI', 'slides[1].features.CONCH']);
    assert.match(err.issues[0]!.message, /UNI: lacks 1 tile .*\(9999, 256\)/);
    assert.match(err.issues[1]!.message, /CONCH: lacks 1 tile .*\(256, 256\)/);
  });

  test('a single class, and a class too small for a 70/30 split, name `labels`', async () => {
    const refs = new MemoryRefs();
    await cohortFiles(['s0', 's1', 's2'], refs);
    const run = (labels: Record<string, string>) =>
      validateFeatureSet({ task: 'classification', models, slides: ['s0', 's1', 's2'].map(slideEntry), labels }, refs.resolve).catch((e: unknown) => e);
    const single = await run({ s0: 'a', s1: 'a', s2: 'a' });
    assert.ok(isWeightsmithError(single, 'invalid_input'));
    assert.deepEqual(single.issues.map((i) => i.field), ['labels']);
    assert.match(single.message, /same label \(a\).*at least two classes/);
    const small = await run({ s0: 'a', s1: 'a', s2: 'b' });
    assert.ok(isWeightsmithError(small, 'invalid_input'));
    assert.deepEqual(small.issues.map((i) => i.field), ['labels']);
    assert.match(small.message, /class b has 1 slide; a 70\/30 split needs at least 2 slides per class/);
  });

  test('request shape errors carry JSON paths', async () => {
    const err = await validateFeatureSet({ task: 'classification', models: [{ name: 'UNI' }], slides: [{ id: 's0', features: { UNI: 's3://x' } }] }, new MemoryRefs().resolve).catch((e: unknown) => e);
    assert.ok(isWeightsmithError(err, 'invalid_input'));
    assert.deepEqual(err.issues.map((i) => i.field), ['slides[0].features.UNI']);
  });

  test('regression: targets CSV aligned to the tiles; a missing tile row is named', async () => {
    const refs = new MemoryRefs();
    const ids = ['s0', 's1'];
    await cohortFiles(ids, refs);
    const rows = (skip: number) =>
      ['x,y,G1', ...Array.from({ length: 6 }, (_, t) => t).filter((t) => t !== skip).reverse().map((t) => `${(t % 4) * 256},${Math.floor(t / 4) * 256},${t * 10}`)].join('\n');
    refs.files.set('t/s0.csv', new TextEncoder().encode(rows(-1)));
    refs.files.set('t/s1.csv', new TextEncoder().encode(rows(5)));
    const request = (t1: string) => ({ task: 'regression', models, genes: ['G1'], slides: ids.map((id, i) => ({ ...slideEntry(id), targets: i === 0 ? 't/s0.csv' : t1 })) });
    const err = await validateFeatureSet(request('t/s1.csv'), refs.resolve).catch((e: unknown) => e);
    assert.ok(isWeightsmithError(err, 'invalid_input'));
    assert.deepEqual(err.issues.map((i) => i.field), ['slides[1].targets']);
    assert.match(err.message, /1 tile\(s\) have no target row \(first at \(256, 256\)\)/);

    const manifest = await validateFeatureSet(request('t/s0.csv'), refs.resolve);
    const cohort = await cohortFromManifest(manifest, refs.resolve);
    assert.ok(cohort.labels.kind === 'regression');
    assert.deepEqual([...cohort.labels.bySlide.get('s1')!], [0, 10, 20, 30, 40, 50]);
  });
});
