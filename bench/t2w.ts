/**
 * T2W generation latency and throughput on a demo-size bundle (the issue's size: width 256,
 * 4 layers, a ~2k-parameter cosine head), through the service's own runtime (text encoder,
 * prior attention, sampler, denoiser on the InferencePool, dynamic batcher).
 *
 *   npx tsx bench/t2w.ts
 *   T2W_BENCH_RUNS=5 T2W_BENCH_DDPM_RUNS=1 T2W_BENCH_CONCURRENCY=1,8 npx tsx bench/t2w.ts
 *
 * Env: T2W_BENCH_WIDTH (256), T2W_BENCH_LAYERS (4), T2W_BENCH_HEADS (4), T2W_BENCH_BLOCK (block
 * size, 256), T2W_BENCH_F/H/E (head f→h→e, 64/16/64 = 2,128 parameters), T2W_BENCH_RUNS (timed
 * ddim-50 generations, 30), T2W_BENCH_DDPM_RUNS (timed ddpm-1000 generations, 3),
 * T2W_BENCH_CONCURRENCY (1,8,32), T2W_BENCH_REQUESTS_PER_CLIENT (4; at least 32 requests per figure), T2W_BENCH_WORKERS (pool
 * worker threads, 1), T2W_BENCH_INTRA (onnxruntime intra-op threads per worker, 2),
 * T2W_BENCH_MAX_ROWS (64), T2W_BENCH_MAX_WAIT_MS (0).
 *
 * The baseline for throughput is the same runtime with dynamic batching off (each request's
 * steps are their own denoiser calls), run in the same process; the ratio column is batched ÷
 * unbatched. Every request has its own seed. Latencies are per request (condition embedding
 * cached after the first run, as in a warm service).
 *
 * First, the denoiser alone: one in-process onnxruntime session per graph form (fused Attention
 * kernel, as bundles are built; portable standard-op attention, as the baseline), cost per call
 * at several batch sizes (median of interleaved rounds). A lone row's cost over a row's cost
 * inside a 32-row call is what batching can gain at most at 32 clients, before any per-call
 * overhead of the service is counted. T2W_BENCH_KERNEL_BATCHES (1,2,8,32,64).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { buildDenoiserGraph, writeFixtureBundle, type DenoiserWeights } from '../services/t2w/src/bundle/index.js';
import { DEFAULT_GENERATION_LIMITS, T2wRuntime, type GenerationRequest } from '../services/t2w/src/generation/index.js';
import { envNumber } from './env.js';

const width = envNumber('T2W_BENCH_WIDTH', 256);
const layers = envNumber('T2W_BENCH_LAYERS', 4);
const heads = envNumber('T2W_BENCH_HEADS', 4);
const blockSize = envNumber('T2W_BENCH_BLOCK', 256);
const f = envNumber('T2W_BENCH_F', 64);
const h = envNumber('T2W_BENCH_H', 16);
const e = envNumber('T2W_BENCH_E', 64);
const runs = envNumber('T2W_BENCH_RUNS', 30);
const ddpmRuns = envNumber('T2W_BENCH_DDPM_RUNS', 3);
const perClient = envNumber('T2W_BENCH_REQUESTS_PER_CLIENT', 4);
const workers = envNumber('T2W_BENCH_WORKERS', 1);
const intra = envNumber('T2W_BENCH_INTRA', 2);
const maxRows = envNumber('T2W_BENCH_MAX_ROWS', 64);
const maxWaitMs = envNumber('T2W_BENCH_MAX_WAIT_MS', 0);
const concurrency = (process.env['T2W_BENCH_CONCURRENCY'] ?? '1,8,32').split(',').map(Number);
const kernelBatches = (process.env['T2W_BENCH_KERNEL_BATCHES'] ?? '1,2,8,32,64').split(',').map(Number);

const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const ms = (v: number): string => `${v.toFixed(1)} ms`;
const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;

const CLASSES = [['sneaker', 'bag', 'coat'], ['trouser', 'dress'], ['shirt', 'sandal', 'ankle boot', 'pullover']];
const request = (i: number, sampler: 'ddim' | 'ddpm' = 'ddim'): GenerationRequest => ({ classes: CLASSES[i % CLASSES.length]!, n: 1, seed: i, sampler, ...(sampler === 'ddim' ? { steps: 50 } : {}) });

async function latencies(rt: T2wRuntime, name: string, count: number, sampler: 'ddim' | 'ddpm'): Promise<number[]> {
  await rt.generate(name, request(0, sampler)); // warm: sessions, embeddings
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await rt.generate(name, request(i + 1, sampler));
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

/** `clients` loops each issuing `perClient` ddim-50 requests back to back; requests per second. */
async function throughput(rt: T2wRuntime, name: string, clients: number): Promise<number> {
  await rt.generate(name, request(0));
  // At least 32 requests per measurement, so one client's figure is not four requests' worth of noise.
  const each = Math.max(perClient, Math.ceil(32 / clients));
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      for (let k = 0; k < each; k++) await rt.generate(name, request(1000 + c * each + k));
    }),
  );
  return (clients * each) / ((performance.now() - t0) / 1000);
}

