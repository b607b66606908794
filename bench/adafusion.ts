/**
 * AdaFusion fit time and inference throughput on a synthetic cohort (the sizes:
 * M = 3 models with dims 1024, 512, 1536; d = 256; 200 slides × 2,000 tiles for the fit; slides
 * of 4,096 tiles for inference).
 *
 *   npx tsx bench/adafusion.ts
 *   ADAFUSION_BENCH_SLIDES=20 ADAFUSION_BENCH_TILES=300 ADAFUSION_BENCH_INFER_TILES=1024 npx tsx bench/adafusion.ts
 *
 * Env: ADAFUSION_BENCH_SLIDES (200), ADAFUSION_BENCH_TILES (2000, tiles per fit slide),
 * ADAFUSION_BENCH_D (256), ADAFUSION_BENCH_EPOCHS (max epochs, 100; early stopping as configured),
 * ADAFUSION_BENCH_INFER_TILES (4096), ADAFUSION_BENCH_INFER_RUNS (10),
 * ADAFUSION_BENCH_BASELINE_TILES (256: the float64 TS forward is slow, so it runs on a slice and
 * is reported per tile), ADAFUSION_BENCH_INTRA (onnxruntime intra-op threads, 2).
 *
 * Inference rows: FusionPredictor in this thread and on a 1-worker InferencePool, vs the plain
 * float64 TS forward (`referenceForward`, loops over tiles) in the same process; the ratio column
 * is throughput ÷ the TS baseline's.
 *
 * Quality (the check on a synthetic cohort with known truth): AdaFusion against each
 * single model, concatenation and the mean of projected features, all through the same fit →
 * ONNX → onnxruntime path, over ADAFUSION_BENCH_QUALITY_SPLITS random 70/30 splits (10) of
 * ADAFUSION_BENCH_QUALITY_SLIDES slides (200) × ADAFUSION_BENCH_QUALITY_TILES tiles (128), model
 * dims 64/32/96 compressed to d = 16 (the check is about the method; small dims keep 60 fits in
 * minutes). Also: for each split, which model AdaFusion's gate weights most on the held-out
 * tiles of each true phenotype, against the generator's truth.
 * ADAFUSION_BENCH_PARTS (quality,fit,inference) picks the sections.
 */
import { InferencePool } from '@weightsmith/onnx';
import { evaluateConfigs, fitFusionPredictor, formatTable, standardBaselines, type FitPredictor } from '../services/adafusion/src/eval/index.js';
import { fitFusionModel, FusionPredictor, parseFitConfig, referenceForward } from '../services/adafusion/src/model/index.js';
import { dominanceAgreement, truthPhenotypeAlpha, type SlideGate } from '../services/adafusion/src/report/index.js';
import { makeSyntheticCohort } from '../services/adafusion/src/synthetic/generator.js';
import type { AlignedSlide, ModelSpec } from '../services/adafusion/src/types.js';
import { envNumber } from './env.js';

const slides = envNumber('ADAFUSION_BENCH_SLIDES', 200);
const tiles = envNumber('ADAFUSION_BENCH_TILES', 2000);
const d = envNumber('ADAFUSION_BENCH_D', 256);
const epochs = envNumber('ADAFUSION_BENCH_EPOCHS', 100);
const inferTiles = envNumber('ADAFUSION_BENCH_INFER_TILES', 4096);
const inferRuns = envNumber('ADAFUSION_BENCH_INFER_RUNS', 10);
const baselineTiles = envNumber('ADAFUSION_BENCH_BASELINE_TILES', 256);
const intra = envNumber('ADAFUSION_BENCH_INTRA', 2);

const MODELS: ModelSpec[] = [
  { name: 'UNI', dim: 1024 },
  { name: 'CONCH', dim: 512 },
  { name: 'GigaPath', dim: 1536 },
];

const mib = (kb: number): string => `${(kb / 1024).toFixed(0)} MiB`;
const peakRss = (): number => process.resourceUsage().maxRSS;

