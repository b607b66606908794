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
 */
import { InferencePool } from '@weightsmith/onnx';
import { fitFusionModel, FusionPredictor, referenceForward } from '../services/adafusion/src/model/index.js';
import { makeSyntheticCohort } from '../services/adafusion/src/synthetic/generator.js';
import type { AlignedSlide, ModelSpec } from '../services/adafusion/src/types.js';

const num = (name: string, dflt: number): number => {
  const v = process.env[name];
  return v === undefined || v === '' ? dflt : Number(v);
};
const slides = num('ADAFUSION_BENCH_SLIDES', 200);
const tiles = num('ADAFUSION_BENCH_TILES', 2000);
const d = num('ADAFUSION_BENCH_D', 256);
const epochs = num('ADAFUSION_BENCH_EPOCHS', 100);
const inferTiles = num('ADAFUSION_BENCH_INFER_TILES', 4096);
const inferRuns = num('ADAFUSION_BENCH_INFER_RUNS', 10);
const baselineTiles = num('ADAFUSION_BENCH_BASELINE_TILES', 256);
const intra = num('ADAFUSION_BENCH_INTRA', 2);

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

async function main(): Promise<void> {
  console.log(`# AdaFusion bench: M = 3 (dims ${MODELS.map((m) => m.dim).join(', ')}), d = ${d}`);

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
