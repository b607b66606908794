/**
 * A complete, small T2W bundle for tests and the README walk-through: bundle.json, a denoiser
 * with random seeded weights built by denoiser-graph.ts (the architecture the trainer exports)
 * and the tiny CLIP text fixture of libs/text. Same options → identical bytes in every file.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { invalidInput } from '@weightsmith/core';
import { serializeSafetensors } from '@weightsmith/safetensors';
import { Rng } from '@weightsmith/tensor';
import { writeTinyClipFolder } from '@weightsmith/text';
import { BUNDLE_FORMAT_VERSION, MLP_COSINE_HEAD, mlpCosineHeadLayout, parseBundleManifest, type BundleManifest, type BundleManifestInput } from './bundle-schema.js';
import { buildDenoiserGraph } from './denoiser-graph.js';
import { randomDenoiserWeights, type DenoiserWeights } from './denoiser-weights.js';

export const FASHION_MNIST_CLASSES = [
  't-shirt/top',
  'trouser',
  'pullover',
  'dress',
  'coat',
  'sandal',
  'shirt',
  'sneaker',
  'bag',
  'ankle boot',
] as const;

export interface FixtureBundleOptions {
  seed: number;
  name?: string;
  width?: number;
  layers?: number;
  heads?: number;
  blockSize?: number;
  /** Target head Linear(f→h)–GELU–Linear(h→e); e is also the CLIP projection dim (condDim). */
  f?: number;
  h?: number;
  e?: number;
  scale?: number;
  prediction?: 'x0' | 'eps' | 'v';
  /** > 0 declares the bundle trained with condition dropout (guidance allowed). */
  condDropout?: number;
  timestepDtype?: 'float32' | 'int64';
  requireKnownClasses?: boolean;
  /** Also write evaluation data: this many synthetic feature rows per class (class-separable Gaussians in R^f). */
  evaluationPerClass?: number;
}

export interface FixtureBundle {
  dir: string;
  manifest: BundleManifest;
  weights: DenoiserWeights;
  /** Relative paths written, bundle.json first. */
  files: string[];
}

/** A fixed timestamp, so the fixture's bytes depend on its options only. */
const FIXTURE_CREATED = '2025-01-01T00:00:00.000Z';

export async function writeFixtureBundle(dir: string, options: FixtureBundleOptions): Promise<FixtureBundle> {
  if (!Number.isSafeInteger(options.seed) || options.seed < 0) throw invalidInput('seed', `seed must be a non-negative integer, got ${options.seed}`);
  const f = options.f ?? 16;
  const h = options.h ?? 8;
  const e = options.e ?? 16;
  const prediction = options.prediction ?? 'x0';
  const layout = mlpCosineHeadLayout(f, h, e);
  const weights = randomDenoiserWeights(
    {
      layout,
      blockSize: options.blockSize ?? 64,
      width: options.width ?? 32,
      layers: options.layers ?? 2,
      heads: options.heads ?? 2,
      condDim: e,
      timestepDtype: options.timestepDtype ?? 'float32',
      outputName: prediction,
    },
    options.seed,
  );
  const denoiser = buildDenoiserGraph(weights, { docString: `Weightsmith fixture denoiser, seed ${options.seed}` });

  await mkdir(dir, { recursive: true });
  const text = await writeTinyClipFolder(join(dir, 'text'), { seed: options.seed, projectionDim: e });

  const input: BundleManifestInput = {
    formatVersion: BUNDLE_FORMAT_VERSION,
    name: options.name ?? 'fixture-fmnist',
    version: '0.0.0-fixture',
    description: 'Test fixture: random seeded denoiser and tiny CLIP text model; generates noise-like heads, not useful weights.',
    target: { layout, architecture: { type: MLP_COSINE_HEAD, f, h, e, tau: 10 } },
    blockSize: weights.config.blockSize,
    scale: options.scale ?? 1.646,
    diffusion: {
      timesteps: 1000,
      betaSchedule: 'linear',
      betaStart: 1e-4,
      betaEnd: 0.02,
      prediction,
      ...(options.condDropout !== undefined ? { condDropout: options.condDropout, nullCond: 'zeros' as const } : {}),
    },
    denoiser: {
      file: 'denoiser.onnx',
      sha256: createHash('sha256').update(denoiser).digest('hex'),
      inputs: { x: 'x', t: 't', cond: 'cond', tDtype: weights.config.timestepDtype },
      output: prediction,
      parameterCount: weights.config.paramCount,
      condDim: e,
      width: weights.config.width,
      layers: weights.config.layers,
      heads: weights.config.heads,
    },
    text: { encoder: 'text', promptTemplate: 'a photo of a {class}', embeddingDim: e },
    classes: [...FASHION_MNIST_CLASSES],
    requireKnownClasses: options.requireKnownClasses ?? false,
    ...(options.evaluationPerClass ? { evaluation: { data: 'eval.safetensors', classes: [...FASHION_MNIST_CLASSES] } } : {}),
    provenance: { trainer: 'weightsmith-fixture (random weights)', seed: options.seed, created: FIXTURE_CREATED, dataset: 'none' },
  };
  const manifest = parseBundleManifest(input, options.name ?? 'fixture-fmnist');
  await writeFile(join(dir, 'bundle.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFile(join(dir, 'denoiser.onnx'), denoiser);
  const files = ['bundle.json', 'denoiser.onnx', ...text.files.map((p) => `text/${p}`)];
  if (options.evaluationPerClass) {
    await writeFile(join(dir, 'eval.safetensors'), await fixtureEvaluationData(f, FASHION_MNIST_CLASSES.length, options.evaluationPerClass, options.seed));
    files.push('eval.safetensors');
  }
  return { dir, manifest, weights, files };
}

/**
 * Synthetic stand-in for backbone features of a test set: class c's rows are N(μ_c, I) with
 * μ_c ~ N(0, 9·I), rows ordered by class. Labels I64.
 */
function fixtureEvaluationData(f: number, classes: number, perClass: number, seed: number): Promise<Uint8Array> {
  const rng = new Rng(seed).fork('evaluation');
  const n = classes * perClass;
  const features = new Float32Array(n * f);
  const labels = new BigInt64Array(n);
  for (let c = 0; c < classes; c++) {
    const mean = rng.normalArray(f).map((v) => 3 * v);
    for (let k = 0; k < perClass; k++) {
      const r = c * perClass + k;
      const noise = rng.normalArray(f);
      for (let j = 0; j < f; j++) features[r * f + j] = mean[j]! + noise[j]!;
      labels[r] = BigInt(c);
    }
  }
  return serializeSafetensors([
    { name: 'features', dtype: 'F32', shape: [n, f], data: features },
    { name: 'labels', dtype: 'I64', shape: [n], data: labels },
  ]);
}