function slice(slide: AlignedSlide, n: number): AlignedSlide {
  return {
    id: slide.id,
    n,
    coords: slide.coords.slice(0, 2 * n),
    features: slide.features.map((f, m) => f.slice(0, n * MODELS[m]!.dim)),
  };
}

const parts = new Set((process.env['ADAFUSION_BENCH_PARTS'] ?? 'quality,fit,inference').split(','));

async function quality(): Promise<void> {
  const qSlides = envNumber('ADAFUSION_BENCH_QUALITY_SLIDES', 200);
  const qTiles = envNumber('ADAFUSION_BENCH_QUALITY_TILES', 128);
  const qSplits = envNumber('ADAFUSION_BENCH_QUALITY_SPLITS', 10);
  const models: ModelSpec[] = [
    { name: 'UNI', dim: 64 },
    { name: 'CONCH', dim: 32 },
    { name: 'Virchow2', dim: 96 },
  ];
  const { cohort, truth } = makeSyntheticCohort({ seed: 0, slides: qSlides, tilesPerSlide: qTiles, models });
  const base = parseFitConfig({ d: 16, context: { kind: 'centroids', count: 3 }, optimizer: { tilesPerStep: 128 } });
  console.log(`\n## quality: ${qSlides} slides × ${qTiles} tiles, 3 phenotypes (truth: phenotype k is carried by model k), ${qSplits} splits 70/30`);
  // Keep AdaFusion's held-out gates, per split, to compare with the truth.
  const gates = new Map<number, SlideGate[]>();
  let split = -1;
  const fit: FitPredictor = async (request) => {
    const predictor = await fitFusionPredictor(request);
    if (request.config.mode !== 'adafusion') return predictor;
    const mine: SlideGate[] = [];
    gates.set(++split, mine);
    const fusion = predictor as FusionPredictor;
    return {
      predictSlide: async (slide) => {
        const out = await fusion.predictSlide(slide);
        mine.push({ slideId: slide.id, n: slide.n, coords: slide.coords, alpha: out.alpha, contextWeights: out.contextWeights });
        return out;
      },
      close: () => fusion.close(),
    };
  };
  const t0 = performance.now();
  const result = await evaluateConfigs(cohort, standardBaselines(models, base), { splits: qSplits, seed: 7, fit });
  console.log(formatTable(result));
  const K = truth.dominantModelByPhenotype.length;
  const fractions: number[] = [];
  for (const [i, g] of [...gates.entries()].sort((a, b) => a[0] - b[0])) {
    const per = truthPhenotypeAlpha(g, (id) => truth.phenotypeByTile(id), models.length, K);
    const agreement = dominanceAgreement(per, truth.dominantModelByPhenotype);
    fractions.push(agreement.fraction);
    const rows = Array.from({ length: K }, (_, k) => Array.from(per.mean.subarray(k * models.length, (k + 1) * models.length), (v) => v.toFixed(2)).join('/'));
    console.log(`split ${i}: gate mean α (UNI/CONCH/Virchow2) on true phenotypes 0|1|2: ${rows.join(' | ')}  → dominant model named for ${agreement.agreed}/${agreement.scored}`);
  }
  const mean = fractions.reduce((a, b) => a + b, 0) / Math.max(1, fractions.length);
  console.log(`dominant model named correctly: ${(100 * mean).toFixed(1)} % of phenotypes over ${fractions.length} splits (target ≥ 90 %); ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

async function main(): Promise<void> {
  if (parts.has('quality')) await quality();
  if (!parts.has('fit') && !parts.has('inference')) return;
  console.log(`\n# AdaFusion bench: M = 3 (dims ${MODELS.map((m) => m.dim).join(', ')}), d = ${d}`);

  // ---- fit
  const { cohort } = makeSyntheticCohort({ seed: 1, slides, tilesPerSlide: tiles, models: MODELS });
  const rssBeforeFit = peakRss();
  const t0 = performance.now();
  let lastEpoch = performance.now();
  const epochTimes: number[] = [];
  const model = await fitFusionModel(cohort, cohort.slideIds, { d, optimizer: { maxEpochs: epochs }, seed: 1 }, {
    onProgress: (p) => {
      const now = performance.now();
      epochTimes.push(now - lastEpoch);
      lastEpoch = now;
      if (p.epoch === 1 || p.epoch % 10 === 0) console.log(`  epoch ${p.epoch}: train ${p.trainLoss.toFixed(4)}  val ${p.valLoss.toFixed(4)}  metric ${p.valMetric?.toFixed(3)}`);
    },
  });
  const fitMs = performance.now() - t0;
  const prepMs = fitMs - epochTimes.slice(1).reduce((a, b) => a + b, 0) - (epochTimes[0] ?? 0);
  const rssAfterFit = peakRss();

  // ---- inference
  const infer = makeSyntheticCohort({ seed: 2, slides: 3, tilesPerSlide: inferTiles, models: MODELS });
  const inferSlides = await Promise.all(infer.cohort.slideIds.map((id) => infer.cohort.loadSlide(id)));
  const predictor = await FusionPredictor.load(model, { intraOpNumThreads: intra });
  const pool = new InferencePool({ threads: 1, intraOpNumThreads: intra });
  const pooled = await FusionPredictor.load(model, { pool });
  const timeRuns = async (run: (s: AlignedSlide) => Promise<unknown>): Promise<number> => {
    await run(inferSlides[0]!); // warm-up
    const start = performance.now();
    for (let r = 0; r < inferRuns; r++) await run(inferSlides[r % inferSlides.length]!);
    return (performance.now() - start) / inferRuns;
  };
  const inThreadMs = await timeRuns((s) => predictor.predictSlide(s));
  const poolMs = await timeRuns((s) => pooled.predictSlide(s));
  const small = slice(inferSlides[0]!, Math.min(baselineTiles, inferTiles));
  const b0 = performance.now();
  referenceForward(model, small);
  const baselineMs = performance.now() - b0;
  const baselineTps = small.n / (baselineMs / 1000);
  await predictor.close();
  await pool.close();

  const fitTable = [
    ['slides × tiles', `${slides} × ${tiles}`],
    ['epochs run (best)', `${model.history.length} (${model.validation.epoch})`],
    ['validation metric', `${model.validation.metricName} ${model.validation.metric.toFixed(3)}`],
    ['fit time', `${(fitMs / 1000).toFixed(1)} s`],
    ['  prepare (PCA, Procrustes, compress, centroids) + epoch 1', `${((prepMs + (epochTimes[0] ?? 0)) / 1000).toFixed(1)} s`],
    ['  per later epoch (mean)', epochTimes.length > 1 ? `${(epochTimes.slice(1).reduce((a, b) => a + b, 0) / (epochTimes.length - 1) / 1000).toFixed(2)} s` : '-'],
    ['peak RSS before / after fit', `${mib(rssBeforeFit)} / ${mib(rssAfterFit)}`],
  ];
  console.log('\n## fit');
  for (const [k, v] of fitTable) console.log(`${k!.padEnd(58)} ${v}`);

  console.log(`\n## inference (slides of ${inferTiles} tiles, ${inferRuns} runs, intra-op threads ${intra})`);
  console.log(`${'path'.padEnd(34)} ${'ms/slide'.padStart(10)} ${'tiles/s'.padStart(12)} ${'vs TS'.padStart(8)}`);
  const row = (name: string, msPerSlide: number, tps: number): void =>
    console.log(`${name.padEnd(34)} ${msPerSlide.toFixed(1).padStart(10)} ${tps.toFixed(0).padStart(12)} ${(tps / baselineTps).toFixed(1).padStart(7)}×`);
  row('FusionPredictor (in thread)', inThreadMs, inferTiles / (inThreadMs / 1000));
  row('FusionPredictor (InferencePool)', poolMs, inferTiles / (poolMs / 1000));
  row(`TS float64 forward (${small.n} tiles)`, (baselineMs * inferTiles) / small.n, baselineTps);
  console.log(`peak RSS ${mib(peakRss())}`);
}

await main();