/** ms per denoiser call by graph form and batch size; the median of interleaved rounds. */
async function denoiserKernels(weights: DenoiserWeights): Promise<void> {
  const { paramCount: P, condDim: E } = weights.config;
  const forms = ['fused', 'portable'] as const;
  const sessions = await Promise.all(
    forms.map((attention) => ort.InferenceSession.create(buildDenoiserGraph(weights, { attention }), { intraOpNumThreads: intra, interOpNumThreads: 1, graphOptimizationLevel: 'all' })),
  );
  const times = new Map<string, number[]>();
  try {
    for (let round = 0; round < 5; round++) {
      for (const B of kernelBatches) {
        const feeds = {
          x: new ort.Tensor('float32', Float32Array.from({ length: B * P }, (_, i) => Math.sin(i)), [B, P]),
          t: new ort.Tensor('float32', Float32Array.from({ length: B }, (_, i) => (37 * i) % 1000), [B]),
          cond: new ort.Tensor('float32', Float32Array.from({ length: B * E }, (_, i) => Math.cos(i)), [B, E]),
        };
        for (const [f, s] of sessions.entries()) {
          for (let i = 0; i < 3; i++) await s.run(feeds);
          const reps = Math.max(10, Math.round(240 / B));
          const t0 = performance.now();
          for (let i = 0; i < reps; i++) await s.run(feeds);
          const key = `${forms[f]}@${B}`;
          times.set(key, [...(times.get(key) ?? []), (performance.now() - t0) / reps]);
        }
      }
    }
  } finally {
    await Promise.all(sessions.map((s) => s.release()));
  }
  const median = (form: string, B: number): number => {
    const v = [...times.get(`${form}@${B}`)!].sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)]!;
  };
  console.log(`denoiser alone (in-process session, ${intra} intra-op thread(s)), ms per call (ms per row)`);
  console.log(`rows   ${forms.map((f) => `${f} attention`.padStart(22)).join('')}   fused speed-up`);
  for (const B of kernelBatches) {
    const cells = forms.map((f) => `${median(f, B).toFixed(2)} (${(median(f, B) / B).toFixed(3)})`.padStart(22)).join('');
    console.log(`${String(B).padStart(4)}   ${cells}   ${(median('portable', B) / median('fused', B)).toFixed(2)}×`);
  }
  if (kernelBatches.includes(1) && kernelBatches.includes(32)) {
    for (const f of forms) {
      console.log(`${f}: a lone row costs ${(median(f, 1) / (median(f, 32) / 32)).toFixed(2)}× a row of a 32-row call (the most batching can gain at 32 clients)`);
    }
  }
  console.log();
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 't2w-bench-'));
  try {
    const fixture = await writeFixtureBundle(join(dir, 'bundles', 'demo'), { seed: 0, name: 'demo', width, layers, heads, blockSize, f, h, e });
    const P = fixture.manifest.denoiser.parameterCount;
    const tokens = 2 + Math.ceil(P / blockSize) + fixture.manifest.target.layout.length - 1;
    console.log(`bundle: width ${width}, ${layers} layers, ${heads} heads, block ${blockSize}, head ${f}→${h}→${e} = ${P} parameters (~${tokens} tokens)`);
    console.log(`pool: ${workers} worker(s) × ${intra} intra-op thread(s); batching max ${maxRows} rows, wait ${maxWaitMs} ms\n`);
    await denoiserKernels(fixture.weights);
    const options = { bundlesDir: join(dir, 'bundles'), limits: DEFAULT_GENERATION_LIMITS, intraOpNumThreads: intra, workerThreads: workers };
    // One runtime at a time: two idle pools' spinning onnxruntime threads would skew each other.
    const plain = await T2wRuntime.load(options);
    const unbatched: number[] = [];
    try {
      console.log('latency, one request (n = 1), unbatched runtime');
      console.log('sampler      runs     p50        p95        mean');
      for (const [label, sampler, count] of [['ddim-50', 'ddim', runs], ['ddpm-1000', 'ddpm', ddpmRuns]] as const) {
        if (count < 1) continue;
        const l = await latencies(plain, 'demo', count, sampler);
        const mean = l.reduce((a, b) => a + b, 0) / l.length;
        console.log(`${label.padEnd(12)} ${String(count).padStart(4)}  ${ms(percentile(l, 50)).padStart(9)}  ${ms(percentile(l, 95)).padStart(9)}  ${ms(mean).padStart(9)}`);
      }
      for (const c of concurrency) unbatched.push(await throughput(plain, 'demo', c));
    } finally {
      await plain.close();
    }
    const batched = await T2wRuntime.load({ ...options, batching: { maxRows, maxWaitMs } });
    try {
      const l = await latencies(batched, 'demo', Math.max(1, Math.min(runs, 10)), 'ddim');
      console.log(`${'ddim-50, batching on, alone'.padEnd(12)}  p50 ${ms(percentile(l, 50))}`);
      console.log(`\nthroughput, ddim-50 requests (n = 1), ${perClient} per client (at least 32 in all)`);
      console.log('clients   unbatched req/s   batched req/s   ratio   rows/call (batched)');
      for (const [i, c] of concurrency.entries()) {
        const before = batched.batchingStats()['demo']!;
        const b = await throughput(batched, 'demo', c);
        const after = batched.batchingStats()['demo']!;
        const a = unbatched[i]!;
        const rowsPerCall = (after.rows - before.rows) / Math.max(1, after.calls - before.calls);
        console.log(`${String(c).padStart(7)}   ${a.toFixed(1).padStart(15)}   ${b.toFixed(1).padStart(13)}   ${(b / a).toFixed(2).padStart(5)}×   ${rowsPerCall.toFixed(1).padStart(8)}`);
      }
      console.log(`\npeak RSS ${mib(process.resourceUsage().maxRSS * 1024)}`);
    } finally {
      await batched.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
