/**
 * Tile regression (spatial gene expression) end to end over HTTP: per-slide target CSVs uploaded
 * as artifacts, a regression feature set, a fit with a 2-split evaluation (Pearson r), and
 * predictions whose tile-score files carry the predicted expression of every tile.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { memorySource, openSafetensors } from '@weightsmith/safetensors';
import { writeSyntheticCohort } from '../src/synthetic/index.js';
import { TINY, TINY_CONFIG, startHarness, storeFiles, uploadBytes, type Harness } from './http-harness.js';

let h: Harness;
before(async () => {
  h = await startHarness();
});
after(() => h.close());

test('a regression cohort registers, fits with Pearson r, and predicts expression per tile', async () => {
  const options = { ...TINY, genes: 3 };
  const dir = join(h.tmp, 'regression');
  const written = await writeSyntheticCohort(dir, options, { format: 'safetensors' });
  const genes = ['gene0', 'gene1', 'gene2'];
  const slides = [];
  for (const id of written.cohort.slideIds) {
    const features: Record<string, string> = {};
    for (const m of options.models) features[m.name] = await uploadBytes(h, await readFile(join(dir, m.name, `${id}.safetensors`)), 'safetensors');
    slides.push({ id, features, targets: await uploadBytes(h, await readFile(join(dir, 'targets', `${id}.csv`)), 'csv') });
  }
  const body = { name: 'expression', task: 'regression', models: options.models.map((m) => ({ name: m.name })), slides, genes };
  const fs = await h.api().post('/v1/feature-sets').send(body);
  assert.equal(fs.status, 201, JSON.stringify(fs.body));
  assert.deepEqual(fs.body.genes, genes);

  // Targets for a gene the files do not have: refused, nothing stored.
  const beforeBad = await storeFiles(h.storeDir);
  const bad = await h.api().post('/v1/feature-sets').send({ ...body, genes: ['gene0', 'nope', 'gene2'] });
  assert.equal(bad.status >= 400 && bad.status < 500, true, JSON.stringify(bad.body));
  assert.deepEqual(await storeFiles(h.storeDir), beforeBad);

  const fit = await h.api().post('/v1/models?wait=true').send({ featureSet: fs.body.id, config: TINY_CONFIG, evaluation: { splits: 2, baselines: false } });
  assert.equal(fit.status, 200, JSON.stringify(fit.body));
  const rows = fit.body.evaluation.rows as { name: string; pearson?: { mean: number; values: number[] } }[];
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.pearson?.values.length, 2, 'regression is scored by Pearson r on each split');
  assert.match(fit.body.evaluation.table, /Pearson r/);

  const pred = await h.api().post('/v1/predictions?wait=true').send({ model: fit.body.model, featureSet: fs.body.id });
  assert.equal(pred.status, 200, JSON.stringify(pred.body));
  const first = pred.body.slides[0];
  assert.deepEqual(Object.keys(first.regression.meanPrediction), genes);
  const tiles = await h.api().get(`/v1/artifacts/${first.tileScores.id}`).buffer(true).parse((res, cb) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => cb(null, Buffer.concat(chunks)));
  });
  const file = await openSafetensors(memorySource(new Uint8Array(tiles.body as Buffer)));
  const n = (await written.cohort.loadSlide(first.slide)).n;
  assert.deepEqual(file.get('prediction').shape, [n, 3]);
  const prediction = (await file.read('prediction')).data as Float32Array;
  for (let g = 0; g < 3; g++) {
    let mean = 0;
    for (let t = 0; t < n; t++) mean += prediction[t * 3 + g]! / n;
    assert.ok(Math.abs(mean - first.regression.meanPrediction[genes[g]!]) < 1e-4, `gene ${g}: the summary is the mean of the tiles`);
  }
  await file.close();
});
