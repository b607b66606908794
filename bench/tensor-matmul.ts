/**
 * Matrix-product throughput: the plain JS loop (`matmulNaive`, the baseline) against
 * `matmul()` from libs/tensor (onnxruntime MLAS above the size threshold), allocating its result
 * ("fast") and writing into a reused one ("fast, out").
 *
 *   npx tsx bench/tensor-matmul.ts                  # 512×512×512, 4096×16×4096, 64×8192×16
 *   MATMUL_BENCH_SHAPES=128x128x128,256x16x256 MATMUL_BENCH_REPS=3 npx tsx bench/tensor-matmul.ts
 *
 * Env: MATMUL_BENCH_SHAPES (comma-separated MxKxN, C = A(M×K)·B(K×N)), MATMUL_BENCH_REPS (timed
 * runs of the fast path, default 7), MATMUL_BENCH_NAIVE_REPS (timed runs of the JS loop, default
 * 3), MATMUL_BENCH_THREADS (MLAS threads, default matmul()'s own: min(4, CPUs)).
 *
 * Every (shape, kernel) pass runs in a fresh child process, after one untimed warm-up run, so its
 * peak RSS (getrusage maxRSS) is its own; a child that only loads the modules gives the baseline
 * RSS. Times are medians. Each pass also prints the float64 sum of C, so the two kernels can be
 * checked against each other (relative difference in the last column).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { configureMatmul, matmul, releaseMatmulSessions, MATMUL_ORT_MIN_FLOPS } from '../libs/tensor/src/matmul.js';
import { matmulNaive } from '../libs/tensor/src/matmul-naive.js';

type Kernel = 'naive' | 'fast' | 'fast-out' | 'baseline';

interface PassResult {
  kernel: Kernel;
  medianMs: number;
  minMs: number;
  reps: number;
  maxRssBytes: number;
  checksum: number;
}

interface Shape {
  m: number;
  k: number;
  n: number;
}

const DEFAULT_SHAPES = '512x512x512,4096x16x4096,64x8192x16';

function parseShapes(spec: string): Shape[] {
  return spec.split(',').map((s) => {
    const parts = s.trim().toLowerCase().split('x').map(Number);
    if (parts.length !== 3 || !parts.every((v) => Number.isSafeInteger(v) && v > 0)) {
      throw new Error(`MATMUL_BENCH_SHAPES: '${s}' is not MxKxN with positive integers`);
    }
    const [m, k, n] = parts as [number, number, number];
    return { m, k, n };
  });
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got '${raw}'`);
  return v;
}

/** Deterministic operands in [-1, 1) (an LCG is plenty for benchmark data). */
function operand(len: number, seed: number): Float32Array {
  const out = new Float32Array(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** One pass, inside a child process: warm-up, timed runs, then the result on stdout. */
async function child(kernel: Kernel, shape: Shape, reps: number, threads: number | undefined): Promise<void> {
  if (threads !== undefined) await configureMatmul({ intraOpNumThreads: threads });
  let checksum = 0;
  const times: number[] = [];
  if (kernel !== 'baseline') {
    const { m, k, n } = shape;
    const a = operand(m * k, 1);
    const b = operand(k * n, 2);
    const out = new Float32Array(m * n);
    const once =
      kernel === 'naive' ? async () => matmulNaive(a, b, m, k, n)
      : kernel === 'fast' ? () => matmul(a, b, m, k, n)
      : () => matmul(a, b, m, k, n, { out });
    let c = await once(); // warm-up (session creation, JIT)
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      c = await once();
      times.push(performance.now() - t0);
    }
    for (let i = 0; i < c.length; i++) checksum += c[i] as number;
    await releaseMatmulSessions();
  }
  const result: PassResult = {
    kernel,
    medianMs: times.length > 0 ? median(times) : 0,
    minMs: times.length > 0 ? Math.min(...times) : 0,
    reps: times.length,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    checksum,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function runChild(kernel: Kernel, shape: Shape, reps: number): PassResult {
  const script = fileURLToPath(import.meta.url);
  const args = [...process.execArgv, script, '--child', kernel, `${shape.m}x${shape.k}x${shape.n}`, String(reps)];
  const res = spawnSync(process.execPath, args, { encoding: 'utf8', env: process.env, maxBuffer: 1 << 20 });
  if (res.status !== 0) throw new Error(`${kernel} pass for ${shape.m}x${shape.k}x${shape.n} failed:\n${res.stderr}`);
  const line = res.stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as PassResult;
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(0);
const gflops = (shape: Shape, ms: number): number => (2 * shape.m * shape.k * shape.n) / (ms * 1e6);

async function main(): Promise<void> {
  const shapes = parseShapes(process.env['MATMUL_BENCH_SHAPES'] ?? DEFAULT_SHAPES);
  const reps = envInt('MATMUL_BENCH_REPS', 7);
  const naiveReps = envInt('MATMUL_BENCH_NAIVE_REPS', 3);
  const threads = process.env['MATMUL_BENCH_THREADS'];

  console.log(`matmul bench: node ${process.version}, MLAS threads ${threads ?? 'default (min(4, CPUs))'}, ` +
    `fast-path threshold ${MATMUL_ORT_MIN_FLOPS} flops; median of ${reps} (fast) / ${naiveReps} (naive) runs`);
  const base = runChild('baseline', { m: 1, k: 1, n: 1 }, 1);
  console.log(`baseline peak RSS (modules loaded, no work): ${mib(base.maxRssBytes)} MiB\n`);

  const header = ['shape M×K×N', 'GFLOP', 'naive ms', 'naive GFLOP/s', 'fast ms', 'fast GFLOP/s', 'speed-up', 'fast,out ms', 'speed-up', 'naive peak RSS', 'fast peak RSS', 'Σ rel diff'];
  const rows: string[][] = [];
  for (const shape of shapes) {
    const naive = runChild('naive', shape, naiveReps);
    const fast = runChild('fast', shape, reps);
    const fastOut = runChild('fast-out', shape, reps);
    const rel = Math.max(fast.checksum, fastOut.checksum) === Math.min(fast.checksum, fastOut.checksum)
      ? Math.abs(fast.checksum - naive.checksum) / Math.max(1e-30, Math.abs(naive.checksum))
      : NaN; // the two fast passes must agree exactly
    rows.push([
      `${shape.m}×${shape.k}×${shape.n}`,
      ((2 * shape.m * shape.k * shape.n) / 1e9).toFixed(3),
      naive.medianMs.toFixed(2),
      gflops(shape, naive.medianMs).toFixed(2),
      fast.medianMs.toFixed(2),
      gflops(shape, fast.medianMs).toFixed(1),
      `${(naive.medianMs / fast.medianMs).toFixed(1)}×`,
      fastOut.medianMs.toFixed(2),
      `${(naive.medianMs / fastOut.medianMs).toFixed(1)}×`,
      `${mib(naive.maxRssBytes)} MiB`,
      `${mib(fast.maxRssBytes)} MiB`,
      rel.toExponential(1),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] as number)).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  const [, kernel, shapeSpec, repsArg] = argv;
  const [shape] = parseShapes(shapeSpec ?? '1x1x1');
  const threads = process.env['MATMUL_BENCH_THREADS'];
  await child(kernel as Kernel, shape as Shape, Number(repsArg ?? 1), threads === undefined || threads === '' ? undefined : Number(threads));
} else {
  await main();
}
