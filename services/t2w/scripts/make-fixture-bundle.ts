/**
 * Writes the T2W fixture bundle (random seeded denoiser + tiny CLIP text model).
 * Usage: npx tsx services/t2w/scripts/make-fixture-bundle.ts <out-dir> [--seed N] [--width N]
 *        [--layers N] [--heads N] [--block-size N] [--f N] [--h N] [--e N] [--prediction x0|eps|v]
 *        [--cond-dropout p] [--name slug] [--evaluation-per-class N (default 50; 0 = none)]
 */
import { parseArgs } from 'node:util';
import { writeFixtureBundle, type FixtureBundleOptions } from '../src/bundle/fixture-bundle.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seed: { type: 'string', default: '0' },
    width: { type: 'string' },
    layers: { type: 'string' },
    heads: { type: 'string' },
    'block-size': { type: 'string' },
    f: { type: 'string' },
    h: { type: 'string' },
    e: { type: 'string' },
    prediction: { type: 'string' },
    'cond-dropout': { type: 'string' },
    name: { type: 'string' },
    'evaluation-per-class': { type: 'string', default: '50' },
  },
});
const out = positionals[0];
if (out === undefined) {
  console.error('usage: make-fixture-bundle.ts <out-dir> [--seed N] [--width N] …');
  process.exit(2);
}
const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const prediction = values.prediction;
if (prediction !== undefined && prediction !== 'x0' && prediction !== 'eps' && prediction !== 'v') {
  console.error(`--prediction must be x0, eps or v, got ${prediction}`);
  process.exit(2);
}
const opts: FixtureBundleOptions = { seed: Number(values.seed) };
const set = <K extends keyof FixtureBundleOptions>(k: K, v: FixtureBundleOptions[K] | undefined): void => {
  if (v !== undefined) opts[k] = v;
};
set('width', num(values.width));
set('layers', num(values.layers));
set('heads', num(values.heads));
set('blockSize', num(values['block-size']));
set('f', num(values.f));
set('h', num(values.h));
set('e', num(values.e));
set('prediction', prediction);
set('condDropout', num(values['cond-dropout']));
set('name', values.name);
set('evaluationPerClass', num(values['evaluation-per-class']));
const bundle = await writeFixtureBundle(out, opts);
console.log(`wrote bundle "${bundle.manifest.name}" to ${bundle.dir}: P = ${bundle.manifest.denoiser.parameterCount}, ${bundle.weights.config.blocks.length} blocks, files ${bundle.files.join(', ')}`);
