/**
 * Per-module kernels of the LoRA-LEGO merge: time per module and peak RSS for each method on
 * synthetic adapters with partly shared subspaces (so clustering has structure).
 *
 *   npx tsx bench/lora-lego-kernels.ts                       # small: 256→512, 4 adapters r=8
 *   DIN=4096 DOUT=11008 R=16 N=4 K=16 REPS=2 METHODS=lego,svd,cat npx tsx bench/lora-lego-kernels.ts
 *
 * Ratios are against `cat` measured in the same process. The full-model bench (224 modules,
 * BF16 I/O) is bench/lora-lego.
 */
import { Rng } from '@weightsmith/tensor';
import { fidelity, mergeModule, type MergeMethod, type ModuleFactors } from '../services/lora-lego/src/merge/index.js';

const env = (name: string, dflt: number): number => (process.env[name] === undefined ? dflt : Number(process.env[name]));
const dIn = env('DIN', 256);
const dOut = env('DOUT', 512);
const r = env('R', 8);
const n = env('N', 4);
const k = env('K', r);
const reps = env('REPS', 2);
const methods = (process.env['METHODS'] ?? 'cat,svd,task_arithmetic,lego,linear,ties,dare_linear,magnitude_prune').split(',') as MergeMethod[];

function synthesize(): ModuleFactors[] {
  const rng = new Rng('bench');
  // A shared pool of 2r directions; each adapter mixes half shared, half own ranks.
  const sharedA = rng.normalArray(2 * r * dIn, 0, 0.02);
  const sharedB = rng.normalArray(dOut * 2 * r, 0, 0.02);
  return Array.from({ length: n }, (_, i) => {
    const A = rng.normalArray(r * dIn, 0, 0.02);
    const B = rng.normalArray(dOut * r, 0, 0.02);
    for (let j = 0; j < r / 2; j++) {
      const src = (i + j) % (2 * r);
      for (let d = 0; d < dIn; d++) A[j * dIn + d] = sharedA[src * dIn + d]! + 0.1 * A[j * dIn + d]!;
      for (let o = 0; o < dOut; o++) B[o * r + j] = sharedB[o * 2 * r + src]! + 0.1 * B[o * r + j]!;
    }
    return { A, B, r, scale: 2, weight: 1 };
  });
}

const inputs = synthesize();
let peak = process.memoryUsage().rss;
const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
const rows: { method: string; ms: number; rss: number; err: number }[] = [];
for (const method of methods) {
  let best = Infinity;
  let err = 0;
  for (let rep = 0; rep < reps; rep++) {
    const t0 = performance.now();
    const m = await mergeModule('layers.0.mlp.up_proj', inputs, dIn, dOut, { method, k: method === 'cat' || method === 'task_arithmetic' ? undefined : k, seed: 0 });
    best = Math.min(best, performance.now() - t0);
    const f = fidelity(inputs, m, dIn, dOut);
    err = f.relativeError.reduce((s, v) => s + v, 0) / f.relativeError.length;
  }
  peak = Math.max(peak, process.memoryUsage().rss);
  rows.push({ method, ms: best, rss: peak / 2 ** 20, err });
}
clearInterval(timer);
const base = rows.find((x) => x.method === 'cat')?.ms ?? rows[0]!.ms;
console.log(`module ${dIn}→${dOut}, ${n} adapters r=${r}, k=${k}, best of ${reps}`);
console.log('method            ms/module   ×cat   peak RSS MiB   mean rel. error');
for (const x of rows) {
  console.log(`${x.method.padEnd(16)} ${x.ms.toFixed(1).padStart(10)} ${(x.ms / base).toFixed(1).padStart(6)} ${x.rss.toFixed(0).padStart(14)} ${x.err.toFixed(4).padStart(17)}`);
}
