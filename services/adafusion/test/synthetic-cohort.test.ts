import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLabelsCsv } from '../src/cohort/index.js';
import { readSlideFeatures } from '../src/features/index.js';
import { makeSyntheticCohort, writeSyntheticCohort, type SyntheticCohortOptions } from '../src/synthetic/index.js';

const models = [
  { name: 'A', dim: 32 },
  { name: 'B', dim: 16 },
  { name: 'C', dim: 24 },
];
const base: SyntheticCohortOptions = { seed: 7, slides: 8, tilesPerSlide: 200, models };

function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]! / n;
    my += y[i]! / n;
  }
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}

describe('synthetic cohort', () => {
  test('same seed, same slides in any load order; another seed differs', async () => {
    const a = makeSyntheticCohort(base).cohort;
    const b = makeSyntheticCohort(base).cohort;
    const last = await b.loadSlide('slide-007');
    const first = await a.loadSlide('slide-000');
    assert.deepEqual(await a.loadSlide('slide-007'), last);
    assert.deepEqual(await b.loadSlide('slide-000'), first);
    const other = await makeSyntheticCohort({ ...base, seed: 8 }).cohort.loadSlide('slide-000');
    assert.notDeepEqual(other.features[0], first.features[0]);
    // Aligned order: sorted by (y, x), no duplicates.
    for (let t = 1; t < first.n; t++) {
      const dy = first.coords[2 * t + 1]! - first.coords[2 * t - 1]!;
      assert.ok(dy > 0 || (dy === 0 && first.coords[2 * t]! > first.coords[2 * t - 2]!), `tile ${t} out of order`);
    }
  });

  test('truth: each model dominates a phenotype, and its features track the activation only there', async () => {
    // crossTalk 0: the non-informative models carry pure decoys (the default adds a weak trace).
    const { cohort, truth } = makeSyntheticCohort({ ...base, crossTalk: 0 });
    assert.deepEqual(truth.dominantModelByPhenotype, [0, 1, 2]);
    const slides = await Promise.all(cohort.slideIds.map((id) => cohort.loadSlide(id)));
    // For each model m and phenotype k: estimate the feature direction that covaries with the
    // activation on slides 0-3 (covariance vector), then correlate the projection with the
    // activation on held-out slides 4-7.
    for (let m = 0; m < models.length; m++) {
      const d = models[m]!.dim;
      for (let k = 0; k < 3; k++) {
        const rows = (from: number, to: number) => {
          const out: { x: Float32Array; a: number }[] = [];
          for (let s = from; s < to; s++) {
            const ph = truth.phenotypeByTile(slides[s]!.id);
            const act = truth.activationByTile(slides[s]!.id);
            const mine = [...ph.keys()].filter((t) => ph[t] === k);
            // Centred within the slide: slide-level levels (signal or decoy) are shared by few
            // slides and correlate by chance; the tile-to-tile part is what must match.
            const meanA = mine.reduce((acc, t) => acc + act[t]!, 0) / mine.length;
            const meanX = new Float64Array(d);
            for (const t of mine) for (let j = 0; j < d; j++) meanX[j]! += slides[s]!.features[m]![t * d + j]! / mine.length;
            for (const t of mine) {
              out.push({ x: Float32Array.from({ length: d }, (_, j) => slides[s]!.features[m]![t * d + j]! - meanX[j]!), a: act[t]! - meanA });
            }
          }
          return out;
        };
        const fit = rows(0, 4);
                const w = new Float64Array(d);
        for (const r of fit) for (let j = 0; j < d; j++) w[j]! += r.a * r.x[j]!;
        const held = rows(4, 8);
        const proj = held.map((r) => r.x.reduce((acc, v, j) => acc + v * w[j]!, 0));
        const r = pearson(proj, held.map((h) => h.a));
        if (truth.dominantModelByPhenotype[k] === m) assert.ok(r > 0.6, `model ${m} on its phenotype ${k}: r = ${r}`);
        else assert.ok(Math.abs(r) < 0.25, `model ${m} on phenotype ${k} (not its own): r = ${r}`);
      }
    }
  });

  test('labels follow the activations of all phenotypes; 3 classes and regression targets', async () => {
    const { truth, cohort } = makeSyntheticCohort({ ...base, slides: 30, tilesPerSlide: 20, labelNoise: 0 });
    for (const id of cohort.slideIds) {
      const sum = truth.slideActivation(id).reduce((a, b) => a + b, 0);
      assert.equal(truth.labels.get(id), sum > 0 ? 1 : 0, id);
    }
    assert.equal(new Set(truth.labels.values()).size, 2);
    const three = makeSyntheticCohort({ ...base, slides: 30, tilesPerSlide: 20, classes: 3 });
    assert.deepEqual(three.cohort.labels.kind === 'classification' && three.cohort.labels.classes, ['low', 'mid', 'high']);
    assert.equal(new Set(three.truth.labels.values()).size, 3);

    const reg = makeSyntheticCohort({ ...base, slides: 2, tilesPerSlide: 300, genes: 2 });
    assert.ok(reg.cohort.labels.kind === 'regression');
    const id = reg.cohort.slideIds[0]!;
    const y = reg.cohort.labels.bySlide.get(id)!;
    const ph = reg.truth.phenotypeByTile(id);
    const act = reg.truth.activationByTile(id);
    const beta = reg.truth.geneWeights!;
    // gene 0 on phenotype-0 tiles is β[0,0]·activation + noise(0.1).
    const idx = [...ph.keys()].filter((t) => ph[t] === 0);
    const r = pearson(idx.map((t) => y[2 * t]!), idx.map((t) => beta[0]! * act[t]!));
    assert.ok(r > 0.95, `r = ${r}`);
  });

  test('written TRIDENT folders: deterministic bytes, readable, labels.csv matches', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ws-synth-'));
    try {
      const opts = { ...base, slides: 3, tilesPerSlide: 16 };
      const one = await writeSyntheticCohort(join(root, 'one'), opts, { format: 'h5' });
      await writeSyntheticCohort(join(root, 'two'), opts, { format: 'h5' });
      assert.equal(one.files.length, 3 * 3 + 1);
      for (const f of one.files) assert.deepEqual(await readFile(join(root, 'one', f.path)), await readFile(join(root, 'two', f.path)), f.path);
      const back = await readSlideFeatures(await readFile(join(root, 'one', 'B', 'slide-001.h5')), { source: 'B/slide-001.h5' });
      const direct = await one.cohort.loadSlide('slide-001');
      assert.deepEqual(back.features, direct.features[1]);
      assert.deepEqual(back.coords, direct.coords);
      const labels = parseLabelsCsv(await readFile(join(root, 'one', 'labels.csv'), 'utf8'));
      const classes = one.cohort.labels.kind === 'classification' ? one.cohort.labels.classes : [];
      for (const [slide, cls] of one.truth.labels) assert.equal(labels.get(slide), classes[cls]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
