/**
 * Per-module kernels of the LoRA-LEGO merge: median time per module (merge and the fidelity
 * report the pipeline computes for every module, separately), peak RSS and mean relative error
 * for each method and module shape, on synthetic adapters with partly shared subspaces (so
 * clustering has structure), plus the time this projects for a LLaMA-2-7B-shaped merge.
 *
 *   npx tsx bench/lora-lego-kernels.ts                       # small: 256→512, 4 adapters r=8
 *   DIN=4096 DOUT=11008 R=16 N=4 K=16 REPS=5 METHODS=lego,svd,cat npx tsx bench/lora-lego-kernels.ts
 *   SHAPES=4096x4096,4096x11008,11008x4096 R=16 K=16 REPS=5 METHODS=cat,svd,lego npx tsx bench/lora-lego-kernels.ts
 *
 * The machine is shared and noisy: each row shows the median and the fastest merge, and the
 * projection is given from both.
 * FIDELITY=exact times the F64 reference fidelity() instead of measureFidelity().
 * SHAPES (dIn×dOut, comma-separated) overrides DIN/DOUT. One untimed warm-up merge per method
 * and shape creates the matmul sessions first. Ratios are against `cat` on the same shape in the
 * same process. The projection counts 224 modules (32 layers × q,k,v,o 4096→4096, gate,up
 * 4096→11008, down 11008→4096) and uses the shapes measured here (11008→4096 falls back to
 * 4096→11008 when not measured); it leaves out reading and writing the adapters, which the
 * full-model bench (bench/lora-lego) includes.
 */
import { Rng } from '@weightsmith/tensor';
import { fidelity, measureFidelity, mergeModule, type MergeMethod, type ModuleFactors } from '../services/lora-lego/src/merge/index.js';
import { envNumber } from './env.js';

const r = envNumber('R', 8);
const n = envNumber('N', 4);
const k = envNumber('K', r);
const reps = envNumber('REPS', 3);
/** FIDELITY=exact times the F64 reference `fidelity` instead of `measureFidelity`. */
const exact = process.env['FIDELITY'] === 'exact';
const methods = (process.env['METHODS'] ?? 'cat,svd,task_arithmetic,lego,linear,ties,dare_linear,magnitude_prune').split(',') as MergeMethod[];
const shapes: [number, number][] = (process.env['SHAPES'] ?? `${envNumber('DIN', 256)}x${envNumber('DOUT', 512)}`).split(',').map((s) => {
  const [a, b] = s.split('x').map(Number);
  if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b)) throw new Error(`SHAPES: '${s}' is not dIn×dOut`);
  return [a!, b!];
});

function synthesize(dIn: number, dOut: number): ModuleFactors[] {
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

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};

interface Row {
  shape: string;
  method: string;
  merge: number;
  /** Fastest merge of the reps: the machine is shared and noisy, so medians and mins are both reported. */
  minMerge: number;
  fid: number;
  min: number;
  rss: number;
  err: number;
}

let peak = process.memoryUsage().rss;
const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
const rows: Row[] = [];
for (const [dIn, dOut] of shapes) {
  const inputs = synthesize(dIn, dOut);
  for (const method of methods) {
    const opts = { method, k: method === 'cat' || method === 'task_arithmetic' ? undefined : k, seed: 0 };
    await mergeModule('layers.0.mlp.up_proj', inputs, dIn, dOut, opts); // warm-up
    const mergeMs: number[] = [];
    const fidMs: number[] = [];
    const totals: number[] = [];
    let err = 0;
    for (let rep = 0; rep < reps; rep++) {
      const t0 = performance.now();
      const m = await mergeModule('layers.0.mlp.up_proj', inputs, dIn, dOut, opts);
      const t1 = performance.now();
      const f = exact ? fidelity(inputs, m, dIn, dOut) : await measureFidelity(inputs, m, dIn, dOut);
      const t2 = performance.now();
      mergeMs.push(t1 - t0);
      fidMs.push(t2 - t1);
      totals.push(t2 - t0);
      err = f.relativeError.reduce((s, v) => s + v, 0) / f.relativeError.length;
    }
    peak = Math.max(peak, process.memoryUsage().rss);
    rows.push({ shape: `${dIn}→${dOut}`, method, merge: median(mergeMs), minMerge: Math.min(...mergeMs), fid: median(fidMs), min: Math.min(...totals), rss: peak / 2 ** 20, err });
  }
}
clearInterval(timer);

console.log(`${n} adapters r=${r}, k=${k}, median of ${reps} (after one warm-up); fidelity = the per-module fidelity report (${exact ? 'fidelity, F64' : 'measureFidelity'})`);
console.log('shape          method           merge ms  min merge  fidelity ms  total ms  min total  ×cat  peak RSS MiB  mean rel. error');
for (const x of rows) {
  const base = rows.find((y) => y.shape === x.shape && y.method === 'cat');
  const ratio = base ? ((x.merge + x.fid) / (base.merge + base.fid)).toFixed(1) : '-';
  console.log(
    `${x.shape.padEnd(14)} ${x.method.padEnd(16)} ${x.merge.toFixed(1).padStart(8)} ${x.minMerge.toFixed(1).padStart(10)} ${x.fid.toFixed(1).padStart(12)} ${(x.merge + x.fid).toFixed(1).padStart(9)} ${x.min
      .toFixed(1)
      .padStart(10)} ${ratio.padStart(5)} ${x.rss.toFixed(0).padStart(13)} ${x.err.toFixed(4).padStart(16)}`,
  );
}

// Projection for LLaMA-2-7B: 128 square modules, 64 up-projections, 32 down-projections.
const pick = (shape: string, method: string, value: (x: Row) => number): number | undefined => {
  const x = rows.find((y) => y.shape === shape && y.method === method);
  return x === undefined ? undefined : value(x);
};
const sq = pick('4096→4096', methods[0]!, (x) => x.merge) !== undefined;
const up = pick('4096→11008', methods[0]!, (x) => x.merge) !== undefined;
if (sq && up) {
  const project = (method: string, value: (x: Row) => number): string => {
    const s = pick('4096→4096', method, value)!;
    const u = pick('4096→11008', method, value)!;
    const d = pick('11008→4096', method, value) ?? u;
    return ((128 * s + 64 * u + 32 * d) / 1000).toFixed(1).padStart(8);
  };
  console.log('\nprojected LLaMA-2-7B merge (224 modules, kernels only, no I/O), seconds:');
  console.log('method           merge (median)  merge (min)  merge+fidelity (median)');
  for (const method of methods) {
    console.log(`${method.padEnd(16)} ${project(method, (x) => x.merge).padStart(14)} ${project(method, (x) => x.minMerge).padStart(12)} ${project(method, (x) => x.merge + x.fid).padStart(24)}`);
  }
}
