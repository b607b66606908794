/**
 * Writes a synthetic AdaFusion cohort with known truth to a folder, TRIDENT-style:
 *
 *   npx tsx services/adafusion/scripts/make-synthetic-cohort.ts DIR [--seed 0] [--slides 40]
 *     [--tiles 256] [--format h5|safetensors] [--models UNI:1024,CONCH:512,GigaPath:1536]
 *     [--phenotypes K] [--classes 2|3] [--genes G]
 */
import { parseArgs } from 'node:util';
import { writeSyntheticCohort } from '../src/synthetic/index.js';
import type { ModelSpec } from '../src/types.js';

function fail(message: string): never {
  console.error(`make-synthetic-cohort: ${message}`);
  process.exit(2);
}

function int(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) fail(`--${name} must be a non-negative integer, got ${value}`);
  return n;
}

function parseModels(text: string): ModelSpec[] {
  return text.split(',').map((part) => {
    const [name, dim] = part.split(':');
    const d = Number(dim);
    if (!name || !Number.isSafeInteger(d) || d < 1) fail(`--models entries are NAME:DIM, got ${part}`);
    return { name, dim: d };
  });
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seed: { type: 'string' },
    slides: { type: 'string' },
    tiles: { type: 'string' },
    format: { type: 'string' },
    models: { type: 'string' },
    phenotypes: { type: 'string' },
    classes: { type: 'string' },
    genes: { type: 'string' },
  },
});
const dir = positionals[0] ?? fail('usage: make-synthetic-cohort.ts DIR [--seed 0] [--slides 40] [--tiles 256] [--format h5|safetensors] …');
const format = values.format ?? 'h5';
if (format !== 'h5' && format !== 'safetensors') fail(`--format must be h5 or safetensors, got ${format}`);
const classes = int(values.classes, 'classes', 2);
if (classes !== 2 && classes !== 3) fail(`--classes must be 2 or 3`);
const models = parseModels(values.models ?? 'UNI:1024,CONCH:512,GigaPath:1536');
const phenotypes = values.phenotypes === undefined ? undefined : int(values.phenotypes, 'phenotypes', models.length);

const written = await writeSyntheticCohort(
  dir,
  {
    seed: int(values.seed, 'seed', 0),
    slides: int(values.slides, 'slides', 40),
    tilesPerSlide: int(values.tiles, 'tiles', 256),
    models,
    ...(phenotypes !== undefined ? { phenotypes } : {}),
    classes,
    genes: int(values.genes, 'genes', 0),
  },
  { format },
);
let total = 0;
for (const file of written.files) {
  console.log(`${String(file.bytes).padStart(12)}  ${file.path}`);
  total += file.bytes;
}
const truth = written.truth.dominantModelByPhenotype.map((m, k) => `phenotype ${k} → ${models[m]!.name}`).join(', ');
console.log(`wrote ${written.files.length} files, ${total} bytes, to ${dir}`);
console.log(`truth: ${truth}`);
